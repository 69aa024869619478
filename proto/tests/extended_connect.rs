//! WebSockets on HTTP/2 streams (RFC 8441): the client's extended CONNECT
//! (`ExtendedConnect`), the server's reading of it
//! (`Request::from_extended_connect`) and its 200 (`accept_upgraded`), and
//! the stream ending with END_STREAM both ways after a clean close.

mod support;

use std::time::{Duration, Instant};

use rusty_socket_proto::http::{self, Method, StatusCode};
use rusty_socket_proto::{
    Accept, ClientRequest, CloseCode, CloseFrame, CloseReason, Config, Connection, ExtendedConnect,
    HandshakeError, Message, Request, State,
};
use support::Pair;

/// The CONNECT a client sends for `url`, and what it waits for.
fn connect(url: &str, config: Config) -> (ExtendedConnect, http::Request<()>) {
    let request = ClientRequest::new(url)
        .unwrap()
        .protocol("chat.v1")
        .unwrap()
        .protocol("chat.v2")
        .unwrap()
        .header(
            http::header::ORIGIN,
            http::HeaderValue::from_static("https://example.com"),
        )
        .unwrap();
    ExtendedConnect::new(&request, config).unwrap()
}

/// A client and a server joined over "an HTTP/2 stream": the client's
/// CONNECT read by the server, its 200 read by the client.
fn h2_pair(config: Config, accept: Accept) -> (Pair, http::Response<()>) {
    let now = Instant::now();
    let (pending, request) = connect("wss://example.com/chat?room=1", config.clone());
    let request = Request::from_extended_connect(&request, "websocket").unwrap();
    assert!(request.is_websocket() && request.is_extended_connect());
    let (server, response) = Connection::accept_upgraded(&request, accept, config, now).unwrap();
    let (client, _) = pending.finish(&response, [7; 32], now).unwrap();
    let mut pair = Pair::new(Config::default(), Config::default());
    pair.client = client;
    pair.server = server;
    pair.now = now;
    pair.auto_accept = None;
    (pair, response)
}

#[test]
fn the_request_is_a_connect_with_version_13_and_no_key() {
    let (_, request) = connect("wss://example.com:8443/chat?room=1", Config::default());
    assert_eq!(request.method(), Method::CONNECT);
    assert_eq!(request.version(), http::Version::HTTP_2);
    assert_eq!(request.uri(), "https://example.com:8443/chat?room=1");
    let headers = request.headers();
    assert_eq!(headers["sec-websocket-version"], "13");
    assert_eq!(headers["sec-websocket-protocol"], "chat.v1, chat.v2");
    assert_eq!(headers["origin"], "https://example.com");
    assert!(headers["sec-websocket-extensions"]
        .to_str()
        .unwrap()
        .starts_with("permessage-deflate"));
    for absent in ["sec-websocket-key", "upgrade", "connection", "host"] {
        assert!(!headers.contains_key(absent), "{absent}");
    }
    let (_, plain) = connect("ws://example.com/", support::plain());
    assert_eq!(plain.uri(), "http://example.com/");
    assert!(!plain.headers().contains_key("sec-websocket-extensions"));
}

#[test]
fn the_server_answers_200_without_the_upgrade_headers_and_both_sides_talk() {
    let (mut pair, response) = h2_pair(Config::default(), Accept::with_protocol("chat.v2"));
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    for absent in ["upgrade", "connection", "sec-websocket-accept"] {
        assert!(!headers.contains_key(absent), "{absent}");
    }
    assert_eq!(headers["sec-websocket-protocol"], "chat.v2");
    assert!(headers.contains_key("sec-websocket-extensions"));
    assert_eq!(pair.client.protocol(), Some("chat.v2"));
    assert_eq!(pair.client.deflate(), pair.server.deflate());
    assert!(pair.client.deflate().is_some());
    assert_eq!(pair.client.state(), State::Open);

    let long = "a compressible line of chat ".repeat(100);
    pair.client
        .send(pair.now, &Message::text(long.clone()))
        .unwrap();
    pair.server
        .send(pair.now, &Message::binary(vec![1, 2, 3]))
        .unwrap();
    pair.pump();
    assert_eq!(
        support::messages(&pair.server_events),
        [Message::text(long)]
    );
    assert_eq!(
        support::messages(&pair.client_events),
        [Message::binary(vec![1, 2, 3])]
    );
}

