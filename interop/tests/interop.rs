//! Each adapter's client against the other adapter's server, over 127.0.0.1.
//!
//! Both servers implement the same behaviours, chosen by the request path:
//!
//! | path          | the server...                                                   |
//! |---------------|-----------------------------------------------------------------|
//! | `/echo`       | echoes every text and binary message                            |
//! | `/protocol`   | accepts the last subprotocol offered, then echoes               |
//! | `/reject`     | rejects the handshake with 403 and an `x-reason` header          |
//! | `/close`      | after the first message, closes with 4001 "server says bye"      |
//! | `/broadcast`  | answers each text message with a prepared (shared) frame of it  |

use std::net::SocketAddr;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread;
use std::time::Duration;

use rusty_socket_std as wsstd;
use rusty_socket_tokio as wstokio;
use wsstd::http::{HeaderValue, StatusCode};
use wsstd::{
    Accept, ClientRequest, CloseCode, Config, Message, MessageKind, PreparedMessage, Reject,
    Request,
};

const BIG: usize = 16 << 20;

fn decide(request: &Request) -> Result<Accept, Reject> {
    match request.path() {
        "/reject" => Err(Reject::with_body(StatusCode::FORBIDDEN, "members only")
            .header(
                wsstd::http::HeaderName::from_static("x-reason"),
                HeaderValue::from_static("test"),
            )
            .unwrap()),
        "/protocol" => Ok(Accept::with_protocol(
            request.protocols().last().cloned().unwrap_or_default(),
        )),
        _ => Ok(Accept::default()),
    }
}

/// What the server does with one received message, by path; `None` to
/// ignore it. Close frames are written to the log, for the test to check.
fn answer(path: &str, message: Message, log: &Sender<String>) -> Option<Reply> {
    match (path, message) {
        (_, Message::Close(Some(frame))) => {
            let _ = log.send(format!("close {} {}", frame.code, frame.reason));
            None
        }
        ("/broadcast", Message::Text(text)) => Some(Reply::Prepared(
            PreparedMessage::new(&Message::Text(text)).expect("text is a data message"),
        )),
        (_, message @ (Message::Text(_) | Message::Binary(_))) => Some(Reply::Message(message)),
        _ => None,
    }
}

enum Reply {
    Message(Message),
    Prepared(PreparedMessage),
}

/// The std server: a thread per connection.
fn std_server(log: Sender<String>) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let log = log.clone();
            thread::spawn(move || {
                let mut path = String::new();
                let accepted = wsstd::accept_with(stream, Config::default(), |request| {
                    path = request.path().to_owned();
                    decide(request)
                });
                if let Ok(ws) = accepted {
                    serve_std(ws, &path, &log);
                }
            });
        }
    });
    addr
}

fn serve_std(mut ws: wsstd::WebSocket<std::net::TcpStream>, path: &str, log: &Sender<String>) {
    let mut answered = 0;
    while let Ok(Some(message)) = ws.recv() {
        let Some(reply) = answer(path, message, log) else {
            continue;
        };
        answered += 1;
        let sent = match reply {
            Reply::Message(message) => ws.send(message),
            Reply::Prepared(prepared) => ws.send_prepared(&prepared),
        };
        if sent.is_err() {
            return;
        }
        if path == "/close" && answered == 1 {
            let _ = ws.close(CloseCode(4001), "server says bye");
            // Finish the closing handshake.
            while let Ok(Some(_)) = ws.recv() {}
            return;
        }
    }
}

/// The tokio server: a task per connection.
async fn tokio_server(log: Sender<String>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut path = String::new();
                let accepted = wstokio::accept_with(stream, Config::default(), |request| {
                    path = request.path().to_owned();
                    decide(request)
                })
                .await;
                if let Ok(ws) = accepted {
                    serve_tokio(ws, &path, &log).await;
                }
            });
        }
    });
    addr
}

