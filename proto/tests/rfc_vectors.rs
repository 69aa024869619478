//! RFC 6455 section 5.7's example frames, decoded by a connection of the
//! receiving role into exactly the messages the RFC describes.

use std::time::Instant;

use rusty_socket_proto::{Bytes, Config, Connection, Event, Message, Role};

fn received(role: Role, wire: &[u8]) -> Vec<Message> {
    let now = Instant::now();
    let mut connection = Connection::upgraded(role, Config::default(), [0; 32], now).unwrap();
    connection.handle_read(now, wire);
    std::iter::from_fn(|| connection.poll_event())
        .map(|event| match event {
            Event::Message(message) => message,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[test]
fn single_frame_unmasked_text() {
    let wire = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(received(Role::Client, &wire), [Message::text("Hello")]);
}

#[test]
fn single_frame_masked_text() {
    let wire = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(received(Role::Server, &wire), [Message::text("Hello")]);
}

#[test]
fn fragmented_unmasked_text() {
    let wire = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    assert_eq!(received(Role::Client, &wire), [Message::text("Hello")]);
}

#[test]
fn unmasked_ping_and_masked_pong() {
    let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(
        received(Role::Client, &ping),
        [Message::Ping(Bytes::from_static(b"Hello"))]
    );
    let pong = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        received(Role::Server, &pong),
        [Message::Pong(Bytes::from_static(b"Hello"))]
    );
}

#[test]
fn binary_messages_of_256_bytes_and_64_kib() {
    let mut wire = vec![0x82, 0x7E, 0x01, 0x00];
    wire.extend((0..256).map(|i| i as u8));
    assert_eq!(
        received(Role::Client, &wire),
        [Message::binary(
            (0..256).map(|i| i as u8).collect::<Vec<u8>>()
        )]
    );
    let mut wire = vec![0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00];
    wire.extend(std::iter::repeat_n(0xAB, 65_536));
    assert_eq!(
        received(Role::Client, &wire),
        [Message::binary(vec![0xABu8; 65_536])]
    );
}
