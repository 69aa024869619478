//! Runs `examples/client.rs` (the code a newcomer copies) against this
//! crate's echo loop, in-process: it must get its echo, see the server's
//! close frame, and end with a completed closing handshake on both sides.

#[allow(dead_code)] // its `main`
#[path = "../examples/client.rs"]
mod client;

use rusty_socket_tokio::{accept, CloseCode, CloseFrame, Message};
use tokio::net::TcpListener;

#[tokio::test]
async fn the_client_example_gets_its_echo_and_closes_cleanly() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let mut ws = accept(listener.accept().await.unwrap().0).await.unwrap();
        let mut seen = Vec::new();
        while let Some(message) = ws.recv().await? {
            if let Message::Text(_) | Message::Binary(_) = message {
                ws.send(message.clone()).await?;
            }
            seen.push(message);
        }
        Ok::<_, rusty_socket_tokio::Error>(seen)
    });
    let received = tokio::time::timeout(std::time::Duration::from_secs(10), client::run(&url))
        .await
        .expect("the example hangs")
        .unwrap();
    // The server's close frame echoes our code (proto echoes no reason).
    let echo = Some(CloseFrame::new(CloseCode::NORMAL, ""));
    assert_eq!(
        received,
        [
            Message::text("hello from rusty-socket-tokio"),
            Message::Close(echo),
        ]
    );
    let seen = server.await.unwrap().unwrap();
    let bye = Some(CloseFrame::new(CloseCode::NORMAL, "done"));
    assert_eq!(
        seen,
        [
            Message::text("hello from rusty-socket-tokio"),
            Message::Close(bye)
        ]
    );
}
