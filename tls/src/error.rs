//! What TLS refused, in the terms a user acts on.

use std::fmt;
use std::path::Path;

/// Why TLS failed, sorted into the cases a user acts on differently: a
/// certificate problem (which authority, which name, which dates), a
/// configuration problem (names, roots, PEM files), or anything else
/// rustls reports (alerts from the peer, corrupt records).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TlsError {
    /// The server's certificate is not signed by an authority we trust
    /// (a self-signed certificate, or a private CA the client was not
    /// given: see `client_config_with_ca_file`).
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

impl TlsError {
    /// A name mismatch said of `host`, the name as the user wrote it (rustls
    /// does not always say which name it checked); other errors unchanged.
    pub fn for_host(self, host: &str) -> TlsError {
        match self {
            TlsError::NameMismatch { .. } => TlsError::NameMismatch {
                host: host.to_owned(),
            },
            other => other,
        }
    }

    /// A PEM error said of the file(s) it came from.
    pub(crate) fn in_file(self, path: &Path) -> TlsError {
        match self {
            TlsError::Pem(message) => TlsError::Pem(format!("{}: {message}", path.display())),
            other => other,
        }
    }
}

impl From<rustls::Error> for TlsError {
    /// Sorts the certificate errors a user acts on; the rest is `Other`.
    /// A name mismatch without context gets an empty `host`, which the
    /// client fills in ([`TlsError::for_host`]: it knows the name it asked
    /// for).
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
    use super::*;
    use rustls::CertificateError as Cert;

    #[test]
    fn certificate_errors_are_sorted_and_the_rest_kept() {
        let cert = |c| TlsError::from(rustls::Error::InvalidCertificate(c));
        assert_eq!(cert(Cert::UnknownIssuer), TlsError::UnknownIssuer);
        assert_eq!(cert(Cert::Expired), TlsError::Expired);
        assert_eq!(cert(Cert::NotValidYet), TlsError::Expired);
        assert_eq!(
            cert(Cert::NotValidForName).for_host("example.com"),
            TlsError::NameMismatch {
                host: "example.com".into()
            }
        );
        assert_eq!(
            cert(Cert::BadSignature),
            TlsError::Other(rustls::Error::InvalidCertificate(Cert::BadSignature))
        );
        assert_eq!(
            TlsError::from(rustls::Error::DecryptError).for_host("x"),
            TlsError::Other(rustls::Error::DecryptError)
        );
    }

    #[test]
    fn messages_are_one_clear_line() {
        for (e, says) in [
            (TlsError::UnknownIssuer, "unknown authority"),
            (
                TlsError::NameMismatch {
                    host: "a.example".into(),
                },
                "not valid for \"a.example\"",
            ),
            (TlsError::Expired, "expired"),
            (TlsError::NoRootCertificates, "no trusted root"),
        ] {
            let line = e.to_string();
            assert!(line.starts_with("TLS: ") && line.contains(says), "{line}");
            assert!(!line.contains('\n'));
        }
    }
}
