//! What the connection reports to the application.

use bytes::Bytes;

use crate::close::CloseFrame;
use crate::error::CloseReason;
use crate::handshake::{Request, Response};
use crate::text::Utf8Bytes;

/// Something that happened on the connection; drain them with
/// [`Connection::poll_event`](crate::Connection::poll_event) after every input.
///
/// The handshake's request and response are boxed: they come once per
/// connection, and an `Event` (moved out for every message) stays small.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// Server: a client asks to open a WebSocket (or sent a plain HTTP GET).
    /// Answer with [`Connection::accept`](crate::Connection::accept) or
    /// [`Connection::reject`](crate::Connection::reject).
    Request(Box<Request>),
    /// Client: the server accepted; the connection is open.
    Connected(Box<Response>),
    /// A message or control frame from the peer. Pings are answered already
    /// (unless `Config::auto_pong` is off); a close is answered already.
    Message(Message),
    /// With `Config::streaming`: a piece of a text or binary message.
    Fragment(Fragment),
    /// The connection has ended; this is the last event. Write out what is
    /// still pending, then close the transport.
    Closed(CloseReason),
}

/// A WebSocket message, or a control frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (valid UTF-8).
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping with its payload (at most 125 bytes).
    Ping(Bytes),
    /// A pong with its payload (at most 125 bytes).
    Pong(Bytes),
    /// A close frame with its code and reason, if it had any.
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Message::Text(text.into())
    }

    /// A binary message.
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Message::Binary(data.into())
    }
}

/// The type of a data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text.
    Text,
    /// Arbitrary bytes.
    Binary,
}

/// A piece of a message delivered as it arrives (`Config::streaming`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// The message's type.
    pub kind: MessageKind,
    /// The bytes of this piece. For text, the message as a whole is valid
    /// UTF-8, but a piece may end inside a character.
    pub data: Bytes,
    /// This is the first piece of its message.
    pub first: bool,
    /// This is the last piece of its message.
    pub fin: bool,
}
