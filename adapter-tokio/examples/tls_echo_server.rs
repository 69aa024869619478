//! A wss:// echo server: `echo_server` behind TLS, for trying TLS clients
//! and for the conformance suite over wss://.
//!
//! ```text
//! cargo run --release -p rusty-socket-tokio --example tls_echo_server -- 127.0.0.1:9443 cert.pem key.pem
//! ```
//!
//! `cert.pem` is the certificate chain (leaf first) and `key.pem` its
//! private key, both PEM. Every text and binary message goes back, on any
//! path; one task per connection; runs until killed. A TLS or WebSocket
//! handshake that takes over 10 seconds is dropped.

#[path = "shared/echo.rs"]
mod echo_loop;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use rusty_socket_tokio::{accept, tls};
use tokio::net::TcpListener;

use echo_loop::echo;

const USAGE: &str = "usage: tls_echo_server ADDR CERT.pem KEY.pem";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, cert, key] = args.as_slice() else {
        return Err(USAGE.into());
    };
    let addr: SocketAddr = addr.parse()?;
    let config = tls::server_config_from_pem_files(&PathBuf::from(cert), &PathBuf::from(key))?;

    let listener = TcpListener::bind(addr).await?;
    eprintln!("echo_server listening on wss://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, for instance: wait a little, go on.
                eprintln!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let config = config.clone();
        tokio::spawn(async move {
            // TLS first (bounded), then the WebSocket on top of it.
            let result = match tls::accept(tcp, config, Duration::from_secs(10)).await {
                Ok(stream) => match accept(stream).await {
                    Ok(ws) => echo(ws).await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                eprintln!("connection: {e}");
            }
        });
    }
}
