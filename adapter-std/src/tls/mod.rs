//! TLS for `wss://`, with rustls and its **ring** crypto provider.
//!
//! [`connect`](crate::connect) uses [`default_client_config`] for `wss://`
//! URLs; [`connect_tls`](crate::connect_tls) takes a config of your own
//! (a private CA, client certificates, ALPN). A server accepts TLS with
//! [`accept`] (bounded by a timeout) and the WebSocket on the resulting
//! [`TlsStream`] with [`accept_with`](crate::accept_with):
//!
//! ```no_run
//! use std::net::TcpListener;
//! use std::time::Duration;
//!
//! use rusty_socket_std::{accept, tls};
//!
//! let config = tls::server_config_from_pem_files("cert.pem".as_ref(), "key.pem".as_ref())?;
//! let listener = TcpListener::bind("127.0.0.1:8443")?;
//! let (tcp, _) = listener.accept()?;
//! let stream = tls::accept(tcp, config, Duration::from_secs(10))?;
//! let ws = accept(stream)?;
//! # Ok::<(), rusty_socket_std::Error>(())
//! ```
//!
//! [`TlsStream`] is a [`Transport`](crate::Transport) like `TcpStream`:
//! proto's timers bound its reads, and it can be cloned
//! ([`TryClone`](crate::TryClone)) so that a split `WebSocket` reads on
//! one thread while another writes (see its docs for how).
//!
//! Every config here is built with [`provider`], never with rustls' process
//! default: nothing needs to install one, and a program that links another
//! provider too (aws-lc-rs through some other crate) does not panic on an
//! ambiguous default.

mod stream;

use std::io;
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};

use crate::error::{Error, TlsError};

pub use stream::TlsStream;

/// The crypto provider of every config this crate builds: rustls' ring
/// provider. Use it for configs of your own (`ClientConfig::
/// builder_with_provider(tls::provider())`) to stay independent of any
/// process default.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The `ClientConfig` that [`connect`](crate::connect) uses for `wss://`:
/// the ring provider, TLS 1.2 and 1.3, and the roots of the enabled
/// features (`webpki-roots`: Mozilla's, bundled; `native-roots`: the
/// platform's). Built once per process and shared.
///
/// [`TlsError::NoRootCertificates`] if no feature gave a root.
pub fn default_client_config() -> Result<Arc<ClientConfig>, Error> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, TlsError>> = OnceLock::new();
    CONFIG
        .get_or_init(|| client_config(default_roots().clone()))
        .clone()
        .map_err(Error::Tls)
}

/// A `ClientConfig` trusting the default roots (see
/// [`default_client_config`]) and the CA certificates in the PEM file at
/// `path`: how a client reaches a server whose certificate a private or
/// self-signed authority issued.
pub fn client_config_with_ca_file(path: &Path) -> Result<Arc<ClientConfig>, Error> {
    client_config_with_ca_pem(&read_pem(path)?).map_err(|e| in_file(e, path))
}

/// Like [`client_config_with_ca_file`], with the PEM text itself.
/// [`TlsError::Pem`] if it holds no certificate.
pub fn client_config_with_ca_pem(pem: &[u8]) -> Result<Arc<ClientConfig>, Error> {
    let mut roots = default_roots().clone();
    let (added, _unusable) = roots.add_parsable_certificates(certificates(pem)?);
    if added == 0 {
        return Err(TlsError::Pem("no usable CA certificate in the PEM data".into()).into());
    }
    Ok(client_config(roots)?)
}

/// A `ServerConfig` with the PEM certificate chain (leaf first) in `cert`
/// and the PEM private key (PKCS#8, PKCS#1 or SEC1) in `key`, offering the
/// ALPN protocol `http/1.1` (WebSocket's handshake is HTTP/1.1).
pub fn server_config_from_pem_files(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, Error> {
    let (cert_pem, key_pem) = (read_pem(cert)?, read_pem(key)?);
    // A PEM problem is in one of the two files; name both.
    let files = format!("{} or {}", cert.display(), key.display());
    server_config_from_pem(&cert_pem, &key_pem).map_err(|e| in_file(e, files.as_ref()))
}

/// Like [`server_config_from_pem_files`], with the PEM text itself.
pub fn server_config_from_pem(cert: &[u8], key: &[u8]) -> Result<Arc<ServerConfig>, Error> {
    let chain = certificates(cert)?;
    if chain.is_empty() {
        return Err(TlsError::Pem("no certificate in the PEM data".into()).into());
    }
    let key = PrivateKeyDer::from_pem_slice(key)
        .map_err(|e| TlsError::Pem(format!("no usable private key in the PEM data: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Other)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(TlsError::from)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Runs the server side of a TLS handshake on `stream`, giving up after
/// `timeout` (a client that sends its ClientHello one byte a second, or
/// nothing, is cut off: [`Error::is_timeout`]). Then accept the WebSocket
/// on the result with [`accept_with`](crate::accept_with); its own
/// handshake timeout starts there.
///
/// The stream's read and write timeouts are used for the deadline and
/// left unset afterwards (the `WebSocket` arms its own).
pub fn accept(
    stream: TcpStream,
    config: Arc<ServerConfig>,
    timeout: Duration,
) -> Result<TlsStream<ServerConnection>, Error> {
    let conn = ServerConnection::new(config).map_err(TlsError::from)?;
    Ok(TlsStream::handshake(
        conn,
        stream,
        Some(Instant::now() + timeout),
    )?)
}

/// The server name to send (SNI) and to check the certificate against:
/// the URL's host, a DNS name or an IP address.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    ServerName::try_from(host.to_owned())
        .map_err(|_| Error::Tls(TlsError::InvalidDnsName(host.to_owned())))
}

/// The client side of a TLS handshake with the server `host` (named in
/// errors) on `stream`, bounded by `deadline`.
pub(crate) fn connect(
    stream: TcpStream,
    name: ServerName<'static>,
    host: &str,
    config: Arc<ClientConfig>,
    deadline: Option<Instant>,
) -> Result<TlsStream<ClientConnection>, Error> {
    let conn = ClientConnection::new(config, name).map_err(TlsError::from)?;
    TlsStream::handshake(conn, stream, deadline).map_err(|e| match Error::from(e) {
        // The URL's host as the user wrote it.
        Error::Tls(TlsError::NameMismatch { .. }) => Error::Tls(TlsError::NameMismatch {
            host: host.to_owned(),
        }),
        other => other,
    })
}

/// The error of a TLS handshake that ran out of time.
fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the TLS handshake timed out")
}

fn client_config(roots: RootCertStore) -> Result<Arc<ClientConfig>, TlsError> {
    if roots.is_empty() {
        return Err(TlsError::NoRootCertificates);
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The roots of the enabled features, loaded once: the platform's store is
/// read from disk.
fn default_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        #[allow(unused_mut)] // with neither roots feature
        let mut roots = RootCertStore::empty();
        #[cfg(feature = "webpki-roots")]
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        #[cfg(feature = "native-roots")]
        {
            // Certificates the platform has but rustls cannot parse are
            // skipped, as are stores that cannot be read: the others still
            // count.
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
        roots
    })
}

fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem(format!("invalid PEM certificate: {e}")))
}

/// A PEM error, said of the file(s) it came from.
fn in_file(e: Error, path: &Path) -> Error {
    match e {
        Error::Tls(TlsError::Pem(message)) => {
            Error::Tls(TlsError::Pem(format!("{}: {message}", path.display())))
        }
        other => other,
    }
}

fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Pem(format!("cannot read {}: {e}", path.display())))
}
