//! A sans-IO WebSocket (RFC 6455) protocol state machine.
//!
//! A [`Connection`] carries one WebSocket connection from the first byte of
//! its opening handshake to the last of its closing handshake, in either
//! role. It never touches a socket, a thread, a runtime or the clock: you hand
//! it the bytes you read and the time it is, it hands you events and the
//! bytes to write, and it tells you when it next wants to be woken. So it fits
//! any event loop: blocking sockets, Tokio, io_uring, a test with a virtual
//! clock, a fuzzer.
//!
//! ```text
//!   socket --read--> handle_read(now, bytes) --+            +--> poll_event() --> your code
//!                                              | Connection |
//!   timer ---------> handle_timeout(now) ------+            +--> poll_transmit() --write--> socket
//!   your code -----> send / ping / close ------+            +--> poll_timeout() --> your timer
//! ```
//!
//! The rule of the run loop: after any input (`handle_*`) or command
//! (`send`, `close`, `accept`...), drain every output: write out
//! [`poll_transmit`](Connection::poll_transmit) (or
//! [`transmit_chunks`](Connection::transmit_chunks) for vectored writes),
//! handle every [`poll_event`](Connection::poll_event), and re-arm your timer
//! from [`poll_timeout`](Connection::poll_timeout). The connection answers
//! pings and close frames by itself, and turns every protocol violation into
//! the right close code on the wire and an [`Event::Closed`] that says why.
//!
//! # Example: a client over a blocking `TcpStream`
//!
//! ```no_run
//! use std::io::{ErrorKind, Read, Write};
//! use std::net::TcpStream;
//! use std::time::{Duration, Instant};
//!
//! use rusty_socket_proto::{random_seed, ClientRequest, Config, Connection, Event, Message};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let request = ClientRequest::new("ws://127.0.0.1:9001/")?;
//! let mut stream = TcpStream::connect((request.host(), request.port()))?;
//! // Masking keys must be unpredictable: seed from the OS CSPRNG.
//! let seed = random_seed()?;
//! let mut conn = Connection::client(&request, Config::default(), seed, Instant::now())?;
//! let mut buf = vec![0; 64 * 1024];
//! loop {
//!     // Write out everything the connection has queued.
//!     while let Some(bytes) = conn.poll_transmit(Instant::now()) {
//!         stream.write_all(&bytes)?;
//!     }
//!     // React to every event; commands may queue more output.
//!     while let Some(event) = conn.poll_event() {
//!         match event {
//!             Event::Connected(_) => conn.send(Instant::now(), &Message::text("hello"))?,
//!             Event::Message(Message::Text(text)) => {
//!                 println!("received {text}");
//!                 conn.close(Instant::now(), None)?;
//!             }
//!             Event::Closed(reason) => {
//!                 println!("closed: {reason}");
//!                 return Ok(());
//!             }
//!             _ => {}
//!         }
//!     }
//!     if conn.wants_write() {
//!         continue;
//!     }
//!     // Wait for bytes, but no longer than the next deadline.
//!     let wait = conn.poll_timeout().map(|at| at.saturating_duration_since(Instant::now()));
//!     stream.set_read_timeout(wait.map(|d| d.max(Duration::from_millis(1))))?;
//!     match stream.read(&mut buf) {
//!         Ok(0) => conn.handle_eof(Instant::now()),
//!         Ok(n) => conn.handle_read(Instant::now(), &buf[..n]),
//!         Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
//!             conn.handle_timeout(Instant::now())
//!         }
//!         Err(e) => return Err(e.into()),
//!     }
//! }
//! # }
//! ```
//!
//! [`random_seed`] (cargo feature `getrandom`, on by default) draws the seed
//! from the operating system; the connection itself only ever sees the seed.
//! `examples/tcp_client.rs` is this loop as a program.
//!
//! A server is the same loop around [`Connection::server`], answering
//! [`Event::Request`] with [`Connection::accept`] or [`Connection::reject`].
//!
//! # Limits
//!
//! Everything a peer could make grow is bounded by [`Config`]: the handshake
//! head and its header count, the frame and message sizes (checked when a
//! frame header arrives, before its payload is buffered), and the outgoing
//! queue, which refuses sends with [`SendError::Full`] instead of growing.
//!
//! # Public dependencies
//!
//! Types of these crates appear in this crate's API; a breaking release of
//! one is a breaking release of this crate. Both are re-exported, so you can
//! name the exact version this crate is built with:
//!
//! | crate | version | where | re-export |
//! |---|---|---|---|
//! | [`bytes`](https://docs.rs/bytes/1) | 1 | message payloads, [`Connection::poll_transmit`] chunks | [`Bytes`] |
//! | [`http`](https://docs.rs/http/1) | 1 | handshake requests, responses, status codes and headers | [`http`] |

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs, unreachable_pub)]

mod buffer_hold;
mod close;
mod config;
mod connection;
#[cfg(feature = "deflate")]
mod deflate;
mod error;
mod event;
mod extended_connect;
mod frame;
mod handshake;
mod opening;
mod outgoing;
mod phase;
mod prepared;
mod receive;
#[cfg(feature = "getrandom")]
mod seed;
mod send;
mod text;
mod timer;
mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use config::Config;
pub use connection::{Connection, Role};
#[cfg(feature = "deflate")]
pub use deflate::{drop_spare_engines, Deflate, DeflateConfig, SPARE_ENGINES};
pub use error::{
    AcceptError, CloseReason, ConfigError, HandshakeError, HeaderError, ProtocolError,
    RejectedResponse, SendError, UrlError,
};
pub use event::{Event, Fragment, Message, MessageKind};
pub use extended_connect::ExtendedConnect;
pub use frame::{apply_mask, Decoded, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
pub use handshake::{
    accept_key, upgrade_response, Accept, ClientRequest, Reject, Request, Response,
};
pub use phase::State;
pub use prepared::PreparedMessage;
#[cfg(feature = "getrandom")]
pub use seed::{random_seed, SeedError};
pub use text::Utf8Bytes;
pub use timer::Timer;
pub use utf8::{InvalidUtf8, Utf8Validator};

pub use bytes::Bytes;
pub use http;

/// The README's example, compiled and run by `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme_doctest {}