async fn serve_tokio(
    mut ws: wstokio::WebSocket<tokio::net::TcpStream>,
    path: &str,
    log: &Sender<String>,
) {
    let mut answered = 0;
    while let Some(Ok(message)) = ws.next().await {
        let Some(reply) = answer(path, message, log) else {
            continue;
        };
        answered += 1;
        let sent = match reply {
            Reply::Message(message) => ws.send(message).await,
            Reply::Prepared(prepared) => ws.send_prepared(&prepared).await,
        };
        if sent.is_err() {
            return;
        }
        if path == "/close" && answered == 1 {
            let _ = ws.close(CloseCode(4001), "server says bye").await;
            // Finish the closing handshake.
            while let Ok(Some(_)) = ws.recv().await {}
            return;
        }
    }
}

fn messages() -> Vec<Message> {
    vec![
        Message::text("hello ✓"),
        Message::binary(vec![1u8, 2, 3]),
        Message::text(""),
        Message::binary(Vec::new()),
        Message::binary(vec![0xA5u8; BIG]),
    ]
}

fn expect_log(log: &Receiver<String>, line: &str) {
    let got = log
        .recv_timeout(Duration::from_secs(5))
        .expect("the server logs the close");
    assert_eq!(got, line);
}

fn request(addr: SocketAddr, path: &str) -> ClientRequest {
    ClientRequest::new(&format!("ws://{addr}{path}")).unwrap()
}

fn streaming() -> Config {
    let mut config = Config::default();
    config.streaming = true;
    config
}

/// Every scenario, with the std client.
fn std_client(addr: SocketAddr, log: &Receiver<String>) {
    let (mut ws, _) = wsstd::connect_with(request(addr, "/echo"), Config::default()).unwrap();
    for message in messages() {
        ws.send(message.clone()).unwrap();
        assert_eq!(ws.recv().unwrap().unwrap(), message);
    }
    // A fragmented send with a ping between its fragments is received whole.
    ws.send_fragment(MessageKind::Text, "Hel", false).unwrap();
    ws.ping(b"mid-message").unwrap();
    ws.send_fragment(MessageKind::Text, "lo", true).unwrap();
    assert_eq!(
        ws.recv().unwrap().unwrap(),
        Message::Pong(b"mid-message".as_slice().into())
    );
    assert_eq!(ws.recv().unwrap().unwrap(), Message::text("Hello"));
    // Closed by the client: the server sees the code and reason.
    ws.close(CloseCode(4000), "client says bye").unwrap();
    while ws.recv().unwrap().is_some() {}
    expect_log(log, "close 4000 client says bye");

    // A streamed receive: the echo of 1 MiB arrives in several fragments.
    let (mut ws, _) = wsstd::connect_with(request(addr, "/echo"), streaming()).unwrap();
    ws.send(Message::binary(vec![7u8; 1 << 20])).unwrap();
    let (mut fragments, mut bytes) = (0, 0);
    loop {
        match ws.recv_incoming().unwrap().unwrap() {
            wsstd::Incoming::Fragment(fragment) => {
                fragments += 1;
                bytes += fragment.data.len();
                assert!(fragment.data.iter().all(|b| *b == 7));
                if fragment.fin {
                    break;
                }
            }
            other => panic!("expected fragments, got {other:?}"),
        }
    }
    assert!(fragments > 1, "1 MiB arrived in one piece");
    assert_eq!(bytes, 1 << 20);

    // Closed by the server: the client sees the code and reason.
    let (mut ws, _) = wsstd::connect_with(request(addr, "/close"), Config::default()).unwrap();
    ws.send(Message::text("hi")).unwrap();
    assert_eq!(ws.recv().unwrap().unwrap(), Message::text("hi"));
    let Message::Close(Some(frame)) = ws.recv().unwrap().unwrap() else {
        panic!("expected the server's close")
    };
    assert_eq!(
        (frame.code, frame.reason.as_str()),
        (CloseCode(4001), "server says bye")
    );

    // Subprotocol negotiation.
    let (ws, response) = wsstd::connect_with(
        request(addr, "/protocol")
            .protocol("a")
            .and_then(|r| r.protocol("b"))
            .unwrap(),
        Config::default(),
    )
    .unwrap();
    assert_eq!((response.protocol(), ws.protocol()), (Some("b"), Some("b")));

    // A rejected handshake shows its status and headers.
    match wsstd::connect_with(request(addr, "/reject"), Config::default()) {
        Err(wsstd::Error::Handshake(wsstd::HandshakeError::Status(response))) => {
            assert_eq!(response.status, StatusCode::FORBIDDEN);
            assert_eq!(response.headers["x-reason"], "test");
        }
        other => panic!("expected a 403, got {:?}", other.map(|_| ())),
    }

    // A prepared (shared) frame arrives like any message.
    let (mut ws, _) = wsstd::connect_with(request(addr, "/broadcast"), Config::default()).unwrap();
    ws.send(Message::text("to all")).unwrap();
    assert_eq!(ws.recv().unwrap().unwrap(), Message::text("to all"));
}

