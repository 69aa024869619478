//! `peer_tungstenite ADDR [CERT KEY]`: tokio-tungstenite's `echo-server`
//! example, on a current-thread runtime; with a PEM certificate chain and
//! key, over TLS (tokio-rustls, ring provider, as tokio-tungstenite's own
//! rustls support uses). Changes from the example: the address argument is
//! required-with-default as before, TCP_NODELAY is set (as every server in
//! the comparison does), the size limits are explicit, and errors are
//! printed instead of panicking the connection task.

use std::error::Error;

use futures_util::{future, StreamExt, TryStreamExt};
use rusty_socket_bench::tls::ServerArgs;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// The same message limit for every peer: 64 MiB, above the 16 MiB needed.
const MAX_MESSAGE: usize = 64 << 20;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = ServerArgs::parse("peer_tungstenite", "127.0.0.1:9003")?;
    let listener = TcpListener::bind(&args.addr).await?;
    println!("{}", args.listening());
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(serve(stream, args.tls.clone()));
    }
    Ok(())
}

async fn serve(stream: TcpStream, tls: Option<TlsAcceptor>) {
    if let Err(e) = stream.set_nodelay(true) {
        eprintln!("set_nodelay: {e}");
    }
    match tls {
        None => accept_connection(stream).await,
        Some(acceptor) => match acceptor.accept(stream).await {
            Ok(stream) => accept_connection(stream).await,
            Err(e) => eprintln!("TLS handshake: {e}"),
        },
    }
}

async fn accept_connection(stream: impl AsyncRead + AsyncWrite + Unpin) {
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
