//! Two sans-IO machines in one hand-written event loop: a wss:// server.
//!
//! [`rusty_socket_proto::Connection`] speaks WebSocket and
//! [`rustls::ServerConnection`] speaks TLS; neither touches a socket, a
//! thread or the clock. This crate is the glue a user writes to embed both in
//! their own event loop: one [`mio::Poll`], one thread, a non-blocking
//! listener and many non-blocking sockets, each carrying one TLS machine
//! stacked under one WebSocket machine. It is documentation by example:
//! read [`Server`] (the loop) and the private `session` module (one
//! connection) top to bottom.
//!
//! # The seams: where bytes go in and out of each machine
//!
//! ```text
//!  socket                   rustls::ServerConnection                 proto::Connection            Handler
//!  ------                   ------------------------                 -----------------            -------
//!  ciphertext --read_tls--> process_new_packets
//!                           reader().fill_buf() ---plaintext--> handle_read(now, bytes)
//!                                                                     poll_event() --Request-->  request()  -> accept / reject
//!                                                                     poll_event() --Message-->  message()  -> reply: send()
//!                                                                     poll_event() --Closed--->  (TLS close_notify, FIN, ended())
//!                           writer().write_vectored() <--plaintext-- transmit_chunks()
//!                                                                    advance_transmit(now, n)
//!  ciphertext <-write_tls-- (encrypted records)
//!
//!  Poll::poll(timeout = earliest poll_timeout() of all connections) --> handle_timeout(now)
//! ```
//!
//! Each arrow is one method call, and each is made only when the machine on
//! the receiving side wants the bytes:
//!
//! - **Socket to rustls**: `read_tls` only while
//!   [`wants_read`](rustls::CommonState::wants_read) (rustls says no
//!   while it holds plaintext not yet taken: TLS-level backpressure).
//! - **rustls to proto**: the plaintext is lent by `fill_buf` and copied once
//!   into proto's receive buffer, only while proto
//!   [`wants_read`](rusty_socket_proto::Connection::wants_read) and the
//!   connection's outgoing backlog is under [`Config::max_backlog`]. After each
//!   piece, every event is handled before the next piece goes in, as proto's
//!   run loop asks.
//! - **proto to rustls**: proto's pending frames go to rustls as
//!   [`IoSlice`](std::io::IoSlice)s; rustls encrypts as much as its own
//!   buffer limit takes and says how much, which is what proto is told was
//!   written. The rest stays in proto's bounded queue.
//! - **rustls to socket**: `write_tls` until the socket would block; only
//!   then is the socket registered for writability.
//! - **Time**: the loop sleeps until the earliest deadline any connection
//!   asked for ([`poll_timeout`](rusty_socket_proto::Connection::poll_timeout)),
//!   then calls `handle_timeout`. proto's opening-handshake timer starts when
//!   the TCP connection is accepted, so it bounds the TLS handshake too: a
//!   client that stalls its ClientHello is dropped on time.
//!
//! The end of a connection is layered like its start: proto finishes the
//! WebSocket closing handshake and reports [`Event::Closed`](rusty_socket_proto::Event);
//! then rustls sends `close_notify`, the socket's write side is shut down,
//! and the socket is kept (reading and discarding) until the client closes
//! its side or [`Config::linger`] passes, so that a reset never destroys
//! the last bytes before the client reads them. An error on one connection
//! (bad TLS records, a reset, a protocol violation) ends that connection and
//! is reported to [`Handler::ended`]; the loop carries on.
//!
//! # Example
//!
//! An echo server (`examples/wss_echo_server.rs` is the same as a program):
//!
//! ```no_run
//! use rusty_socket_embed_example::{Config, ConnectionId, Handler, Server};
//! use rusty_socket_proto::Message;
//!
//! struct Echo;
//!
//! impl Handler for Echo {
//!     fn message(&mut self, _: ConnectionId, message: Message) -> Option<Message> {
//!         matches!(message, Message::Text(_) | Message::Binary(_)).then_some(message)
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The ring provider chosen explicitly, ALPN http/1.1 (rusty-socket-tls).
//! let tls = rusty_socket_tls::server_config_from_pem_files("cert.pem".as_ref(), "key.pem".as_ref())?;
//! let server = Server::bind("127.0.0.1:9443".parse()?, tls, Config::default(), Echo)?;
//! server.run()?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod config;
mod error;
mod handler;
mod server;
mod session;

pub use config::Config;
pub use error::{End, Error};
pub use handler::{ConnectionId, Handler};
pub use server::{Server, Stopper};
