//! Differential: proto's inflate path (RFC 7692), through a real server
//! `Connection` that agreed permessage-deflate with the input's window (9 to
//! 15 bits) and context takeover (or not), against flate2 on the same bytes.
//!
//! The input's payload is the compressed data of one message (or, `again`,
//! of two messages in a row with the same bytes), sent as masked frames: the
//! first binary with RSV1, the rest continuations, cut by the input's
//! `cuts`, each frame arriving in two reads; the last one ends the message
//! (FIN) when `end`. The same payload is sent again to a second connection
//! as a single frame in one read.
//!
//! The reference is flate2's raw inflate of the payload with `00 00 ff ff`
//! appended at the message's end (RFC 7692 section 7.2.2), its output
//! limited to `max_message_size` (the input's `limit`). A stream that ends
//! with a final block (BFINAL, section 7.2.3.4) needs no tail, and nothing
//! may follow its end (neither payload nor any of the tail); the next
//! message then starts a new stream. Without context takeover the
//! decompressor starts afresh at every message.
//!
//! Checks, for both connections: when flate2 succeeds within the limit (and
//! the compressed payload fits the limit too, since `max_message_size`
//! bounds the bytes on the wire as well), the connection delivers exactly
//! flate2's output (whole messages, or fragments when streaming, which also
//! show the output of a message not yet ended), and stays open. Otherwise it
//! fails with 1007 (corrupt data) or 1009 (too large) as flate2 says (either
//! when the compressed bytes alone pass the limit, and then the single
//! frame is refused with 1009 from its header), having delivered no more
//! than a prefix of flate2's output, and never more than the limit for a
//! message. Never a panic; and no single allocation made while the
//! connection runs exceeds the larger of the limit (plus one byte) and
//! what the connection needs for any message (its receive buffer and the
//! inflate state, measured with a 1-byte message).
#![no_main]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use arbitrary::Arbitrary;
use flate2::{Decompress, FlushDecompress, Status};
use libfuzzer_sys::fuzz_target;
use rusty_socket_proto::{Accept, CloseReason, Config, Connection, Event, Message};
use rusty_socket_proto_fuzz::driver::encode_frame;

/// Records the largest single allocation (or reallocation) asked for.
struct Peak;

