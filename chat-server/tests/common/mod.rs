//! Starts the real `chat-server` binary on an ephemeral port and talks to
//! it: HTTP by hand, WebSockets with both adapters. Every wait is bounded.

#![allow(dead_code)] // each test binary uses a part of this

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use rusty_socket_test_support::ServerProcess;

use rusty_socket_std::http::header::ORIGIN;
use rusty_socket_std::http::HeaderValue;
use serde_json::Value;

/// The bound of every wait in these tests.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A running `chat-server`; killed when dropped (its log is printed if the
/// test is failing).
pub struct Server {
    process: ServerProcess,
    pub addr: SocketAddr,
}

impl Server {
    /// Starts the server with `args` (plus `--addr 127.0.0.1:0`) and waits
    /// for its "listening on ADDR" line.
    pub fn start(args: &[&str]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chat-server"));
        command
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info");
        let process = ServerProcess::spawn("chat-server", command, TIMEOUT);
        Server {
            addr: process.addr,
            process,
        }
    }

    /// `ws://ADDR/`.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// The log so far.
    pub fn logs(&self) -> String {
        self.process.logs()
    }

    /// Waits until the log has a line containing every one of `needles`.
    pub fn wait_for_log(&self, needles: &[&str]) -> bool {
        self.process.wait_for_log(needles, TIMEOUT)
    }

    /// `GET /stats`, parsed.
    pub fn stats(&self) -> Value {
        let response = http_get(self.addr, "/stats", &[]);
        assert_eq!(response.status, 200, "GET /stats: {}", response.head);
        serde_json::from_str(&response.body).expect("/stats is JSON")
    }

    /// The number of connected chat clients, from `/stats`.
    pub fn clients(&self) -> u64 {
        self.stats()["clients"]
            .as_u64()
            .expect("clients is a number")
    }

    /// Waits until `/stats` reports `n` clients.
    pub fn wait_for_clients(&self, n: u64) {
        assert!(
            wait_until(|| self.clients() == n),
            "expected {n} clients, /stats says {}",
            self.stats()
        );
    }

    /// The process id, to signal it.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        self.process.signal_term();
        self.wait_exit(TIMEOUT)
            .expect("chat-server exits after SIGTERM")
    }

    /// Waits for the process to exit, at most `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.process.wait_exit(timeout)
    }
}

/// Polls `condition` for at most [`TIMEOUT`].
pub fn wait_until(condition: impl FnMut() -> bool) -> bool {
    rusty_socket_test_support::wait_until(TIMEOUT, condition)
}

/// A plain HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// Status line and headers.
    pub head: String,
    pub body: String,
}

/// A plain `GET` (HTTP/1.1, `Connection: close`), read to the end.
pub fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).expect("connect for GET");
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("send GET");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the response");
    let text = String::from_utf8(raw).expect("a UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    HttpResponse {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// A blocking client, optionally with an `Origin`. Its idle timeout bounds
/// every `recv` in the tests.
pub fn std_client(
    url: &str,
    origin: Option<&str>,
) -> Result<
    rusty_socket_std::WebSocket<rusty_socket_std::MaybeTlsStream<TcpStream>>,
    rusty_socket_std::Error,
> {
    let mut request = rusty_socket_std::ClientRequest::new(url)?;
    if let Some(origin) = origin {
        request = request
            .header(ORIGIN, HeaderValue::from_str(origin).expect("header"))
            .expect("Origin is not reserved");
    }
    let mut config = rusty_socket_std::Config::default();
    config.idle_timeout = Some(TIMEOUT);
    rusty_socket_std::connect_with(request, config).map(|(ws, _)| ws)
}

/// An async client, optionally with an `Origin`.
pub async fn tokio_client(
    url: &str,
    origin: Option<&str>,
) -> Result<
    rusty_socket_tokio::WebSocket<rusty_socket_tokio::MaybeTlsStream<tokio::net::TcpStream>>,
    rusty_socket_tokio::Error,
> {
    let mut request = rusty_socket_tokio::ClientRequest::new(url)?;
    if let Some(origin) = origin {
        request = request
            .header(ORIGIN, HeaderValue::from_str(origin).expect("header"))
            .expect("Origin is not reserved");
    }
    let config = rusty_socket_tokio::Config::default();
    let connecting = rusty_socket_tokio::connect_with(request, config);
    match tokio::time::timeout(TIMEOUT, connecting).await {
        Ok(result) => result.map(|(ws, _)| ws),
        Err(_) => panic!("the WebSocket handshake with {url} timed out"),
    }
}

/// The HTTP status of a refused handshake (std client).
pub fn refused_status_std(error: &rusty_socket_std::Error) -> Option<u16> {
    match error {
        rusty_socket_std::Error::Handshake(e) => Some(e.status().as_u16()),
        _ => None,
    }
}

/// The HTTP status of a refused handshake (tokio client).
pub fn refused_status_tokio(error: &rusty_socket_tokio::Error) -> Option<u16> {
    match error {
        rusty_socket_tokio::Error::Handshake(e) => Some(e.status().as_u16()),
        _ => None,
    }
}

/// The next message on a tokio client, within [`TIMEOUT`].
pub async fn next_message(
    ws: &mut rusty_socket_tokio::WebSocket<
        rusty_socket_tokio::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> rusty_socket_tokio::Message {
    match tokio::time::timeout(TIMEOUT, ws.recv()).await {
        Ok(Ok(Some(message))) => message,
        Ok(Ok(None)) => panic!("the connection closed"),
        Ok(Err(e)) => panic!("the connection failed: {e}"),
        Err(_) => panic!("no message within {TIMEOUT:?}"),
    }
}

/// Both runtimes, for tests that run against each.
pub const RUNTIMES: [&str; 2] = ["tokio", "std"];