/// RFC 8441 section 5: the orderly close of the stream is END_STREAM each
/// way; a side that ended the stream before the other did would have it
/// reset, which the RFC keeps for aborts.
#[test]
fn after_a_clean_close_each_side_ends_the_stream_and_waits_for_the_other() {
    for closer in [true, false] {
        let (mut pair, _) = h2_pair(support::plain(), Accept::default());
        let frame = CloseFrame::new(CloseCode::NORMAL, "bye");
        let side = if closer {
            &mut pair.client
        } else {
            &mut pair.server
        };
        side.close(pair.now, Some(frame)).unwrap();
        pair.pump();
        assert!(pair.client.poll_shutdown(), "client ends its stream");
        assert!(pair.server.poll_shutdown(), "server ends its stream");
        assert_eq!(support::closed(&pair.client_events), None);
        assert_eq!(support::closed(&pair.server_events), None);
        assert!(pair.client.wants_read() && pair.server.wants_read());

        pair.client.handle_eof(pair.now);
        pair.server.handle_eof(pair.now);
        pair.pump();
        for events in [&pair.client_events, &pair.server_events] {
            assert!(
                matches!(support::closed(events), Some(CloseReason::Normal(Some(_)))),
                "{events:?}"
            );
        }
    }
}

#[test]
fn a_peer_that_never_ends_its_stream_is_dropped_at_the_close_timeout() {
    let mut config = support::plain();
    config.close_timeout = Some(Duration::from_secs(2));
    let (mut pair, _) = h2_pair(config, Accept::default());
    pair.client.close(pair.now, None).unwrap();
    pair.pump();
    assert!(pair.server.poll_shutdown());
    assert_eq!(support::closed(&pair.server_events), None);
    pair.advance(Duration::from_secs(3));
    pair.pump();
    assert!(support::closed(&pair.server_events).is_some());
}

#[test]
fn requests_that_break_rfc_8441_get_the_right_status() {
    let (_, connect) = connect("wss://example.com/chat", Config::default());

    let mut unversioned = connect.clone();
    unversioned.headers_mut().remove("sec-websocket-version");
    let error = Request::from_extended_connect(&unversioned, "websocket").unwrap_err();
    assert_eq!(error, HandshakeError::UnsupportedVersion(None));
    assert_eq!(error.status(), StatusCode::UPGRADE_REQUIRED);

    let error = Request::from_extended_connect(&connect, "webtransport").unwrap_err();
    assert_eq!(
        error,
        HandshakeError::UnsupportedProtocol("webtransport".into())
    );
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);

    let mut get = connect.clone();
    *get.method_mut() = Method::GET;
    let error = Request::from_extended_connect(&get, "websocket").unwrap_err();
    assert_eq!(error.status(), StatusCode::METHOD_NOT_ALLOWED);

    // A plain CONNECT (a tunnel, no `:protocol`) read as an HTTP/1.1
    // request is not a WebSocket either.
    assert_eq!(
        Request::from_http(&connect).unwrap_err().status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[test]
fn the_client_refuses_what_it_did_not_ask_for() {
    let now = Instant::now();
    let answer = |status: u16, headers: &[(&str, &str)]| {
        let mut response = http::Response::builder().status(status);
        for (name, value) in headers {
            response = response.header(*name, *value);
        }
        response.body(()).unwrap()
    };

    let (pending, _) = connect("wss://example.com/", Config::default());
    let refused = pending.finish(&answer(403, &[("x-why", "no")]), [7; 32], now);
    let Err(HandshakeError::Status(response)) = refused else {
        panic!("{refused:?}")
    };
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    assert_eq!(response.headers["x-why"], "no");

    // A 101 belongs to HTTP/1.1: over HTTP/2 it is not an acceptance.
    let (pending, _) = connect("wss://example.com/", Config::default());
    assert!(matches!(
        pending.finish(&answer(101, &[]), [7; 32], now),
        Err(HandshakeError::Status(_))
    ));

    let (pending, _) = connect("wss://example.com/", Config::default());
    assert_eq!(
        pending
            .finish(
                &answer(200, &[("sec-websocket-protocol", "other")]),
                [7; 32],
                now
            )
            .err(),
        Some(HandshakeError::UnofferedProtocol("other".into()))
    );

    let (pending, _) = connect("wss://example.com/", support::plain());
    let deflate = [("sec-websocket-extensions", "permessage-deflate")];
    assert!(matches!(
        pending.finish(&answer(200, &deflate), [7; 32], now),
        Err(HandshakeError::UnofferedExtension(_))
    ));
}
