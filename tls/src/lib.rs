//! TLS configuration for rusty_socket's `wss://`: written once here, used by
//! both adapters (`rusty-socket-std`, `rusty-socket-tokio`), whose `tls`
//! modules re-export it next to their own TLS streams.
//!
//! - Every config is built with [`provider`], rustls' **ring** provider,
//!   never with rustls' process-level default: nothing needs to install
//!   one, and a program that links another provider too (aws-lc-rs through
//!   some other crate) does not panic on an ambiguous default.
//! - Clients trust the roots of the enabled features (`webpki-roots`:
//!   Mozilla's, bundled, on by default; `native-roots`: the platform's),
//!   plus, if asked, the CA certificates of a PEM file (a private or
//!   self-signed authority).
//! - Servers load a PEM certificate chain and key, and offer ALPN
//!   `http/1.1`: a WebSocket opening handshake is HTTP/1.1.
//! - What rustls refuses is sorted by [`TlsError`] into the cases a user
//!   acts on differently.
//!
//! proto itself never sees TLS: it is a transport concern, and rustls is
//! itself sans-IO, so the two compose (the `embed` example crate drives
//! both in one event loop).
//!
//! # Public dependencies
//!
//! [`rustls`](https://docs.rs/rustls/0.23) 0.23: its configs, certificate
//! and key types (`rustls::pki_types`) and errors appear in this crate's API;
//! a breaking release of rustls is a breaking release of this crate. It is
//! re-exported as [`rustls`], so you can name the exact version this crate is
//! built with.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs, unreachable_pub)]

mod error;

use std::io;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

pub use error::TlsError;
pub use rustls;

/// The crypto provider of every config this crate builds: rustls' ring
/// provider. Use it for configs of your own (`ClientConfig::
/// builder_with_provider(provider())`) to stay independent of any process
/// default.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The `ClientConfig` the adapters' `connect` uses for `wss://`: the ring
/// provider, TLS 1.2 and 1.3, and the roots of the enabled features. Built
/// once per process and shared.
///
/// [`TlsError::NoRootCertificates`] if no feature gave a root.
pub fn default_client_config() -> Result<Arc<ClientConfig>, TlsError> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, TlsError>> = OnceLock::new();
    CONFIG
        .get_or_init(|| client_config(default_roots().clone()))
        .clone()
}

/// A `ClientConfig` trusting the default roots (see
/// [`default_client_config`]) and the CA certificates in the PEM file at
/// `path`: how a client reaches a server whose certificate a private or
/// self-signed authority issued.
pub fn client_config_with_ca_file(path: &Path) -> Result<Arc<ClientConfig>, TlsError> {
    client_config_with_ca_pem(&read_pem(path)?).map_err(|e| e.in_file(path))
}

/// Like [`client_config_with_ca_file`], with the PEM text itself.
/// [`TlsError::Pem`] if it holds no certificate.
pub fn client_config_with_ca_pem(pem: &[u8]) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = default_roots().clone();
    let (added, _unusable) = roots.add_parsable_certificates(certificates(pem)?);
    if added == 0 {
        return Err(TlsError::Pem(
            "no usable CA certificate in the PEM data".into(),
        ));
    }
    client_config(roots)
}

/// A `ServerConfig` with the PEM certificate chain (leaf first) in `cert`
/// and the PEM private key (PKCS#8, PKCS#1 or SEC1) in `key`, offering the
/// ALPN protocol `http/1.1` (WebSocket's handshake is HTTP/1.1).
pub fn server_config_from_pem_files(
    cert: &Path,
    key: &Path,
) -> Result<Arc<ServerConfig>, TlsError> {
    let (cert_pem, key_pem) = (read_pem(cert)?, read_pem(key)?);
    // A PEM problem is in one of the two files; name both.
    let files = format!("{} or {}", cert.display(), key.display());
    server_config_from_pem(&cert_pem, &key_pem).map_err(|e| e.in_file(files.as_ref()))
}

/// Like [`server_config_from_pem_files`], with the PEM text itself.
pub fn server_config_from_pem(cert: &[u8], key: &[u8]) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certificates(cert)?;
    if chain.is_empty() {
        return Err(TlsError::Pem("no certificate in the PEM data".into()));
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

/// The server name a client sends (SNI) and checks the certificate
/// against: a URL's host, a DNS name or an IP address.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host.to_owned()).map_err(|_| TlsError::InvalidDnsName(host.to_owned()))
}

/// The `rustls::Error` inside an `io::Error`, if that is what it carries:
/// TLS streams (tokio-rustls, the std adapter's) report what rustls refused
/// (a bad certificate, a corrupt record mid-connection) as an `io::Error` of
/// kind `InvalidData` wrapping it, which the adapters unwrap into their
/// `Error::Tls`.
pub fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
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

fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Pem(format!("cannot read {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusty_socket_test_support::tls::TestPki;

    #[test]
    fn configs_come_from_pem_with_the_ring_provider_and_http_1_1() {
        let pki = TestPki::new();
        let server =
            server_config_from_pem_files(&pki.localhost.cert_path, &pki.localhost.key_path)
                .unwrap();
        assert_eq!(server.alpn_protocols, [b"http/1.1".to_vec()]);
        assert!(Arc::ptr_eq(server.crypto_provider(), &provider()));
        let client = client_config_with_ca_file(&pki.ca_path).unwrap();
        assert!(Arc::ptr_eq(client.crypto_provider(), &provider()));
    }

    #[test]
    fn pem_problems_are_reported_as_such() {
        let pki = TestPki::new();
        let key = pki.localhost.key_pem.as_bytes();
        for (cert, key) in [
            (&b"not pem"[..], key),
            (pki.localhost.cert_pem.as_bytes(), b""),
        ] {
            let error = server_config_from_pem(cert, key).unwrap_err();
            assert!(matches!(error, TlsError::Pem(_)), "{error:?}");
        }
        let error = client_config_with_ca_pem(b"").unwrap_err();
        assert!(matches!(error, TlsError::Pem(_)), "{error:?}");
        // The file is named.
        let missing = pki.dir.join("missing.pem");
        let error = client_config_with_ca_file(&missing).unwrap_err();
        assert!(error.to_string().contains("missing.pem"), "{error}");
        let error = server_config_from_pem_files(&pki.localhost.key_path, &pki.localhost.cert_path)
            .unwrap_err();
        let key_file = pki.localhost.key_path.to_string_lossy().into_owned();
        assert!(error.to_string().contains(&key_file), "{error}");
        // A key that belongs to another certificate.
        let error = server_config_from_pem(
            pki.localhost.cert_pem.as_bytes(),
            pki.other_name.key_pem.as_bytes(),
        )
        .unwrap_err();
        assert!(matches!(error, TlsError::Other(_)), "{error:?}");
    }

    #[test]
    fn server_names_are_dns_names_or_ip_addresses() {
        assert!(matches!(
            server_name("127.0.0.1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(
            server_name("localhost"),
            Ok(ServerName::DnsName(_))
        ));
        assert_eq!(
            server_name("bad host"),
            Err(TlsError::InvalidDnsName("bad host".into()))
        );
    }

    #[test]
    fn a_rustls_error_is_found_inside_an_io_error() {
        let e = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert_eq!(rustls_error(&e), Some(&rustls::Error::DecryptError));
        assert_eq!(rustls_error(&io::Error::other("plain")), None);
    }
}
