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
use std::path::Path;
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

/// The adapter chosen with `--runtime`, and the TLS trust of `--ca`.
pub enum Runtime {
    /// rusty-socket-tokio, on a runtime started at the first `connect`.
    Tokio(with_tokio::TokioRuntime),
    /// rusty-socket-std, with the TLS client config of `--ca` if given.
    Std(Option<Arc<rusty_socket_std::rustls::ClientConfig>>),
}

impl Runtime {
    /// The runtime for `kind`, trusting the CA certificates in the PEM file
    /// `ca` (besides the bundled roots) for wss://; nothing starts until
    /// the first `connect`. Fails with the line to print if `ca` is unusable.
    pub fn new(kind: RuntimeKind, ca: Option<&Path>) -> Result<Self, String> {
        let unusable = |e: &dyn fmt::Display, path: &Path| format!("--ca {}: {e}", path.display());
        Ok(match kind {
            RuntimeKind::Tokio => {
                let tls = ca
                    .map(|path| {
                        rusty_socket_tokio::tls::client_config_with_ca_file(path)
                            .map_err(|e| unusable(&e, path))
                    })
                    .transpose()?;
                Runtime::Tokio(with_tokio::TokioRuntime::new(tls))
            }
            RuntimeKind::Std => {
                let tls = ca
                    .map(|path| {
                        rusty_socket_std::tls::client_config_with_ca_file(path)
                            .map_err(|e| unusable(&e, path))
                    })
                    .transpose()?;
                Runtime::Std(tls)
            }
        })
    }

    /// Opens a connection to `url` whose network side reports to `link`.
    pub fn connect(
        &mut self,
        url: &str,
        link: &Arc<Link>,
    ) -> Result<Box<dyn Connection>, ConnectError> {
        match self {
            Runtime::Tokio(runtime) => runtime.connect(url, link),
            Runtime::Std(tls) => with_std::connect(url, tls.as_ref(), link),
        }
    }
}

/// Why `connect` failed, in the user's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// The URL cannot be used (why).
    Url(String),
    /// The server's certificate was not accepted.
    Certificate(Certificate),
    /// The TLS handshake failed otherwise (why).
    Tls(String),
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

/// What is wrong with a server's certificate, in the user's terms (the
/// adapters each have their own `TlsError`; the line is written once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Certificate {
    /// Not signed by an authority the client trusts (a self-signed server
    /// without `--ca`).
    UnknownIssuer,
    /// Valid, but for other names than the URL's host.
    NameMismatch {
        /// The host the client asked for.
        host: String,
    },
    /// Outside its validity period.
    Expired,
}

/// A failed TLS handshake, in the user's terms. Both adapters report the
/// same `TlsError` (from `rusty-socket-tls`), so both runtimes use this.
impl From<rusty_socket_tls::TlsError> for ConnectError {
    fn from(error: rusty_socket_tls::TlsError) -> Self {
        use rusty_socket_tls::TlsError;
        match error {
            TlsError::UnknownIssuer => ConnectError::Certificate(Certificate::UnknownIssuer),
            TlsError::NameMismatch { host } => {
                ConnectError::Certificate(Certificate::NameMismatch { host })
            }
            TlsError::Expired => ConnectError::Certificate(Certificate::Expired),
            other => ConnectError::Tls(other.to_string()),
        }
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
            ConnectError::Certificate(Certificate::UnknownIssuer) => write!(
                f,
                "the certificate of {url} is signed by an unknown authority \
                 (trust it with --ca FILE)"
            ),
            ConnectError::Certificate(Certificate::NameMismatch { host }) => write!(
                f,
                "the certificate of {url} is not valid for the name {host:?}"
            ),
            ConnectError::Certificate(Certificate::Expired) => write!(
                f,
                "the certificate of {url} has expired (or is not valid yet)"
            ),
            ConnectError::Tls(why) => write!(f, "the TLS handshake with {url} failed: {why}"),
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
        let url = "wss://127.0.0.1:1";
        assert_eq!(
            ConnectError::Certificate(Certificate::UnknownIssuer).line(url),
            "Error: the certificate of wss://127.0.0.1:1 is signed by an unknown authority \
             (trust it with --ca FILE)"
        );
        assert_eq!(
            ConnectError::Certificate(Certificate::NameMismatch {
                host: "127.0.0.1".into()
            })
            .line(url),
            "Error: the certificate of wss://127.0.0.1:1 is not valid for the name \"127.0.0.1\""
        );
        for error in [
            ConnectError::Certificate(Certificate::Expired),
            ConnectError::Tls("x".into()),
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
