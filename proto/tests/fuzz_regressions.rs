//! Regressions found by the fuzz targets in `fuzz/` (`cargo fuzz run TARGET`),
//! each reduced to the smallest sequence of calls that shows it.

use std::time::Instant;

use rusty_socket_proto::{Bytes, Config, Connection, Message, MessageKind, Role, SendError};

fn server() -> (Connection, Instant) {
    let now = Instant::now();
    let conn = Connection::upgraded(Role::Server, Config::default(), [0; 32], now).unwrap();
    (conn, now)
}

fn transmitted(conn: &mut Connection, now: Instant) -> Vec<u8> {
    std::iter::from_fn(|| conn.poll_transmit(now))
        .flatten()
        .collect()
}

/// Found by `connection_server`: a text fragment refused with `InvalidUtf8`
/// dropped the fragmented message in progress, although its first frame was
/// already queued. The next `send` started a new message inside it (a Text
/// frame where the peer expects a continuation, which it fails with 1002)
/// instead of being refused with `MessageInProgress`.
#[test]
fn refused_text_fragment_keeps_the_message_in_progress() {
    let (mut conn, now) = server();
    conn.send_fragment(now, MessageKind::Text, &Bytes::from_static(b"Hel"), false)
        .unwrap();
    assert_eq!(
        conn.send_fragment(now, MessageKind::Text, &Bytes::from_static(b"\xff"), false),
        Err(SendError::InvalidUtf8)
    );
    assert_eq!(
        conn.send(now, &Message::binary(Bytes::new())),
        Err(SendError::MessageInProgress)
    );
    conn.send_fragment(now, MessageKind::Text, &Bytes::from_static(b"lo"), true)
        .unwrap();
    assert_eq!(
        transmitted(&mut conn, now),
        [0x01, 0x03, b'H', b'e', b'l', 0x80, 0x02, b'l', b'o']
    );
}

/// The same, with the refused fragment arriving inside a character: the
/// UTF-8 state must be the one from before the refused fragment, so that
/// the right continuation byte still completes the character.
#[test]
fn refused_text_fragment_keeps_the_utf8_state() {
    let (mut conn, now) = server();
    // "é" is C3 A9: the first fragment ends inside it.
    conn.send_fragment(
        now,
        MessageKind::Text,
        &Bytes::from_static(b"caf\xc3"),
        false,
    )
    .unwrap();
    assert_eq!(
        conn.send_fragment(now, MessageKind::Text, &Bytes::from_static(b"\x28"), false),
        Err(SendError::InvalidUtf8)
    );
    assert_eq!(
        conn.send_fragment(now, MessageKind::Text, &Bytes::from_static(b"\xa9"), true),
        Ok(())
    );
    assert_eq!(
        transmitted(&mut conn, now),
        [0x01, 0x04, b'c', b'a', b'f', 0xc3, 0x80, 0x01, 0xa9]
    );
}
