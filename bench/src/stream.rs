//! The client's connection to a server: plain TCP, or TLS over TCP for
//! `wss://` targets, with the TLS handshake done before anything is timed.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
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

/// Reads what has arrived into `buf` and returns how much; an I/O error or
/// the end of the stream is an error saying that it came while `what`.
pub async fn read_some<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut [u8],
    what: &'static str,
) -> Result<usize, Error> {
    let n = rd.read(buf).await.map_err(Error::io(what))?;
    if n == 0 {
        return Err(Error::Closed(format!("end of stream while {what}")));
    }
    Ok(n)
}

/// Connects to `authority` from the local address `ip` (any port).
async fn connect_from(ip: IpAddr, authority: &str) -> io::Result<TcpStream> {
    let addr = tokio::net::lookup_host(authority)
        .await?
        .find(|addr| addr.is_ipv4() == ip.is_ipv4())
        .ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "no address of the bind's family")
        })?;
    let socket = match ip {
        IpAddr::V4(_) => TcpSocket::new_v4()?,
        IpAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.bind(SocketAddr::new(ip, 0))?;
    socket.connect(addr).await
}

/// Opens a TCP connection with Nagle's algorithm off, so that every frame
/// leaves at once and latencies measure the server, not delayed ACKs; then,
/// for a TLS target, completes the TLS handshake.
pub async fn connect(target: &Target) -> Result<Stream, Error> {
    let tcp = match target.bind {
        None => TcpStream::connect(&target.authority).await,
        Some(ip) => connect_from(ip, &target.authority).await,
    }
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rusty_socket_test_support::tls::TestPki;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio_rustls::TlsAcceptor;

    use crate::load::{self, LoadConfig};
    use crate::payload::Kind;
    use crate::target::Target;
    use crate::tls;

    /// A TLS echo on a free loopback port, serving `cert`/`key`; returns
    /// its `wss://` URL.
    async fn tls_echo(cert: &std::path::Path, key: &std::path::Path) -> String {
        let acceptor = TlsAcceptor::from(tls::server_config(cert, key).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("wss://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n @ 1..) = stream.read(&mut buf).await {
                        if stream.write_all(&buf[..n]).await.is_err()
                            || stream.flush().await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        url
    }

    #[tokio::test(flavor = "current_thread")]
    async fn raw_load_over_tls_echoes_exactly() {
        let pki = TestPki::new();
        let url = tls_echo(&pki.localhost.cert_path, &pki.localhost.key_path).await;
        let result = load::run(&LoadConfig {
            target: Target::from_url(&url, Some(&pki.ca_path)).unwrap(),
            raw: true,
            kind: Kind::Binary,
            conns: 2,
            window: 2,
            // Over one TLS record (16 KiB): echoes span several.
            size: 70_000,
            warmup: Duration::ZERO,
            duration: Duration::from_millis(200),
            verify: true,
            deflate: None,
            server_pid: None,
        })
        .await
        .unwrap();
        assert!(result.messages > 0);
        let tls = result.tls.unwrap();
        assert!(tls.starts_with("TLSv1_3 "), "{tls}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_server_signed_by_another_ca_is_refused() {
        let pki = TestPki::new();
        let url = tls_echo(&pki.untrusted.cert_path, &pki.untrusted.key_path).await;
        let target = Target::from_url(&url, Some(&pki.ca_path)).unwrap();
        let error = super::connect(&target).await.unwrap_err().to_string();
        assert!(
            error.starts_with("TLS handshake with 127.0.0.1:"),
            "{error}"
        );
        assert!(error.contains("UnknownIssuer"), "{error}");
    }
}
