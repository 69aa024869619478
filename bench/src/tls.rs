//! rustls configurations for `wss://`: the client of `wsload` and the
//! servers of the bench (the raw TLS echo and the tungstenite peer). Every
//! one uses the ring provider, chosen explicitly, as our adapters do: the
//! same cipher suites and the same code on every side of the comparison.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::TlsAcceptor;

use crate::Error;

/// The ring provider, with rustls' default cipher suites and key exchanges.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificates of a PEM file (at least one).
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| Error::Tls(format!("reading certificates from {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Error::Tls(format!(
            "{} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// A client trusting only the CA certificates of the PEM file `ca`.
pub fn client_config(ca: &Path) -> Result<Arc<ClientConfig>, Error> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(ca)? {
        roots
            .add(cert)
            .map_err(|e| Error::Tls(format!("{}: unusable CA certificate: {e}", ca.display())))?;
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(format!("client configuration: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A server presenting the PEM certificate chain `cert` with the PEM key `key`.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, Error> {
    let chain = certificates(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| Error::Tls(format!("reading the private key {}: {e}", key.display())))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(format!("server configuration: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| Error::Tls(format!("certificate and key: {e}")))?;
    Ok(Arc::new(config))
}

/// What a bench server serves: its address, and TLS if asked for.
pub struct ServerArgs {
    /// The server's name, for messages.
    pub name: &'static str,
    /// `host:port` to listen on.
    pub addr: String,
    /// With a certificate and key on the command line: TLS for every
    /// connection.
    pub tls: Option<TlsAcceptor>,
}

impl ServerArgs {
    /// Reads `NAME [ADDR [CERT_PEM KEY_PEM]]` from the command line; the
    /// address defaults to `default_addr`.
    pub fn parse(name: &'static str, default_addr: &str) -> Result<ServerArgs, Error> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let (addr, tls) = match args.as_slice() {
            [] => (default_addr, None),
            [addr] => (addr.as_str(), None),
            [addr, cert, key] => {
                let config = server_config(Path::new(cert), Path::new(key))?;
                (addr.as_str(), Some(TlsAcceptor::from(config)))
            }
            _ => {
                return Err(Error::Usage(format!(
                    "usage: {name} [ADDR [CERT_PEM KEY_PEM]]"
                )))
            }
        };
        Ok(ServerArgs {
            name,
            addr: addr.to_string(),
            tls,
        })
    }

    /// The line a server prints once it listens.
    pub fn listening(&self) -> String {
        let over = if self.tls.is_some() { " (TLS)" } else { "" };
        format!("{} listening on {}{over}", self.name, self.addr)
    }
}
