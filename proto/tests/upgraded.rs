//! A server whose HTTP/1.1 handshake another HTTP server (hyper, axum)
//! parses and answers: `Request::from_http` reads the request with the same
//! rules as a `Connection`, `Connection::accept_upgraded` negotiates like
//! `accept` and returns the 101 as an `http::Response`, and
//! `Reject::to_http` gives refusals as `http::Response`s.

mod support;

use std::time::Instant;

use rusty_socket_proto::http::{self, StatusCode};
use rusty_socket_proto::{
    Accept, AcceptError, ClientRequest, Config, Connection, Event, HandshakeError, Message, Reject,
    Request,
};
use support::Pair;

/// What a server such as hyper hands over: the client's request head,
/// parsed into an `http::Request`.
fn parse_head(head: &[u8]) -> http::Request<()> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Request::new(&mut headers);
    assert!(parsed.parse(head).unwrap().is_complete());
    let mut request = http::Request::builder()
        .method(parsed.method.unwrap())
        .uri(parsed.path.unwrap());
    for header in parsed.headers.iter() {
        request = request.header(header.name, header.value);
    }
    request.body(()).unwrap()
}

/// What such a server writes for a 101 `http::Response`.
fn write_head(response: &http::Response<()>) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {}\r\n", response.status()).into_bytes();
    for (name, value) in response.headers() {
        head.extend_from_slice(format!("{name}: ").as_bytes());
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

fn upgrade(headers: &[(&str, &str)]) -> http::Request<()> {
    let mut request = http::Request::builder()
        .uri("/chat")
        .header("host", "example.com");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(()).unwrap()
}

const VALID: &[(&str, &str)] = &[
    ("upgrade", "websocket"),
    ("connection", "Upgrade"),
    ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("sec-websocket-version", "13"),
];

/// A real client connection's request, accepted by `accept_upgraded` and
/// answered by "another server": the pair then talks as any other.
fn upgraded_pair(client: Config, server: Config, accept: Accept) -> (Pair, http::Response<()>) {
    let now = Instant::now();
    let request = ClientRequest::new("ws://example.com/chat").unwrap();
    let request = request
        .protocol("chat.v1")
        .unwrap()
        .protocol("chat.v2")
        .unwrap();
    let mut client = Connection::client(&request, client, [7; 32], now).unwrap();
    let mut head = Vec::new();
    while let Some(bytes) = client.poll_transmit(now) {
        head.extend_from_slice(&bytes);
    }
    let request = Request::from_http(&parse_head(&head)).unwrap();
    assert!(request.is_websocket());
    assert_eq!(request.protocols(), ["chat.v1", "chat.v2"]);
    let (server, response) = Connection::accept_upgraded(&request, accept, server, now).unwrap();
    client.handle_read(now, &write_head(&response));
    let mut pair = Pair::new(Config::default(), Config::default());
    pair.client = client;
    pair.server = server;
    pair.now = now;
    pair.auto_accept = None;
    pair.pump();
    assert!(
        matches!(pair.client_events.first(), Some(Event::Connected(_))),
        "{:?}",
        pair.client_events
    );
    pair.client_events.clear();
    (pair, response)
}

#[test]
fn an_accepted_request_opens_a_connection_that_speaks_its_subprotocol() {
    let (mut pair, response) = upgraded_pair(
        support::plain(),
        support::plain(),
        Accept::with_protocol("chat.v2"),
    );
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat.v2");
    assert!(!response.headers().contains_key("sec-websocket-extensions"));
    assert_eq!(pair.server.protocol(), Some("chat.v2"));
    assert_eq!(pair.client.protocol(), Some("chat.v2"));

    pair.client.send(pair.now, &Message::text("hello")).unwrap();
    pair.server
        .send(pair.now, &Message::binary(vec![1, 2, 3]))
        .unwrap();
    pair.pump();
    assert_eq!(
        support::messages(&pair.server_events),
        [Message::text("hello")]
    );
    assert_eq!(
        support::messages(&pair.client_events),
        [Message::binary(vec![1, 2, 3])]
    );
}

#[cfg(feature = "deflate")]
#[test]
fn permessage_deflate_is_agreed_in_the_response_and_spoken() {
    let (mut pair, response) =
        upgraded_pair(Config::default(), Config::default(), Accept::default());
    let answer = response.headers()["sec-websocket-extensions"]
        .to_str()
        .unwrap();
    assert!(answer.starts_with("permessage-deflate"), "{answer}");
    let agreed = pair.client.deflate().expect("the client saw the answer");
    assert_eq!(pair.server.deflate(), Some(agreed));

    // Both ways, a compressible message leaves compressed.
    let text = "compress me ".repeat(1000);
    for sender in [
        rusty_socket_proto::Role::Client,
        rusty_socket_proto::Role::Server,
    ] {
        let now = pair.now;
        pair.side(sender)
            .send(now, &Message::text(text.clone()))
            .unwrap();
        let mut wire = 0;
        while let Some(bytes) = pair.side(sender).poll_transmit(now) {
            wire += bytes.len();
            let receiver = match sender {
                rusty_socket_proto::Role::Client => &mut pair.server,
                rusty_socket_proto::Role::Server => &mut pair.client,
            };
            receiver.handle_read(now, &bytes);
        }
        assert!(wire < text.len() / 10, "{wire} bytes on the wire");
    }
    pair.pump();
    assert_eq!(
        support::messages(&pair.server_events),
        [Message::text(text.clone())]
    );
    assert_eq!(
        support::messages(&pair.client_events),
        [Message::text(text)]
    );
}

#[cfg(feature = "deflate")]
#[test]
fn no_extension_is_agreed_when_the_server_config_disables_it() {
    let (pair, response) = upgraded_pair(Config::default(), support::plain(), Accept::default());
    assert!(!response.headers().contains_key("sec-websocket-extensions"));
    assert_eq!(pair.server.deflate(), None);
    assert_eq!(pair.client.deflate(), None);
}

#[test]
fn requests_are_checked_with_the_connection_rules() {
    let plain = http::Request::builder()
        .uri("/")
        .header("host", "a")
        .body(())
        .unwrap();
    assert!(!Request::from_http(&plain).unwrap().is_websocket());

    let post = http::Request::builder()
        .method("POST")
        .uri("/")
        .body(())
        .unwrap();
    let error = Request::from_http(&post).unwrap_err();
    assert_eq!(error.status(), StatusCode::METHOD_NOT_ALLOWED);

    let no_key = upgrade(&VALID[..2]);
    assert_eq!(
        Request::from_http(&no_key).unwrap_err().status().as_u16() / 100,
        4
    );

    let mut old = upgrade(&VALID[..3]);
    old.headers_mut()
        .insert("sec-websocket-version", "8".parse().unwrap());
    let error = Request::from_http(&old).unwrap_err();
    assert!(
        matches!(error, HandshakeError::UnsupportedVersion(_)),
        "{error:?}"
    );
    assert_eq!(error.status(), StatusCode::UPGRADE_REQUIRED);
}

#[test]
fn accepting_checks_the_answer_and_the_config() {
    let request = Request::from_http(&upgrade(VALID)).unwrap();
    let now = Instant::now();
    assert_eq!(
        Connection::accept_upgraded(&request, Accept::with_protocol("x"), Config::default(), now)
            .err(),
        Some(AcceptError::ProtocolNotOffered("x".into()))
    );
    let mut broken = Config::default();
    broken.max_frame_size = 0;
    assert!(matches!(
        Connection::accept_upgraded(&request, Accept::default(), broken, now).err(),
        Some(AcceptError::Config(_))
    ));
    let plain = http::Request::builder()
        .uri("/")
        .header("host", "a")
        .body(())
        .unwrap();
    let plain = Request::from_http(&plain).unwrap();
    assert_eq!(
        Connection::accept_upgraded(&plain, Accept::default(), Config::default(), now).err(),
        Some(AcceptError::NotWebSocket)
    );
}

#[test]
fn refusals_become_http_responses_with_what_their_status_implies() {
    let reject = Reject::with_body(StatusCode::FORBIDDEN, "not from there")
        .header(http::header::SET_COOKIE, "a=b".parse().unwrap())
        .unwrap();
    let response = reject.to_http().unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()["set-cookie"], "a=b");
    assert_eq!(response.body().as_ref(), b"not from there");
    assert!(!response.headers().contains_key("content-length"));

    let upgrade_required = Reject::status(StatusCode::UPGRADE_REQUIRED)
        .to_http()
        .unwrap();
    assert_eq!(upgrade_required.headers()["sec-websocket-version"], "13");
    let not_allowed = Reject::status(StatusCode::METHOD_NOT_ALLOWED)
        .to_http()
        .unwrap();
    assert_eq!(not_allowed.headers()["allow"], "GET");

    assert_eq!(
        Reject::status(StatusCode::SWITCHING_PROTOCOLS)
            .to_http()
            .err(),
        Some(AcceptError::InvalidRejectStatus(
            StatusCode::SWITCHING_PROTOCOLS
        ))
    );
}
