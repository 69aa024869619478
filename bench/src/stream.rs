//! The client's connection to a server: plain TCP, or TLS over TCP for
//! `wss://` targets, with the TLS handshake done before anything is timed.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::target::Target;
use crate::Error;

/// A connection to the server under test.
#[derive(Debug)]
pub enum Stream {
    /// `ws://` (or a raw TCP echo).
    Tcp(TcpStream),
    /// `wss://` (or a raw TLS echo).
    Tls(Box<TlsStream<TcpStream>>),
}

/// Opens a TCP connection with Nagle's algorithm off, so that every frame
/// leaves at once and latencies measure the server, not delayed ACKs; then,
/// for a TLS target, completes the TLS handshake.
pub async fn connect(target: &Target) -> Result<Stream, Error> {
    let tcp = TcpStream::connect(&target.authority)
        .await
        .map_err(Error::io(format!("connecting to {}", target.authority)))?;
    tcp.set_nodelay(true)
        .map_err(Error::io("setting TCP_NODELAY"))?;
    let Some(tls) = &target.tls else {
        return Ok(Stream::Tcp(tcp));
    };
    let tls = TlsConnector::from(tls.config.clone())
        .connect(tls.server_name.clone(), tcp)
        .await
        .map_err(Error::io(format!(
            "TLS handshake with {}",
            target.authority
        )))?;
    Ok(Stream::Tls(Box::new(tls)))
}

impl Stream {
    /// The TLS version and cipher suite agreed, e.g. `TLSv1_3
    /// TLS13_AES_256_GCM_SHA384`; `None` over plain TCP.
    pub fn tls_summary(&self) -> Option<String> {
        let Stream::Tls(tls) = self else {
            return None;
        };
        let session = tls.get_ref().1;
        let version = session.protocol_version()?;
        let suite = session.negotiated_cipher_suite()?;
        Some(format!("{version:?} {:?}", suite.suite()))
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
