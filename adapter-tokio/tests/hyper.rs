//! The hyper example's code path: hyper upgrades `/ws`, proto's
//! `upgrade_response` answers, `from_raw` takes the upgraded connection.

#[path = "../examples/shared/hyper_echo.rs"]
mod hyper_echo;

mod common;

// The hyper glue finds the echo loop at `crate::echo_loop`.
use common::echo_loop;

use common::within;
use rusty_socket_tokio::{
    connect, connect_with, http::StatusCode, ClientRequest, CloseCode, Config, Error,
    HandshakeError, Message,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn hyper_upgrades_to_a_websocket_and_serves_pages() {
    within(async {
        let (listener, addr) = common::listener().await;
        tokio::spawn(hyper_echo::serve(listener));

        let mut ws = connect(&format!("ws://{addr}/ws")).await.unwrap().0;
        for message in [
            Message::text("through hyper"),
            Message::binary(common::pattern(100_000, 5)),
            Message::text(""),
        ] {
            ws.send(message.clone()).await.unwrap();
            assert_eq!(ws.recv().await.unwrap(), Some(message));
        }
        common::close_and_finish(&mut ws, CloseCode::NORMAL, "bye").await;

        // Other paths are plain HTTP.
        let mut http = tokio::net::TcpStream::connect(addr).await.unwrap();
        http.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut page = String::new();
        http.read_to_string(&mut page).await.unwrap();
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
        assert!(page.ends_with(hyper_echo::PAGE), "{page}");

        // A WebSocket client on another path is refused with hyper's 200
        // page, which the client reports as a refused upgrade.
        let request = ClientRequest::new(&format!("ws://{addr}/elsewhere")).unwrap();
        match connect_with(request, Config::default()).await {
            Err(Error::Handshake(HandshakeError::Status(response))) => {
                assert_eq!(response.status, StatusCode::OK)
            }
            other => panic!("expected a refused upgrade, got {:?}", other.map(|_| ())),
        }

        // An invalid upgrade on /ws gets proto's status.
        let mut http = tokio::net::TcpStream::connect(addr).await.unwrap();
        http.write_all(
            b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
              Connection: Upgrade, close\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
        let mut response = String::new();
        http.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 400"), "{response}");
    })
    .await;
}
