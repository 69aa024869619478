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
    let received =
        tokio::time::timeout(std::time::Duration::from_secs(10), client::run(&url, None))
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

#[tokio::test]
async fn the_client_example_speaks_wss_with_an_extra_ca() {
    use rusty_socket_test_support::tls::TestPki;
    use rusty_socket_tokio::tls;

    let pki = TestPki::new();
    let config =
        tls::server_config_from_pem_files(&pki.localhost.cert_path, &pki.localhost.key_path)
            .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("wss://localhost:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move {
        let tcp = listener.accept().await.unwrap().0;
        let stream = tls::accept(tcp, config, std::time::Duration::from_secs(10))
            .await
            .unwrap();
        let mut ws = accept(stream).await.unwrap();
        while let Some(message) = ws.recv().await? {
            if let Message::Text(_) | Message::Binary(_) = message {
                ws.send(message).await?;
            }
        }
        Ok::<_, rusty_socket_tokio::Error>(())
    });
    let received = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        client::run(&url, Some(&pki.ca_path)),
    )
    .await
    .expect("the example hangs")
    .unwrap();
    assert_eq!(received[0], Message::text("hello from rusty-socket-tokio"));
    assert!(matches!(received[1], Message::Close(_)));
}
