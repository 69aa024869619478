//! The one error type of the adapter.

use std::{fmt, io};

use rusty_socket_proto::http::StatusCode;
use rusty_socket_proto::{
    AcceptError, CloseReason, ConfigError, HandshakeError, ProtocolError, SendError, UrlError,
};

/// Everything that can go wrong on a blocking WebSocket.
///
/// The variants say who is at fault, as proto's errors do: the transport
/// ([`Io`](Error::Io)), the peer ([`Protocol`](Error::Protocol),
/// [`Handshake`](Error::Handshake)), the caller ([`Send`](Error::Send),
/// [`Config`](Error::Config), [`Url`](Error::Url)), or a deadline
/// ([`Closed`](Error::Closed)). A clean end is not an error: `recv` returns
/// `Ok(None)`.
///
/// `rusty-socket-tokio` has an `Error` with the same variants, names and
/// meanings.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed while connecting, reading or writing.
    ///
    /// A write timeout you set on the stream yourself surfaces here as
    /// `ErrorKind::WouldBlock` or `TimedOut` ([`is_timeout`](Error::is_timeout))
    /// and leaves the connection usable: the unwritten bytes stay queued for
    /// the next `flush`. Any other I/O error ends the connection. (A peer
    /// that ends the transport without a closing handshake is
    /// [`Closed`](Error::Closed) with [`CloseReason::Eof`].)
    Io(io::Error),
    /// The URL cannot be opened.
    Url(UrlError),
    /// TLS failed: the server's certificate was refused, a PEM file could
    /// not be used, or the peer sent something TLS forbids (during the
    /// handshake or mid-connection).
    #[cfg(feature = "rustls")]
    Tls(TlsError),
    /// A `wss://` URL, but this build has no TLS: the crate's `rustls`
    /// feature is off. Turn it on, or open the TLS stream yourself and hand
    /// it to [`connect_on`](crate::connect_on).
    #[cfg(not(feature = "rustls"))]
    TlsUnsupported,
    /// The [`Config`](crate::Config) cannot work.
    Config(ConfigError),
    /// The opening handshake failed. A client sees the server's refusal here
    /// ([`HandshakeError::Status`] carries its status and headers); a server
    /// sees a malformed request, which it answered with the error's status.
    Handshake(HandshakeError),
    /// Server: the request was plain HTTP, not a WebSocket upgrade; it was
    /// answered with `426 Upgrade Required`.
    NotWebSocket,
    /// Server: the application's callback rejected the request with this
    /// status; the [`Reject`](crate::Reject) response was written out.
    Rejected(StatusCode),
    /// Server: the callback's [`Accept`](crate::Accept) could not be applied
    /// (a subprotocol the client did not offer, for instance); the request
    /// was answered with `500 Internal Server Error`.
    Accept(AcceptError),
    /// The peer broke the protocol. A close frame with the error's close
    /// code was sent and the connection has ended.
    Protocol(ProtocolError),
    /// The connection cannot send this (the caller's mistake, such as a
    /// ping payload over 125 bytes, or a fragment out of order). Nothing was
    /// queued; the connection carries on.
    Send(SendError),
    /// The connection ended abnormally without a transport error or a
    /// protocol violation: a deadline passed ([`CloseReason::Timeout`]), or
    /// the peer ended the transport without a closing handshake
    /// ([`CloseReason::Eof`]). Never [`CloseReason::Normal`]: a completed
    /// closing handshake is `recv` returning `Ok(None)`.
    Closed(CloseReason),
    /// The connection is closing or has ended: nothing more can be sent
    /// (our close frame was sent, or the end was reported).
    AlreadyClosed,
    /// `recv` was called with `Config::streaming` on and the next item is a
    /// fragment; it stays queued for
    /// [`recv_incoming`](crate::WebSocket::recv_incoming).
    FragmentPending,
}

impl Error {
    /// Whether this is a timeout of the transport (`ErrorKind::WouldBlock`
    /// or `TimedOut`): a write timeout you set on the stream, which leaves
    /// the connection usable, or a TCP connect that ran out of the opening
    /// handshake's time. Proto's own deadlines are [`Error::Closed`] with
    /// [`CloseReason::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Io(e) if is_timeout(e))
    }
}

