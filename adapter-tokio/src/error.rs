//! The adapter's error type: proto's errors, plus the transport's.

use std::fmt;
use std::io;

use rusty_socket_proto::{
    AcceptError, CloseReason, ConfigError, HandshakeError, ProtocolError, SendError, UrlError,
};

/// Everything that can go wrong on a WebSocket driven by this crate.
///
/// Errors from the peer ([`Protocol`](Error::Protocol), [`Handshake`](Error::Handshake))
/// and from the transport ([`Io`](Error::Io)) end the connection; errors from
/// the caller ([`Send`](Error::Send), [`Config`](Error::Config), [`Url`](Error::Url)...)
/// leave it as it was.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed (connection reset, broken pipe...). The
    /// connection has ended.
    Io(io::Error),
    /// The peer broke a framing rule; a close frame with the matching code
    /// (1002, 1007, 1009...) was sent and the connection has ended.
    Protocol(ProtocolError),
    /// The opening handshake failed. On the client side,
    /// [`HandshakeError::Status`] carries the status and headers of a server
    /// that refused the upgrade.
    Handshake(HandshakeError),
    /// The connection ended for another reason: a timeout
    /// ([`CloseReason::Timeout`]), the peer's transport ending without a
    /// closing handshake ([`CloseReason::Eof`]), or a request the server's
    /// callback rejected ([`CloseReason::Rejected`]).
    Closed(CloseReason),
    /// The connection is closing or closed: nothing more can be sent.
    AlreadyClosed,
    /// A server given a plain HTTP request (no `Upgrade: websocket`) to
    /// accept; it was answered with `426 Upgrade Required`.
    NotWebSocket,
    /// The server's accept callback chose something the request does not
    /// allow (a subprotocol the client did not offer); the client got a 500.
    Accept(AcceptError),
    /// A send the connection cannot carry out (a control payload over 125
    /// bytes, an invalid close code, fragments out of order...).
    Send(SendError),
    /// The URL cannot be opened.
    Url(UrlError),
    /// `wss://` URLs need TLS, which [`connect`](crate::connect) does not do
    /// yet: connect a TLS stream yourself and use
    /// [`connect_on`](crate::connect_on).
    TlsUnsupported,
    /// The [`Config`](rusty_socket_proto::Config) is invalid.
    Config(ConfigError),
    /// With `Config::streaming`, a message fragment arrived where a whole
    /// message was asked for: receive with `next_incoming` instead. The
    /// fragment is kept for it.
    StreamingFragment,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Protocol(e) => write!(f, "protocol error: {e}"),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::Closed(reason) => write!(f, "connection ended: {reason}"),
            Error::AlreadyClosed => f.write_str("the connection is closing or closed"),
            Error::NotWebSocket => {
                f.write_str("plain HTTP request, not a WebSocket upgrade (answered 426)")
            }
            Error::Accept(e) => write!(f, "cannot accept the request: {e}"),
            Error::Send(e) => write!(f, "cannot send: {e}"),
            Error::Url(e) => write!(f, "{e}"),
            Error::TlsUnsupported => f.write_str(
                "wss:// needs TLS, which connect() does not support yet; \
                 connect a TLS stream yourself and call connect_on()",
            ),
            Error::Config(e) => write!(f, "{e}"),
            Error::StreamingFragment => f.write_str(
                "a message fragment arrived (Config::streaming is on): receive with next_incoming()",
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Protocol(e) => Some(e),
            Error::Handshake(e) => Some(e),
            Error::Accept(e) => Some(e),
            Error::Send(e) => Some(e),
            Error::Url(e) => Some(e),
            Error::Config(e) => Some(e),
            Error::Closed(_)
            | Error::AlreadyClosed
            | Error::NotWebSocket
            | Error::TlsUnsupported
            | Error::StreamingFragment => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Error::Handshake(e)
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Closed => Error::AlreadyClosed,
            e => Error::Send(e),
        }
    }
}

impl From<UrlError> for Error {
    fn from(e: UrlError) -> Self {
        Error::Url(e)
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

impl From<AcceptError> for Error {
    fn from(e: AcceptError) -> Self {
        Error::Accept(e)
    }
}

impl Error {
    /// The error for a connection that ended with `reason`; `None` for a
    /// completed closing handshake, which is not an error.
    pub(crate) fn from_reason(reason: CloseReason) -> Option<Error> {
        match reason {
            CloseReason::Normal(_) => None,
            CloseReason::Protocol(e) => Some(Error::Protocol(e)),
            CloseReason::Handshake(e) => Some(Error::Handshake(e)),
            other => Some(Error::Closed(other)),
        }
    }
}

/// A copy of an I/O error for a second reporter (`io::Error` is not `Clone`).
pub(crate) fn copy_io(e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), e.to_string())
}
