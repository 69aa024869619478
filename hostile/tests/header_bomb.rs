//! Attack 2, header bombs: an upgrade request with 100,000 headers, one
//! with a single 1 MiB header, and one with more headers than allowed in a
//! small head. Each must be refused with 431 as soon as a limit is crossed
//! (`max_handshake_size`, 8 KiB; `max_headers`, 64), long before the
//! attacker has finished sending, and without the server buffering the
//! bomb: 32 bombers at once must not grow its memory by anything like
//! 1 MiB each.

#![cfg(target_os = "linux")]

mod common;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::thread;
use std::time::{Duration, Instant};

use common::{blast, report, serial, upgrade_request_head, Honest, Raw, Server};

/// proto's default `max_handshake_size`, which both servers use.
const MAX_HANDSHAKE: usize = 8 << 10;
/// Pieces of a paced attack, and the most sent while waiting for the answer.
const PIECE: usize = 1024;
const PACED_MAX: usize = 64 << 10;
/// Bombers at once in the memory test, and the most the server's resident
/// memory may grow while they push their bombs: far below 1 MiB each.
const BOMBERS: usize = 32;
const MAX_GROWTH_KIB: u64 = 8 << 10;

#[test]
fn header_bombs_are_refused_with_431_by_the_echo_server() {
    let _serial = serial();
    header_bombs(Server::echo(&[]));
}

#[test]
fn header_bombs_are_refused_with_431_by_the_chat_server() {
    let _serial = serial();
    header_bombs(Server::chat(&[]));
}

#[test]
fn header_bombs_are_refused_with_431_by_the_chat_server_std_runtime() {
    let _serial = serial();
    header_bombs(Server::chat(&["--runtime", "std"]));
}

