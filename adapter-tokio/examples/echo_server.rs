//! An echo server for conformance tests and benchmarks: every text and
//! binary message goes back with the same type, on any path.
//!
//! ```text
//! cargo run --release -p rusty-socket-tokio --example echo_server -- 127.0.0.1:9001 [--threads N]
//! ```
//!
//! One task per connection, on a current-thread runtime (or a multi-thread
//! runtime with `--threads N` workers). Runs until killed.
//!
//! `--handshake-timeout DURATION` (`500ms`, `2s`, `off`; default `10s`,
//! proto's default) bounds the opening handshake, for tests that send
//! slow requests.
//!
//! permessage-deflate is accepted with proto's defaults (level 1, no context
//! takeover); `--deflate-level N` changes the level, `--no-deflate` declines
//! every offer.

#[path = "shared/echo.rs"]
mod echo_loop;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rusty_socket_tokio::{accept_with, Accept, Config, Error};
use tokio::net::TcpListener;

use echo_loop::echo;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut addr: Option<SocketAddr> = None;
    let mut threads: Option<usize> = None;
    let mut config = Config::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--threads" => {
                let n = args.next().ok_or("--threads needs a number")?;
                threads = Some(n.parse()?);
            }
            "--handshake-timeout" => {
                let text = args
                    .next()
                    .ok_or("--handshake-timeout needs a duration: 500ms, 2s or off")?;
                config.handshake_timeout = parse_duration(&text)?;
            }
            "--deflate-level" => {
                let n = args.next().ok_or("--deflate-level needs a level, 0 to 9")?;
                config.deflate.level = n.parse()?;
                if config.deflate.level > 9 {
                    return Err("--deflate-level must be 0 to 9".into());
                }
            }
            "--no-deflate" => config.deflate.enabled = false,
            "-h" | "--help" => {
                println!("usage: echo_server [ADDR] [--threads N]   (default 127.0.0.1:9001)");
                println!("       [--handshake-timeout DURATION]     (500ms, 2s, off; default 10s)");
                println!("       [--deflate-level N] [--no-deflate] (permessage-deflate; default on, level 1)");
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
    runtime.block_on(serve(addr, config))
}

/// `500ms`, `2s`, `2` (seconds), or `off`/`0` for no timeout.
fn parse_duration(text: &str) -> Result<Option<Duration>, String> {
    let invalid = || format!("{text:?} is not a duration: expected 500ms, 2s or off");
    let duration = if text == "off" {
        Duration::ZERO
    } else if let Some(ms) = text.strip_suffix("ms") {
        Duration::from_millis(ms.parse().map_err(|_| invalid())?)
    } else {
        let secs = text.strip_suffix('s').unwrap_or(text);
        Duration::from_secs(secs.parse().map_err(|_| invalid())?)
    };
    Ok((!duration.is_zero()).then_some(duration))
}

async fn serve(addr: SocketAddr, config: Config) -> Result<(), Box<dyn std::error::Error>> {
    // One configuration for every connection, shared rather than copied.
    let config = Arc::new(config);
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
        if let Err(e) = stream.set_nodelay(true) {
            eprintln!("set_nodelay: {e}");
        }
        // `accept(stream)` with the configured handshake timeout. Boxed: its
        // state is needed only until the handshake is done, and then it is
        // freed rather than kept in every connection's task.
        let handshake = Box::pin(accept_with(stream, Arc::clone(&config), |_| {
            Ok(Accept::default())
        }));
        tokio::spawn(async move {
            let result = match handshake.await {
                Ok(ws) => echo(ws).await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                if !matches!(e, Error::AlreadyClosed) {
                    eprintln!("connection: {e}");
                }
            }
        });
    }
}