/// Whether an I/O error is a timeout rather than a failure.
pub(crate) fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Url(e) => write!(f, "cannot open URL: {e}"),
            #[cfg(feature = "rustls")]
            Error::Tls(e) => e.fmt(f),
            #[cfg(not(feature = "rustls"))]
            Error::TlsUnsupported => f.write_str(
                "wss:// needs TLS, and this build of rusty-socket-std has its \
                 `rustls` feature off: turn it on, or open the TLS stream \
                 yourself and call connect_on()",
            ),
            Error::Config(e) => e.fmt(f),
            Error::Handshake(e) => write!(f, "opening handshake failed: {e}"),
            Error::NotWebSocket => f.write_str(
                "the request is plain HTTP, not a WebSocket upgrade \
                 (answered 426 Upgrade Required)",
            ),
            Error::Rejected(status) => write!(f, "the request was rejected with status {status}"),
            Error::Accept(e) => write!(
                f,
                "cannot accept the request: {e} (answered 500 Internal Server Error)"
            ),
            Error::Protocol(e) => write!(f, "protocol error: {e}"),
            Error::Send(e) => write!(f, "cannot send: {e}"),
            Error::Closed(reason) => write!(f, "connection closed: {reason}"),
            Error::AlreadyClosed => f.write_str("the connection is closing or closed"),
            Error::FragmentPending => f.write_str(
                "a message fragment is next (Config::streaming is on): \
                 receive it with recv_incoming",
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Url(e) => Some(e),
            Error::Config(e) => Some(e),
            Error::Handshake(e) => Some(e),
            Error::Accept(e) => Some(e),
            Error::Protocol(e) => Some(e),
            Error::Send(e) => Some(e),
            #[cfg(feature = "rustls")]
            Error::Tls(e) => Some(e),
            #[cfg(not(feature = "rustls"))]
            Error::TlsUnsupported => None,
            Error::NotWebSocket
            | Error::Rejected(_)
            | Error::Closed(_)
            | Error::AlreadyClosed
            | Error::FragmentPending => None,
        }
    }
}

/// An I/O error, unless it carries a TLS error: the TLS stream reports
/// what rustls refused (a bad certificate, a corrupt record mid-connection)
/// as an `io::Error` of kind `InvalidData` wrapping the `rustls::Error`,
/// which is unwrapped here so that callers can match on [`Error::Tls`].
impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        #[cfg(feature = "rustls")]
        if let Some(tls) = rustls_error(&e) {
            return Error::Tls(TlsError::from(tls.clone()));
        }
        Error::Io(e)
    }
}

/// A copy of an I/O error for a later report (`io::Error` is not
/// `Clone`). A wrapped TLS error is copied as itself, so that the report
/// is [`Error::Tls`].
pub(crate) fn copy_io(e: &io::Error) -> io::Error {
    #[cfg(feature = "rustls")]
    if let Some(tls) = rustls_error(e) {
        return io::Error::new(e.kind(), tls.clone());
    }
    io::Error::new(e.kind(), e.to_string())
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

impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Error::Handshake(e)
    }
}

impl From<AcceptError> for Error {
    fn from(e: AcceptError) -> Self {
        Error::Accept(e)
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        Error::Send(e)
    }
}

/// The `rustls::Error` inside an `io::Error`, if that is what it carries.
#[cfg(feature = "rustls")]
fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
}

/// Why TLS failed, sorted into the cases a user acts on differently: a
/// certificate problem (which authority, which name, which dates), a
/// configuration problem (names, roots, PEM files), or anything else
/// rustls reports (alerts from the peer, corrupt records).
#[cfg(feature = "rustls")]
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TlsError {
    /// The server's certificate is not signed by an authority we trust
    /// (a self-signed certificate, or a private CA the client was not
    /// given: see `tls::client_config_with_ca_file`).
    UnknownIssuer,
    /// The server's certificate is not valid for `host`, the name we
    /// connected to.
    NameMismatch {
        /// The URL's host: a DNS name or an IP address.
        host: String,
    },
    /// The server's certificate has expired, or is not valid yet.
    Expired,
    /// The URL's host cannot be a TLS server name.
    InvalidDnsName(String),
    /// No trust roots: the `webpki-roots` and `native-roots` features are
    /// both off (or the platform store is empty), so no server certificate
    /// could ever be trusted. Pass a config with roots to `connect_tls`.
    NoRootCertificates,
    /// A PEM certificate or key could not be read or had nothing usable.
    Pem(String),
    /// Anything else rustls refused: an alert from the peer, a corrupt or
    /// unexpected record, a key that does not match its certificate...
    Other(rustls::Error),
}

