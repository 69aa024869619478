//! A first client: connects, sends a message, prints what comes back, and
//! closes cleanly, reading until the closing handshake completes.
//!
//! `cargo run -p rusty-socket-tokio --example client -- [ws://127.0.0.1:9001]`
//! (try it against `cargo run -p rusty-socket-tokio --example echo_server -- 127.0.0.1:9001`).

use std::process;

use rusty_socket_tokio::{connect, CloseCode, Error, Message};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    if let Err(e) = run(&url).await {
        eprintln!("client: {e}");
        process::exit(1);
    }
}

/// The whole conversation with the server at `url`; returns every message
/// received, the server's close frame last.
pub async fn run(url: &str) -> Result<Vec<Message>, Error> {
    let (mut ws, response) = connect(url).await?;
    println!("connected (subprotocol: {:?})", response.protocol());
    ws.send(Message::text("hello from rusty-socket-tokio"))
        .await?;

    let mut received = Vec::new();
    // The first thing back (the echo, from an echo server); `None` would
    // mean the server closed the connection cleanly already.
    if let Some(message) = ws.recv().await? {
        println!("received {message:?}");
        received.push(message);
    }

    // Send our close frame, then read until `None`: messages still in
    // flight come first, then the server's close frame.
    ws.close(CloseCode::NORMAL, "done").await?;
    while let Some(message) = ws.recv().await? {
        println!("received {message:?}");
        received.push(message);
    }
    println!("closed cleanly");
    Ok(received)
}
