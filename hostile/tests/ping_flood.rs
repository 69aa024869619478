//! Attack 5, ping flood: a client that sends pings (125-byte payloads)
//! as fast as it can and never reads its pongs. The pongs fill the socket
//! buffers, then proto's outgoing queue. The attacker stops writing once a
//! write has been blocked for 500 ms (the server no longer reads), then
//! reads what it was sent. How many pings that takes depends on the socket
//! buffers (measured and reported).
//!
//! A server that keeps reading while its writes are blocked piles the
//! pongs up in proto's queue of control frames; at 64 KiB proto fails the
//! connection with 1008 ("peer does not read") and stops reading. The
//! close frame sits behind megabytes of unread pongs, and the server's
//! close with the attacker's pings unread resets the connection, which
//! discards them: the attacker sees the reset (or the 1008 if it got
//! through), the server's log the 1008. The chat server on Tokio always
//! ends there (its reader runs beside its writer).
//!
//! The echo server's loop (reads what is ready, then waits for its flush)
//! and the std adapter's `recv` (writes what is owed before it reads) may
//! instead stop reading while their pongs cannot be written: backpressure.
//! Nothing piles up; once the attacker reads, every ping is answered and
//! the connection goes on. Both outcomes are accepted there.
//!
//! Either way the server's memory stays flat and the honest client is
//! served. And a flooder that then stays connected without reading must
//! still be dropped by the server's timers (close timeout, idle timeout):
//! the std runtime used to hold it for ever (see `flooder_stays`).

#![cfg(target_os = "linux")]

mod common;

use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::{client_frame, op, report, serial, Honest, Kind, Raw, Server};

const PAYLOAD: [u8; 125] = [b'p'; 125];
/// The most pings sent, whatever happens (about 260 MB).
const MAX_PINGS: usize = 2_000_000;
/// The longest the flood may last.
const MAX_FLOOD: Duration = Duration::from_secs(20);
/// A write blocked this long means the server has stopped reading.
const STALL: Duration = Duration::from_millis(500);
/// The most the server's resident memory may grow: the queue is 64 KiB;
/// the rest is the socket buffers' business (kernel memory, not RSS).
const MAX_GROWTH_KIB: u64 = 8 << 10;

#[test]
fn a_ping_flood_that_never_reads_is_cut_off_by_the_echo_server() {
    let _serial = serial();
    ping_flood(Server::echo(&[]), Outcome::CutOffOrPushedBack);
}

#[test]
fn a_ping_flood_that_never_reads_is_cut_off_by_the_chat_server() {
    let _serial = serial();
    ping_flood(Server::chat(&[]), Outcome::CutOff);
}

#[test]
fn a_ping_flood_that_never_reads_is_cut_off_by_the_chat_server_std_runtime() {
    let _serial = serial();
    ping_flood(
        Server::chat(&["--runtime", "std"]),
        Outcome::CutOffOrPushedBack,
    );
}

/// What the flood did.
struct Flood {
    /// Whole pings written.
    pings: usize,
    /// The rest of a ping written in part, if a write stopped inside one.
    rest: Vec<u8>,
    took: Duration,
    /// Why it stopped.
    stopped: String,
}

/// Pings as fast as the socket takes them until a write stalls for
/// [`STALL`], fails, or a bound is reached. Never reads.
fn flood(mut stream: TcpStream) -> Flood {
    stream
        .set_write_timeout(Some(STALL))
        .expect("write timeout");
    let ping = client_frame(op::PING, &PAYLOAD);
    let batch: Vec<u8> = ping.repeat(500);
    let started = Instant::now();
    let mut written = 0usize;
    let stopped = loop {
        if written / ping.len() >= MAX_PINGS {
            break format!("{MAX_PINGS} pings sent");
        }
        if started.elapsed() > MAX_FLOOD {
            break format!("{MAX_FLOOD:?} passed");
        }
        let offset = written % batch.len();
        match stream.write(&batch[offset..]) {
            Ok(0) => break "the socket took nothing".to_owned(),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break format!("a write blocked for {STALL:?}: the server stopped reading");
            }
            Err(e) => break format!("a write failed: {e}"),
        }
    };
    let partly = written % ping.len();
    Flood {
        pings: written / ping.len(),
        rest: if partly > 0 {
            ping[partly..].to_vec()
        } else {
            Vec::new()
        },
        took: started.elapsed(),
        stopped,
    }
}

/// What a server may do with the flood.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Fail the connection with 1008.
    CutOff,
    /// That, or stop reading until its pongs can be written.
    CutOffOrPushedBack,
}

