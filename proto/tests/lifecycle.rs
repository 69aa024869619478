//! The lifecycle's rules that a review found broken: timers after close,
//! half-close against reset, lingering after a refusal, huge durations, and
//! output limited to what a flow-controlled transport allows.

mod support;

use std::io::IoSlice;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rusty_socket_proto::{
    Bytes, CloseReason, Config, Connection, Event, Message, Reject, Role, State, Timer,
};
use support::{closed, Pair};

fn drain_events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

const BAD_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// Receiving data after our close must not restart the keepalive and idle
/// clocks: only the close timer runs then.
#[test]
fn data_received_after_our_close_restarts_no_liveness_timer() {
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_secs(1));
    config.idle_timeout = Some(Duration::from_secs(2));
    config.close_timeout = Some(Duration::from_secs(5));
    let mut pair = Pair::new(Config::default(), config);
    pair.pump();
    let start = pair.now;
    pair.server.close(pair.now, None).unwrap();
    let _ = pair.server.poll_transmit(pair.now);
    pair.now += Duration::from_millis(500);
    pair.client
        .send(pair.now, &Message::text("in flight"))
        .unwrap();
    let frame = pair.client.poll_transmit(pair.now).unwrap();
    pair.server.handle_read(pair.now, &frame);
    assert_eq!(
        pair.server.poll_timeout(),
        Some(start + Duration::from_secs(5)),
        "only the close timer, from when the close frame was written"
    );
}

/// Only new bytes are a sign of life: handing the connection nothing new
/// (an empty read, or `handle_received` after appending nothing) while a
/// partial frame waits must not restart the keepalive clock.
#[test]
fn nothing_new_restarts_no_liveness_timer() {
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_secs(1));
    let mut pair = Pair::new(Config::default(), config);
    pair.pump();
    pair.client.send(pair.now, &Message::text("hi")).unwrap();
    let frame = pair.client.poll_transmit(pair.now).unwrap();
    let start = pair.now;
    pair.server.handle_read(start, &frame[..1]);
    assert_eq!(
        pair.server.poll_timeout(),
        Some(start + Duration::from_secs(1))
    );
    let later = start + Duration::from_millis(500);
    pair.server.handle_read(later, &[]);
    pair.server.handle_received(later);
    assert_eq!(
        pair.server.poll_timeout(),
        Some(start + Duration::from_secs(1))
    );
    pair.server.handle_read(later, &frame[1..]);
    assert_eq!(
        pair.server.poll_timeout(),
        Some(later + Duration::from_secs(1))
    );
}

/// A healthy peer that keeps reading a large backlog is not cut off by the
/// close timeout; one that stops reading is, a close timeout after the last
/// progress.
#[test]
fn the_close_timer_counts_from_the_last_progress_of_the_output() {
    let mut config = support::plain();
    config.close_timeout = Some(Duration::from_secs(1));
    let mut pair = Pair::new(support::plain(), config);
    pair.pump();
    let mut now = pair.now;
    let server = &mut pair.server;
    server
        .send(now, &Message::binary(vec![7u8; 4 << 20]))
        .unwrap();
    server.close(now, None).unwrap();
    // The peer reads 64 KiB every half second: 32 s for the whole backlog.
    for _ in 0..20 {
        now += Duration::from_millis(500);
        server.handle_timeout(now);
        assert_eq!(server.state(), State::Closing);
        let mut slices = [IoSlice::new(&[]); 8];
        let n = server.transmit_chunks_limited(&mut slices, 64 << 10);
        let written: usize = slices[..n].iter().map(|s| s.len()).sum();
        assert_eq!(written, 64 << 10);
        server.advance_transmit(now, written);
    }
    now += Duration::from_millis(999);
    server.handle_timeout(now);
    assert_eq!(server.state(), State::Closing);
    now += Duration::from_millis(1);
    server.handle_timeout(now);
    assert_eq!(
        closed(&drain_events(server)),
        Some(&CloseReason::Timeout(Timer::Close))
    );
}

