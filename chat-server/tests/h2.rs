//! The chat server over HTTP/2 (`--tls-cert`, Tokio runtime) as a real
//! process: a client whose ALPN picks `h2` gets the page, the stats and the
//! chat's WebSocket (an extended CONNECT, RFC 8441) on one TLS connection,
//! and chats with a wss:// client over HTTP/1.1; the server counts which
//! protocol each WebSocket came in on. Idle HTTP/2 connections are closed,
//! and the std runtime keeps to HTTP/1.1.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{client_tls, next_message, tokio_tls_client, Server, TIMEOUT};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rusty_socket_test_support::tls::TestPki;
use rusty_socket_tokio::rustls::pki_types::ServerName;
use rusty_socket_tokio::rustls::ClientConfig;
use rusty_socket_tokio::tokio_rustls::TlsConnector;
use rusty_socket_tokio::{CloseCode, Message};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::task::{block_in_place, JoinHandle};

/// An HTTP/2 connection to `server`, its ALPN offering `alpn` (the
/// server's choice is returned), driven by a task.
struct H2Client {
    send: SendRequest<Empty<Bytes>>,
    driver: JoinHandle<Result<(), hyper::Error>>,
}

/// Connects over TLS offering the ALPN protocols `alpn`; the protocol the
/// server chose, and the stream.
async fn tls_connect(
    server: &Server,
    tls: &Arc<ClientConfig>,
    alpn: &[&[u8]],
) -> (
    Option<Vec<u8>>,
    rusty_socket_tokio::tokio_rustls::client::TlsStream<TcpStream>,
) {
    let mut config = ClientConfig::clone(tls);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let socket = TcpStream::connect(server.addr).await.expect("connect");
    let name = ServerName::from(server.addr.ip());
    let stream = TlsConnector::from(Arc::new(config))
        .connect(name, socket)
        .await
        .expect("TLS handshake");
    let chosen = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    (chosen, stream)
}

impl H2Client {
    async fn connect(server: &Server, tls: &Arc<ClientConfig>) -> H2Client {
        let (chosen, stream) = tls_connect(server, tls, &[b"h2", b"http/1.1"]).await;
        assert_eq!(chosen.as_deref(), Some(&b"h2"[..]), "the server picks h2");
        let (send, connection) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(TokioIo::new(stream))
            .await
            .expect("HTTP/2 handshake");
        let driver = tokio::spawn(connection);
        H2Client { send, driver }
    }

    /// `GET path`: the status and the body.
    async fn get(&mut self, server: &Server, path: &str) -> (u16, String) {
        let request = hyper::Request::get(format!("https://{}{path}", server.addr))
            .body(Empty::new())
            .expect("a request");
        let response = self.send.send_request(request).await.expect("GET over h2");
        assert_eq!(response.version(), hyper::Version::HTTP_2);
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.expect("the body");
        let body = String::from_utf8(body.to_bytes().to_vec()).expect("UTF-8");
        (status, body)
    }
}

