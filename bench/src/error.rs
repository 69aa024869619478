//! One error type for every mode, with messages that say what was being done.

use std::fmt;
use std::io;

/// Why a benchmark run failed.
#[derive(Debug)]
pub enum Error {
    /// A socket or file operation failed; `context` says which one.
    Io {
        /// What we were doing, e.g. "connecting to 127.0.0.1:9001".
        context: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// The server did not complete the WebSocket opening handshake.
    Handshake(String),
    /// The server sent bytes that are not valid WebSocket framing.
    Protocol(String),
    /// An echo differed from what was sent (length, opcode or content).
    Mismatch(String),
    /// The server ended the connection (close frame or end of stream).
    Closed(String),
    /// Nothing arrived within the allowed time.
    Timeout(String),
    /// A certificate, key or TLS configuration could not be used.
    Tls(String),
    /// The command line asks for something impossible.
    Usage(String),
}

impl Error {
    /// Wraps an `io::Error` with a description of the failed operation, for
    /// use as `.map_err(Error::io("reading from the server"))`.
    pub fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Handshake(msg) => write!(f, "handshake failed: {msg}"),
            Error::Protocol(msg) => write!(f, "protocol error from server: {msg}"),
            Error::Mismatch(msg) => write!(f, "echo mismatch: {msg}"),
            Error::Closed(msg) => write!(f, "connection closed by server: {msg}"),
            Error::Timeout(msg) => write!(f, "timed out: {msg}"),
            Error::Tls(msg) => write!(f, "TLS: {msg}"),
            Error::Usage(msg) => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
