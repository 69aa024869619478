//! TLS for `wss://`, with rustls and its **ring** crypto provider.
//!
//! [`connect`](crate::connect) uses [`default_client_config`] for `wss://`
//! URLs; [`connect_tls`](crate::connect_tls) takes a config of your own
//! (a private CA, client certificates, ALPN). A server accepts TLS with
//! [`accept`] (bounded by a timeout) and the WebSocket on the result with
//! [`accept_with`](crate::accept_with):
//!
//! ```no_run
//! use std::time::Duration;
//! use rusty_socket_tokio::{accept, tls};
//!
//! # async fn run() -> Result<(), rusty_socket_tokio::Error> {
//! let config = tls::server_config_from_pem_files("cert.pem".as_ref(), "key.pem".as_ref())?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
//! let (tcp, _) = listener.accept().await?;
//! let stream = tls::accept(tcp, config, Duration::from_secs(10)).await?;
//! let ws = accept(stream).await?;
//! # Ok(()) }
//! ```
//!
//! Every config here is built with [`provider`], never with rustls' process
//! default: nothing needs to install one, and a program that links another
//! provider too (aws-lc-rs through some other crate) does not panic on an
//! ambiguous default.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::error::Error;

pub use rusty_socket_tls::{
    client_config_with_ca_file, client_config_with_ca_pem, default_client_config, provider,
    server_config_from_pem, server_config_from_pem_files, server_name,
};

/// Runs the server side of a TLS handshake on `stream`, giving up after
/// `timeout` (a client that sends its ClientHello one byte a second, or
/// nothing, is cut off: [`Error::is_timeout`]). Then accept the WebSocket
/// on the result with [`accept_with`](crate::accept_with); its own
/// handshake timeout starts there.
pub async fn accept<S>(
    stream: S,
    config: Arc<ServerConfig>,
    timeout: Duration,
) -> Result<tokio_rustls::server::TlsStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::time::timeout(timeout, TlsAcceptor::from(config).accept(stream)).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(Error::Io(io::Error::new(
            io::ErrorKind::TimedOut,
            "the TLS handshake timed out",
        ))),
    }
}

/// The client side of a TLS handshake with the server `host` (named in
/// errors) on `stream`.
pub(crate) async fn connect<S>(
    stream: S,
    name: ServerName<'static>,
    host: &str,
    config: Arc<ClientConfig>,
) -> Result<tokio_rustls::client::TlsStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(|e| match Error::from(e) {
            // The URL's host as the user wrote it.
            Error::Tls(e) => Error::Tls(e.for_host(host)),
            other => other,
        })
}
