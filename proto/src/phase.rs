//! The phases of a connection, and why it moves between them.
//!
//! A connection is one value from its first byte to its last. Its phase says
//! what the next bytes from the peer mean and what the application may do:
//!
//! ```text
//!  client                                 server
//!  AwaitingResponse                       AwaitingRequest
//!    | 101, validated                       | complete head -> Event::Request
//!    | -> Event::Connected                  v
//!    |                                    AwaitingDecision --reject--> Draining
//!    |                                      | accept
//!    v                                      v
//!   Open  <---------------------------------+
//!    | close() sent                 peer's close received, echoed
//!    v                                      |
//!  CloseSent --peer's close received-->  Draining --output written
//!                                           |      (and, for a client after a
//!                                           |      clean close, the server's EOF)
//!                                           v
//!                                         Closed   -> Event::Closed, exactly once
//! ```
//!
//! Every failure (a protocol error, a handshake error, a timeout, the peer's
//! EOF) goes to `Draining` with the reason, from any phase; what must still be
//! sent (a close frame with the error's code, or an HTTP error response) is
//! queued first, everything that has not started to go out is dropped.
//!
//! - **AwaitingResponse** (client): the request is queued; bytes from the
//!   server are the response head. Bytes after its blank line are frames and
//!   are decoded in the same call.
//! - **AwaitingRequest** (server): bytes are the request head, scanned for its
//!   end as they come, limited in size and header count.
//! - **AwaitingDecision** (server): the application holds the request. Bytes
//!   that already followed it (an eager client's first frame) stay buffered
//!   and are decoded as soon as it accepts.
//! - **Open**: frames in both directions.
//! - **CloseSent**: we sent a close frame (RFC 6455 section 5.5.1: "after
//!   sending a Close frame, the endpoint MUST NOT send any further data
//!   frames"). Received data frames are dropped, control frames are still
//!   read, and the peer's close ends the closing handshake.
//! - **Draining**: nothing more is read from the peer; the connection waits
//!   for its output to be written. A client that closed cleanly also waits for
//!   the server to end the transport, since "the server SHOULD close the
//!   underlying TCP connection" first (section 7.1.1). The close timer bounds it.
//! - **Closed**: the end; only `Event::Closed` remains to be polled.

use crate::error::CloseReason;
use crate::handshake::{PendingResponse, Request, RequestParser};

#[derive(Debug)]
pub(crate) enum Phase {
    AwaitingResponse(PendingResponse),
    AwaitingRequest(RequestParser),
    AwaitingDecision(Box<Request>),
    Open,
    CloseSent,
    Draining {
        reason: CloseReason,
        await_eof: bool,
    },
    Closed,
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
            Phase::AwaitingResponse(_) | Phase::AwaitingRequest(_) | Phase::AwaitingDecision(_) => {
                State::Handshake
            }
            Phase::Open => State::Open,
            Phase::CloseSent | Phase::Draining { .. } => State::Closing,
            Phase::Closed => State::Closed,
        }
    }
}