/// 100,000 small headers (about 2.1 MB).
fn many_headers(addr: SocketAddr) -> Vec<u8> {
    let mut request = upgrade_request_head(addr).into_bytes();
    for i in 0..100_000 {
        request.extend_from_slice(format!("X-Bomb-{i}: {i}\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    request
}

/// One header of 1 MiB.
fn big_header(addr: SocketAddr) -> Vec<u8> {
    let mut request = upgrade_request_head(addr).into_bytes();
    request.extend_from_slice(b"X-Bomb: ");
    request.resize(request.len() + (1 << 20), b'a');
    request.extend_from_slice(b"\r\n\r\n");
    request
}

/// 100 small headers: a head of under 2 KiB, but over `max_headers` (64).
fn too_many_headers(addr: SocketAddr) -> Vec<u8> {
    let mut request = upgrade_request_head(addr).into_bytes();
    for i in 0..100 {
        request.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    assert!(request.len() < MAX_HANDSHAKE / 4);
    request
}

/// The answer to a paced attack.
struct Paced {
    status: u16,
    head: String,
    /// Bytes of the request sent when the answer arrived.
    sent: usize,
    /// From the first byte to the answer.
    after: Duration,
    /// From the piece that was answered (the one that crossed a limit) to
    /// the answer.
    latency: Duration,
}

/// Sends `request` a piece at a time, looking for an answer for 20 ms
/// after each piece, and stops at the answer. Panics if none comes
/// within [`PACED_MAX`] bytes.
fn paced(addr: SocketAddr, request: &[u8]) -> Paced {
    let mut raw = Raw::connect(addr).expect("connect");
    raw.stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .expect("read timeout");
    let started = Instant::now();
    let mut sent = 0;
    let mut last_piece = started;
    let mut refused_writes = false;
    while sent < request.len().min(PACED_MAX) {
        let end = (sent + PIECE).min(request.len());
        if raw.send(&request[sent..end]).is_err() {
            // The server has stopped reading and closed: its answer, if
            // any, is waiting.
            refused_writes = true;
            break;
        }
        sent = end;
        last_piece = Instant::now();
        match raw.read_head() {
            Ok(head) => {
                return Paced {
                    status: head.status,
                    head: head.text,
                    sent,
                    after: started.elapsed(),
                    latency: last_piece.elapsed(),
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("no answer, the connection failed after {sent} bytes: {e}"),
        }
    }
    raw.stream
        .set_read_timeout(Some(common::TIMEOUT))
        .expect("read timeout");
    match raw.read_head() {
        Ok(head) if refused_writes => Paced {
            status: head.status,
            head: head.text,
            sent,
            after: started.elapsed(),
            latency: last_piece.elapsed(),
        },
        Ok(head) => panic!(
            "answered only after {sent} bytes (the limit is {MAX_HANDSHAKE}): {}",
            head.text
        ),
        Err(e) => panic!("no answer after {sent} bytes: {e}"),
    }
}

fn header_bombs(mut server: Server) {
    let kind = server.name();
    let honest = Honest::start(&server.url(), "honest");
    let addr = server.addr;

    // One bomb at a time, paced: the answer comes as the limit is crossed.
    let bombs = [
        ("100,000 headers", many_headers(addr), MAX_HANDSHAKE + PIECE),
        ("one 1 MiB header", big_header(addr), MAX_HANDSHAKE + PIECE),
        ("100 headers in 1.2 KB", too_many_headers(addr), usize::MAX),
    ];
    let mut lines = Vec::new();
    for (name, request, most) in &bombs {
        let answer = paced(addr, request);
        assert_eq!(
            answer.status, 431,
            "{kind}, {name}: expected 431, got {}",
            answer.head
        );
        assert!(
            answer.sent <= *most && answer.sent <= request.len(),
            "{kind}, {name}: refused only after {} of {} bytes",
            answer.sent,
            request.len()
        );
        assert!(
            answer.after < Duration::from_secs(2),
            "{kind}, {name}: refused after {:?}",
            answer.after
        );
        lines.push(format!(
            "{name} ({} bytes, sent in {PIECE}-byte pieces 20 ms apart): 431 after {} bytes \
             sent ({:.0} ms from the first byte, {:.1} ms after the piece that crossed the limit)",
            request.len(),
            answer.sent,
            answer.after.as_secs_f64() * 1e3,
            answer.latency.as_secs_f64() * 1e3,
        ));
    }

    // Many bombs at once, each pushed whole as fast as the server takes it.
    let watch = server.watch();
    let requests = [many_headers(addr), big_header(addr)];
    let outcomes: Vec<(Option<u16>, usize)> = thread::scope(|scope| {
        let bombers: Vec<_> = (0..BOMBERS)
            .map(|i| {
                let request = &requests[i % 2];
                scope.spawn(move || {
                    let mut raw = Raw::connect(addr).expect("connect a bomber");
                    let stop = AtomicBool::new(false);
                    let (written, _) = blast(
                        raw.writer(),
                        request,
                        64 << 10,
                        &stop,
                        Duration::from_secs(3),
                    );
                    (raw.read_head().ok().map(|head| head.status), written)
                })
            })
            .collect();
        bombers
            .into_iter()
            .map(|b| b.join().expect("a bomber panicked"))
            .collect()
    });
    let served = honest.stop();
    let watched = watch.finish();
    server.assert_running();
    let answered_431 = outcomes.iter().filter(|(s, _)| *s == Some(431)).count();
    let other: Vec<_> = outcomes
        .iter()
        .filter(|(s, _)| s.is_some_and(|s| s != 431))
        .collect();
    assert!(other.is_empty(), "{kind}: bombers got {other:?}");
    let most_written = outcomes.iter().map(|(_, w)| *w).max().unwrap_or(0);
    served.assert_served(&format!("header bombs on {kind}"));
    watched.assert_growth_below(
        MAX_GROWTH_KIB,
        &format!("{BOMBERS} header bombs at once on {kind}"),
    );
    report(format_args!(
        "header bomb {kind}: {}; {BOMBERS} bombers at once (2.1 MB and 1 MiB heads, pushed \
         whole): {answered_431} read their 431, the kernel took up to {most_written} bytes from \
         each (socket buffers, not the server's memory); {watched}; {served}",
        lines.join("; ")
    ));
}
