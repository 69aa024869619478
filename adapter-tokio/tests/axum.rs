//! The `axum_chat` example's router (feature `axum`), served on an
//! ephemeral port: two of this crate's clients chat through its WebSocket
//! route while its ordinary routes answer next to them, over HTTP/1.1 and
//! over HTTP/2 (RFC 8441).

#[path = "../examples/shared/axum_chat.rs"]
mod axum_chat;

mod common;

use std::net::SocketAddr;

use common::within;
use rusty_socket_tokio::{
    connect_with, ClientRequest, CloseCode, Config, MaybeTlsStream, Message, WebSocket,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

type Client = WebSocket<MaybeTlsStream<TcpStream>>;

async fn serve() -> SocketAddr {
    let (listener, addr) = common::listener().await;
    tokio::spawn(async move { axum::serve(listener, axum_chat::router()).await });
    addr
}

/// Joins the chat offering the subprotocol `chat`, and waits for the
/// welcome (from then on, the client hears everything said).
async fn join(addr: SocketAddr) -> (Client, String) {
    let request = ClientRequest::new(&format!("ws://{addr}/ws"))
        .unwrap()
        .protocol("chat")
        .unwrap();
    let (mut ws, response) = connect_with(request, Config::default()).await.unwrap();
    assert_eq!(response.protocol(), Some("chat"));
    let welcome = text(ws.recv().await.unwrap());
    let name = welcome
        .strip_prefix("welcome, ")
        .expect(&welcome)
        .to_owned();
    (ws, name)
}

fn text(message: Option<Message>) -> String {
    match message {
        Some(Message::Text(text)) => text.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// Receives until `expected`, skipping the room's other news (joins).
async fn hear(ws: &mut Client, expected: &str) {
    loop {
        if text(ws.recv().await.unwrap()) == expected {
            return;
        }
    }
}

/// `GET path` on a connection of its own: the status line and the body.
async fn get(addr: SocketAddr, path: &str) -> String {
    let mut http = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    http.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    http.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn two_clients_chat_through_axum_next_to_ordinary_routes() {
    within(async {
        let addr = serve().await;
        let (mut alice, alice_name) = join(addr).await;
        let (mut bob, bob_name) = join(addr).await;
        assert_ne!(alice_name, bob_name);
        hear(&mut alice, &format!("{bob_name} joined")).await;

        alice.send(Message::text("hello bob")).await.unwrap();
        let said = format!("{alice_name}: hello bob");
        hear(&mut bob, &said).await;
        hear(&mut alice, &said).await;

        // The ordinary routes answer while the WebSockets are open.
        let health = get(addr, "/health").await;
        assert!(health.starts_with("HTTP/1.1 200 OK\r\n"), "{health}");
        assert!(health.ends_with("\r\n\r\nok\n"), "{health}");
        let page = get(addr, "/").await;
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
        assert!(page.contains("new WebSocket("), "{page}");

        bob.send(Message::text("hi alice")).await.unwrap();
        hear(&mut alice, &format!("{bob_name}: hi alice")).await;

        common::close_and_finish(&mut bob, CloseCode::NORMAL, "bye").await;
        hear(&mut alice, &format!("{bob_name} left")).await;
        common::close_and_finish(&mut alice, CloseCode::NORMAL, "bye").await;

        // A plain GET on the WebSocket route: proto's 426.
        let response = get(addr, "/ws").await;
        assert!(response.starts_with("HTTP/1.1 426"), "{response}");
        assert!(
            response
                .to_ascii_lowercase()
                .contains("sec-websocket-version: 13"),
            "{response}"
        );
    })
    .await;
}

/// axum's server speaks HTTP/2 too (h2c here) and enables the extended
/// CONNECT protocol: a client joins over an HTTP/2 stream and chats with
/// one over HTTP/1.1.
#[tokio::test]
async fn a_client_over_http2_chats_with_one_over_http1() {
    within(async {
        use http_body_util::Empty;
        use hyper::client::conn::http2;
        use hyper_util::rt::{TokioExecutor, TokioIo};

        let addr = serve().await;
        let (mut alice, alice_name) = join(addr).await;
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (mut sender, connection) = http2::handshake::<_, _, Empty<rusty_socket_tokio::Bytes>>(
            TokioExecutor::new(),
            TokioIo::new(tcp),
        )
        .await
        .unwrap();
        tokio::spawn(connection);
        let request = ClientRequest::new(&format!("ws://{addr}/ws"))
            .unwrap()
            .protocol("chat")
            .unwrap();
        let (mut bob, response) =
            rusty_socket_tokio::hyper::connect_h2(&mut sender, request, Config::default())
                .await
                .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.protocol(), Some("chat"));
        let welcome = text(bob.recv().await.unwrap());
        let bob_name = welcome
            .strip_prefix("welcome, ")
            .expect(&welcome)
            .to_owned();
        hear(&mut alice, &format!("{bob_name} joined")).await;

        bob.send(Message::text("over h2")).await.unwrap();
        hear(&mut alice, &format!("{bob_name}: over h2")).await;
        alice.send(Message::text("over h1")).await.unwrap();
        let said = format!("{alice_name}: over h1");
        loop {
            if text(bob.recv().await.unwrap()) == said {
                break;
            }
        }
        common::close_and_finish(&mut bob, CloseCode::NORMAL, "bye").await;
        hear(&mut alice, &format!("{bob_name} left")).await;
    })
    .await;
}
