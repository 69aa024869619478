//! `raw_echo ADDR`: plain TCP echo on a current-thread Tokio runtime, no
//! WebSocket at all. It is the ceiling the WebSocket servers are measured
//! against: what the kernel and the runtime cost before any framing.

use std::error::Error;
use std::io::ErrorKind;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Read size. Large, so that a 1 MiB echo takes few syscalls: this server is
/// the ceiling and must not lose to a WebSocket server on big messages (1 MiB
/// measured about 1.3x faster than 256 KiB, and 1.6x faster than 64 KiB).
const BUF: usize = 1024 * 1024;

/// Echoes until the peer closes. The buffer is allocated only once data
/// arrives, so that an idle connection costs what the runtime and the socket
/// cost: the floor for the idle-memory comparison.
async fn echo(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    stream.readable().await?;
    let mut buf = vec![0u8; BUF];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9006".to_string());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    runtime.block_on(async {
        let listener = TcpListener::bind(&addr).await?;
        println!("raw_echo listening on {addr}");
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(async move {
                // A load generator that stops drops its connections mid-echo;
                // resets are the normal end of a run, not worth a line.
                if let Err(e) = echo(stream).await {
                    if !matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) {
                        eprintln!("raw_echo: connection error: {e}");
                    }
                }
            });
        }
    })
}
