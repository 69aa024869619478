//! What can go wrong: for the loop as a whole ([`Error`]), and for one
//! connection ([`End`], which never stops the loop).

use std::fmt;
use std::io;

use rusty_socket_proto::{AcceptError, CloseReason, ConfigError, SendError};

/// Why the server could not start, or why its loop stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Binding the listener, or creating or registering with the poll.
    Setup(io::Error),
    /// Waiting on the poll failed: the loop cannot go on.
    Poll(io::Error),
    /// The WebSocket configuration is invalid.
    Config(ConfigError),
    /// A setting of the loop's [`Config`](crate::Config) that cannot work.
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Setup(e) => write!(f, "cannot set up the listener: {e}"),
            Error::Poll(e) => write!(f, "waiting for socket events failed: {e}"),
            Error::Config(e) => write!(f, "invalid WebSocket configuration: {e}"),
            Error::InvalidConfig { field, reason } => {
                write!(f, "invalid configuration: {field} {reason}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Setup(e) | Error::Poll(e) => Some(e),
            Error::Config(e) => Some(e),
            Error::InvalidConfig { .. } => None,
        }
    }
}

/// Why one connection ended; given to [`Handler::ended`](crate::Handler::ended).
#[derive(Debug)]
#[non_exhaustive]
pub enum End {
    /// The WebSocket connection ended, and proto says why: the closing
    /// handshake completed (`CloseReason::Normal`), a timer ran out (the
    /// opening handshake, including TLS's, or a keepalive pong), the client
    /// broke a rule of RFC 6455, the client went away...
    WebSocket(CloseReason),
    /// TLS failed: the client sent something that is not TLS, the handshake
    /// failed, or the client sent a fatal alert. The alert rustls owes the
    /// client was sent (if the socket took it).
    Tls(rustls::Error),
    /// The socket failed (a reset, say), or could not be set up.
    Io(io::Error),
    /// The handler's answer to the opening request was refused by proto (a
    /// subprotocol the client did not offer, a reserved header): the
    /// connection was dropped unanswered.
    Accept(AcceptError),
    /// The handler's reply could not be sent (a ping payload over 125 bytes,
    /// a close code not allowed on the wire): a bug in the handler, so the
    /// connection was dropped without a closing handshake.
    Send(SendError),
    /// The WebSocket connection could not be created with the configuration.
    Config(ConfigError),
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::WebSocket(reason) => write!(f, "WebSocket: {reason}"),
            End::Tls(e) => write!(f, "TLS: {e}"),
            End::Io(e) => write!(f, "socket: {e}"),
            End::Accept(e) => write!(f, "the handler's answer to the request was refused: {e}"),
            End::Send(e) => write!(f, "the handler's reply could not be sent: {e}"),
            End::Config(e) => write!(f, "invalid WebSocket configuration: {e}"),
        }
    }
}
