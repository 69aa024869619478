//! Blocking WebSockets (RFC 6455) over any std `Read + Write`, driving the
//! sans-IO state machine of [`rusty_socket_proto`].
//!
//! [`connect`] opens a client connection to a `ws://` or `wss://` URL
//! ([`connect_tls`] with your own rustls `ClientConfig`); [`accept`] and
//! [`accept_with`] run the server's side of the opening handshake on a stream
//! you accepted; [`connect_on`] runs the client's side over a stream you
//! opened yourself. Each returns a [`WebSocket`] with plain blocking `send`,
//! `recv` and `close`. `recv` returns `Ok(None)` once the closing handshake
//! has completed, and an error for every other end:
//!
//! ```
//! use std::net::TcpListener;
//! use std::thread;
//!
//! use rusty_socket_std::{accept, connect, Message};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A server that echoes the messages of one connection.
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let url = format!("ws://{}/echo", listener.local_addr()?);
//! let server = thread::spawn(move || -> Result<(), rusty_socket_std::Error> {
//!     let (stream, _) = listener.accept()?;
//!     let mut ws = accept(stream)?;
//!     // Pings are answered and the close echoed by the connection itself.
//!     while let Some(message) = ws.recv()? {
//!         if let Message::Text(_) | Message::Binary(_) = message {
//!             ws.send(message)?;
//!         }
//!     }
//!     Ok(())
//! });
//!
//! // A client.
//! let (mut ws, _response) = connect(&url)?;
//! ws.send(Message::text("hello"))?;
//! assert_eq!(ws.recv()?, Some(Message::text("hello")));
//! ws.close(1000, "done")?; // sends our close frame
//! // Finish the closing handshake: the server's close frame, then `None`.
//! while let Some(message) = ws.recv()? {
//!     println!("{message:?}");
//! }
//! server.join().expect("server thread")?;
//! # Ok(())
//! # }
//! ```
//!
//! The API has the same shape as `rusty-socket-tokio`'s, minus `async`:
//! the same names, the same `Error` variants, `split` in the same order.
//!
//! # What the adapter does, and does not
//!
//! It is a driver: it moves bytes between the transport and the
//! [`Connection`](rusty_socket_proto::Connection), waits, maps I/O errors,
//! and seeds the connection's CSPRNG (masking keys, handshake nonce) from
//! the operating system. Every protocol rule (framing, masking, UTF-8,
//! answering pings, echoing closes, limits, timeouts) is proto's, configured
//! with [`Config`]. Proto's deadlines (opening handshake, close, keepalive
//! ping and pong, idle) are honoured by setting the transport's read timeout
//! to the next deadline before each blocking read.
//!
//! The closing handshake ends in the RFC's order: the server shuts the
//! transport down as soon as its close frame (or echo) is written; a client
//! reads until the server's end of the transport, bounded by the close
//! timeout, then shuts down its side.
//!
//! # Transports
//!
//! A [`WebSocket<S>`] runs over any [`Transport`]: `Read + Write` that can bound
//! a read with a timeout and shut down. [`TcpStream`](std::net::TcpStream) and
//! `UnixStream` are transports, and so is [`tls::TlsStream`]; wrap
//! anything else (an in-memory pipe, another TLS stream) in [`NoTimeouts`],
//! whose documentation says what is lost.
//!
//! # TLS
//!
//! With the `rustls` feature (on by default), [`connect`] opens `wss://`
//! URLs through rustls with its ring crypto provider, chosen explicitly (no
//! process-level default provider is needed or installed); the result is a
//! [`MaybeTlsStream`]. Trust roots come from the `webpki-roots` feature
//! (Mozilla's, bundled; on by default) and/or `native-roots` (the
//! platform's). A server runs [`tls::accept`] (bounded by a timeout) on an
//! accepted `TcpStream`, then [`accept_with`] on the [`tls::TlsStream`].
//! Timeouts work through TLS, the halves of a split TLS connection read
//! and write at once, certificate errors are [`Error::Tls`] with a
//! [`TlsError`] saying which (unknown issuer, name mismatch, expired), a
//! TLS error mid-connection is reported the same way, and
//! [`close`](WebSocket::close) ends with TLS close_notify.
//!
//! # One thread sends while another receives
//!
//! [`WebSocket::split`] (for transports that can be cloned, like
//! `TcpStream`) gives a [`WriteHalf`] and a [`ReadHalf`]: one thread can be
//! blocked in `recv` while another sends. The halves share the connection
//! behind a mutex that is never held across blocking I/O; writes are
//! serialised by a second lock, and the pongs and close echo that receiving
//! causes are written by whichever thread holds it, so frames never
//! interleave. The design, with its lock order, is described at the top of
//! `src/split.rs`.
//!
//! # Streaming
//!
//! With [`Config::streaming`] on, [`WebSocket::recv_incoming`] hands over
//! the pieces of large messages as they arrive ([`Incoming::Fragment`]),
//! and [`WebSocket::send_fragment`] sends a message piece by piece.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod core;
mod error;
mod handshake;
mod socket;
mod split;
mod stream;
#[cfg(feature = "rustls")]
pub mod tls;
mod transport;

pub use crate::core::Incoming;
pub use error::Error;
#[cfg(feature = "rustls")]
pub use error::TlsError;
#[cfg(feature = "rustls")]
pub use handshake::connect_tls;
pub use handshake::{accept, accept_with, connect, connect_on, connect_with};
pub use socket::WebSocket;
pub use split::{ReadHalf, WriteHalf};
pub use stream::MaybeTlsStream;
pub use transport::{NoTimeouts, Transport, TryClone};

/// The rustls this crate is built with, to name the same version's types.
#[cfg(feature = "rustls")]
pub use rustls;
pub use rusty_socket_proto;
pub use rusty_socket_proto::{
    http, Accept, AcceptError, Bytes, ClientRequest, CloseCode, CloseFrame, CloseReason, Config,
    ConfigError, Deflate, DeflateConfig, Fragment, HandshakeError, Message, MessageKind,
    PreparedMessage, ProtocolError, Reject, Request, Response, Role, SendError, State, Timer,
    UrlError, Utf8Bytes,
};

/// The README's example, compiled by `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme_doctest {}
