//! Starts the real `chat-server` binary on an ephemeral port and talks to
//! it: HTTP by hand (over TLS with rustls for a server started with
//! [`Server::start_tls`]), WebSockets with both adapters. Every wait is
//! bounded.

#![allow(dead_code)] // each test binary uses a part of this

pub mod redis;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, ExitStatus};
use std::sync::Arc;
use std::time::Duration;

use rusty_socket_std::rustls::pki_types::ServerName;
use rusty_socket_std::rustls::{ClientConfig, ClientConnection, StreamOwned};
use rusty_socket_test_support::tls::TestPki;
use rusty_socket_test_support::ServerProcess;
use tokio::io::{AsyncRead, AsyncWrite};

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
    /// For a server over TLS: the client config trusting its test CA.
    tls: Option<Arc<ClientConfig>>,
}

impl Server {
    /// Starts the server with `args` (plus `--addr 127.0.0.1:0`) and waits
    /// for its "listening on ADDR" line.
    pub fn start(args: &[&str]) -> Server {
        Server::start_under(&[], args)
    }

    /// Starts the server through `wrapper` (a command and its arguments,
    /// such as `prlimit --nofile=64:64`), which runs the binary after them.
    pub fn start_under(wrapper: &[&str], args: &[&str]) -> Server {
        let binary = env!("CARGO_BIN_EXE_chat-server");
        let mut command = match wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut command = Command::new(program);
                command.args(wrapper_args).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        command
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info");
        let process = ServerProcess::spawn("chat-server", command, TIMEOUT);
        Server {
            addr: process.addr,
            process,
            tls: None,
        }
    }

    /// Starts the server over TLS with the certificate of `pki` for
    /// `localhost` and `127.0.0.1`, and `args`.
    pub fn start_tls(pki: &TestPki, args: &[&str]) -> Server {
        let cert = pki.localhost.cert_path.to_str().expect("UTF-8 path");
        let key = pki.localhost.key_path.to_str().expect("UTF-8 path");
        let tls_args = ["--tls-cert", cert, "--tls-key", key];
        let mut server = Server::start(&[&tls_args[..], args].concat());
        server.tls = Some(client_tls(pki));
        server
    }

    /// `ws://ADDR/`, or `wss://ADDR/` over TLS.
    pub fn url(&self) -> String {
        match self.tls {
            Some(_) => format!("wss://{}/", self.addr),
            None => format!("ws://{}/", self.addr),
        }
    }

    /// The page's own origin: `http://ADDR`, or `https://ADDR` over TLS.
    pub fn origin(&self) -> String {
        match self.tls {
            Some(_) => format!("https://{}", self.addr),
            None => format!("http://{}", self.addr),
        }
    }

    /// A Tokio client of this server, over wss:// (trusting the test CA)
    /// if the server speaks TLS.
    pub async fn tokio_client(&self) -> Result<TokioTlsClient, rusty_socket_tokio::Error> {
        match &self.tls {
            Some(tls) => tokio_tls_client(&self.url(), None, tls).await,
            None => tokio_client(&self.url(), None).await,
        }
    }

    /// `GET /stats` from another thread (a monitor), over TLS if the
    /// server speaks it.
    pub fn stats_probe(&self) -> impl Fn() -> Value + Send + 'static {
        let (addr, tls) = (self.addr, self.tls.clone());
        move || {
            let response = match &tls {
                Some(tls) => https_get(addr, "/stats", tls),
                None => http_get(addr, "/stats", &[]),
            };
            serde_json::from_str(&response.body).expect("/stats is JSON")
        }
    }

    /// A `GET`, over TLS if the server speaks it.
    pub fn get(&self, path: &str) -> HttpResponse {
        match &self.tls {
            Some(tls) => https_get(self.addr, path, tls),
            None => http_get(self.addr, path, &[]),
        }
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
        let response = self.get("/stats");
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
    parse_response(raw)
}

/// A client config trusting the test CA of `pki` (and the default roots).
pub fn client_tls(pki: &TestPki) -> Arc<ClientConfig> {
    rusty_socket_tokio::tls::client_config_with_ca_pem(pki.ca_pem.as_bytes()).expect("the test CA")
}

/// A `GET` over TLS (rustls, trusting `tls`), read to the end.
pub fn https_get(addr: SocketAddr, path: &str, tls: &Arc<ClientConfig>) -> HttpResponse {
    let name = ServerName::try_from(addr.ip().to_string()).expect("an IP address");
    let connection = ClientConnection::new(Arc::clone(tls), name).expect("a TLS client");
    let socket = TcpStream::connect(addr).expect("connect for GET");
    socket.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let mut stream = StreamOwned::new(connection, socket);
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .expect("send GET over TLS");
    let mut raw = Vec::new();
    match stream.read_to_end(&mut raw) {
        Ok(_) => {}
        // The TCP connection ended without TLS close_notify: what came
        // before is still the whole response (Connection: close).
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => panic!("read the response over TLS: {e}"),
    }
    parse_response(raw)
}

fn parse_response(raw: Vec<u8>) -> HttpResponse {
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

/// A blocking wss:// client trusting `tls`, optionally with an `Origin`.
pub fn std_tls_client(
    url: &str,
    origin: Option<&str>,
    tls: &Arc<ClientConfig>,
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
    rusty_socket_std::connect_tls(request, config, Arc::clone(tls)).map(|(ws, _)| ws)
}

/// An async wss:// client trusting `tls`, optionally with an `Origin`.
pub async fn tokio_tls_client(
    url: &str,
    origin: Option<&str>,
    tls: &Arc<ClientConfig>,
) -> Result<TokioTlsClient, rusty_socket_tokio::Error> {
    let mut request = rusty_socket_tokio::ClientRequest::new(url)?;
    if let Some(origin) = origin {
        request = request
            .header(ORIGIN, HeaderValue::from_str(origin).expect("header"))
            .expect("Origin is not reserved");
    }
    let config = rusty_socket_tokio::Config::default();
    let connecting = rusty_socket_tokio::connect_tls(request, config, Arc::clone(tls));
    match tokio::time::timeout(TIMEOUT, connecting).await {
        Ok(result) => result.map(|(ws, _)| ws),
        Err(_) => panic!("the wss:// handshake with {url} timed out"),
    }
}

/// What [`tokio_tls_client`] returns.
pub type TokioTlsClient =
    rusty_socket_tokio::WebSocket<rusty_socket_tokio::MaybeTlsStream<tokio::net::TcpStream>>;

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
pub async fn next_message<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut rusty_socket_tokio::WebSocket<S>,
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
