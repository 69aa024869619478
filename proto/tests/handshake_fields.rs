//! What callers can put into a handshake head, and which extensions a
//! handshake may agree to.
//!
//! No caller string may add a header line of its own (header injection), and
//! neither side may agree to an extension the connection cannot speak.

mod support;

use std::time::Instant;

use http::{HeaderName, HeaderValue, StatusCode};
use proptest::prelude::*;
use rusty_socket_proto::{
    Accept, AcceptError, ClientRequest, CloseReason, Connection, Event, HandshakeError,
    HeaderError, Reject, State,
};
use support::plain;

fn transmitted(connection: &mut Connection) -> Vec<u8> {
    std::iter::from_fn(|| connection.poll_transmit(Instant::now()))
        .flatten()
        .collect()
}

fn closed(connection: &mut Connection) -> Option<CloseReason> {
    std::iter::from_fn(|| connection.poll_event()).find_map(|e| match e {
        Event::Closed(reason) => Some(reason),
        _ => None,
    })
}

/// A client that sent `request`, and a server that read it and waits for
/// its application's decision.
fn awaiting_decision(request: &ClientRequest) -> (Connection, Connection, Instant) {
    let now = Instant::now();
    let mut client = Connection::client(request, plain(), [1; 32], now).unwrap();
    let mut server = Connection::server(plain(), now).unwrap();
    server.handle_read(now, &transmitted(&mut client));
    let request =
        std::iter::from_fn(|| server.poll_event()).find(|e| matches!(e, Event::Request(_)));
    assert!(request.is_some(), "the server saw no request");
    (client, server, now)
}

/// Parses an HTTP head and returns its header names (lowercase), or why it
/// is not exactly one well-formed head.
fn head_header_names(head: &[u8], response: bool) -> Result<Vec<String>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let status = if response {
        httparse::Response::new(&mut headers).parse(head)
    } else {
        httparse::Request::new(&mut headers).parse(head)
    };
    let len = match status {
        Ok(httparse::Status::Complete(len)) => len,
        other => return Err(format!("{other:?}: {:?}", String::from_utf8_lossy(head))),
    };
    let names: Vec<String> = headers
        .iter()
        .take_while(|h| !h.name.is_empty())
        .map(|h| h.name.to_ascii_lowercase())
        .collect();
    // The head ends where the parser says; anything behind it is a body.
    let lines = head[..len].windows(2).filter(|w| w == b"\r\n").count();
    // Start line, headers, blank line: one CR LF each, and no bare LF.
    if lines != names.len() + 2 || head[..len].iter().filter(|b| **b == b'\n').count() != lines {
        return Err(format!("line count: {:?}", String::from_utf8_lossy(head)));
    }
    Ok(names)
}

// ----- extensions (RFC 6455 section 9) -----

/// The server's 101 answer with `extra` header lines inserted before its end.
fn response_with(extra: &str) -> (Connection, Vec<u8>, Instant) {
    let request = ClientRequest::new("ws://example.com/chat").unwrap();
    let (client, mut server, now) = awaiting_decision(&request);
    server.accept(now, Accept::default()).unwrap();
    let response = transmitted(&mut server);
    let end = response.len() - 2;
    assert_eq!(&response[end..], b"\r\n");
    let response = [&response[..end], extra.as_bytes(), b"\r\n"].concat();
    (client, response, now)
}

/// permessage-deflate in a response to a request that did not offer it:
/// with the `deflate` feature the crate speaks it, but was not asked to
/// (RFC 6455 section 4.1: "not present in the client's handshake").
#[test]
fn a_response_accepting_an_unoffered_permessage_deflate_fails_the_client() {
    let line = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10\r\n";
    let (mut client, response, now) = response_with(line);
    client.handle_read(now, &response);
    let name = "permessage-deflate".to_owned();
    #[cfg(feature = "deflate")]
    let expected = HandshakeError::UnofferedExtension(name);
    #[cfg(not(feature = "deflate"))]
    let expected = HandshakeError::UnsupportedExtension(name);
    assert_eq!(closed(&mut client), Some(CloseReason::Handshake(expected)));
    assert_eq!(client.state(), State::Closed);
}