fn ping_flood(mut server: Server, outcome: Outcome) {
    let kind = server.name();
    let honest = Honest::start(&server.url(), "honest");
    let mut raw = Raw::open(server.addr);
    raw.converse("before the flood");
    let watch = server.watch();
    let flood = flood(raw.writer());
    let during = watch.now();
    assert!(
        flood.stopped.contains("stopped reading") || flood.stopped.contains("failed"),
        "{kind}: the flood was never pushed back: {} after {} pings",
        flood.pings,
        flood.stopped
    );
    // Now read what the server sent.
    let (pongs, seen) = read_back(&server, &mut raw, &flood, outcome);
    let served = honest.stop();
    thread::sleep(Duration::from_millis(100));
    let watched = watch.finish();
    server.assert_running();
    served.assert_served(&format!("ping flood on {kind}"));
    watched.assert_growth_below(MAX_GROWTH_KIB, &format!("ping flood on {kind}"));
    report(format_args!(
        "ping flood {kind}: {} pings of 125 bytes ({:.1} MB) in {:.2} s until {}; the attacker \
         then read {pongs} pongs ({:.1} MB) and {seen}; RSS at the stall {:.1} MiB; \
         {watched}; {served}",
        flood.pings,
        flood.pings as f64 * 131.0 / 1e6,
        flood.took.as_secs_f64(),
        flood.stopped,
        pongs as f64 * 127.0 / 1e6,
        during as f64 / 1024.0,
    ));
}

/// Reads the pongs until the close, the end, or (backpressure) an answer
/// to every ping; checks each outcome, describes it.
fn read_back(server: &Server, raw: &mut Raw, flood: &Flood, outcome: Outcome) -> (usize, String) {
    let kind = server.name();
    let started = Instant::now();
    let mut pongs = 0;
    let end = loop {
        if pongs == flood.pings && outcome == Outcome::CutOffOrPushedBack {
            // The server reads again: finish the ping cut in two, if any.
            if !flood.rest.is_empty() {
                raw.send(&flood.rest)
                    .expect("send the rest of the last ping");
                loop {
                    let frame = raw.read_frame().expect("read").expect("a frame");
                    if frame.opcode == op::PONG {
                        break;
                    }
                    assert_eq!(frame.opcode, op::TEXT, "{kind} answered {frame:?}");
                }
                pongs += 1;
            }
            raw.converse("after the flood");
            return (
                pongs,
                format!(
                    "every ping answered in {:.2} s, then an ordinary round trip (backpressure: \
                     the loop stopped reading while its pongs could not be written, no 1008)",
                    started.elapsed().as_secs_f64()
                ),
            );
        }
        match raw.read_frame() {
            Ok(Some(frame)) if frame.opcode == op::PONG => {
                assert_eq!(frame.payload, PAYLOAD, "{kind}: a pong's payload");
                pongs += 1;
            }
            Ok(Some(frame)) if frame.opcode == op::CLOSE => {
                assert_eq!(
                    frame.close_code(),
                    Some(1008),
                    "{kind} closed with {:?} {}",
                    frame.close_code(),
                    frame.close_reason()
                );
                return (
                    pongs,
                    format!(
                        "the close 1008 \"{}\" {:.0} ms after the flood stopped",
                        frame.close_reason(),
                        started.elapsed().as_secs_f64() * 1e3
                    ),
                );
            }
            // The honest client's broadcasts (chat).
            Ok(Some(frame)) if frame.opcode == op::TEXT && server.kind == Kind::Chat => {}
            Ok(Some(frame)) => panic!("{kind} sent opcode {} after {pongs} pongs", frame.opcode),
            Ok(None) => break "the server ended the connection".to_owned(),
            Err(e) => break e.to_string(),
        }
    };
    assert!(
        pongs < flood.pings,
        "{kind}: every ping was answered, then: {end}"
    );
    let needles: &[&str] = match server.kind {
        Kind::Chat => &["disconnected", "1008", "peer does not read"],
        Kind::Echo => &["peer does not read"],
    };
    assert!(
        server.wait_for_log(needles),
        "{kind}: no close frame ({end}) and no 1008 \"peer does not read\" in its log"
    );
    (
        pongs,
        format!(
            "then the connection ended ({end}) instead of the close frame, which was queued \
             behind the unread pongs; the server logged the 1008 \"peer does not read\""
        ),
    )
}

#[test]
fn a_silent_ping_flooder_is_dropped_by_the_chat_server() {
    let _serial = serial();
    flooder_stays(Server::chat(&[
        "--ping-interval",
        "1s",
        "--idle-timeout",
        "2s",
    ]));
}