/// Every scenario, with the tokio client.
async fn tokio_client(addr: SocketAddr, log: &Receiver<String>) {
    let (mut ws, _) = wstokio::connect_with(request(addr, "/echo"), Config::default())
        .await
        .unwrap();
    for message in messages() {
        ws.send(message.clone()).await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Some(message));
    }
    ws.send_fragment(MessageKind::Text, "Hel", false)
        .await
        .unwrap();
    ws.send(Message::Ping(b"mid-message".as_slice().into()))
        .await
        .unwrap();
    ws.send_fragment(MessageKind::Text, "lo", true)
        .await
        .unwrap();
    assert_eq!(
        ws.recv().await.unwrap(),
        Some(Message::Pong(b"mid-message".as_slice().into()))
    );
    assert_eq!(ws.recv().await.unwrap(), Some(Message::text("Hello")));
    ws.close(CloseCode(4000), "client says bye").await.unwrap();
    while ws.recv().await.unwrap().is_some() {}
    expect_log(log, "close 4000 client says bye");

    let (mut ws, _) = wstokio::connect_with(request(addr, "/echo"), streaming())
        .await
        .unwrap();
    ws.send(Message::binary(vec![7u8; 1 << 20])).await.unwrap();
    let (mut fragments, mut bytes) = (0, 0);
    loop {
        match ws.recv_incoming().await.unwrap().unwrap() {
            wstokio::Incoming::Fragment(fragment) => {
                fragments += 1;
                bytes += fragment.data.len();
                assert!(fragment.data.iter().all(|b| *b == 7));
                if fragment.fin {
                    break;
                }
            }
            other => panic!("expected fragments, got {other:?}"),
        }
    }
    assert!(fragments > 1, "1 MiB arrived in one piece");
    assert_eq!(bytes, 1 << 20);

    let (mut ws, _) = wstokio::connect_with(request(addr, "/close"), Config::default())
        .await
        .unwrap();
    ws.send(Message::text("hi")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap(), Some(Message::text("hi")));
    let Some(Message::Close(Some(frame))) = ws.recv().await.unwrap() else {
        panic!("expected the server's close")
    };
    assert_eq!(
        (frame.code, frame.reason.as_str()),
        (CloseCode(4001), "server says bye")
    );

    let (ws, response) = wstokio::connect_with(
        request(addr, "/protocol")
            .protocol("a")
            .and_then(|r| r.protocol("b"))
            .unwrap(),
        Config::default(),
    )
    .await
    .unwrap();
    assert_eq!((response.protocol(), ws.protocol()), (Some("b"), Some("b")));

    match wstokio::connect_with(request(addr, "/reject"), Config::default()).await {
        Err(wstokio::Error::Handshake(wstokio::HandshakeError::Status(response))) => {
            assert_eq!(response.status, StatusCode::FORBIDDEN);
            assert_eq!(response.headers["x-reason"], "test");
        }
        other => panic!("expected a 403, got {:?}", other.map(|_| ())),
    }

    let (mut ws, _) = wstokio::connect_with(request(addr, "/broadcast"), Config::default())
        .await
        .unwrap();
    ws.send(Message::text("to all")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap(), Some(Message::text("to all")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn std_client_against_tokio_server() {
    let (log, seen) = channel();
    let addr = tokio_server(log).await;
    let client = tokio::task::spawn_blocking(move || std_client(addr, &seen));
    tokio::time::timeout(Duration::from_secs(60), client)
        .await
        .expect("within 60 s")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_client_against_std_server() {
    let (log, seen) = channel();
    let addr = std_server(log);
    tokio::time::timeout(Duration::from_secs(60), tokio_client(addr, &seen))
        .await
        .expect("within 60 s");
}