static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Peak {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        PEAK.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        PEAK.fetch_max(layout.size(), Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        PEAK.fetch_max(new_size, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: Peak = Peak;

const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Frames may be large: only the message limit bounds the output.
const MAX_FRAME: usize = 1 << 20;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// The client's window is 9 + this % 7 bits.
    window: u8,
    /// `max_message_size` is 1 + 4 * this.
    limit: u16,
    /// `client_no_context_takeover`: the decompressor resets per message.
    reset: bool,
    /// The last frame ends the message.
    end: bool,
    /// Deliver fragments (which show the output before the message ends).
    streaming: bool,
    /// Send the message twice (when `end`).
    again: bool,
    /// The frames' payload sizes, repeated (0: an empty frame).
    cuts: Vec<u8>,
    /// The compressed payload.
    payload: &'a [u8],
}

/// flate2's verdict on invalid data: the close code the connection owes.
const CORRUPT: u16 = 1007;
const TOO_LARGE: u16 = 1009;

/// What flate2 makes of the messages: the output (up to the failure, with
/// at most `limit + 1` bytes of the failing message), and the failure.
#[derive(Debug)]
struct Outcome {
    output: Vec<u8>,
    failure: Option<u16>,
}

/// flate2 inflates with a 15-bit window, as proto does whatever window was
/// agreed: a peer that reaches past the agreed window is not refused, so the
/// verdict never depends on how the input was cut into reads.
fn reference(input: &Input, limit: usize, messages: usize) -> Outcome {
    let mut engine = Decompress::new_with_window_bits(false, 15);
    let mut outcome = Outcome {
        output: Vec::new(),
        failure: None,
    };
    for _ in 0..messages {
        let mut buf = vec![0u8; limit + 1];
        let mut produced = 0;
        let mut result = feed(&mut engine, input.payload, &mut buf, &mut produced);
        if let Ok(false) = result {
            if input.end {
                result = feed(&mut engine, &SYNC_TAIL, &mut buf, &mut produced);
            }
        }
        outcome.output.extend_from_slice(&buf[..produced]);
        match result {
            Err(code) => {
                outcome.failure = Some(code);
                return outcome;
            }
            Ok(ended) => {
                if ended || input.reset {
                    engine.reset(false);
                }
            }
        }
    }
    outcome
}

/// Inflates all of `input` into `buf[*produced..]`: `Ok(true)` when the
/// stream ended exactly at the end of `input`, `Ok(false)` when it goes on.
/// One byte at a time, so that the output before an error is all there.
fn feed(
    engine: &mut Decompress,
    input: &[u8],
    buf: &mut [u8],
    produced: &mut usize,
) -> Result<bool, u16> {
    for (at, byte) in input.iter().enumerate() {
        if feed_some(engine, std::slice::from_ref(byte), buf, produced)? {
            return if at + 1 < input.len() {
                Err(CORRUPT)
            } else {
                Ok(true)
            };
        }
    }
    if input.is_empty() {
        return feed_some(engine, input, buf, produced);
    }
    Ok(false)
}

/// `feed` in one go.
fn feed_some(
    engine: &mut Decompress,
    input: &[u8],
    buf: &mut [u8],
    produced: &mut usize,
) -> Result<bool, u16> {
    let mut pos = 0;
    loop {
        let (in_before, out_before) = (engine.total_in(), engine.total_out());
        let status = engine
            .decompress(&input[pos..], &mut buf[*produced..], FlushDecompress::Sync)
            .map_err(|_| CORRUPT)?;
        pos += (engine.total_in() - in_before) as usize;
        *produced += (engine.total_out() - out_before) as usize;
        if *produced == buf.len() {
            // One byte past the limit.
            return Err(TOO_LARGE);
        }
        let progress = engine.total_in() != in_before || engine.total_out() != out_before;
        match status {
            Status::StreamEnd if pos < input.len() => return Err(CORRUPT),
            Status::StreamEnd => return Ok(true),
            _ if pos == input.len() => return Ok(false),
            _ if !progress => return Err(CORRUPT),
            _ => {}
        }
    }
}

/// What a connection delivered.
#[derive(Debug, Default)]
struct Run {
    output: Vec<u8>,
    /// Whole messages (not streaming) or last fragments (streaming).
    messages: usize,
    failure: Option<u16>,
    /// The largest allocation while the connection ran.
    peak: usize,
}

fn server(input: &Input, window: u8, limit: usize) -> (Connection, Instant) {
    let now = Instant::now();
    let mut config = Config::default();
    config.max_message_size = limit;
    config.max_frame_size = MAX_FRAME;
    config.streaming = input.streaming;
    config.deflate.remote_max_window_bits = window;
    config.deflate.remote_no_context_takeover = input.reset;
    let mut conn = Connection::server(config, now).expect("config");
    let request = "GET /chat HTTP/1.1\r\nHost: example.com\r\n\
        Upgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
        Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";
    conn.handle_read(now, request.as_bytes());
    let event = conn.poll_event();
    assert!(matches!(event, Some(Event::Request(_))), "{event:?}");
    conn.accept(now, Accept::default()).expect("accepted");
    let agreed = conn.deflate().expect("permessage-deflate agreed");
    assert_eq!(agreed.client_max_window_bits, window);
    assert_eq!(agreed.client_no_context_takeover, input.reset);
    while conn.poll_transmit(now).is_some() {}
    (conn, now)
}

/// Sends `messages` times the frames cut from the payload by `sizes` (one
/// frame when empty), each in two reads unless `whole`.
fn run(input: &Input, window: u8, limit: usize, messages: usize, frames: &[&[u8]]) -> Run {
    let (mut conn, now) = server(input, window, limit);
    let whole = frames.len() == 1;
    let mut run = Run::default();
    // The output collected here must not count as the connection's.
    run.output.reserve(messages * (limit + 1));
    PEAK.store(0, Ordering::Relaxed);
    'messages: for _ in 0..messages {
        for (i, payload) in frames.iter().enumerate() {
            let last = i + 1 == frames.len();
            let fin = if last && input.end { 0x80 } else { 0 };
            let head = if i == 0 { 0x42 } else { 0x00 };
            let frame = encode_frame(fin | head, true, payload);
            let reads = if whole {
                frame.split_at(frame.len())
            } else {
                frame.split_at(frame.len() / 2)
            };
            for read in [reads.0, reads.1] {
                if read.is_empty() {
                    continue;
                }
                conn.handle_read(now, read);
                drain(&mut conn, now, &mut run, limit);
                if run.failure.is_some() {
                    break 'messages;
                }
            }
        }
    }
    run.peak = PEAK.load(Ordering::Relaxed);
    if run.failure.is_none() {
        assert!(conn.wants_read(), "the connection stopped reading");
    }
    run
}

fn drain(conn: &mut Connection, now: Instant, run: &mut Run, limit: usize) {
    loop {
        let mut moved = false;
        while conn.poll_transmit(now).is_some() {
            moved = true;
        }
        while let Some(event) = conn.poll_event() {
            moved = true;
            assert!(run.failure.is_none(), "{event:?} after the end");
            match event {
                Event::Message(Message::Binary(data)) => {
                    assert!(data.len() <= limit, "a message of {} bytes", data.len());
                    run.output.extend_from_slice(&data);
                    run.messages += 1;
                }
                Event::Fragment(fragment) => {
                    run.output.extend_from_slice(&fragment.data);
                    run.messages += usize::from(fragment.fin);
                }
                Event::Closed(CloseReason::Protocol(error)) => {
                    run.failure = Some(error.close_code().0);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        if !moved {
            return;
        }
    }
}

/// The payload cut by `cuts` (sizes repeated; one frame when there are none).
fn frames<'a>(payload: &'a [u8], cuts: &[u8]) -> Vec<&'a [u8]> {
    if cuts.is_empty() || cuts.iter().all(|&c| c == 0) {
        let mut frames = vec![payload];
        frames.extend(cuts.iter().take(4).map(|_| &payload[..0]));
        return frames;
    }
    let mut frames = Vec::new();
    let mut rest = payload;
    let mut sizes = cuts.iter().cycle();
    while !rest.is_empty() {
        let size = usize::from(*sizes.next().unwrap()).min(rest.len());
        let (frame, tail) = rest.split_at(size);
        frames.push(frame);
        rest = tail;
    }
    if frames.is_empty() {
        frames.push(payload);
    }
    frames
}

/// The largest allocation for a 1-byte message (a stored block) in frames
/// as large as the input's: what any message costs, whatever it inflates to.
fn baseline(input: &Input, window: u8, frames: &[&[u8]]) -> usize {
    let one = [0x00, 0x01, 0x00, 0xfe, 0xff, b'x'];
    let padded: Vec<Vec<u8>> = frames.iter().map(|f| vec![0; f.len()]).collect();
    // The compressed bytes take the frames' sizes; what they inflate to is
    // one byte, then empty stored blocks (`00 00 00 ff ff`), then nothing.
    let total: usize = padded.iter().map(Vec::len).sum();
    let mut data = one.to_vec();
    while data.len() + 5 <= total {
        data.extend_from_slice(&[0x00, 0x00, 0x00, 0xff, 0xff]);
    }
    let mut cut = Vec::new();
    let mut rest = &data[..];
    for frame in &padded {
        let n = frame.len().min(rest.len());
        cut.push(&rest[..n]);
        rest = &rest[n..];
    }
    if let Some(last) = cut.last_mut() {
        let start = data.len() - rest.len() - last.len();
        *last = &data[start..];
    }
    let probe = Input {
        window: input.window,
        limit: 0,
        reset: input.reset,
        end: true,
        streaming: input.streaming,
        again: false,
        cuts: Vec::new(),
        payload: &data,
    };
    let run = run(&probe, window, MAX_FRAME, 1, &cut);
    assert_eq!(run.failure, None, "the baseline message failed");
    run.peak
}

fn check(name: &str, run: &Run, want: &Outcome, input: &Input, limit: usize, messages: usize) {
    let oversized = input.payload.len() > limit;
    match (want.failure, oversized) {
        (None, false) => {
            assert_eq!(run.failure, None, "{name}: flate2 inflates it");
            if input.streaming || input.end {
                assert!(run.output == want.output, "{name}: not flate2's output");
            } else {
                assert!(run.output.is_empty(), "{name}: output before the end");
            }
            if input.end {
                assert_eq!(run.messages, messages, "{name}: messages");
            }
        }
        (Some(code), false) => assert_eq!(run.failure, Some(code), "{name}: the close code"),
        (_, true) => assert!(
            matches!(run.failure, Some(CORRUPT | TOO_LARGE)),
            "{name}: {:?} for {} compressed bytes, limit {limit}",
            run.failure,
            input.payload.len()
        ),
    }
    if run.failure.is_some() {
        assert!(
            want.output.starts_with(&run.output),
            "{name}: delivered more than flate2's output"
        );
    }
}

fuzz_target!(|input: Input| {
    let window = 9 + input.window % 7;
    let limit = 1 + 4 * usize::from(input.limit);
    let messages = if input.end && input.again { 2 } else { 1 };
    let want = reference(&input, limit, messages);

    let split = frames(input.payload, &input.cuts);
    let cut = run(&input, window, limit, messages, &split);
    check("cut", &cut, &want, &input, limit, messages);
    let whole = run(&input, window, limit, messages, &[input.payload]);
    check("whole", &whole, &want, &input, limit, messages);
    if input.payload.len() > limit {
        assert_eq!(
            whole.failure,
            Some(TOO_LARGE),
            "the header passes the limit"
        );
        assert!(whole.output.is_empty());
    }

    // No allocation far past the limit: at most what a 1-byte message costs
    // in the same frames, or the limit's worth of output.
    for (name, run, frames) in [
        ("cut", &cut, &split[..]),
        ("whole", &whole, &[input.payload][..]),
    ] {
        let base = baseline(&input, window, frames);
        assert!(
            run.peak <= base.max(limit + 1),
            "{name}: an allocation of {} bytes, limit {limit}, baseline {base}",
            run.peak
        );
    }
});
