//! Attack 4, fragment flood: one text message sent as a million 1-byte
//! fragments (7 MB of frames for 1 MB of message).
//!
//! - The chat server (`--max-message-size`, 64 KiB by default) must close
//!   with 1009 as the fragment that crosses 64 KiB arrives, with bounded
//!   memory and CPU.
//! - The echo server runs proto's default limits (64 MiB per message), so
//!   the 1 MB message is allowed: it must be assembled and echoed whole
//!   with bounded memory and CPU (we keep the default rather than add a
//!   flag: the 1009 side is the chat server's test, the proto limit is the
//!   same code).

#![cfg(target_os = "linux")]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{blast, frame, op, report, serial, Honest, Raw, Server, MASK};

const FRAGMENTS: usize = 1_000_000;
/// Bytes of one masked 1-byte fragment on the wire.
const FRAGMENT_LEN: usize = 2 + 4 + 1;
/// The most the flood may take (it is a few seconds on a debug build).
const FLOOD_TIMEOUT: Duration = Duration::from_secs(30);

/// A text message of `FRAGMENTS` fragments of one byte each (`a`).
fn flood() -> Vec<u8> {
    let mut out = Vec::with_capacity(FRAGMENTS * FRAGMENT_LEN);
    for i in 0..FRAGMENTS {
        let opcode = if i == 0 { op::TEXT } else { op::CONTINUATION };
        out.extend_from_slice(&frame(i == FRAGMENTS - 1, 0, opcode, b"a", Some(MASK)));
    }
    assert_eq!(out.len(), FRAGMENTS * FRAGMENT_LEN);
    out
}

#[test]
fn a_million_fragments_are_closed_with_1009_by_the_chat_server() {
    let _serial = serial();
    chat_flood(Server::chat(&[]));
}

#[test]
fn a_million_fragments_are_closed_with_1009_by_the_chat_server_std_runtime() {
    let _serial = serial();
    chat_flood(Server::chat(&["--runtime", "std"]));
}

fn chat_flood(mut server: Server) {
    let kind = server.name();
    let honest = Honest::start(&server.url(), "honest");
    let mut raw = Raw::open(server.addr);
    raw.converse("before the flood");
    let data = flood();
    let watch = server.watch();
    let stop = AtomicBool::new(false);
    let (ending, (written, write_end)) = thread::scope(|scope| {
        let writer = raw.writer();
        let data = &data;
        let stop = &stop;
        let writing = scope.spawn(move || blast(writer, data, 64 << 10, stop, FLOOD_TIMEOUT));
        let ending = raw.read_until_close(FLOOD_TIMEOUT);
        stop.store(true, Ordering::Relaxed);
        (ending, writing.join().expect("the writer panicked"))
    });
    let served = honest.stop();
    thread::sleep(Duration::from_millis(100));
    let watched = watch.finish();
    server.assert_running();
    assert_eq!(
        ending.code,
        Some(1009),
        "{kind}: expected 1009 for the flood, got {ending:?}"
    );
    // 64 KiB of message is 65,536 fragments; the next one crosses.
    let crossing = (64 << 10) + 1;
    assert!(
        written >= crossing * FRAGMENT_LEN,
        "closed after only {written} bytes"
    );
    served.assert_served(&format!("fragment flood on {kind}"));
    watched.assert_growth_below(16 << 10, &format!("fragment flood on {kind}"));
    assert!(
        watched.cpu < Duration::from_secs(10),
        "the flood cost the server {:?} of CPU",
        watched.cpu
    );
    report(format_args!(
        "fragment flood {kind}: 1009 \"{}\" after {:.0} ms (the {crossing}th fragment \
         crosses 64 KiB; by then the kernel had taken {} of the {} bytes{}); {watched}; {served}",
        ending.reason,
        ending.after.as_secs_f64() * 1e3,
        written,
        data.len(),
        write_end.map_or(String::new(), |e| format!(", then the write failed: {e}")),
    ));
}

#[test]
fn a_million_fragments_are_echoed_whole_by_the_echo_server() {
    let _serial = serial();
    let mut server = Server::echo(&[]);
    let honest = Honest::start(&server.url(), "honest");
    let mut raw = Raw::open(server.addr);
    raw.converse("before the flood");
    let data = flood();
    let watch = server.watch();
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let (echo, (written, write_end)) = thread::scope(|scope| {
        let writer = raw.writer();
        let data = &data;
        let stop = &stop;
        let writing = scope.spawn(move || blast(writer, data, 64 << 10, stop, FLOOD_TIMEOUT));
        raw.stream
            .set_read_timeout(Some(FLOOD_TIMEOUT))
            .expect("read timeout");
        let echo = raw.read_frame();
        stop.store(true, Ordering::Relaxed);
        (echo, writing.join().expect("the writer panicked"))
    });
    let took = started.elapsed();
    let served = honest.stop();
    thread::sleep(Duration::from_millis(100));
    let watched = watch.finish();
    server.assert_running();
    assert!(write_end.is_none(), "the flood was cut off: {write_end:?}");
    assert_eq!(written, data.len());
    let echo = echo.expect("read the echo").expect("the echo, not the end");
    assert_eq!(echo.opcode, op::TEXT, "echo_server answered {echo:?}");
    assert!(echo.fin, "the echo is one frame");
    assert_eq!(echo.payload.len(), FRAGMENTS, "the echo's length");
    assert!(echo.payload.iter().all(|&b| b == b'a'), "the echo's bytes");
    raw.converse("after the flood");
    served.assert_served("fragment flood on echo_server");
    // The message (1 MB, assembled in a growing buffer) and its echo.
    watched.assert_growth_below(16 << 10, "fragment flood on echo_server");
    assert!(
        watched.cpu < Duration::from_secs(20),
        "the flood cost the server {:?} of CPU",
        watched.cpu
    );
    report(format_args!(
        "fragment flood echo_server: {FRAGMENTS} fragments ({} bytes) echoed as one {}-byte \
         text frame {:.2} s after the first byte; {watched}; {served}",
        data.len(),
        echo.payload.len(),
        took.as_secs_f64(),
    ));
}