#[test]
fn a_response_accepting_an_unknown_extension_fails_the_client() {
    for (line, name) in [
        (
            "Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n",
            "x-webkit-deflate-frame",
        ),
        (
            "Sec-WebSocket-Extensions: \r\nsec-websocket-extensions: , foo; a=1, bar\r\n",
            "foo",
        ),
    ] {
        let (mut client, response, now) = response_with(line);
        client.handle_read(now, &response);
        assert_eq!(
            closed(&mut client),
            Some(CloseReason::Handshake(
                HandshakeError::UnsupportedExtension(name.to_owned())
            )),
            "{line:?}"
        );
        assert_eq!(client.state(), State::Closed);
    }
}

#[test]
fn a_response_without_extensions_opens_the_client() {
    for line in [
        "",
        "Sec-WebSocket-Extensions: \r\n",
        "X-Other: permessage-deflate\r\n",
    ] {
        let (mut client, response, now) = response_with(line);
        client.handle_read(now, &response);
        let connected =
            std::iter::from_fn(|| client.poll_event()).any(|e| matches!(e, Event::Connected(_)));
        assert!(connected, "{line:?}");
        assert_eq!(client.state(), State::Open);
    }
}

#[test]
fn an_accept_with_an_extensions_header_is_refused() {
    let request = ClientRequest::new("ws://example.com/chat").unwrap();
    let (_client, mut server, now) = awaiting_decision(&request);
    let mut accept = Accept::default();
    accept.headers.insert(
        "sec-websocket-extensions",
        HeaderValue::from_static("permessage-deflate"),
    );
    assert_eq!(
        server.accept(now, accept),
        Err(AcceptError::ExtensionHeader)
    );
    // Nothing changed: the request still waits for a decision.
    assert_eq!(transmitted(&mut server), b"");
    server.accept(now, Accept::default()).unwrap();
    assert_eq!(server.state(), State::Open);
}

// ----- header injection -----

#[test]
fn a_subprotocol_that_is_not_a_token_is_refused_by_the_call_that_offers_it() {
    let request = ClientRequest::new("ws://example.com/").unwrap();
    for bad in [
        "chat\r\nX-Injected: 1",
        "a\nb",
        "a\0",
        "",
        "a b",
        "a,b",
        "é",
    ] {
        assert_eq!(
            request.clone().protocol(bad).unwrap_err(),
            HeaderError::InvalidProtocol(bad.to_owned()),
        );
    }
    assert!(request.protocol("chat.v2+json").is_ok());
}

#[test]
fn headers_the_handshake_writes_are_refused() {
    let request = ClientRequest::new("ws://example.com/").unwrap();
    let value = HeaderValue::from_static("x");
    for name in [
        "host",
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
        "content-length",
    ] {
        let name = HeaderName::from_static(name);
        assert_eq!(
            request
                .clone()
                .header(name.clone(), value.clone())
                .unwrap_err(),
            HeaderError::Reserved(name)
        );
    }
    let reject = Reject::status(StatusCode::FORBIDDEN);
    for name in ["content-length", "connection", "transfer-encoding"] {
        let name = HeaderName::from_static(name);
        assert_eq!(
            reject
                .clone()
                .header(name.clone(), value.clone())
                .unwrap_err(),
            HeaderError::Reserved(name)
        );
    }
    assert!(reject.header(http::header::RETRY_AFTER, value).is_ok());
}

#[test]
fn an_accept_with_a_bad_subprotocol_or_a_reserved_header_is_refused() {
    let request = ClientRequest::new("ws://example.com/")
        .unwrap()
        .protocol("chat")
        .unwrap();
    let (_client, mut server, now) = awaiting_decision(&request);
    assert_eq!(
        server.accept(now, Accept::with_protocol("chat\r\nX-Injected: 1")),
        Err(AcceptError::InvalidHeader(HeaderError::InvalidProtocol(
            "chat\r\nX-Injected: 1".into()
        )))
    );
    for name in ["sec-websocket-accept", "upgrade", "content-length"] {
        let mut accept = Accept::with_protocol("chat");
        accept.headers.insert(name, HeaderValue::from_static("1"));
        assert_eq!(
            server.accept(now, accept),
            Err(AcceptError::InvalidHeader(HeaderError::Reserved(
                HeaderName::from_static(name)
            )))
        );
    }
    assert_eq!(transmitted(&mut server), b"");
    server.accept(now, Accept::with_protocol("chat")).unwrap();
}

/// Arbitrary text, weighted toward what breaks HTTP heads.
fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9\r\n\0\t :,;/\"é\u{7f}\u{85}\u{2028}-]{0,16}",
        "[a-z]{1,8}(\r\n|\n|\r)[a-z]{1,8}: [a-z]{1,8}",
    ]
}

