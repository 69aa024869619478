//! Messages, fragments, control frames, closing handshakes and opening
//! handshakes between a client and a server of this crate over loopback.

mod common;

use std::time::Duration;

use common::{echo_server, pattern, server, server_with, within};
use rusty_socket_tokio::{
    connect, connect_with, http::StatusCode, Accept, Bytes, ClientRequest, CloseCode, CloseFrame,
    Config, Error, HandshakeError, Incoming, Message, MessageKind, Reject, State,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

#[tokio::test]
async fn text_binary_and_empty_messages_round_trip() {
    within(async {
        let url = echo_server(Config::default()).await;
        let mut ws = connect(&format!("{url}/echo")).await.unwrap().0;
        let messages = [
            Message::text("hello"),
            Message::text("héllo ✓ 🦀"),
            Message::binary(vec![0u8, 1, 2, 255]),
            Message::text(""),
            Message::binary(Bytes::new()),
            Message::binary(pattern(70_000, 1)),
            Message::text("x".repeat(5000)),
        ];
        for message in &messages {
            ws.send(message.clone()).await.unwrap();
            assert_eq!(ws.recv().await.unwrap().as_ref(), Some(message));
        }
        common::close_and_finish(&mut ws, CloseCode::NORMAL, "").await;
        assert_eq!(ws.state(), State::Closed);
    })
    .await;
}

#[tokio::test]
async fn a_16_mib_message_round_trips() {
    within(async {
        let url = echo_server(Config::default()).await;
        let mut ws = connect(&url).await.unwrap().0;
        let payload = Bytes::from(pattern(16 << 20, 7));
        ws.send(Message::Binary(payload.clone())).await.unwrap();
        match ws.recv().await.unwrap() {
            Some(Message::Binary(echoed)) => {
                assert_eq!(echoed.len(), payload.len());
                assert!(echoed == payload, "the echo differs");
            }
            other => panic!("expected the binary echo, got {:?}", other.map(|_| "...")),
        }
        common::close_and_finish(&mut ws, CloseCode::NORMAL, "").await;
    })
    .await;
}

#[tokio::test]
async fn a_fragmented_send_is_received_whole() {
    within(async {
        let url = echo_server(Config::default()).await;
        let mut ws = connect(&url).await.unwrap().0;
        ws.send_fragment(MessageKind::Text, "Hel", false)
            .await
            .unwrap();
        // A control frame may come between fragments; another message may not.
        ws.send(Message::Ping(Bytes::from_static(b"between")))
            .await
            .unwrap();
        assert!(matches!(
            ws.send(Message::text("not now")).await,
            Err(Error::Send(
                rusty_socket_tokio::SendError::MessageInProgress
            ))
        ));
        // "é" split across two fragments.
        ws.send_fragment(MessageKind::Text, &b"lo \xc3"[..], false)
            .await
            .unwrap();
        ws.send_fragment(MessageKind::Text, &b"\xa9"[..], true)
            .await
            .unwrap();
        let big = Bytes::from(pattern(300_000, 3));
        ws.send_fragment(MessageKind::Binary, big.slice(..100_000), false)
            .await
            .unwrap();
        ws.send_fragment(MessageKind::Binary, big.slice(100_000..), true)
            .await
            .unwrap();
        assert_eq!(
            ws.recv().await.unwrap(),
            Some(Message::Pong(Bytes::from_static(b"between")))
        );
        assert_eq!(ws.recv().await.unwrap(), Some(Message::text("Hello é")));
        assert_eq!(ws.recv().await.unwrap(), Some(Message::Binary(big)));
        common::close_and_finish(&mut ws, CloseCode::NORMAL, "").await;
    })
    .await;
}

#[tokio::test]
async fn streaming_receive_delivers_fragments_as_they_arrive() {
    within(async {
        let mut config = Config::default();
        config.streaming = true;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let url = server(config, move |mut ws| {
            let tx = tx.clone();
            async move {
                // The message stream refuses a fragment but keeps it.
                let first = ws.next().await;
                assert!(
                    matches!(first, Some(Err(Error::FragmentPending))),
                    "{first:?}"
                );
                while let Some(incoming) = ws.recv_incoming().await.unwrap() {
                    match incoming {
                        Incoming::Fragment(fragment) => tx.send(fragment).unwrap(),
                        Incoming::Message(_) => {}
                        _ => unreachable!(),
                    }
                }
            }
        })
        .await;
        let mut ws = connect(&url).await.unwrap().0;
        // One 4 MiB frame: it arrives in many reads, each one a fragment.
        let payload = pattern(4 << 20, 9);
        ws.send(Message::binary(payload.clone())).await.unwrap();
        let mut received = Vec::new();
        let mut count = 0;
        loop {
            let fragment = rx.recv().await.unwrap();
            assert_eq!(fragment.kind, MessageKind::Binary);
            assert_eq!(fragment.first, count == 0);
            received.extend_from_slice(&fragment.data);
            count += 1;
            if fragment.fin {
                break;
            }
        }
        assert!(count > 1, "a 4 MiB frame came as {count} fragment(s)");
        assert!(
            received == payload,
            "the fragments do not add up to the message"
        );
        common::close_and_finish(&mut ws, CloseCode::NORMAL, "").await;
    })
    .await;
}

#[tokio::test]
async fn pings_are_answered_both_ways() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let url = server(Config::default(), move |mut ws| {
            let tx = tx.clone();
            async move {
                ws.send(Message::Ping(Bytes::from_static(b"from server")))
                    .await
                    .unwrap();
                while let Some(message) = ws.recv().await.unwrap() {
                    tx.send(message).unwrap();
                }
            }
        })
        .await;
        let mut ws = connect(&url).await.unwrap().0;
        // The server's ping shows up, and was answered already.
        assert_eq!(
            ws.recv().await.unwrap(),
            Some(Message::Ping(Bytes::from_static(b"from server")))
        );
        assert_eq!(
            rx.recv().await,
            Some(Message::Pong(Bytes::from_static(b"from server")))
        );
        // The server answers ours.
        ws.send(Message::Ping(Bytes::from_static(b"from client")))
            .await
            .unwrap();
        assert_eq!(
            ws.recv().await.unwrap(),
            Some(Message::Pong(Bytes::from_static(b"from client")))
        );
        assert_eq!(
            rx.recv().await,
            Some(Message::Ping(Bytes::from_static(b"from client")))
        );
        // A ping payload over 125 bytes is refused before it is sent.
        assert!(matches!(
            ws.send(Message::Ping(Bytes::from(vec![0; 126]))).await,
            Err(Error::Send(_))
        ));
        common::close_and_finish(&mut ws, CloseCode::NORMAL, "").await;
    })
    .await;
}

