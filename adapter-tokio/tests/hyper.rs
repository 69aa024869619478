//! WebSockets inside hyper (feature `hyper`): the `hyper_server` example's
//! server (`rusty_socket_tokio::hyper::upgrade` with a hook) and this
//! crate's client, over loopback.

#[path = "../examples/shared/hyper_echo.rs"]
mod hyper_echo;

mod common;

// The hyper glue finds the echo loop at `crate::echo_loop`.
use common::echo_loop;

use std::net::SocketAddr;

use common::within;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rusty_socket_tokio::hyper::upgrade;
use rusty_socket_tokio::{
    connect, connect_with, http::StatusCode, Accept, ClientRequest, CloseCode, Config, Deflate,
    Error, HandshakeError, Message,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// The example's server on an ephemeral port.
async fn server() -> SocketAddr {
    let (listener, addr) = common::listener().await;
    tokio::spawn(hyper_echo::serve(listener));
    addr
}

/// Sends `request` on a fresh connection and reads the whole response (the
/// request asks hyper to close the connection after it).
async fn raw(addr: SocketAddr, request: &str) -> String {
    let mut http = tokio::net::TcpStream::connect(addr).await.unwrap();
    http.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    http.read_to_string(&mut response).await.unwrap();
    response
}

/// A valid upgrade request head for `/ws`, with `extra` header lines.
fn upgrade_request(extra: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

#[tokio::test]
async fn hyper_upgrades_to_a_websocket_that_echoes_next_to_pages() {
    within(async {
        let addr = server().await;
        let (mut ws, response) = connect(&format!("ws://{addr}/ws")).await.unwrap();
        // No subprotocol offered, none chosen.
        assert_eq!(response.protocol(), None);
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
        let page = raw(
            addr,
            "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .await;
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
    })
    .await;
}

#[tokio::test]
async fn the_hook_chooses_the_subprotocol() {
    within(async {
        let addr = server().await;
        let request = ClientRequest::new(&format!("ws://{addr}/ws"))
            .unwrap()
            .protocol("chat")
            .unwrap()
            .protocol("echo")
            .unwrap();
        let (mut ws, response) = connect_with(request, Config::default()).await.unwrap();
        assert_eq!(response.protocol(), Some("echo"));
        assert_eq!(ws.protocol(), Some("echo"));
        ws.send(Message::text("in echo")).await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Some(Message::text("in echo")));
        common::close_and_finish(&mut ws, CloseCode::NORMAL, "").await;
    })
    .await;
}

#[tokio::test]
async fn a_foreign_origin_is_refused_with_the_hooks_status_and_body() {
    within(async {
        let addr = server().await;
        let request = ClientRequest::new(&format!("ws://{addr}/ws"))
            .unwrap()
            .header(
                "origin".parse().unwrap(),
                "https://evil.example".parse().unwrap(),
            )
            .unwrap();
        match connect_with(request, Config::default()).await {
            Err(Error::Handshake(HandshakeError::Status(response))) => {
                assert_eq!(response.status, StatusCode::FORBIDDEN)
            }
            other => panic!("expected 403, got {:?}", other.map(|_| ())),
        }
        // The body the hook gave, as hyper frames it.
        let response = raw(
            addr,
            &upgrade_request("Origin: https://evil.example\r\nConnection: close\r\n"),
        )
        .await;
        assert!(
            response.starts_with("HTTP/1.1 403 Forbidden\r\n"),
            "{response}"
        );
        assert!(response.ends_with(hyper_echo::FOREIGN_ORIGIN), "{response}");

        // The allowed origin is let in.
        let request = ClientRequest::new(&format!("ws://{addr}/ws"))
            .unwrap()
            .header(
                "origin".parse().unwrap(),
                hyper_echo::ORIGIN.parse().unwrap(),
            )
            .unwrap();
        let (mut ws, _) = connect_with(request, Config::default()).await.unwrap();
        common::close_and_finish(&mut ws, CloseCode::NORMAL, "").await;
    })
    .await;
}

#[tokio::test]
async fn invalid_upgrades_get_protos_statuses() {
    within(async {
        let addr = server().await;
        // A plain GET on the WebSocket route: 426, naming the version.
        let response = raw(
            addr,
            "GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .await;
        let head = response.to_ascii_lowercase();
        assert!(
            response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
            "{response}"
        );
        assert!(
            head.contains("\r\nsec-websocket-version: 13\r\n"),
            "{response}"
        );

        // No key: 400.
        let response = raw(
            addr,
            "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
             Connection: Upgrade, close\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await;
        assert!(response.starts_with("HTTP/1.1 400"), "{response}");

        // An unknown version: 426 with the one this server speaks.
        let response = raw(
            addr,
            &upgrade_request("Connection: close\r\n").replace("Version: 13", "Version: 8"),
        )
        .await;
        assert!(response.starts_with("HTTP/1.1 426"), "{response}");
        assert!(
            response
                .to_ascii_lowercase()
                .contains("sec-websocket-version: 13"),
            "{response}"
        );

        // Another method: 405, allowing GET.
        let response = raw(
            addr,
            &upgrade_request("Connection: close\r\n").replacen("GET", "POST", 1),
        )
        .await;
        assert!(response.starts_with("HTTP/1.1 405"), "{response}");
        assert!(
            response.to_ascii_lowercase().contains("\r\nallow: get\r\n"),
            "{response}"
        );
    })
    .await;
}

/// A hyper server that accepts every upgrade with the default config and
/// reports the server side's agreed deflate parameters, then echoes.
async fn deflate_server() -> (SocketAddr, mpsc::UnboundedReceiver<Option<Deflate>>) {
    let (listener, addr) = common::listener().await;
    let (agreed, reports) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let agreed = agreed.clone();
            let service = service_fn(move |mut request: hyper::Request<Incoming>| {
                let (response, upgrading) =
                    upgrade(&mut request, Config::default(), |_| Ok(Accept::default()));
                let agreed = agreed.clone();
                tokio::spawn(async move {
                    let ws = upgrading.unwrap().await.unwrap();
                    agreed.send(ws.deflate()).unwrap();
                    common::echo(ws).await.unwrap();
                });
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            tokio::spawn(
                http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades(),
            );
        }
    });
    (addr, reports)
}

#[tokio::test]
async fn permessage_deflate_is_negotiated_through_hyper() {
    within(async {
        let (addr, mut reports) = deflate_server().await;
        // The 101 hyper sends carries the agreement.
        let mut http = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = upgrade_request("Sec-WebSocket-Extensions: permessage-deflate\r\n");
        http.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(http.read_u8().await.unwrap());
        }
        let head = String::from_utf8(head).unwrap().to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 101"), "{head}");
        assert!(
            head.contains("\r\nsec-websocket-extensions: permessage-deflate"),
            "{head}"
        );
        assert!(reports.recv().await.unwrap().is_some());
        drop(http);

        // Both ends speak it: the client agreed (it checked the answer
        // against its offer), the server's WebSocket too, and messages
        // compressed both ways (RSV1 set) go through.
        let (mut ws, response) = connect(&format!("ws://{addr}/ws")).await.unwrap();
        let answer = response.headers()["sec-websocket-extensions"]
            .to_str()
            .unwrap();
        assert!(answer.starts_with("permessage-deflate"), "{answer}");
        let agreed = ws.deflate().expect("the client agreed");
        assert_eq!(reports.recv().await.unwrap(), Some(agreed));
        let text = "compressible ".repeat(10_000);
        for _ in 0..3 {
            ws.send(Message::text(text.clone())).await.unwrap();
            assert_eq!(ws.recv().await.unwrap(), Some(Message::text(text.clone())));
        }
        common::close_and_finish(&mut ws, CloseCode::NORMAL, "").await;
    })
    .await;
}

/// An upgrade request for `/ws` as hyper would hand it over, with
/// `headers` on top of the valid ones (an empty value removes one).
fn parsed(method: &str, headers: &[(&'static str, &str)]) -> hyper::Request<()> {
    let mut request = hyper::Request::builder()
        .method(method)
        .uri("/ws")
        .body(())
        .unwrap();
    let map = request.headers_mut();
    map.insert("host", "localhost".parse().unwrap());
    map.insert("upgrade", "websocket".parse().unwrap());
    map.insert("connection", "Upgrade".parse().unwrap());
    map.insert(
        "sec-websocket-key",
        "dGhlIHNhbXBsZSBub25jZQ==".parse().unwrap(),
    );
    map.insert("sec-websocket-version", "13".parse().unwrap());
    for (name, value) in headers {
        match value.is_empty() {
            true => map.remove(*name),
            false => map.insert(*name, value.parse().unwrap()),
        };
    }
    request
}

#[test]
fn refusals_say_why_with_the_errors_of_accept_with() {
    let accept = |_: &rusty_socket_tokio::Request| Ok(Accept::default());
    let status = |response: &rusty_socket_tokio::hyper::UpgradeResponse| response.status();

    let (response, outcome) = upgrade(
        &mut parsed("GET", &[("sec-websocket-key", "")]),
        Config::default(),
        accept,
    );
    assert_eq!(status(&response), StatusCode::BAD_REQUEST);
    assert!(
        matches!(outcome, Err(Error::Handshake(HandshakeError::InvalidKey))),
        "{outcome:?}"
    );

    let (response, outcome) = upgrade(
        &mut parsed("GET", &[("upgrade", ""), ("connection", "")]),
        Config::default(),
        accept,
    );
    assert_eq!(status(&response), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(response.headers()["sec-websocket-version"], "13");
    assert!(matches!(outcome, Err(Error::NotWebSocket)), "{outcome:?}");

    let (response, outcome) = upgrade(&mut parsed("GET", &[]), Config::default(), |_| {
        Err(rusty_socket_tokio::Reject::status(StatusCode::IM_A_TEAPOT))
    });
    assert_eq!(status(&response), StatusCode::IM_A_TEAPOT);
    assert!(
        matches!(outcome, Err(Error::Rejected(StatusCode::IM_A_TEAPOT))),
        "{outcome:?}"
    );

    // A valid request on a connection that hyper cannot upgrade (here:
    // not from hyper at all) must not be promised a 101.
    let (response, outcome) = upgrade(&mut parsed("GET", &[]), Config::default(), accept);
    assert_eq!(status(&response), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        matches!(&outcome, Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::Unsupported),
        "{outcome:?}"
    );
}
