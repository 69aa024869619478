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
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};

use crate::error::Error;
use crate::TlsError;

pub use rusty_socket_tls::{
    client_config_with_ca_file, client_config_with_ca_pem, default_client_config, provider,
    server_config_from_pem, server_config_from_pem_files, server_name,
};
pub use stream::TlsStream;

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
        Error::Tls(e) => Error::Tls(e.for_host(host)),
        other => other,
    })
}

/// The error of a TLS handshake that ran out of time.
fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "the TLS handshake timed out")
}