/// A client that sends a bad request and shuts down its write side at once
/// still gets the 400: EOF means the peer finished sending, not that the
/// transport is gone.
#[test]
fn a_half_closed_client_still_gets_the_error_answer() {
    let now = Instant::now();
    let mut server = Connection::server(Config::default(), now).unwrap();
    server.handle_read(now, BAD_REQUEST);
    server.handle_eof(now);
    let answer: Vec<u8> = std::iter::from_fn(|| server.poll_transmit(now))
        .flatten()
        .collect();
    assert!(
        answer.starts_with(b"HTTP/1.1 400 "),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(matches!(
        closed(&drain_events(&mut server)),
        Some(CloseReason::Handshake(_))
    ));
}

/// EOF while the application decides: its answer is still written, and the
/// connection ends once it is (there is no EOF left to wait for).
#[test]
fn a_decision_taken_after_the_peers_eof_is_still_written() {
    let mut pair = Pair::new(Config::default(), Config::default());
    pair.auto_accept = None;
    pair.pump();
    pair.server.handle_eof(pair.now);
    pair.server
        .reject(pair.now, Reject::status(http::StatusCode::FORBIDDEN))
        .unwrap();
    let answer: Vec<u8> = std::iter::from_fn(|| pair.server.poll_transmit(pair.now))
        .flatten()
        .collect();
    assert!(answer.starts_with(b"HTTP/1.1 403 "));
    assert_eq!(
        closed(&drain_events(&mut pair.server)),
        Some(&CloseReason::Rejected(http::StatusCode::FORBIDDEN))
    );
}

/// A reset drops what could not be written and ends at once.
#[test]
fn a_reset_ends_the_connection_at_once() {
    let now = Instant::now();
    let mut server = Connection::server(Config::default(), now).unwrap();
    server.handle_read(now, BAD_REQUEST);
    let _ = server.poll_event();
    server.handle_reset();
    assert!(!server.wants_write());
    assert!(server.is_closed());
}

/// A lingering server reads what the client still sends, but not without end.
#[test]
fn lingering_after_a_refusal_stops_after_max_discard_bytes() {
    let now = Instant::now();
    let mut config = Config::default();
    config.max_discard = 100_000;
    let mut server = Connection::server(config, now).unwrap();
    server.handle_read(now, BAD_REQUEST);
    let _ = drain_events(&mut server);
    while server.poll_transmit(now).is_some() {}
    assert!(server.poll_shutdown());
    let chunk = vec![b'x'; 10_000];
    for _ in 0..10 {
        server.handle_read(now, &chunk);
        assert!(!server.is_closed());
    }
    server.handle_read(now, b"one more");
    assert!(server.is_closed());
    assert!(matches!(
        closed(&drain_events(&mut server)),
        Some(CloseReason::Handshake(_))
    ));
}

/// Bytes limited to a transport's window come out in the same order as
/// unlimited ones, and `received_consumed` counts what was decoded.
#[test]
fn limited_output_and_consumed_input_for_flow_controlled_transports() {
    let mut pair = Pair::open();
    let big = Bytes::from(vec![3u8; 10_000]);
    for message in [
        Message::text("a"),
        Message::Binary(big),
        Message::Ping(Bytes::from_static(b"p")),
    ] {
        pair.client.send(pair.now, &message).unwrap();
    }
    let mut limited = Vec::new();
    while let Some(piece) = pair.client.poll_transmit_limited(pair.now, 777) {
        assert!(piece.len() <= 777);
        limited.extend_from_slice(&piece);
    }
    let before = pair.server.received_consumed();
    pair.server.handle_read(pair.now, &limited);
    let events = drain_events(&mut pair.server);
    assert_eq!(events.len(), 3);
    assert_eq!(
        pair.server.received_consumed() - before,
        limited.len() as u64
    );
}

fn any_duration() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![
        Just(None),
        Just(Some(Duration::MAX)),
        (1u64..u64::MAX, 0u32..1_000_000_000).prop_map(|(s, n)| Some(Duration::new(s, n))),
        (1u64..10_000).prop_map(|ms| Some(Duration::from_millis(ms))),
    ]
}

proptest! {
    /// Any durations, however large, never panic: a deadline too far away
    /// is no deadline.
    #[test]
    fn any_timeout_configuration_runs_without_panicking(
        handshake in any_duration(),
        close in any_duration(),
        keepalive in any_duration(),
        pong in any_duration(),
        idle in any_duration(),
        step_ms in 1u64..100_000,
    ) {
        let mut config = Config::default();
        config.handshake_timeout = handshake;
        config.close_timeout = close;
        config.keepalive_interval = keepalive;
        config.keepalive_timeout = pong.unwrap_or(Duration::MAX);
        config.idle_timeout = idle;
        let mut pair = Pair::new(config.clone(), config);
        pair.pump();
        pair.client.send(pair.now, &Message::text("hello")).unwrap();
        pair.pump();
        for _ in 0..3 {
            pair.advance(Duration::from_millis(step_ms));
            pair.pump();
        }
        if pair.client.state() == State::Open {
            pair.client.close(pair.now, None).unwrap();
        }
        pair.pump();
        pair.advance(Duration::from_millis(step_ms));
        pair.pump();
        prop_assert!(pair.server.poll_timeout().is_none_or(|at| at >= pair.now));
    }
}

#[test]
fn upgraded_connections_start_open_in_both_roles() {
    let now = Instant::now();
    for role in [Role::Client, Role::Server] {
        let conn = Connection::upgraded(role, Config::default(), [9; 32], now).unwrap();
        assert_eq!(conn.state(), State::Open);
    }
}
