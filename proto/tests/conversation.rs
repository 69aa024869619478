//! A complete conversation between two connections over an in-memory pipe:
//! handshake, messages, fragmentation, control frames, closing handshakes
//! from either side, and every timer driven by hand.

mod support;

use std::time::Duration;

use bytes::Bytes;
use rusty_socket_proto::{
    Accept, AcceptError, ClientRequest, CloseCode, CloseFrame, CloseReason, Config, Event, Message,
    MessageKind, Reject, Role, SendError, State, Timer,
};
use support::{closed, messages, Pair};

#[test]
fn handshake_then_messages_both_ways() {
    let request = ClientRequest::new("ws://example.com/chat")
        .unwrap()
        .protocol("v1")
        .unwrap()
        .protocol("v2")
        .unwrap();
    let mut pair = Pair::with_request(request, Config::default(), Config::default());
    pair.auto_accept = Some(Accept::with_protocol("v2"));
    pair.pump();
    let Some(Event::Request(request)) = pair.server_events.first() else {
        panic!("server saw {:?}", pair.server_events);
    };
    assert_eq!(
        (request.path(), request.protocols()),
        ("/chat", &["v1".to_owned(), "v2".to_owned()][..])
    );
    let Some(Event::Connected(response)) = pair.client_events.first() else {
        panic!("client saw {:?}", pair.client_events);
    };
    assert_eq!(response.protocol(), Some("v2"));
    assert_eq!(
        (pair.client.state(), pair.server.state()),
        (State::Open, State::Open)
    );
    assert_eq!(
        (pair.client.protocol(), pair.server.protocol()),
        (Some("v2"), Some("v2"))
    );

    let now = pair.now;
    pair.client.send(now, &Message::text("hello")).unwrap();
    pair.client
        .send(now, &Message::binary(vec![0u8, 1, 2]))
        .unwrap();
    pair.client.send(now, &Message::text("")).unwrap();
    pair.server
        .send(now, &Message::binary(Bytes::new()))
        .unwrap();
    pair.server.send(now, &Message::text("héllo ✓")).unwrap();
    pair.pump();
    assert_eq!(
        messages(&pair.server_events),
        [
            Message::text("hello"),
            Message::binary(vec![0u8, 1, 2]),
            Message::text("")
        ]
    );
    assert_eq!(
        messages(&pair.client_events)[..],
        [Message::binary(Bytes::new()), Message::text("héllo ✓")]
    );
}

#[test]
fn fragmented_message_with_an_interleaved_ping() {
    let mut pair = Pair::open();
    pair.client
        .send_fragment(
            pair.now,
            MessageKind::Text,
            &Bytes::from_static(b"Hel"),
            false,
        )
        .unwrap();
    // The next send of a whole message must wait for the fragmented one.
    assert_eq!(
        pair.client.send(pair.now, &Message::text("x")),
        Err(SendError::MessageInProgress)
    );
    pair.client.ping(pair.now, b"are you there").unwrap();
    // "é" split across two fragments.
    pair.client
        .send_fragment(
            pair.now,
            MessageKind::Text,
            &Bytes::from_static(b"lo \xc3"),
            false,
        )
        .unwrap();
    pair.client
        .send_fragment(
            pair.now,
            MessageKind::Text,
            &Bytes::from_static(b"\xa9"),
            true,
        )
        .unwrap();
    pair.pump();
    assert_eq!(
        messages(&pair.server_events),
        [
            Message::Ping(Bytes::from_static(b"are you there")),
            Message::text("Hello é")
        ]
    );
    // The server answered the ping by itself.
    assert_eq!(
        messages(&pair.client_events),
        [Message::Pong(Bytes::from_static(b"are you there"))]
    );
}

#[test]
fn streaming_receive_delivers_fragments_as_they_arrive() {
    let mut server_config = Config::default();
    server_config.streaming = true;
    let mut pair = Pair::new(Config::default(), server_config);
    pair.pump();
    pair.client
        .send_fragment(
            pair.now,
            MessageKind::Binary,
            &Bytes::from(vec![1u8; 3000]),
            false,
        )
        .unwrap();
    pair.client
        .send_fragment(
            pair.now,
            MessageKind::Binary,
            &Bytes::from(vec![2u8; 10]),
            true,
        )
        .unwrap();
    let bytes: Vec<u8> = std::iter::from_fn(|| pair.client.poll_transmit(pair.now))
        .flatten()
        .collect();
    // Feed the first frame in two reads: two fragments come out of it.
    pair.server.handle_read(pair.now, &bytes[..1000]);
    pair.server.handle_read(pair.now, &bytes[1000..]);
    let fragments: Vec<_> = std::iter::from_fn(|| pair.server.poll_event())
        .filter_map(|e| match e {
            Event::Fragment(f) => Some((f.data.len(), f.first, f.fin)),
            _ => None,
        })
        .collect();
    assert_eq!(
        fragments,
        [
            (1000 - 8, true, false),
            (3000 - 992, false, false),
            (10, false, true)
        ]
    );
}