#[tokio::test]
async fn close_initiated_by_the_client() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let url = server(Config::default(), move |mut ws| {
            let tx = tx.clone();
            async move {
                let mut seen = Vec::new();
                let end = loop {
                    match ws.next().await {
                        Some(Ok(message)) => seen.push(message),
                        Some(Err(e)) => break Err(e),
                        None => break Ok(()),
                    }
                };
                tx.send((seen, end.is_ok(), ws.state())).unwrap();
            }
        })
        .await;
        let mut ws = connect(&url).await.unwrap().0;
        ws.send(Message::text("before")).await.unwrap();
        ws.close(CloseCode(4001), "client says bye").await.unwrap();
        // `close` only sends: the handshake is still open, and nothing can
        // be sent any more.
        assert_eq!(ws.state(), State::Closing);
        assert!(matches!(
            ws.send(Message::text("late")).await,
            Err(Error::AlreadyClosed)
        ));
        // The server's echo (its code), then the end.
        assert_eq!(
            ws.recv().await.unwrap(),
            Some(Message::Close(Some(CloseFrame::new(CloseCode(4001), ""))))
        );
        assert_eq!(ws.recv().await.unwrap(), None);
        assert_eq!(ws.state(), State::Closed);
        // The end stays the end.
        assert_eq!(ws.recv().await.unwrap(), None);
        assert!(matches!(
            ws.close(CloseCode::NORMAL, "").await,
            Err(Error::AlreadyClosed)
        ));
        let (seen, clean, state) = rx.recv().await.unwrap();
        assert_eq!(
            seen,
            [
                Message::text("before"),
                Message::Close(Some(CloseFrame::new(CloseCode(4001), "client says bye")))
            ]
        );
        assert!(clean, "the server saw an error");
        assert_eq!(state, State::Closed);
    })
    .await;
}

#[tokio::test]
async fn close_initiated_by_the_server() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let url = server(Config::default(), move |mut ws| {
            let tx = tx.clone();
            async move {
                ws.send(Message::text("last words")).await.unwrap();
                let closed = ws.close(CloseCode::GOING_AWAY, "server restarts").await;
                // The client's echo, then the end of the handshake.
                let echo = ws.recv().await;
                let end = ws.recv().await;
                let clean = closed.is_ok()
                    && matches!(echo, Ok(Some(Message::Close(_))))
                    && matches!(end, Ok(None));
                tx.send(clean).unwrap();
            }
        })
        .await;
        let mut ws = connect(&url).await.unwrap().0;
        assert_eq!(ws.recv().await.unwrap(), Some(Message::text("last words")));
        assert_eq!(
            ws.recv().await.unwrap(),
            Some(Message::Close(Some(CloseFrame::new(
                CloseCode::GOING_AWAY,
                "server restarts"
            ))))
        );
        // The echo goes out, the server ends the transport, the stream ends cleanly.
        assert_eq!(ws.recv().await.unwrap(), None);
        assert_eq!(ws.state(), State::Closed);
        assert!(rx.recv().await.unwrap(), "the server's close failed");
        assert!(ws.next().await.is_none());
    })
    .await;
}

