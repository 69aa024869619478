//! `raw_echo ADDR [CERT KEY]`: plain TCP echo on a current-thread Tokio
//! runtime, no WebSocket at all; with a PEM certificate chain and key, the
//! same over TLS (tokio-rustls, ring provider). It is the ceiling the
//! WebSocket servers are measured against: what the kernel, the runtime
//! (and TLS) cost before any framing.

use std::error::Error;
use std::io::ErrorKind;

use rusty_socket_bench::tls::ServerArgs;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// Read size. Large, so that a 1 MiB echo takes few syscalls: this server is
/// the ceiling and must not lose to a WebSocket server on big messages (1 MiB
/// measured about 1.3x faster than 256 KiB, and 1.6x faster than 64 KiB).
const BUF: usize = 1024 * 1024;

/// Echoes until the peer closes. Callers allocate nothing before data
/// arrives, so that an idle connection costs what the runtime, the socket
/// (and the TLS session) cost: the floor for the idle-memory comparison.
async fn echo(mut stream: impl AsyncRead + AsyncWrite + Unpin) -> std::io::Result<()> {
    let mut buf = vec![0u8; BUF];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
        // Over TLS, the last records may still wait in the session.
        stream.flush().await?;
    }
}

async fn serve(stream: TcpStream, tls: Option<TlsAcceptor>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let Some(acceptor) = tls else {
        stream.readable().await?;
        return echo(stream).await;
    };
    let mut stream = acceptor.accept(stream).await?;
    // rustls may already hold data that came with the end of the handshake,
    // so the socket's readiness says nothing: wait for the first byte with a
    // buffer of one instead.
    let mut first = [0u8; 1];
    if stream.read(&mut first).await? == 0 {
        return Ok(());
    }
    stream.write_all(&first).await?;
    stream.flush().await?;
    echo(stream).await
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = ServerArgs::parse("raw_echo", "127.0.0.1:9006")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(&args.addr).await?;
        println!("{}", args.listening());
        loop {
            let (stream, _) = listener.accept().await?;
            let tls = args.tls.clone();
            tokio::spawn(async move {
                // A load generator that stops drops its connections mid-echo;
                // resets are the normal end of a run, not worth a line.
                if let Err(e) = serve(stream, tls).await {
                    if !matches!(
                        e.kind(),
                        ErrorKind::ConnectionReset
                            | ErrorKind::BrokenPipe
                            | ErrorKind::UnexpectedEof
                    ) {
                        eprintln!("raw_echo: connection error: {e}");
                    }
                }
            });
        }
    })
}
