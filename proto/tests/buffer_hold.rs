//! A receive buffer grown for large frames outlives a release for a moment:
//! large messages that follow each other reuse one buffer instead of
//! allocating one each, and the buffer is freed at its deadline. Measured
//! with a counting allocator, so this binary holds a single test.

mod counting;
mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use counting::{large_allocations, live, Counting};
use rusty_socket_proto::{Connection, Event, Message};
use support::Pair;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const PAYLOAD: usize = 256 << 10;
const HOLD: Duration = Duration::from_millis(100);

/// The bytes of one large binary message as the client sends it.
fn client_bytes(pair: &mut Pair) -> Vec<u8> {
    let message = Message::Binary(Bytes::from(vec![3u8; PAYLOAD]));
    pair.client.send(pair.now, &message).unwrap();
    let mut wire = Vec::new();
    while let Some(piece) = pair.client.poll_transmit(pair.now) {
        wire.extend_from_slice(&piece);
    }
    wire
}

/// Reads `wire` into the server as a socket transport does: straight into
/// its receive buffer, at most 64 KiB a read, taking each message out (and
/// dropping it) as it completes; then, with nothing more to read, releases
/// the buffers.
fn receive(server: &mut Connection, now: Instant, mut wire: &[u8]) {
    let mut received = 0;
    while !wire.is_empty() {
        let buf = server.receive_buffer();
        let n = wire.len().min(64 << 10).min(buf.capacity() - buf.len());
        buf.extend_from_slice(&wire[..n]);
        wire = &wire[n..];
        server.handle_received(now);
        while let Some(event) = server.poll_event() {
            if let Event::Message(Message::Binary(data)) = event {
                assert_eq!(data.len(), PAYLOAD);
                received += 1;
            }
        }
    }
    assert_eq!(received, 1);
    server.release_buffers();
}

/// The only test in this binary, so that nothing else allocates meanwhile.
#[test]
fn large_messages_in_a_row_reuse_one_receive_buffer_which_is_freed_at_its_deadline() {
    // Uncompressed, so that the frame on the wire is large.
    let mut pair = Pair::open_plain();
    let wire = client_bytes(&mut pair);

    // A transport that never releases buffers is never woken for the hold.
    assert_eq!(pair.server.poll_timeout(), None);

    // Twenty large messages, 10 ms apart, the server going idle between
    // them. Freeing the buffer at each release would take a new large
    // allocation per message.
    let before = large_allocations();
    for _ in 0..20 {
        pair.now += Duration::from_millis(10);
        let now = pair.now;
        receive(&mut pair.server, now, &wire);
        assert_eq!(pair.server.poll_timeout(), Some(now + HOLD));
        // The deadline of an earlier read is not the buffer's any more.
        pair.server
            .handle_timeout(now + HOLD - Duration::from_millis(1));
        assert_eq!(pair.server.poll_timeout(), Some(now + HOLD));
    }
    let allocations = large_allocations() - before;
    assert!(
        allocations <= 3,
        "20 large messages in a row took {allocations} large allocations"
    );

    // Nothing more arrives: at the deadline the buffer goes, and with it
    // the deadline.
    let held = live();
    let deadline = pair.server.poll_timeout().unwrap();
    pair.server.handle_timeout(deadline);
    let freed = held - live();
    assert!(
        freed >= PAYLOAD as isize,
        "freed {freed} bytes at the deadline"
    );
    assert_eq!(pair.server.buffer_capacity(), 0);
    assert_eq!(pair.server.poll_timeout(), None);

    // A small message afterwards takes no hold: its buffer is freed at once.
    pair.now += Duration::from_secs(1);
    pair.client
        .send(pair.now, &Message::text("a small one"))
        .unwrap();
    pair.pump();
    pair.server.release_buffers();
    assert_eq!(pair.server.buffer_capacity(), 0);
    assert_eq!(pair.server.poll_timeout(), None);

    // A connection that ends has no deadline left, a hold's included.
    pair.now += Duration::from_secs(1);
    let now = pair.now;
    receive(&mut pair.server, now, &wire);
    assert_eq!(pair.server.poll_timeout(), Some(now + HOLD));
    pair.server.handle_reset();
    assert_eq!(pair.server.poll_timeout(), None);
}
