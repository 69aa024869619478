//! The std runtime: rusty-socket-std's split blocking halves. A reader
//! thread receives (and so also answers pings and completes the closing
//! handshake); the command loop sends on the write half.

use std::net::TcpStream;
use std::sync::Arc;
use std::thread;

use rusty_socket_proto::{ClientRequest, CloseCode, CloseReason, Config, HandshakeError, Message};
use rusty_socket_std::rustls::ClientConfig;
use rusty_socket_std::{Error, MaybeTlsStream, ReadHalf, WriteHalf};

use super::{describe_reason, ConnectError, Connection};
use crate::link::{End, Link};

/// The stream under the WebSocket: TCP, or TLS over it for wss://.
type Stream = MaybeTlsStream<TcpStream>;

/// Connects (over TLS for wss://, with `tls` if `--ca` was given, else the
/// adapter's default roots), splits, and starts the reader thread.
pub fn connect(
    url: &str,
    tls: Option<&Arc<ClientConfig>>,
    link: &Arc<Link>,
) -> Result<Box<dyn Connection>, ConnectError> {
    let request = ClientRequest::new(url).map_err(|e| ConnectError::Url(e.to_string()))?;
    // The adapter bounds the TCP connect, the TLS handshake and the
    // WebSocket handshake with the handshake timeout (10 s, the same as
    // CONNECT_TIMEOUT).
    let connected = match tls {
        Some(tls) => rusty_socket_std::connect_tls(request, Config::default(), Arc::clone(tls)),
        None => rusty_socket_std::connect_with(request, Config::default()),
    };
    let (ws, _response) = connected.map_err(classify)?;
    let (write, read) = ws.split().map_err(classify)?;
    let link = Arc::clone(link);
    thread::Builder::new()
        .name("chat-client-reader".to_owned())
        .spawn(move || receive(read, &link))
        .map_err(|e| ConnectError::Runtime(e.to_string()))?;
    Ok(Box::new(StdConnection { write }))
}

/// The reader thread: every message to the link, then the end.
fn receive(mut read: ReadHalf<Stream>, link: &Link) {
    loop {
        match read.recv() {
            Ok(Some(message)) => link.on_message(message),
            Ok(None) => return link.on_clean_end(),
            Err(e) => return link.on_end(End::Failed(describe(&e))),
        }
    }
}

struct StdConnection {
    write: WriteHalf<Stream>,
}

impl Connection for StdConnection {
    fn send_text(&mut self, text: &str) -> Result<(), String> {
        self.write
            .send(Message::text(text))
            .map_err(|e| describe(&e))
    }

    fn close(&mut self) -> Result<(), String> {
        // Sends and flushes the close frame; the reader thread sees the
        // server's answer and the end (or the close timeout).
        self.write
            .close(CloseCode::NORMAL, "")
            .map_err(|e| describe(&e))
    }
}

/// A failed connect, in the user's terms.
fn classify(error: Error) -> ConnectError {
    match error {
        // The adapter gave up on the TCP connect or the TLS handshake (a
        // server without TLS on that port waits, silent, for a request).
        e if e.is_timeout() => ConnectError::TimedOut,
        Error::Io(e) => ConnectError::Unreachable(e.to_string()),
        Error::Url(e) => ConnectError::Url(e.to_string()),
        Error::Tls(e) => ConnectError::from(e),
        Error::Handshake(HandshakeError::Status(response))
        | Error::Closed(CloseReason::Handshake(HandshakeError::Status(response))) => {
            ConnectError::Refused(response.status)
        }
        Error::Handshake(e) => ConnectError::Handshake(e.to_string()),
        Error::Closed(CloseReason::Timeout(_)) => ConnectError::TimedOut,
        Error::Closed(reason) => ConnectError::Handshake(describe_reason(&reason)),
        other => ConnectError::Handshake(other.to_string()),
    }
}

/// Why an open connection failed.
fn describe(error: &Error) -> String {
    match error {
        Error::Closed(reason) => describe_reason(reason),
        Error::Protocol(e) => format!("the server broke the protocol: {e}"),
        Error::AlreadyClosed => "the connection is closed".to_owned(),
        other => other.to_string(),
    }
}
