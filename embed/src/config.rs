//! What the loop needs besides the two machines' own configurations.

use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::Error;

/// Settings of the loop, and the WebSocket configuration every connection
/// starts with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The configuration of each [`Connection`](rusty_socket_proto::Connection):
    /// its limits and timers. Its `handshake_timeout` bounds the TLS
    /// handshake and the WebSocket opening handshake together, from the
    /// moment the TCP connection is accepted. `streaming` must stay off: the
    /// [`Handler`](crate::Handler) takes whole messages.
    pub websocket: rusty_socket_proto::Config,
    /// Outgoing bytes (proto's queue) above which a connection is not read
    /// and its received messages not handled, until the client reads what
    /// it was sent. Default 1 MiB.
    ///
    /// An echo's replies grow as fast as a client sends; a client that sends
    /// without reading would otherwise fill the queue up to proto's
    /// `max_outgoing_buffer` and then have its replies refused. With this
    /// bound, the client's own TCP window stops it instead.
    pub max_backlog: usize,
    /// How long an ended connection may take to write its last TLS records
    /// (`close_notify`) and to close its side, after which the socket is
    /// closed anyway. Default 5 s.
    pub linger: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            websocket: rusty_socket_proto::Config::default(),
            max_backlog: 1 << 20,
            linger: Duration::from_secs(5),
        }
    }
}

impl Config {
    /// Checks that the values can work together.
    pub fn validate(&self) -> Result<(), Error> {
        self.websocket.validate().map_err(Error::Config)?;
        if self.websocket.streaming {
            return Err(Error::InvalidConfig {
                field: "websocket.streaming",
                reason: "must be off: the handler takes whole messages, not fragments",
            });
        }
        if self.max_backlog == 0 {
            return Err(Error::InvalidConfig {
                field: "max_backlog",
                reason: "must be at least 1, or no connection would ever be read",
            });
        }
        Ok(())
    }
}

/// A rustls server configuration from a PEM certificate chain and a PEM
/// private key, with the *ring* crypto provider chosen explicitly (never a
/// process-wide default) and ALPN `http/1.1`, which is what a WebSocket
/// opening handshake is.
pub fn server_tls_config_from_pem(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>, Error> {
    let chain = CertificateDer::pem_slice_iter(cert_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Pem(format!("certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(Error::Pem("no certificate in the certificate chain".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| Error::Pem(format!("private key: {e}")))?;
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(Error::Tls)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(Error::Tls)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