#[test]
fn close_initiated_by_the_client() {
    let mut pair = Pair::open();
    let frame = CloseFrame::new(CloseCode::NORMAL, "done");
    pair.client.close(pair.now, Some(frame.clone())).unwrap();
    assert_eq!(
        pair.client.send(pair.now, &Message::text("late")),
        Err(SendError::Closed)
    );
    pair.pump();
    assert_eq!(messages(&pair.server_events), [Message::Close(Some(frame))]);
    // The server echoed the code and, having written its close, is done: it
    // closes the transport first (RFC 6455 section 7.1.1).
    let echoed = Some(CloseFrame::new(CloseCode::NORMAL, ""));
    assert_eq!(
        closed(&pair.server_events),
        Some(&CloseReason::Normal(Some(CloseFrame::new(
            CloseCode::NORMAL,
            "done"
        ))))
    );
    assert_eq!(
        messages(&pair.client_events),
        [Message::Close(echoed.clone())]
    );
    // The client waits for the server's EOF.
    assert_eq!(pair.client.state(), State::Closing);
    assert!(pair.client.wants_read());
    pair.client.handle_eof(pair.now);
    pair.pump();
    assert_eq!(
        closed(&pair.client_events),
        Some(&CloseReason::Normal(echoed))
    );
}

/// Data that crosses our close on the wire is still delivered: RFC 6455
/// discards data only after *receiving* a close (section 1.4).
#[test]
fn close_initiated_by_the_server_still_delivers_data_in_flight() {
    let mut pair = Pair::open();
    pair.server
        .send(pair.now, &Message::text("last words"))
        .unwrap();
    pair.server
        .close(
            pair.now,
            Some(CloseFrame::new(CloseCode::GOING_AWAY, "restart")),
        )
        .unwrap();
    // The client keeps talking until it sees the close.
    pair.client
        .send(pair.now, &Message::text("crossing"))
        .unwrap();
    pair.pump();
    assert_eq!(
        messages(&pair.client_events),
        [
            Message::text("last words"),
            Message::Close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "restart")))
        ]
    );
    assert_eq!(
        messages(&pair.server_events),
        [
            Message::text("crossing"),
            Message::Close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "")))
        ]
    );
    assert!(matches!(
        closed(&pair.server_events),
        Some(CloseReason::Normal(_))
    ));
    pair.client.handle_eof(pair.now);
    pair.pump();
    assert!(matches!(
        closed(&pair.client_events),
        Some(CloseReason::Normal(_))
    ));
}

#[test]
fn a_peer_that_never_answers_the_close_is_dropped_after_the_close_timeout() {
    let mut pair = Pair::open();
    pair.server.close(pair.now, None).unwrap();
    let _ = std::iter::from_fn(|| pair.server.poll_transmit(pair.now)).count(); // lost on the way
    assert_eq!(
        pair.server.poll_timeout(),
        Some(pair.now + Duration::from_secs(5))
    );
    pair.advance(Duration::from_secs(4));
    assert!(!pair.server.is_closed());
    pair.advance(Duration::from_secs(1));
    pair.pump();
    assert_eq!(
        closed(&pair.server_events),
        Some(&CloseReason::Timeout(Timer::Close))
    );
}

#[test]
fn a_silent_client_is_dropped_after_the_handshake_timeout() {
    let mut pair = Pair::new(Config::default(), Config::default());
    let _ = std::iter::from_fn(|| pair.client.poll_transmit(pair.now)).count(); // request never arrives
    pair.advance(Duration::from_secs(10));
    pair.pump();
    assert_eq!(
        closed(&pair.server_events),
        Some(&CloseReason::Timeout(Timer::Handshake))
    );
    assert_eq!(pair.server.poll_timeout(), None);
}

