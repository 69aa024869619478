//! The application's side of the loop.

use std::fmt;
use std::io;

use rusty_socket_proto::http::StatusCode;
use rusty_socket_proto::{Accept, Message, Reject, Request};

use crate::error::End;

/// Names one connection for the whole of its life (its `mio` token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub(crate) usize);

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What the application does with each connection. The loop calls it from
/// its one thread, in the order things happen on each connection.
pub trait Handler {
    /// A client asks to open a WebSocket (over TLS already): accept it,
    /// possibly with a subprotocol, or answer with an HTTP status.
    ///
    /// The default accepts every WebSocket request and answers a plain
    /// HTTP request with `426 Upgrade Required`.
    fn request(&mut self, id: ConnectionId, request: &Request) -> Result<Accept, Reject> {
        let _ = id;
        if request.is_websocket() {
            Ok(Accept::default())
        } else {
            Err(Reject::status(StatusCode::UPGRADE_REQUIRED))
        }
    }

    /// A message arrived: text, binary, or a ping, pong or close frame
    /// (which proto has already answered). Return a message to send back on
    /// the same connection.
    ///
    /// A reply is never lost to backpressure: when the outgoing queue is
    /// full, it waits, and the connection is neither read nor handled until
    /// it is queued. A reply after the closing handshake began cannot be
    /// sent (RFC 6455 section 5.5.1) and is dropped.
    fn message(&mut self, id: ConnectionId, message: Message) -> Option<Message>;

    /// The connection has ended and its socket is closed.
    fn ended(&mut self, id: ConnectionId, end: End) {
        let _ = (id, end);
    }

    /// Accepting a connection failed (out of file descriptors, say). The
    /// listener carries on: the next connection to arrive is accepted.
    fn accept_failed(&mut self, error: io::Error) {
        let _ = error;
    }
}
