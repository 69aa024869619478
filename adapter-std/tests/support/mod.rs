//! Loopback servers, raw peers and a time limit for the integration tests.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use rusty_socket_std::{accept_with, Accept, Config, Error, Message, Transport};

/// The most any test may take.
pub const LIMIT: Duration = Duration::from_secs(10);

/// Runs `f` on its own thread and fails if it takes longer than `limit`
/// (a deadlock or a missed deadline becomes a failure, not a hang).
pub fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(value) => {
            let _ = handle.join();
            value
        }
        Err(RecvTimeoutError::Timeout) => panic!("did not finish within {limit:?}"),
        Err(RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the thread ended without a result"),
        },
    }
}

/// A listener on an ephemeral port whose first connection goes to `serve`
/// on its own thread. Returns the base URL (`ws://127.0.0.1:PORT`).
pub fn serve<T: Send + 'static>(
    serve: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (String, SocketAddr, JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        serve(stream)
    });
    (format!("ws://{addr}"), addr, handle)
}

/// What an echo server saw: the control frames (the peer's close frame
/// last), and how it ended: `Ok` for a completed closing handshake.
#[derive(Debug)]
pub struct Echoed {
    pub controls: Vec<Message>,
    pub end: Result<(), Error>,
}

/// Echoes text and binary messages until the connection ends.
pub fn echo(ws: &mut rusty_socket_std::WebSocket<TcpStream>) -> Echoed {
    let mut controls = Vec::new();
    loop {
        match ws.recv() {
            Ok(Some(message @ (Message::Text(_) | Message::Binary(_)))) => {
                if let Err(end) = ws.send(message) {
                    return Echoed {
                        controls,
                        end: Err(end),
                    };
                }
            }
            Ok(Some(control)) => controls.push(control),
            Ok(None) => {
                return Echoed {
                    controls,
                    end: Ok(()),
                }
            }
            Err(end) => {
                return Echoed {
                    controls,
                    end: Err(end),
                }
            }
        }
    }
}

/// Closes `ws` and finishes the closing handshake: receives until
/// `Ok(None)`, which it requires. Returns what was received meanwhile (the
/// peer's close frame last).
pub fn close_and_finish<S: Transport>(
    ws: &mut rusty_socket_std::WebSocket<S>,
    code: u16,
    reason: &str,
) -> Vec<Message> {
    ws.close(code, reason).unwrap();
    let mut received = Vec::new();
    while let Some(message) = ws.recv().unwrap() {
        received.push(message);
    }
    received
}

/// An echo server with `config` for one connection.
pub fn echo_server(config: Config) -> (String, JoinHandle<Echoed>) {
    let (url, _, handle) = serve(move |stream| {
        let mut ws = accept_with(stream, config, |_| Ok(Accept::default())).unwrap();
        echo(&mut ws)
    });
    (url, handle)
}

/// A TCP connection to `addr` that has done a client's opening handshake by
/// hand (reading the response byte by byte, so that nothing after it is
/// consumed) and is then left to the test.
pub fn raw_client(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .write_all(
            b"GET /raw HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
        )
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{head:?}");
    stream
}

/// Reads until EOF or `limit`; returns the bytes and whether EOF was seen.
pub fn read_until_eof(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut bytes = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (bytes, true),
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (bytes, true),
            Err(_) => return (bytes, false),
        }
    }
}

/// Writes `bytes` and ignores a peer that is gone.
pub fn write_raw(stream: &mut TcpStream, bytes: &[u8]) {
    let _ = stream.write_all(bytes);
}
