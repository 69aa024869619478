//! Memory that received messages keep alive, measured with a counting
//! allocator: an application that keeps small messages must not keep the
//! receive buffers they arrived in.

mod counting;
mod support;

use counting::{live, Counting};
use rusty_socket_proto::{Event, Message};
use support::Pair;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The only test in this binary, so that nothing else allocates meanwhile.
#[test]
fn kept_small_messages_do_not_pin_receive_buffers() {
    let mut pair = Pair::open();
    let mut kept = Vec::new();
    // Each small message follows a large one, which grows the receive
    // buffer to its size; then the connection goes idle.
    for round in 0..20u8 {
        pair.client
            .send(pair.now, &Message::binary(vec![round; 256 << 10]))
            .unwrap();
        pair.client
            .send(pair.now, &Message::text(format!("chat line {round:>10}")))
            .unwrap();
        pair.pump();
        for event in pair.server_events.drain(..) {
            if let Event::Message(Message::Text(text)) = event {
                kept.push(text);
            }
        }
        pair.server.release_buffers();
        pair.client.release_buffers();
    }
    assert_eq!(kept.len(), 20);
    let before = live();
    drop(kept);
    let freed = before - live();
    // 20 lines of 20 bytes, with allocator slack: far below one receive
    // buffer of 256 KiB each, which is what they pinned when sliced.
    assert!(
        freed < 16 << 10,
        "dropping 20 kept chat lines freed {freed} bytes"
    );
}