#[test]
fn a_silent_ping_flooder_is_dropped_by_the_chat_server_std_runtime() {
    let _serial = serial();
    flooder_stays(Server::chat(&[
        "--runtime",
        "std",
        "--ping-interval",
        "1s",
        "--idle-timeout",
        "2s",
    ]));
}

/// The flooder stays connected once the server has stopped reading, and
/// neither reads nor writes any more. Whatever state the connection is in
/// (failed with 1008 and waiting for its close frame to drain, or open with
/// its pongs stuck), the server's timers must end it: the close timeout
/// (5 s), or the idle timeout (2 s here) and then the close timeout. It
/// must not be held for as long as the attacker likes.
///
/// This failed on the std runtime: while a pong could not be written,
/// rusty-socket-std's `ReadHalf::recv` returned the write timeout (the
/// chat server sets 100 ms) before ever reaching the code that acts on
/// proto's deadlines, so the keepalive, idle and close timers never fired
/// and the connection (two threads, a socket) was held for as long as the
/// peer kept it open.
fn flooder_stays(mut server: Server) {
    let kind = server.name();
    let raw = Raw::open(server.addr);
    let flood = flood(raw.writer());
    assert!(
        flood.stopped.contains("stopped reading"),
        "{kind}: {}",
        flood.stopped
    );
    let stalled = Instant::now();
    let dropped = rusty_socket_test_support::wait_until(Duration::from_secs(12), || {
        server
            .logs()
            .lines()
            .any(|line| line.contains("disconnected"))
    });
    let waited = stalled.elapsed();
    server.assert_running();
    let logs = server.logs();
    let line = logs.lines().find(|line| line.contains("disconnected"));
    assert!(
        dropped,
        "{kind}: a flooder that stopped reading is still connected {waited:?} after the \
         server stopped reading (close timeout 5 s, idle timeout 2 s); /stats: {}",
        server.stats()
    );
    report(format_args!(
        "silent ping flooder {kind}: dropped {:.1} s after the server stopped reading: {}",
        waited.as_secs_f64(),
        line.unwrap_or_default()
    ));
    drop(raw);
}

/// The same silent flooder against a plain (unsplit) rusty-socket-std
/// `WebSocket` served in this process, with a write timeout on its socket
/// (100 ms) and proto's idle (1 s) and close (1 s) timeouts: its `recv`
/// must end once those deadlines pass, not return the write timeout for
/// ever. (`WebSocket::recv` had the same flaw as `ReadHalf::recv`.)
#[test]
fn a_silent_ping_flooder_is_dropped_by_a_std_websocket_with_a_write_timeout() {
    let _serial = serial();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        stream
            .set_write_timeout(Some(Duration::from_millis(100)))
            .expect("write timeout");
        let mut config = rusty_socket_std::Config::default();
        config.idle_timeout = Some(Duration::from_secs(1));
        config.close_timeout = Some(Duration::from_secs(1));
        let mut ws = rusty_socket_std::accept_with(stream, config, |_| {
            Ok(rusty_socket_std::Accept::default())
        })
        .expect("handshake");
        let mut first_timeout = None;
        // Bounded: 12 s, or 1,000 receives.
        let deadline = Instant::now() + Duration::from_secs(12);
        for _ in 0..1_000_000 {
            if Instant::now() > deadline {
                break;
            }
            match ws.recv() {
                Ok(Some(_)) => {}
                Ok(None) => {
                    let end = "a completed closing handshake".to_owned();
                    return (Some(end), first_timeout.map(|t: Instant| t.elapsed()));
                }
                Err(e) if e.is_timeout() => {
                    first_timeout.get_or_insert_with(Instant::now);
                }
                Err(e) => return (Some(e.to_string()), first_timeout.map(|t| t.elapsed())),
            }
        }
        (None, first_timeout.map(|t| t.elapsed()))
    });
    let raw = Raw::open(addr);
    let flood = flood(raw.writer());
    assert!(
        flood.stopped.contains("stopped reading"),
        "{}",
        flood.stopped
    );
    let (end, since_stuck) = server.join().expect("the server thread");
    drop(raw);
    let end = end.unwrap_or_else(|| {
        panic!(
            "recv kept returning the write timeout ({since_stuck:?} since the first) and \
             never ended the connection: the idle and close timeouts did not fire"
        )
    });
    report(format_args!(
        "silent ping flooder, std WebSocket with a 100 ms write timeout: ended {:.1} s after \
         its first write timeout: {end}",
        since_stuck.unwrap_or_default().as_secs_f64()
    ));
}
