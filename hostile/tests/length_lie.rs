//! Attack 3, length lies: mid-conversation, a frame header that claims
//! 2^63-1 bytes, or 64 MiB + 1, or just past the server's own limit. The
//! server must close with 1009 as soon as the header arrives (no payload is
//! sent, so the answer cannot wait for it) and allocate nothing for the
//! claim: 50 liars at once, each claiming 64 MiB + 1 and sending 256 KiB
//! behind it, must leave the server's memory flat. A length with its most
//! significant bit set (invalid, RFC 6455 section 5.2) gets 1002.

#![cfg(target_os = "linux")]

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{frame_header, op, report, serial, Honest, Raw, Server, MASK};

/// Liars at once in the memory test, and the payload each sends behind its
/// header (the claim is 64 MiB + 1).
const LIARS: usize = 50;
const SENT_BEHIND: usize = 256 << 10;
/// Most growth of the server's resident memory during the 50 lies: one
/// claim honoured would be 64 MiB.
const MAX_GROWTH_KIB: u64 = 8 << 10;
/// The close must come at once: well under this.
const MAX_CLOSE_AFTER: Duration = Duration::from_millis(500);

#[test]
fn length_lies_are_closed_with_1009_by_the_echo_server() {
    let _serial = serial();
    // The echo server runs proto's defaults: frames up to 16 MiB, messages
    // up to 64 MiB.
    length_lies(
        Server::echo(&[]),
        &[
            (i64::MAX as u64, "2^63-1", 1009),
            ((64 << 20) + 1, "64 MiB + 1", 1009),
            ((16 << 20) + 1, "16 MiB + 1 (max_frame_size + 1)", 1009),
            (1 << 63, "2^63 (most significant bit set)", 1002),
        ],
    );
}

#[test]
fn length_lies_are_closed_with_1009_by_the_chat_server() {
    let _serial = serial();
    // Frames and messages up to 64 KiB (--max-message-size).
    length_lies(
        Server::chat(&[]),
        &[
            (i64::MAX as u64, "2^63-1", 1009),
            ((64 << 20) + 1, "64 MiB + 1", 1009),
            ((64 << 10) + 1, "64 KiB + 1 (--max-message-size + 1)", 1009),
            (1 << 63, "2^63 (most significant bit set)", 1002),
        ],
    );
}

#[test]
fn length_lies_are_closed_with_1009_by_the_chat_server_std_runtime() {
    let _serial = serial();
    length_lies(
        Server::chat(&["--runtime", "std"]),
        &[
            (i64::MAX as u64, "2^63-1", 1009),
            ((64 << 20) + 1, "64 MiB + 1", 1009),
            ((64 << 10) + 1, "64 KiB + 1 (--max-message-size + 1)", 1009),
            (1 << 63, "2^63 (most significant bit set)", 1002),
        ],
    );
}

fn length_lies(mut server: Server, lies: &[(u64, &str, u16)]) {
    let kind = server.name();
    let honest = Honest::start(&server.url(), "honest");
    let mut lines = Vec::new();
    for (i, (claim, name, code)) in lies.iter().enumerate() {
        let mut raw = Raw::open(server.addr);
        raw.converse(&format!("before lie {i}"));
        let header = frame_header(true, 0, op::BINARY, *claim, Some(MASK));
        let started = Instant::now();
        raw.send(&header).expect("send the lying header");
        let ending = raw.expect_close(*code, &format!("{kind}, claim of {name}"));
        let after = started.elapsed();
        assert!(
            after < MAX_CLOSE_AFTER,
            "{kind}, claim of {name}: closed only after {after:?}"
        );
        assert!(raw.expect_eof(), "{kind}: the connection stays open");
        lines.push(format!(
            "{name}: {code} \"{}\" after {:.1} ms",
            ending.reason,
            after.as_secs_f64() * 1e3
        ));
    }

    // Many lies at once, each with a payload that starts to arrive.
    let watch = server.watch();
    let addr = server.addr;
    let payload = vec![0x5a_u8; SENT_BEHIND];
    let outcomes: Vec<(Option<u16>, Duration)> = thread::scope(|scope| {
        let liars: Vec<_> = (0..LIARS)
            .map(|i| {
                let payload = &payload;
                scope.spawn(move || {
                    let mut raw = Raw::open(addr);
                    raw.converse(&format!("liar {i}"));
                    let started = Instant::now();
                    let mut lie = frame_header(true, 0, op::BINARY, (64 << 20) + 1, Some(MASK));
                    lie.extend_from_slice(payload);
                    // The server may stop reading (and reset) before it all
                    // goes out.
                    let _ = raw.send(&lie);
                    let ending = raw.read_until_close(common::TIMEOUT);
                    (ending.code, started.elapsed())
                })
            })
            .collect();
        liars
            .into_iter()
            .map(|l| l.join().expect("a liar panicked"))
            .collect()
    });
    let served = honest.stop();
    let watched = watch.finish();
    server.assert_running();
    let closed_1009 = outcomes.iter().filter(|(c, _)| *c == Some(1009)).count();
    let wrong: Vec<_> = outcomes
        .iter()
        .filter(|(c, _)| c.is_some_and(|c| c != 1009))
        .collect();
    assert!(wrong.is_empty(), "{kind}: liars were closed with {wrong:?}");
    assert!(
        closed_1009 * 2 >= LIARS,
        "{kind}: only {closed_1009} of {LIARS} liars saw the 1009: {outcomes:?}"
    );
    let slowest = outcomes.iter().map(|(_, d)| *d).max().unwrap_or_default();
    served.assert_served(&format!("length lies on {kind}"));
    watched.assert_growth_below(
        MAX_GROWTH_KIB,
        &format!("{LIARS} claims of 64 MiB + 1 on {kind}"),
    );
    report(format_args!(
        "length lie {kind}: {}; {LIARS} liars at once claiming 64 MiB + 1 with 256 KiB behind: \
         {closed_1009} of {LIARS} read their 1009{}, slowest {:.1} ms; {watched}; {served}",
        lines.join("; "),
        if closed_1009 < LIARS {
            " (the others' connections were reset before they read it)"
        } else {
            ""
        },
        slowest.as_secs_f64() * 1e3
    ));
}
