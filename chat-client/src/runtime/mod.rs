//! The runtime-specific part, behind one small trait: connecting, sending
//! a line, starting the close. Everything else (commands, printing,
//! waiting for echoes and for the end) is written once, in `app` and `link`.
//!
//! - tokio ([`with_tokio`]): a one-worker Tokio runtime runs the receive
//!   task over the `ReadHalf`; the command loop sends on the `WriteHalf`
//!   with `Handle::block_on`.
//! - std ([`with_std`]): split blocking halves; a reader thread receives,
//!   the command loop sends.
//!
//! Either way the network side reports to the connection's
//! [`Link`].

mod with_std;
mod with_tokio;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rusty_socket_proto::http::StatusCode;
use rusty_socket_proto::CloseReason;

use crate::cli::RuntimeKind;
use crate::link::Link;

/// How long connecting may take in all (TCP connect and opening handshake),
/// so that an unreachable server gives an error instead of a hang.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An open connection, as the command loop sees it.
pub trait Connection {
    /// Sends one text message and writes it out.
    fn send_text(&mut self, text: &str) -> Result<(), String>;

    /// Sends a close frame with code 1000 (normal closure). The closing
    /// handshake completes on the network side, which reports the end to
    /// the link.
    fn close(&mut self) -> Result<(), String>;
}

/// The adapter chosen with `--runtime`.
pub enum Runtime {
    /// rusty-socket-tokio, on a runtime started at the first `connect`.
    Tokio(with_tokio::TokioRuntime),
    /// rusty-socket-std.
    Std,
}

impl Runtime {
    /// The runtime for `kind`; nothing starts until the first `connect`.
    pub fn new(kind: RuntimeKind) -> Self {
        match kind {
            RuntimeKind::Tokio => Runtime::Tokio(with_tokio::TokioRuntime::default()),
            RuntimeKind::Std => Runtime::Std,
        }
    }

    /// Opens a connection to `url` whose network side reports to `link`.
    pub fn connect(
        &mut self,
        url: &str,
        link: &Arc<Link>,
    ) -> Result<Box<dyn Connection>, ConnectError> {
        match self {
            Runtime::Tokio(runtime) => runtime.connect(url, link),
            Runtime::Std => with_std::connect(url, link),
        }
    }
}

/// Why `connect` failed, in the user's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// The URL cannot be used (why).
    Url(String),
    /// A `wss://` URL: the adapters do not do TLS yet.
    Tls,
    /// No TCP connection (the operating system's reason).
    Unreachable(String),
    /// The server answered the upgrade request with this HTTP status.
    Refused(StatusCode),
    /// The opening handshake failed otherwise (why).
    Handshake(String),
    /// Nothing within [`CONNECT_TIMEOUT`].
    TimedOut,
    /// The tokio runtime could not be started (why).
    Runtime(String),
}

impl ConnectError {
    /// The one error line for a failed `connect` to `url`.
    pub fn line(&self, url: &str) -> String {
        format!("Error: {}", Explained { error: self, url })
    }
}

struct Explained<'a> {
    error: &'a ConnectError,
    url: &'a str,
}

impl fmt::Display for Explained<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.url;
        match self.error {
            ConnectError::Url(why) => write!(f, "cannot connect to {url:?}: {why}"),
            ConnectError::Tls => write!(
                f,
                "cannot connect to {url}: wss:// (TLS) is not supported yet, use ws://"
            ),
            ConnectError::Unreachable(why) => {
                write!(f, "cannot reach the server at {url}: {why}")
            }
            ConnectError::Refused(status) => write!(
                f,
                "the server at {url} refused the WebSocket handshake with HTTP status {status}"
            ),
            ConnectError::Handshake(why) => {
                write!(f, "the WebSocket handshake with {url} failed: {why}")
            }
            ConnectError::TimedOut => write!(
                f,
                "timed out connecting to {url} (no answer within {} s)",
                CONNECT_TIMEOUT.as_secs()
            ),
            ConnectError::Runtime(why) => write!(f, "cannot start the tokio runtime: {why}"),
        }
    }
}

/// Why a connection ended, from proto's reason, for the end's error line.
fn describe_reason(reason: &CloseReason) -> String {
    match reason {
        CloseReason::Eof => "the server went away without a closing handshake".to_owned(),
        CloseReason::Protocol(e) => format!("the server broke the protocol: {e}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_errors_are_one_clear_line() {
        let url = "ws://127.0.0.1:1";
        assert_eq!(
            ConnectError::Refused(StatusCode::FORBIDDEN).line(url),
            "Error: the server at ws://127.0.0.1:1 refused the WebSocket handshake \
             with HTTP status 403 Forbidden"
        );
        assert_eq!(
            ConnectError::Unreachable("Connection refused (os error 111)".into()).line(url),
            "Error: cannot reach the server at ws://127.0.0.1:1: \
             Connection refused (os error 111)"
        );
        assert_eq!(
            ConnectError::Url("unsupported URL scheme \"http\", expected ws or wss".into())
                .line("http://x"),
            "Error: cannot connect to \"http://x\": \
             unsupported URL scheme \"http\", expected ws or wss"
        );
        for error in [
            ConnectError::Tls,
            ConnectError::Handshake("x".into()),
            ConnectError::TimedOut,
            ConnectError::Runtime("x".into()),
        ] {
            let line = error.line(url);
            assert!(
                line.starts_with("Error: ") && !line.contains('\n'),
                "{line}"
            );
        }
    }

    #[test]
    fn reasons_name_the_cause() {
        assert_eq!(
            describe_reason(&CloseReason::Eof),
            "the server went away without a closing handshake"
        );
        assert_eq!(
            describe_reason(&CloseReason::Timeout(rusty_socket_proto::Timer::Close)),
            "closing handshake timed out"
        );
    }
}