#[cfg(feature = "rustls")]
impl From<rustls::Error> for TlsError {
    /// Sorts the certificate errors a user acts on; the rest is `Other`.
    /// A name mismatch without context gets an empty `host`, which the
    /// client fills in (it knows the name it asked for).
    fn from(e: rustls::Error) -> Self {
        use rustls::CertificateError as Cert;
        match e {
            rustls::Error::InvalidCertificate(cert) => match cert {
                Cert::UnknownIssuer => TlsError::UnknownIssuer,
                Cert::NotValidForName => TlsError::NameMismatch {
                    host: String::new(),
                },
                Cert::NotValidForNameContext { expected, .. } => TlsError::NameMismatch {
                    host: expected.to_str().into_owned(),
                },
                Cert::Expired
                | Cert::ExpiredContext { .. }
                | Cert::NotValidYet
                | Cert::NotValidYetContext { .. } => TlsError::Expired,
                other => TlsError::Other(rustls::Error::InvalidCertificate(other)),
            },
            other => TlsError::Other(other),
        }
    }
}

#[cfg(feature = "rustls")]
impl From<TlsError> for Error {
    fn from(e: TlsError) -> Self {
        Error::Tls(e)
    }
}

#[cfg(feature = "rustls")]
impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::UnknownIssuer => {
                f.write_str("TLS: the server's certificate is signed by an unknown authority")
            }
            TlsError::NameMismatch { host } => {
                write!(f, "TLS: the server's certificate is not valid for {host:?}")
            }
            TlsError::Expired => {
                f.write_str("TLS: the server's certificate has expired or is not valid yet")
            }
            TlsError::InvalidDnsName(host) => {
                write!(f, "TLS: {host:?} is not a valid server name")
            }
            TlsError::NoRootCertificates => f.write_str(
                "TLS: no trusted root certificates (the webpki-roots and native-roots \
                 features are off, or the platform has none)",
            ),
            TlsError::Pem(e) => write!(f, "TLS: {e}"),
            TlsError::Other(e) => write!(f, "TLS: {e}"),
        }
    }
}

#[cfg(feature = "rustls")]
impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Other(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use rusty_socket_proto::Timer;

    use super::*;

    #[test]
    fn messages_name_the_cause_and_sources_chain() {
        let io = Error::from(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
        assert_eq!(io.to_string(), "I/O error: reset");
        assert!(io.source().is_some());
        let protocol = Error::from(ProtocolError::UnmaskedFrame);
        assert_eq!(
            protocol.to_string(),
            "protocol error: client frame is not masked"
        );
        assert_eq!(
            protocol.source().map(ToString::to_string).as_deref(),
            Some("client frame is not masked")
        );
        let closed = Error::Closed(CloseReason::Eof);
        assert_eq!(
            closed.to_string(),
            "connection closed: connection ended without a closing handshake"
        );
        assert!(closed.source().is_none());
        let timeout = Error::Closed(CloseReason::Timeout(Timer::Close));
        assert_eq!(
            timeout.to_string(),
            "connection closed: closing handshake timed out"
        );
        #[cfg(not(feature = "rustls"))]
        assert!(Error::TlsUnsupported.to_string().contains("wss://"));
        #[cfg(feature = "rustls")]
        {
            // A rustls error inside an io::Error comes out as Error::Tls,
            // also through a copy.
            let bad = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
            let wrapped = io::Error::new(io::ErrorKind::InvalidData, bad);
            assert!(matches!(
                Error::from(copy_io(&wrapped)),
                Error::Tls(TlsError::UnknownIssuer)
            ));
        }
        assert!(Error::from(io::Error::from(io::ErrorKind::WouldBlock)).is_timeout());
    }
}
