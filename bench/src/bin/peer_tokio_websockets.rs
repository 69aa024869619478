//! `peer_tokio_websockets ADDR`: tokio-websockets' `echo_server` example
//! (current-thread runtime, `unconstrained` tasks, no outgoing fragmentation),
//! with the listen address from the command line, TCP_NODELAY set as every
//! server in the comparison does, a 64 MiB message limit in place of the
//! example's unlimited one, and errors printed instead of unwrapped.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_websockets::{Config, Error, Limits, ServerBuilder};

/// The same message limit for every peer: 64 MiB, above the 16 MiB needed.
const MAX_MESSAGE: usize = 64 << 20;

async fn run(addr: String) -> Result<(), Error> {
    let listener = TcpListener::bind(&addr).await?;
    println!("peer_tokio_websockets listening on {addr}");

    loop {
        let (conn, _) = listener.accept().await?;
        conn.set_nodelay(true)?;

        tokio::spawn(tokio::task::unconstrained(async move {
            let (_request, mut server) = match ServerBuilder::new()
                .config(Config::default().frame_size(usize::MAX))
                .limits(Limits::default().max_payload_len(Some(MAX_MESSAGE)))
                .accept(conn)
                .await
            {
                Ok(accepted) => accepted,
                Err(e) => {
                    eprintln!("handshake: {e}");
                    return;
                }
            };

            while let Some(Ok(item)) = server.next().await {
                if item.is_text() || item.is_binary() {
                    if let Err(e) = server.send(item).await {
                        eprintln!("send: {e}");
                        return;
                    }
                }
            }
        }));
    }
}

fn main() -> Result<(), Error> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9005".to_string());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;

    rt.block_on(run(addr))
}