#[tokio::test]
async fn subprotocol_negotiation() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let url = server_with(
            Config::default(),
            |request| {
                let offered = request.protocols();
                Ok(match offered.iter().find(|p| *p == "chat.v2") {
                    Some(p) => Accept::with_protocol(p.clone()),
                    None => Accept::default(),
                })
            },
            move |ws| {
                let tx = tx.clone();
                async move {
                    tx.send(ws.protocol().map(str::to_owned)).unwrap();
                    let _ = common::echo(ws).await;
                }
            },
        )
        .await;
        let request = ClientRequest::new(&url)
            .unwrap()
            .protocol("chat.v1")
            .unwrap()
            .protocol("chat.v2")
            .unwrap();
        let (ws, response) = connect_with(request, Config::default()).await.unwrap();
        assert_eq!(response.protocol(), Some("chat.v2"));
        assert_eq!(ws.protocol(), Some("chat.v2"));
        assert_eq!(rx.recv().await.unwrap().as_deref(), Some("chat.v2"));
        // Offering nothing the server speaks: no subprotocol, still connected.
        let request = ClientRequest::new(&url).unwrap().protocol("other").unwrap();
        let (ws, response) = connect_with(request, Config::default()).await.unwrap();
        assert_eq!((response.protocol(), ws.protocol()), (None, None));
        assert_eq!(rx.recv().await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn a_rejected_handshake_gives_the_client_its_status() {
    within(async {
        let (listener, addr) = common::listener().await;
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            rusty_socket_tokio::accept_with(stream, Config::default(), |request| {
                assert_eq!(request.path(), "/private");
                assert_eq!(request.origin(), Some("https://evil.example"));
                Err(Reject::with_body(StatusCode::FORBIDDEN, "members only")
                    .header(
                        rusty_socket_tokio::http::HeaderName::from_static("x-reason"),
                        rusty_socket_tokio::http::HeaderValue::from_static("origin"),
                    )
                    .unwrap())
            })
            .await
        });
        let request = ClientRequest::new(&format!("ws://{addr}/private"))
            .unwrap()
            .header(
                rusty_socket_tokio::http::header::ORIGIN,
                rusty_socket_tokio::http::HeaderValue::from_static("https://evil.example"),
            )
            .unwrap();
        let error = connect_with(request, Config::default()).await.unwrap_err();
        let Error::Handshake(HandshakeError::Status(response)) = &error else {
            panic!("expected a refused handshake, got {error:?}");
        };
        assert_eq!(response.status, StatusCode::FORBIDDEN);
        assert_eq!(response.headers["x-reason"], "origin");
        assert!(error.to_string().contains("403"), "{error}");
        assert!(std::error::Error::source(&error).is_some());
        let server_side = server.await.unwrap().unwrap_err();
        // Reported as by rusty-socket-std's `accept_with`.
        assert!(
            matches!(server_side, Error::Rejected(StatusCode::FORBIDDEN)),
            "{server_side:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_plain_http_request_is_refused_clearly() {
    within(async {
        let (listener, addr) = common::listener().await;
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            rusty_socket_tokio::accept(stream).await
        });
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        client
            .write_all(b"GET /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        client.read_to_string(&mut response).await.unwrap();
        assert!(
            response.starts_with("HTTP/1.1 426 "),
            "unexpected response: {response}"
        );
        assert!(response.contains("WebSocket"), "{response}");
        let error = server.await.unwrap().unwrap_err();
        assert!(matches!(error, Error::NotWebSocket), "{error:?}");
        assert!(error.to_string().contains("not a WebSocket upgrade"));
    })
    .await;
}

#[tokio::test]
async fn urls_that_cannot_be_opened_are_refused_clearly() {
    let error = connect("http://127.0.0.1:1/").await.unwrap_err();
    assert!(matches!(error, Error::Url(_)), "{error:?}");
    assert!(std::error::Error::source(&error).is_some());
    let mut config = Config::default();
    config.max_headers = 0;
    let request = ClientRequest::new("ws://127.0.0.1:1/").unwrap();
    let error = connect_with(request, config).await.unwrap_err();
    assert!(matches!(error, Error::Config(_)), "{error:?}");
    // Nothing listens on port 1: the I/O error comes through.
    let error = tokio::time::timeout(Duration::from_secs(10), connect("ws://127.0.0.1:1/"))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(error, Error::Io(_)), "{error:?}");
}