/// Arbitrary header name and value bytes: those `http` refuses never reach
/// a head, the rest must each give exactly one line.
fn header_pairs() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    prop::collection::vec((nasty(), prop::collection::vec(any::<u8>(), 0..12)), 0..4)
}

fn http_headers(pairs: &[(String, Vec<u8>)]) -> Vec<(HeaderName, HeaderValue)> {
    pairs
        .iter()
        .filter_map(|(name, value)| {
            Some((
                HeaderName::from_bytes(name.as_bytes()).ok()?,
                HeaderValue::from_bytes(value).ok()?,
            ))
        })
        .collect()
}

proptest! {
    #[test]
    fn no_client_input_adds_a_request_header_line(
        path in nasty(),
        protocols in prop::collection::vec(nasty(), 0..4),
        headers in header_pairs(),
    ) {
        let Ok(mut request) = ClientRequest::new(&format!("ws://example.com/{path}")) else {
            return Ok(());
        };
        let mut offered = 0;
        for protocol in &protocols {
            if let Ok(next) = request.clone().protocol(protocol.as_str()) {
                request = next;
                offered += 1;
            }
        }
        let mut extra = Vec::new();
        for (name, value) in http_headers(&headers) {
            if let Ok(next) = request.clone().header(name.clone(), value) {
                request = next;
                extra.push(name.as_str().to_owned());
            }
        }
        let now = Instant::now();
        let mut client = Connection::client(&request, plain(), [1; 32], now).unwrap();
        let head = transmitted(&mut client);
        let names = head_header_names(&head, false).map_err(TestCaseError::fail)?;
        let mut expected: Vec<String> = [
            "host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version",
        ]
        .map(String::from)
        .to_vec();
        if offered > 0 {
            expected.push("sec-websocket-protocol".into());
        }
        expected.extend(extra);
        prop_assert_eq!(names, expected);
    }

    #[test]
    fn no_server_input_adds_a_response_header_line(
        protocol in prop::option::of(nasty()),
        headers in header_pairs(),
        reject in any::<bool>(),
    ) {
        let request = ClientRequest::new("ws://example.com/").unwrap();
        let request = match &protocol {
            Some(p) => request.clone().protocol(p.as_str()).unwrap_or(request),
            None => request,
        };
        let (_client, mut server, now) = awaiting_decision(&request);
        let pairs = http_headers(&headers);
        let mut expected: Vec<String>;
        if reject {
            let mut refusal = Reject::with_body(StatusCode::FORBIDDEN, "no");
            expected = Vec::new();
            for (name, value) in pairs {
                if let Ok(next) = refusal.clone().header(name.clone(), value) {
                    refusal = next;
                    expected.push(name.as_str().to_owned());
                }
            }
            expected.extend(["content-length".into(), "connection".into()]);
            server.reject(now, refusal).unwrap();
        } else {
            let mut accept = Accept { protocol: protocol.clone(), ..Accept::default() };
            for (name, value) in pairs {
                accept.headers.append(name, value);
            }
            expected = ["upgrade", "connection", "sec-websocket-accept"].map(String::from).to_vec();
            if protocol.is_some() {
                expected.push("sec-websocket-protocol".into());
            }
            expected.extend(accept.headers.iter().map(|(name, _)| name.as_str().to_owned()));
            if server.accept(now, accept).is_err() {
                prop_assert_eq!(transmitted(&mut server), b"");
                return Ok(());
            }
        }
        let head = transmitted(&mut server);
        let names = head_header_names(&head, true).map_err(TestCaseError::fail)?;
        prop_assert_eq!(names, expected);
    }
}

/// Found by the `handshake_request` fuzz target: an offered "subprotocol"
/// that is not a token (`aaa chat`) was listed, and choosing it was then
/// refused. Only tokens are listed.
#[test]
fn offered_subprotocols_that_are_not_tokens_are_not_listed() {
    let now = Instant::now();
    let mut server = Connection::server(plain(), now).unwrap();
    server.handle_read(
        now,
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
          Sec-WebSocket-Protocol: aaa chat, chat.v2, \"quoted\"\r\n\r\n",
    );
    let Some(Event::Request(request)) = server.poll_event() else {
        panic!("no request");
    };
    assert_eq!(request.protocols(), ["chat.v2"]);
    let first = request.protocols()[0].clone();
    server.accept(now, Accept::with_protocol(first)).unwrap();
}
