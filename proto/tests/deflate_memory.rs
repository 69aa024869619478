//! Memory with permessage-deflate, measured with a counting allocator: a
//! compression bomb never makes a connection allocate past its limit, and
//! an idle connection without context takeover holds no zlib state, and
//! the spare engines connections share stay bounded in number.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use rusty_socket_proto::{
    apply_mask, drop_spare_engines, CloseReason, Config, Event, FrameHeader, Message, OpCode,
    ProtocolError, SPARE_ENGINES,
};
use support::Pair;

/// Counts the bytes allocated and not yet freed, and their peak.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(by: isize) {
    let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size() as isize);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        grew(-(layout.size() as isize));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size as isize - layout.size() as isize);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// 100 MiB of zeros, deflated (about 100 KiB), as one masked client frame.
fn bomb() -> Vec<u8> {
    let zeros = vec![0u8; 100 << 20];
    let mut engine = flate2::Compress::new(flate2::Compression::best(), false);
    let mut deflated = Vec::with_capacity(1 << 20);
    engine
        .compress_vec(&zeros, &mut deflated, flate2::FlushCompress::Sync)
        .unwrap();
    assert_eq!(engine.total_in(), zeros.len() as u64);
    deflated.truncate(deflated.len() - 4);
    let header = FrameHeader {
        fin: true,
        rsv: 0b100,
        opcode: OpCode::Binary,
        mask: Some([9, 8, 7, 6]),
        payload_len: deflated.len() as u64,
    };
    let mut head = [0; 14];
    let n = header.encode(&mut head);
    apply_mask(&mut deflated, [9, 8, 7, 6], 0);
    [&head[..n], &deflated].concat()
}

fn bomb_is_stopped_within_the_limit() {
    let bomb = bomb();
    let mut config = Config::default();
    config.max_message_size = 1 << 20;
    let mut pair = Pair::new(Config::default(), config);
    pair.pump();
    pair.server_events.clear();
    let before = live();
    PEAK.store(before, Ordering::Relaxed);
    for read in bomb.chunks(16 << 10) {
        pair.server.handle_read(pair.now, read);
        while let Some(event) = pair.server.poll_event() {
            pair.server_events.push(event);
        }
        while pair.server.poll_transmit(pair.now).is_some() {}
    }
    while let Some(event) = pair.server.poll_event() {
        pair.server_events.push(event);
    }
    let growth = PEAK.load(Ordering::Relaxed) - before;
    let reason = pair.server_events.iter().find_map(|e| match e {
        Event::Closed(reason) => Some(reason.clone()),
        _ => None,
    });
    assert!(
        matches!(
            reason,
            Some(CloseReason::Protocol(ProtocolError::MessageTooLarge { .. }))
        ),
        "{reason:?}"
    );
    println!(
        "bomb of {} bytes (100 MiB inflated), limit 1 MiB: peak growth {growth} bytes",
        bomb.len()
    );
    assert!(growth < 2 << 20, "peak growth {growth} bytes");
}

/// An open pair that has exchanged compressed messages both ways.
fn busy_pair(config: Config) -> Pair {
    let mut pair = Pair::new(config.clone(), config);
    pair.pump();
    for i in 0..10 {
        let text = format!("{{\"message\":{i},\"text\":\"{}\"}}", "hello ".repeat(100));
        pair.client.send(pair.now, &Message::text(text)).unwrap();
        pair.server
            .send(pair.now, &Message::text("x".repeat(600)))
            .unwrap();
    }
    pair.pump();
    assert!(pair.client.deflate().is_some());
    pair.client_events = Vec::new();
    pair.server_events = Vec::new();
    pair
}

/// Memory one connection of an open pair holds: busy (right after
/// compressed messages in both directions) and once idle, without the
/// spare engines it gave up (shared by the process, see below).
fn pair_bytes(config: Config) -> (isize, isize) {
    drop_spare_engines();
    let before = live();
    let mut pair = busy_pair(config);
    let busy = live() - before;
    pair.client.release_buffers();
    pair.server.release_buffers();
    drop_spare_engines();
    let idle = live() - before;
    drop(pair);
    (busy / 2, idle / 2)
}

/// Many connections going idle at once keep at most `SPARE_ENGINES` engines
/// of each kind between them.
fn spare_engines_are_bounded() {
    drop_spare_engines();
    let before = live();
    let mut pairs: Vec<Pair> = (0..40).map(|_| busy_pair(Config::default())).collect();
    let busy = live() - before;
    for pair in &mut pairs {
        pair.client.release_buffers();
        pair.server.release_buffers();
    }
    let with_spares = live() - before;
    let freed = drop_spare_engines();
    let idle = live() - before;
    let spares = with_spares - idle;
    println!(
        "80 connections: busy {busy} bytes, idle {idle} bytes, \
         {freed} spare engines of {spares} bytes"
    );
    assert_eq!(freed, 2 * SPARE_ENGINES, "compressors and inflaters");
    assert!(
        busy > 80 * (128 << 10),
        "{busy} bytes: every connection had engines"
    );
    assert!(
        spares < SPARE_ENGINES as isize * (512 << 10),
        "{spares} bytes in spares"
    );
}

fn idle_connections_hold_no_zlib_state_without_context_takeover() {
    let (busy, idle) = pair_bytes(Config::default());
    let mut takeover = Config::default();
    takeover.deflate.local_no_context_takeover = false;
    takeover.deflate.remote_no_context_takeover = false;
    let (busy_takeover, idle_takeover) = pair_bytes(takeover);
    let mut small = Config::default();
    small.deflate.local_max_window_bits = 10;
    small.deflate.remote_max_window_bits = 10;
    small.deflate.local_no_context_takeover = false;
    small.deflate.remote_no_context_takeover = false;
    let (busy_small, idle_small) = pair_bytes(small);
    println!(
        "per connection, busy / idle: default {busy} / {idle} bytes; \
         context takeover {busy_takeover} / {idle_takeover}; \
         context takeover with 10-bit windows {busy_small} / {idle_small}"
    );
    assert!(idle < 8 << 10, "{idle} bytes");
    assert!(
        busy > idle + (64 << 10),
        "{busy} bytes: the engines work while busy"
    );
    assert!(
        idle_takeover > 64 << 10,
        "{idle_takeover} bytes: the contexts must be kept"
    );
}

/// One test, so that nothing else allocates while it measures.
#[test]
fn memory_with_compression() {
    bomb_is_stopped_within_the_limit();
    idle_connections_hold_no_zlib_state_without_context_takeover();
    spare_engines_are_bounded();
}
