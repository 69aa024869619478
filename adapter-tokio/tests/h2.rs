//! WebSockets over HTTP/2 (RFC 8441): hyper's HTTP/2 server with
//! `rusty_socket_tokio::hyper::upgrade`, this crate's `connect_h2` on hyper's
//! HTTP/2 client, and a raw `h2` client to see the frames that end a stream.

#[path = "../examples/shared/hyper_echo.rs"]
mod hyper_echo;

mod common;

// The hyper glue finds the echo loop at `crate::echo_loop`.
use common::echo_loop;

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{pattern, within};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::client::conn::http2 as client_h2;
use hyper::server::conn::http2 as server_h2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rusty_socket_tokio::http::{self, StatusCode};
use rusty_socket_tokio::hyper::{connect_h2, upgrade, HyperWebSocket};
use rusty_socket_tokio::{
    Accept, ClientRequest, CloseCode, Config, Error, HandshakeError, Message, Reject,
};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

type Sender = client_h2::SendRequest<Empty<Bytes>>;

/// The `hyper_server` example's server (HTTP/1.1 and h2c) on an ephemeral port.
async fn example_server() -> SocketAddr {
    let (listener, addr) = common::listener().await;
    tokio::spawn(hyper_echo::serve(listener));
    addr
}

/// An HTTP/2 server whose WebSockets (accepted by `hook`) go to
/// `handler`, built by `builder` (the extended CONNECT protocol enabled or
/// not, flow-control windows).
async fn h2_server<H, Fut>(
    builder: impl Fn() -> server_h2::Builder<TokioExecutor> + Send + Sync + 'static,
    hook: fn(&rusty_socket_tokio::Request) -> Result<Accept, Reject>,
    handler: H,
) -> SocketAddr
where
    H: Fn(HyperWebSocket) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (listener, addr) = common::listener().await;
    let handler = Arc::new(handler);
    let builder = Arc::new(builder);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            stream.set_nodelay(true).unwrap();
            let (handler, builder) = (handler.clone(), builder.clone());
            tokio::spawn(async move {
                let service = service_fn(move |mut request: hyper::Request<Incoming>| {
                    let handler = handler.clone();
                    async move {
                        let (response, upgrading) = upgrade(&mut request, Config::default(), hook);
                        if let Ok(upgrading) = upgrading {
                            tokio::spawn(async move {
                                if let Ok(ws) = upgrading.await {
                                    handler(ws).await;
                                }
                            });
                        }
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let _ = builder()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn enabled() -> server_h2::Builder<TokioExecutor> {
    let mut builder = server_h2::Builder::new(TokioExecutor::new());
    builder.enable_connect_protocol();
    builder
}

fn accept_all(_: &rusty_socket_tokio::Request) -> Result<Accept, Reject> {
    Ok(Accept::default())
}

/// A hyper HTTP/2 client connection to `addr` (h2c), as `builder` makes it.
async fn h2_client(addr: SocketAddr, builder: client_h2::Builder<TokioExecutor>) -> Sender {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (sender, connection) = builder.handshake(TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(connection);
    sender
}

fn request(addr: SocketAddr, path: &str) -> ClientRequest {
    ClientRequest::new(&format!("ws://{addr}{path}")).unwrap()
}

#[tokio::test]
async fn websockets_and_pages_share_one_http2_connection() {
    within(async {
        let addr = example_server().await;
        let mut sender = h2_client(addr, client_h2::Builder::new(TokioExecutor::new())).await;
        let offered = request(addr, "/ws").protocol("echo").unwrap();
        let (mut first, response) = connect_h2(&mut sender, offered, Config::default())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.protocol(), Some("echo"));
        assert!(response.deflate().is_some(), "permessage-deflate over h2");
        let (mut second, _) = connect_h2(&mut sender, request(addr, "/ws"), Config::default())
            .await
            .unwrap();

        // A page on the same connection, while both WebSockets are open.
        let page = http::Request::get(format!("http://{addr}/"))
            .body(Empty::new())
            .unwrap();
        let page = sender.send_request(page).await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let body = page.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, hyper_echo::PAGE.as_bytes());

        for round in 0..3u8 {
            first
                .send(Message::text(format!("first {round}")))
                .await
                .unwrap();
            second.send(Message::binary(vec![round; 3])).await.unwrap();
            assert_eq!(
                first.recv().await.unwrap(),
                Some(Message::text(format!("first {round}")))
            );
            assert_eq!(
                second.recv().await.unwrap(),
                Some(Message::binary(vec![round; 3]))
            );
        }
        common::close_and_finish(&mut first, CloseCode::NORMAL, "").await;
        // The connection and the other WebSocket carry on.
        second.send(Message::text("still here")).await.unwrap();
        assert_eq!(
            second.recv().await.unwrap(),
            Some(Message::text("still here"))
        );
        common::close_and_finish(&mut second, CloseCode::NORMAL, "").await;
    })
    .await;
}

/// Messages much larger than HTTP/2's flow-control windows (64 KiB here,
/// the protocol's default) go through both ways: each side reads and
/// releases what the other may send next.
#[tokio::test]
async fn messages_larger_than_the_flow_control_windows_go_through() {
    within(async {
        const WINDOW: u32 = 65_535;
        let addr = h2_server(
            || {
                let mut builder = enabled();
                builder
                    .initial_stream_window_size(WINDOW)
                    .initial_connection_window_size(WINDOW)
                    .adaptive_window(false);
                builder
            },
            accept_all,
            |ws| async move {
                let _ = common::echo(ws).await;
            },
        )
        .await;
        let mut builder = client_h2::Builder::new(TokioExecutor::new());
        builder
            .initial_stream_window_size(WINDOW)
            .initial_connection_window_size(WINDOW)
            .adaptive_window(false);
        let mut sender = h2_client(addr, builder).await;
        let mut config = Config::default();
        config.deflate.enabled = false;
        let (mut ws, _) = connect_h2(&mut sender, request(addr, "/"), config)
            .await
            .unwrap();
        for (len, seed) in [(1 << 20, 1), (16 << 20, 2)] {
            let payload = pattern(len, seed);
            ws.send(Message::binary(payload.clone())).await.unwrap();
            assert_eq!(ws.recv().await.unwrap(), Some(Message::binary(payload)));
        }
        common::close_and_finish(&mut ws, CloseCode::NORMAL, "").await;
    })
    .await;
}

/// A raw HTTP/2 client's extended CONNECT for a WebSocket on `addr`:
/// the response head and both halves of the stream.
async fn raw_connect(
    addr: SocketAddr,
    version: Option<&'static str>,
) -> (
    http::Response<h2::RecvStream>,
    h2::SendStream<Bytes>,
    h2::client::SendRequest<Bytes>,
) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let mut connect = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(format!("http://{addr}/ws"));
    if let Some(version) = version {
        connect = connect.header("sec-websocket-version", version);
    }
    let mut connect = connect.body(()).unwrap();
    connect
        .extensions_mut()
        .insert(h2::ext::Protocol::from_static("websocket"));
    let (response, send) = client.send_request(connect, false).unwrap();
    (response.await.unwrap(), send, client)
}

/// A masked frame (with a zero mask) from a client.
fn client_frame(opcode: u8, payload: &[u8]) -> Bytes {
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    Bytes::from(frame)
}

/// Reads the stream until `want` bytes arrived or the stream ended.
async fn read_bytes(recv: &mut h2::RecvStream, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < want {
        match recv.data().await {
            Some(chunk) => {
                let chunk = chunk.unwrap();
                recv.flow_control().release_capacity(chunk.len()).unwrap();
                got.extend_from_slice(&chunk);
            }
            None => break,
        }
    }
    got
}

/// RFC 8441 section 5: after the closing handshake the server ends the
/// stream with END_STREAM, as a TCP close, and does not reset it; it waits
/// for the client's END_STREAM, then its WebSocket ends cleanly.
#[tokio::test]
async fn a_clean_close_ends_the_stream_with_end_stream_and_no_reset() {
    within(async {
        let (done_tx, mut done) = mpsc::unbounded_channel();
        let addr = h2_server(enabled, accept_all, move |ws| {
            let done_tx = done_tx.clone();
            async move {
                let _ = done_tx.send(common::echo(ws).await.map_err(|e| e.to_string()));
            }
        })
        .await;
        let (response, mut send, _client) = raw_connect(addr, Some("13")).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(!response.headers().contains_key("sec-websocket-accept"));
        let mut recv = response.into_body();

        send.send_data(client_frame(0x1, b"hi"), false).unwrap();
        assert_eq!(read_bytes(&mut recv, 4).await, [0x81, 2, b'h', b'i']);
        send.send_data(client_frame(0x8, &1000u16.to_be_bytes()), false)
            .unwrap();
        // The echo of our close, then END_STREAM: `data()` ends.
        assert_eq!(
            read_bytes(&mut recv, usize::MAX).await,
            [0x88, 2, 0x03, 0xe8]
        );
        assert!(recv.is_end_stream());
        // No RST_STREAM follows while the server waits for our END_STREAM.
        let reset = tokio::time::timeout(
            Duration::from_millis(300),
            poll_fn(|cx| send.poll_reset(cx)),
        )
        .await;
        assert!(reset.is_err(), "the server reset the stream: {reset:?}");
        assert!(
            done.try_recv().is_err(),
            "the server ended before our END_STREAM"
        );
        send.send_data(Bytes::new(), true).unwrap();
        assert_eq!(done.recv().await, Some(Ok(())));
    })
    .await;
}

/// RFC 8441 section 5: an abort (a WebSocket dropped without a closing
/// handshake) resets the stream, as a TCP reset would end a connection, and
/// the peer sees an abnormal end, not a close.
///
/// The reset's code is hyper's to choose: a server's upgraded stream ends
/// with END_STREAM and then RST_STREAM(NO_ERROR) (RFC 9113 section 8.1's
/// "stop sending"), a client's with RST_STREAM(CANCEL).
#[tokio::test]
async fn a_dropped_websocket_resets_its_stream() {
    within(async {
        let (done_tx, mut done) = mpsc::unbounded_channel();
        let addr = h2_server(enabled, accept_all, move |mut ws| {
            let done_tx = done_tx.clone();
            async move {
                // Reads one message, then drops the WebSocket, except for a
                // client that says it will drop its own.
                let first = ws.recv().await;
                if matches!(&first, Ok(Some(Message::Text(text))) if text == "wait") {
                    ws.send(Message::text("waiting")).await.unwrap();
                    let _ = done_tx.send(ws.recv().await.map_err(|e| e.to_string()));
                }
            }
        })
        .await;
        let (response, mut send, _client) = raw_connect(addr, Some("13")).await;
        assert_eq!(response.status(), StatusCode::OK);
        let mut recv = response.into_body();
        send.send_data(client_frame(0x1, b"bye"), false).unwrap();
        let reason = poll_fn(|cx| send.poll_reset(cx)).await.unwrap();
        assert!(
            [h2::Reason::NO_ERROR, h2::Reason::CANCEL].contains(&reason),
            "{reason:?}"
        );
        assert_eq!(
            read_bytes(&mut recv, usize::MAX).await,
            b"",
            "no close frame"
        );

        let mut sender = h2_client(addr, client_h2::Builder::new(TokioExecutor::new())).await;
        let (mut ws, _) = connect_h2(&mut sender, request(addr, "/"), Config::default())
            .await
            .unwrap();
        ws.send(Message::text("wait")).await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Some(Message::text("waiting")));
        drop(ws);
        let ended = done.recv().await.unwrap();
        assert!(
            matches!(&ended, Err(e) if e.contains("without a closing handshake")),
            "{ended:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn refusals_over_http2_carry_their_status() {
    within(async {
        let addr = h2_server(
            enabled,
            |request| match request.path() {
                "/ws" => Ok(Accept::default()),
                _ => Err(Reject::with_body(StatusCode::FORBIDDEN, "not here\n")),
            },
            |_| async {},
        )
        .await;
        let mut sender = h2_client(addr, client_h2::Builder::new(TokioExecutor::new())).await;
        let refused = connect_h2(&mut sender, request(addr, "/private"), Config::default()).await;
        let Err(Error::Handshake(HandshakeError::Status(response))) = refused else {
            panic!("{refused:?}")
        };
        assert_eq!(response.status, StatusCode::FORBIDDEN);

        // RFC 6455 section 4.4 over HTTP/2: no version 13, a 426 naming it.
        let (response, _, _client) = raw_connect(addr, None).await;
        assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
        assert_eq!(response.headers()["sec-websocket-version"], "13");
        let (response, _, _client) = raw_connect(addr, Some("8")).await;
        assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
    })
    .await;
}

#[tokio::test]
async fn a_server_without_the_extended_connect_protocol_is_a_clear_error() {
    within(async {
        let addr = h2_server(
            || server_h2::Builder::new(TokioExecutor::new()),
            accept_all,
            |_| async {},
        )
        .await;
        let mut sender = h2_client(addr, client_h2::Builder::new(TokioExecutor::new())).await;
        let error = connect_h2(&mut sender, request(addr, "/ws"), Config::default())
            .await
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("SETTINGS_ENABLE_CONNECT_PROTOCOL"),
            "{error}"
        );
        // The connection itself is still good for other requests.
        let page = http::Request::get(format!("http://{addr}/"))
            .body(Empty::new())
            .unwrap();
        assert!(sender.send_request(page).await.is_ok());
    })
    .await;
}

#[tokio::test]
async fn a_server_that_never_answers_the_connect_times_out() {
    within(async {
        // An HTTP/2 server that enables the protocol and never answers.
        let (listener, silent) = common::listener().await;
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let service = service_fn(|_request: hyper::Request<Incoming>| async {
                std::future::pending::<Result<hyper::Response<Full<Bytes>>, std::convert::Infallible>>()
                    .await
            });
            let _ = enabled()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        let mut sender = h2_client(silent, client_h2::Builder::new(TokioExecutor::new())).await;
        let mut config = Config::default();
        config.handshake_timeout = Some(Duration::from_millis(300));
        let error = connect_h2(&mut sender, request(silent, "/ws"), config)
            .await
            .unwrap_err();
        assert!(error.is_timeout(), "{error}");
    })
    .await;
}