fn stats_of(body: &str) -> Value {
    serde_json::from_str(body).expect("stats are JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_the_stats_and_the_websocket_share_one_http2_connection() {
    let pki = TestPki::new();
    let tls = client_tls(&pki);
    let server = Server::start_tls(&pki, &["--runtime", "tokio"]);
    let mut h2 = H2Client::connect(&server, &tls).await;

    let (status, page) = h2.get(&server, "/").await;
    assert_eq!(status, 200);
    assert!(page.contains("<title>rusty_socket chat</title>"));
    let (status, _) = h2.get(&server, "/nowhere").await;
    assert_eq!(status, 404);

    // The chat's WebSocket on the same connection, next to a wss:// client
    // over HTTP/1.1.
    let url = server.url();
    let request = rusty_socket_tokio::ClientRequest::new(&url).expect("a wss:// URL");
    let (mut over_h2, response) =
        rusty_socket_tokio::hyper::connect_h2(&mut h2.send, request, Default::default())
            .await
            .expect("a WebSocket over HTTP/2");
    assert_eq!(response.status(), 200, "RFC 8441: 200, not 101");
    assert!(over_h2.deflate().is_some(), "permessage-deflate agreed");
    let mut over_h1 = tokio_tls_client(&url, None, &tls)
        .await
        .expect("wss:// over HTTP/1.1");
    block_in_place(|| server.wait_for_clients(2));

    over_h2
        .send(Message::text("from an HTTP/2 stream"))
        .await
        .expect("send");
    assert_eq!(
        next_message(&mut over_h1).await,
        Message::text("from an HTTP/2 stream")
    );
    assert_eq!(
        next_message(&mut over_h2).await,
        Message::text("from an HTTP/2 stream")
    );
    let long = "over HTTP/1.1, long enough to span HTTP/2 frames; ".repeat(1000);
    over_h1
        .send(Message::text(long.as_str()))
        .await
        .expect("send");
    assert_eq!(
        next_message(&mut over_h2).await,
        Message::text(long.as_str())
    );

    // The stats, over the same connection, say who came in how; so does
    // the log.
    let (status, stats) = h2.get(&server, "/stats").await;
    assert_eq!(status, 200);
    let stats = stats_of(&stats);
    assert_eq!(stats["clients"], 2);
    assert_eq!(stats["joined_h2"], 1, "{stats}");
    assert_eq!(stats["joined_http1"], 1, "{stats}");
    assert!(server.wait_for_log(&["connected", "http=HTTP/2.0"]));
    assert!(server.wait_for_log(&["connected", "http=HTTP/1.1"]));

    // The closing handshake over the stream.
    over_h2
        .close(CloseCode::NORMAL, "bye")
        .await
        .expect("close");
    while over_h2
        .recv()
        .await
        .expect("the closing handshake")
        .is_some()
    {}
    block_in_place(|| server.wait_for_clients(1));
    // The HTTP/2 connection outlives its WebSocket.
    let (status, _) = h2.get(&server, "/").await;
    assert_eq!(status, 200);
    assert!(!h2.driver.is_finished());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http2_connections_are_closed() {
    let pki = TestPki::new();
    let tls = client_tls(&pki);
    let timeout = Duration::from_millis(800);
    let server = Server::start_tls(
        &pki,
        &["--runtime", "tokio", "--handshake-timeout", "800ms"],
    );

    // No request at all: dropped at the handshake deadline.
    let silent = H2Client::connect(&server, &tls).await;
    // One request, then nothing: closed after a timeout or two of idleness.
    let mut idle = H2Client::connect(&server, &tls).await;
    let started = Instant::now();
    assert_eq!(idle.get(&server, "/").await.0, 200);
    for client in [silent, idle] {
        let ended = tokio::time::timeout(TIMEOUT, client.driver)
            .await
            .expect("the server closes an idle connection");
        ended.expect("the connection task").ok();
    }
    let took = started.elapsed();
    assert!(
        took >= timeout && took < 3 * timeout + Duration::from_secs(2),
        "closed after {took:?}"
    );
    assert!(server.wait_for_log(&["refused: no HTTP/2 request before the handshake timeout"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_std_runtime_answers_http2_offers_with_http1() {
    let pki = TestPki::new();
    let tls = client_tls(&pki);
    let server = Server::start_tls(&pki, &["--runtime", "std"]);
    let (chosen, _stream) = tls_connect(&server, &tls, &[b"h2", b"http/1.1"]).await;
    assert_eq!(chosen.as_deref(), Some(&b"http/1.1"[..]));
    // A client that only speaks h2 finds no protocol in common.
    let mut config = ClientConfig::clone(&tls);
    config.alpn_protocols = vec![b"h2".to_vec()];
    let socket = TcpStream::connect(server.addr).await.expect("connect");
    let refused = TlsConnector::from(Arc::new(config))
        .connect(ServerName::from(server.addr.ip()), socket)
        .await;
    assert!(refused.is_err(), "no application protocol in common");
}