#[test]
fn keepalive_pings_and_the_pong_deadline() {
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_secs(30));
    config.keepalive_timeout = Duration::from_secs(10);
    let mut pair = Pair::new(Config::default(), config);
    pair.pump();
    pair.server_events.clear();
    // Answered pings keep the connection alive.
    for _ in 0..3 {
        pair.advance(Duration::from_secs(30));
        pair.pump();
    }
    let pings = messages(&pair.client_events)
        .iter()
        .filter(|m| matches!(m, Message::Ping(_)))
        .count();
    assert_eq!(pings, 3);
    assert_eq!(pair.server.state(), State::Open);
    // A client that stops answering is dropped 10 s after the next ping.
    pair.advance(Duration::from_secs(30));
    let _ = std::iter::from_fn(|| pair.server.poll_transmit(pair.now)).count();
    pair.advance(Duration::from_secs(10));
    pair.pump();
    assert_eq!(
        closed(&pair.server_events),
        Some(&CloseReason::Timeout(Timer::Pong))
    );
}

#[test]
fn idle_timeout_starts_a_closing_handshake() {
    let mut config = Config::default();
    config.idle_timeout = Some(Duration::from_secs(60));
    let mut pair = Pair::new(Config::default(), config);
    pair.pump();
    pair.advance(Duration::from_secs(60));
    pair.pump();
    assert_eq!(
        messages(&pair.client_events),
        [Message::Close(Some(CloseFrame::new(
            CloseCode::GOING_AWAY,
            "idle timeout"
        )))]
    );
}

#[test]
fn rejected_handshake_reports_the_status_to_the_client() {
    let mut pair = Pair::new(Config::default(), Config::default());
    pair.auto_accept = None;
    pair.pump();
    let reject = Reject::with_body(http::StatusCode::FORBIDDEN, "go away")
        .header(
            http::HeaderName::from_static("x-reason"),
            http::HeaderValue::from_static("members only"),
        )
        .unwrap();
    pair.server.reject(pair.now, reject).unwrap();
    pair.pump();
    // The answer is written: the server shuts its write side down and
    // lingers, reading what the client still sends, until the client's EOF.
    assert!(pair.server.poll_shutdown());
    assert!(!pair.server.poll_shutdown(), "reported once");
    assert!(pair.server.wants_read());
    assert_eq!(closed(&pair.server_events), None);
    pair.server
        .handle_read(pair.now, b"rest of a large request");
    pair.server.handle_eof(pair.now);
    pair.pump();
    assert_eq!(
        closed(&pair.server_events),
        Some(&CloseReason::Rejected(http::StatusCode::FORBIDDEN))
    );
    let Some(CloseReason::Handshake(rusty_socket_proto::HandshakeError::Status(response))) =
        closed(&pair.client_events)
    else {
        panic!("client saw {:?}", pair.client_events);
    };
    assert_eq!(response.status, http::StatusCode::FORBIDDEN);
    assert_eq!(response.headers["x-reason"], "members only");
}

#[test]
fn a_refusal_needs_a_final_status_and_no_body_where_none_is_allowed() {
    let mut pair = Pair::new(Config::default(), Config::default());
    pair.auto_accept = None;
    pair.pump();
    for status in [
        http::StatusCode::CONTINUE,
        http::StatusCode::SWITCHING_PROTOCOLS,
    ] {
        assert_eq!(
            pair.server.reject(pair.now, Reject::status(status)),
            Err(AcceptError::InvalidRejectStatus(status))
        );
    }
    assert_eq!(
        pair.server.reject(
            pair.now,
            Reject::with_body(http::StatusCode::NO_CONTENT, "nothing")
        ),
        Err(AcceptError::BodyNotAllowed(http::StatusCode::NO_CONTENT))
    );
    // A 204 is written without a body and without announcing one.
    pair.server
        .reject(pair.now, Reject::status(http::StatusCode::NO_CONTENT))
        .unwrap();
    let head: Vec<u8> = std::iter::from_fn(|| pair.server.poll_transmit(pair.now))
        .flatten()
        .collect();
    assert_eq!(
        String::from_utf8(head).unwrap(),
        "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"
    );
}

#[test]
fn backpressure_refuses_sends_over_the_outgoing_limit() {
    let mut config = support::plain();
    config.max_outgoing_buffer = 10_000;
    let mut pair = Pair::new(Config::default(), config);
    pair.pump();
    let chunk = Bytes::from(vec![0u8; 4000]);
    pair.server
        .send(pair.now, &Message::Binary(chunk.clone()))
        .unwrap();
    pair.server
        .send(pair.now, &Message::Binary(chunk.clone()))
        .unwrap();
    let refused = pair.server.send(pair.now, &Message::Binary(chunk.clone()));
    assert!(
        matches!(refused, Err(SendError::Full { limit: 10_000, .. })),
        "{refused:?}"
    );
    assert!(pair.server.buffered_outgoing() <= 10_000);
    pair.pump();
    pair.server.send(pair.now, &Message::Binary(chunk)).unwrap();
}

