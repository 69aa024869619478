//! The phases of a connection, and why it moves between them.
//!
//! A connection is one value from its first byte to its last. Its phase says
//! what the next bytes from the peer mean and what the application may do:
//!
//! ```text
//!  client                                 server
//!  Opening(Response)              Opening(Request)
//!    | 101, validated                       | complete head -> Event::Request
//!    | -> Event::Connected                  v
//!    |                                    Opening(Decision) --reject--> Draining (linger)
//!    |                                      | accept
//!    v                                      v
//!   Open  <---------------------------------+     (Connection::upgraded starts here)
//!    | close() queued               peer's close received, echoed
//!    v                                      |
//!  CloseSent --peer's close received-->  Draining --output written--> Closed
//!                                           |                          ^
//!                                           | client after a clean     | peer's EOF, or the
//!                                           | close; server after an   | close timer, or (linger)
//!                                           v HTTP error answer        | too many bytes discarded
//!                                         AwaitingEof -----------------+
//!
//!  Closed -> Event::Closed, exactly once
//! ```
//!
//! Every failure (a protocol error, a handshake error, a timeout) goes to
//! `Draining` with the reason, from any phase; what must still be sent (a
//! close frame with the error's code, or an HTTP error response) is queued
//! behind what the application already queued, so the answers to the
//! messages before a violation still go out first.
//!
//! Two ways for the transport to end are told apart, because they mean
//! different things:
//!
//! - the peer's **EOF** ([`handle_eof`](crate::Connection::handle_eof)): it
//!   has finished sending, but may still read. What is queued is still
//!   written (a half-closed client gets our 4xx answer); a server deciding on
//!   a request still answers it.
//! - a **reset** ([`handle_reset`](crate::Connection::handle_reset)): the
//!   transport is gone; nothing more can be written, the connection ends now.
//!
//! The phases:
//!
//! - **Opening** (`opening.rs`): the HTTP/1.1 handshake. The client's
//!   request is queued and bytes from the server are the response head; the
//!   server scans the request head as it comes, limited in size and header
//!   count, then holds the request while the application decides (bytes that
//!   already followed it stay buffered and are decoded once it accepts).
//!   Bytes after a head's blank line are frames, decoded in the same call.
//! - **Open**: frames in both directions. Anything received restarts the
//!   keepalive and idle clocks.
//! - **CloseSent**: we queued a close frame (RFC 6455 section 5.5.1: "after
//!   sending a Close frame, the endpoint MUST NOT send any further data
//!   frames"). Data the peer sent before it saw our close is still
//!   delivered: data is discarded only after *receiving* a close (section
//!   1.4), as Python websockets and tungstenite do. The close timer runs
//!   from the last moment our output made progress: a slow but healthy peer
//!   behind a large backlog is not cut off, a peer that reads nothing is.
//! - **Draining**: nothing more is delivered; the connection writes out
//!   what is queued, bounded by the close timer.
//! - **AwaitingEof**: everything is written. A client that closed cleanly
//!   waits for the server to end the transport, since "the server SHOULD
//!   close the underlying TCP connection" first (section 7.1.1). A server
//!   that answered a request with an HTTP error *lingers*: it shuts down its
//!   write side and reads and discards what the client still sends, so that
//!   the client can finish writing and read the answer instead of getting a
//!   reset that can destroy it (RFC 9112 section 9.6), for at most the close
//!   timeout and `Config::max_discard` bytes. On an HTTP/2 stream (RFC
//!   8441) both sides linger after a clean close: END_STREAM is the TCP
//!   FIN, and a stream dropped before the peer ended it is reset, which
//!   section 5 keeps for aborts.
//! - **Closed**: the end; only `Event::Closed` remains to be polled.

use crate::error::CloseReason;
use crate::opening::Opening;

#[derive(Debug)]
pub(crate) enum Phase {
    /// The HTTP/1.1 opening handshake (see `opening.rs`).
    Opening(Opening),
    Open,
    CloseSent,
    /// Writing out what is still queued; then, as `then` says, the end or a
    /// wait for the peer's EOF.
    Draining {
        reason: CloseReason,
        then: AfterDrain,
    },
    /// Everything is written; reading (and discarding) until the peer ends
    /// the transport.
    AwaitingEof {
        reason: CloseReason,
        /// The server refused a request: its write side is shut down and at
        /// most `Config::max_discard` bytes are read.
        linger: bool,
        /// Bytes read and discarded so far.
        discarded: usize,
    },
    Closed,
}

/// What follows once everything queued is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterDrain {
    /// The end.
    End,
    /// A client after a clean close: the server ends the transport first.
    AwaitEof,
    /// Shut down the write side and read until the peer's EOF: a server
    /// after an HTTP error answer, to let the client finish sending (RFC 9112
    /// section 9.6); either side after a clean close on an HTTP/2 stream, to
    /// end it with END_STREAM both ways and no RST_STREAM (RFC 8441 section 5).
    Linger,
}

/// The phase of a connection as the application sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// The opening handshake is in progress.
    Handshake,
    /// Messages flow both ways.
    Open,
    /// A close frame was sent or received; the connection is winding down.
    Closing,
    /// The connection has ended.
    Closed,
}

impl Phase {
    pub(crate) fn state(&self) -> State {
        match self {
            Phase::Opening(_) => State::Handshake,
            Phase::Open => State::Open,
            Phase::CloseSent | Phase::Draining { .. } | Phase::AwaitingEof { .. } => State::Closing,
            Phase::Closed => State::Closed,
        }
    }
}
