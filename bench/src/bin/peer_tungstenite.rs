//! `peer_tungstenite ADDR`: tokio-tungstenite's `echo-server` example, on a
//! current-thread runtime. Changes from the example: the address argument is
//! required-with-default as before, TCP_NODELAY is set (as every server in
//! the comparison does), the size limits are explicit, and errors are
//! printed instead of panicking the connection task.

use std::io::Error;

use futures_util::{future, StreamExt, TryStreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// The same message limit for every peer: 64 MiB, above the 16 MiB needed.
const MAX_MESSAGE: usize = 64 << 20;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9003".to_string());
    let listener = TcpListener::bind(&addr).await?;
    println!("peer_tungstenite listening on {addr}");
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(accept_connection(stream));
    }
    Ok(())
}

async fn accept_connection(stream: TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        eprintln!("set_nodelay: {e}");
    }
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let ws_stream = match tokio_tungstenite::accept_async_with_config(stream, Some(config)).await {
        Ok(ws_stream) => ws_stream,
        Err(e) => {
            eprintln!("handshake: {e}");
            return;
        }
    };
    let (write, read) = ws_stream.split();
    // We should not forward messages other than text or binary.
    if let Err(e) = read
        .try_filter(|msg| future::ready(msg.is_text() || msg.is_binary()))
        .forward(write)
        .await
    {
        eprintln!("connection: {e}");
    }
}
