//! An echo server for conformance tests and benchmarks: every text and
//! binary message goes back with the same type, on any path.
//!
//! ```text
//! cargo run --release -p rusty-socket-tokio --example echo_server -- 127.0.0.1:9001 [--threads N]
//! ```
//!
//! One task per connection, on a current-thread runtime (or a multi-thread
//! runtime with `--threads N` workers). Runs until killed.

#[path = "shared/echo.rs"]
mod echo_loop;

use std::net::SocketAddr;

use rusty_socket_tokio::{accept, Error};
use tokio::net::{TcpListener, TcpStream};

use echo_loop::echo;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr: Option<SocketAddr> = None;
    let mut threads: Option<usize> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => {
                let n = args.next().ok_or("--threads needs a number")?;
                threads = Some(n.parse()?);
            }
            "-h" | "--help" => {
                println!("usage: echo_server [ADDR] [--threads N]   (default 127.0.0.1:9001)");
                return Ok(());
            }
            other => addr = Some(other.parse()?),
        }
    }
    let addr = addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 9001)));
    let runtime = match threads {
        Some(n) if n > 0 => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build()?,
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
    };
    runtime.block_on(serve(addr))
}

async fn serve(addr: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind(addr).await?;
    eprintln!("echo_server listening on ws://{}", listener.local_addr()?);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors, for instance: wait a little, go on.
            Err(e) => {
                eprintln!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        tokio::spawn(async move {
            if let Err(e) = connection(stream).await {
                if !matches!(e, Error::AlreadyClosed) {
                    eprintln!("connection: {e}");
                }
            }
        });
    }
}

async fn connection(stream: TcpStream) -> Result<(), Error> {
    stream.set_nodelay(true)?;
    echo(accept(stream).await?).await
}
