//! Regressions found by the fuzz targets in `fuzz/` (`cargo fuzz run TARGET`),
//! each reduced to the smallest sequence of calls that shows it.

mod support;

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

/// A server that agreed `client_max_window_bits=9` with a client that sends
/// a masked binary frame with RSV1 whose payload `compressed` arrives in
/// reads of `read` bytes: the close code it fails with, or `None` when the
/// message is delivered.
#[cfg(feature = "deflate")]
fn window_9_verdict(compressed: &[u8], read: usize) -> Option<u16> {
    deflate_verdict(compressed, read, Config::default().max_message_size)
}

/// As [`window_9_verdict`], with messages limited to `limit` bytes.
#[cfg(feature = "deflate")]
fn deflate_verdict(compressed: &[u8], read: usize, limit: usize) -> Option<u16> {
    use rusty_socket_proto::{Accept, CloseReason, Event};
    let now = Instant::now();
    let mut config = Config::default();
    config.deflate.remote_max_window_bits = 9;
    config.max_message_size = limit;
    let mut conn = Connection::server(config, now).unwrap();
    conn.handle_read(
        now,
        b"GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
          Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
          Sec-WebSocket-Version: 13\r\n\
          Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
    );
    assert!(matches!(conn.poll_event(), Some(Event::Request(_))));
    conn.accept(now, Accept::default()).unwrap();
    assert_eq!(conn.deflate().unwrap().client_max_window_bits, 9);
    transmitted(&mut conn, now);
    let mut frame = vec![0xc2, 0xfe];
    frame.extend_from_slice(&(compressed.len() as u16).to_be_bytes());
    frame.extend_from_slice(&[0; 4]); // masking key 0: the payload as it is
    frame.extend_from_slice(compressed);
    for piece in frame.chunks(read) {
        conn.handle_read(now, piece);
        transmitted(&mut conn, now);
        if let Some(event) = conn.poll_event() {
            return match event {
                Event::Message(Message::Binary(_)) => None,
                Event::Closed(CloseReason::Protocol(e)) => Some(e.close_code().0),
                other => panic!("{other:?}"),
            };
        }
    }
    while let Some(event) = conn.poll_event() {
        if let Event::Closed(CloseReason::Protocol(e)) = event {
            return Some(e.close_code().0);
        }
    }
    panic!("neither a message nor a failure");
}

/// Found by `inflate`: with a window agreed below 15 bits, compressed data
/// that refers further back than the window (invalid: the sender promised
/// the smaller window) is refused with 1007 or delivered depending on how
/// the frame is cut into reads. zlib (and zlib-rs, which proto uses) checks
/// a distance against the window plus the output of the current call only,
/// so a message inflated in one call may reach back past the agreed window
/// into its own output, while the same bytes inflated in several calls
/// cannot. Here a 600-byte block repeats at distance 600 (> 512).
/// Fixed: the inflater always has a 15-bit window, so such data is
/// delivered, whatever the reads.
#[cfg(feature = "deflate")]
#[test]
fn data_past_a_small_window_gets_the_same_verdict_however_it_is_read() {
    use flate2::{Compress, Compression, FlushCompress};
    let block = support::noise(0x2545_f491_4f6c_dd1d, 600);
    let message = [&block[..], &block[..]].concat();
    // The peer breaks its promise: it compresses with a 32 KiB window.
    let mut deflate = Compress::new_with_window_bits(Compression::new(6), false, 15);
    let mut compressed = Vec::with_capacity(4096);
    deflate
        .compress_vec(&message, &mut compressed, FlushCompress::Sync)
        .unwrap();
    assert!(compressed.len() < 1000, "the repeat is a back-reference");
    compressed.truncate(compressed.len() - 4);
    let whole = window_9_verdict(&compressed, usize::MAX);
    let bytewise = window_9_verdict(&compressed, 1);
    assert_eq!(bytewise, None, "delivered, read byte by byte");
    assert_eq!(whole, bytewise, "the same bytes in one read");
}

/// Found by `inflate`: a message whose output passes the limit and whose
/// data is invalid a few bytes later was refused with 1007 when both came
/// in one read, and 1009 when read a byte at a time. zlib reads the next
/// block's header even with the output full, so the one call that filled
/// the output also reported the bad header, and the error won. Fixed: output
/// past the limit is checked first, since it came first.
#[cfg(feature = "deflate")]
#[test]
fn output_past_the_limit_then_invalid_data_is_1009_however_it_is_read() {
    use flate2::{Compress, Compression, FlushCompress};
    const LIMIT: usize = 100;
    // LIMIT + 1 bytes in a Huffman block (a stored one is copied without
    // reading past its end), then the sync flush's empty stored block with
    // its length check (NLEN = !LEN) broken.
    let text: Vec<u8> = b"the limit came first; "
        .iter()
        .cycle()
        .take(LIMIT + 1)
        .copied()
        .collect();
    let mut compressed = Vec::with_capacity(4 * LIMIT);
    Compress::new(Compression::fast(), false)
        .compress_vec(&text, &mut compressed, FlushCompress::Sync)
        .unwrap();
    assert!(compressed.ends_with(&[0x00, 0x00, 0xff, 0xff]));
    let at = compressed.len() - 4;
    compressed[at..].copy_from_slice(&[0x01, 0x00, 0x01, 0x00]);
    for read in [1, 7, 200] {
        assert_eq!(
            deflate_verdict(&compressed, read, LIMIT),
            Some(1009),
            "reads of {read} bytes"
        );
    }
}