#[test]
fn protocol_error_closes_with_its_code_and_reports_it() {
    let mut pair = Pair::open();
    // A text frame with invalid UTF-8, masked as a client must.
    pair.server
        .handle_read(pair.now, &[0x81, 0x82, 0, 0, 0, 0, 0xc3, 0x28]);
    pair.pump();
    assert!(matches!(
        closed(&pair.server_events),
        Some(CloseReason::Protocol(_))
    ));
    let Some(Message::Close(Some(frame))) = messages(&pair.client_events).pop() else {
        panic!("client saw {:?}", pair.client_events);
    };
    assert_eq!(frame.code, CloseCode::INVALID_PAYLOAD);
    assert_eq!(pair.side(Role::Server).state(), State::Closed);
}

#[test]
fn a_prepared_message_reaches_every_connection_from_one_encoding() {
    let message = Message::text("to everyone");
    let prepared = rusty_socket_proto::PreparedMessage::new(&message).unwrap();
    let mut pairs = [Pair::open(), Pair::open(), Pair::open()];
    for pair in &mut pairs {
        pair.server.send_prepared(pair.now, &prepared).unwrap();
        let mut slices = [std::io::IoSlice::new(&[]); 4];
        assert_eq!(pair.server.transmit_chunks(&mut slices), 1);
        assert_eq!(
            slices[0].as_ptr(),
            prepared.frame().as_ptr(),
            "queued by reference"
        );
        pair.pump();
        assert_eq!(
            messages(&pair.client_events),
            std::slice::from_ref(&message)
        );
    }
    assert_eq!(
        pairs[0].client.send_prepared(pairs[0].now, &prepared),
        Err(SendError::ClientCannotSendPrepared)
    );
}

#[test]
fn keepalive_pings_do_not_pile_up_for_a_peer_that_never_reads() {
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_secs(30));
    let mut pair = Pair::new(Config::default(), config);
    pair.pump();
    // The client sends a pong every interval (so it is never idle long
    // enough for the pong deadline) but never reads what the server writes.
    let pong: Vec<u8> = {
        pair.client.pong(pair.now, b"").unwrap();
        std::iter::from_fn(|| pair.client.poll_transmit(pair.now))
            .flatten()
            .collect()
    };
    for _ in 0..10 {
        pair.advance(Duration::from_secs(30));
        pair.server.handle_read(pair.now, &pong);
        while pair.server.poll_event().is_some() {}
    }
    assert_eq!(pair.server.state(), State::Open);
    assert_eq!(
        pair.server.buffered_outgoing(),
        2,
        "one unanswered ping, not ten"
    );
}

#[test]
fn an_idle_connection_releases_its_buffers_but_keeps_a_partial_frame() {
    let mut pair = Pair::open();
    for side in [Role::Client, Role::Server] {
        let now = pair.now;
        let conn = pair.side(side);
        conn.send(now, &Message::Binary(Bytes::from(vec![5u8; 100])))
            .unwrap();
        // Received bytes sit in a reserved receive buffer, as a transport
        // reading into `receive_buffer` leaves them.
        conn.receive_buffer();
    }
    pair.pump();
    assert_eq!(messages(&pair.server_events).len(), 1);
    assert_eq!(messages(&pair.client_events).len(), 1);
    for side in [Role::Client, Role::Server] {
        let conn = pair.side(side);
        conn.receive_buffer();
        assert!(conn.buffer_capacity() > 0);
        conn.release_buffers();
        assert_eq!(conn.buffer_capacity(), 0, "{side:?}");
    }

    // Half a frame waits for the rest: its bytes are kept.
    let frame = [0x82, 0x84, 1, 2, 3, 4, 0xAA, 0xBB];
    pair.server.handle_read(pair.now, &frame[..5]);
    assert_eq!(pair.server.poll_event().map(|_| ()), None);
    pair.server.release_buffers();
    assert!(pair.server.buffer_capacity() >= 5);
    pair.server.handle_read(pair.now, &frame[5..]);
    pair.server.handle_read(pair.now, &[0xAF, 0xBF]);
    let Some(Event::Message(Message::Binary(data))) = pair.server.poll_event() else {
        panic!("the frame completed after a release is delivered");
    };
    assert_eq!(&data[..], &[0xAB, 0xB9, 0xAC, 0xBB]);
}
