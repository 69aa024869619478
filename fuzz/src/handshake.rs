//! Running a connection over a list of reads, for the whole-vs-split targets.

use std::time::Instant;

use rusty_socket_proto::http::StatusCode;
use rusty_socket_proto::{Accept, ClientRequest, Config, Connection, Event, Reject, Role, State};

/// The fixed seed of the client under test, so that its handshake key (and so
/// the `Sec-WebSocket-Accept` the seed corpora carry) never changes.
pub const CLIENT_SEED: [u8; 32] = [7; 32];

/// The request the client under test sends.
pub fn client_request() -> ClientRequest {
    ClientRequest::new("ws://example.com/chat")
        .expect("a valid URL")
        .protocol("chat")
        .and_then(|request| request.protocol("superchat"))
        .expect("valid tokens")
}

/// Small handshake limits, so that inputs of a few KiB can cross them.
pub fn handshake_config() -> Config {
    let mut config = Config::default();
    config.max_handshake_size = 1024;
    config.max_headers = 16;
    config
}

/// Everything a connection showed: its events (as `Debug` text, since
/// `Event` has no `PartialEq`) and the bytes it transmitted, in order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Transcript {
    /// The events, in order.
    pub events: Vec<String>,
    /// The transmitted bytes, concatenated.
    pub output: Vec<u8>,
}

/// Feeds `reads` to `conn` one `handle_read` each, then an EOF, following
/// the run loop (drain every output at the start and after every input). A
/// server accepts a WebSocket request with the first subprotocol offered and
/// answers anything else with a 404.
///
/// `poll_shutdown` is recorded among the events as `Shutdown`.
///
/// Checks that the handshake buffer stays within `max_handshake_size` (or
/// the last read, for bytes behind a complete head), that the HTTP head goes
/// out first, and that `Event::Closed` comes exactly once, last. A server
/// that answered with an error (a handshake error's 4xx, or the 404) lingers:
/// it wants its write side shut down exactly once, after its answer and with
/// nothing written after it, and still ends with the reason of its refusal
/// when the EOF comes; nothing else ever wants a shutdown.
pub fn transcript(mut conn: Connection, reads: &[&[u8]]) -> Transcript {
    let now = Instant::now();
    let mut transcript = Transcript::default();
    // A client has its request queued from the start.
    drain(&mut conn, now, &mut transcript);
    for read in reads {
        conn.handle_read(now, read);
        if conn.state() == State::Handshake {
            // A head is bounded by the limit; what follows a complete head
            // waits for the decision, and came with this read.
            let bound = conn.config().max_handshake_size.max(read.len());
            assert!(conn.buffered_incoming() <= bound, "handshake buffer");
        }
        drain(&mut conn, now, &mut transcript);
    }
    conn.handle_eof(now);
    drain(&mut conn, now, &mut transcript);

    let expected_head: &[u8] = match conn.role() {
        Role::Client => b"GET ",
        Role::Server => b"HTTP/1.1 ",
    };
    if !transcript.output.is_empty() {
        assert!(
            transcript.output.starts_with(expected_head),
            "the HTTP head must go out first: {:?}",
            String::from_utf8_lossy(&transcript.output)
        );
    }
    let closed = transcript
        .events
        .iter()
        .position(|e| e.starts_with("Closed("));
    assert_eq!(
        closed,
        Some(transcript.events.len() - 1),
        "Closed must come exactly once, last: {:?}",
        transcript.events
    );
    assert_eq!(
        transcript
            .events
            .iter()
            .filter(|e| e.starts_with("Closed("))
            .count(),
        1,
        "Closed more than once: {:?}",
        transcript.events
    );

    let refused = conn.role() == Role::Server
        && transcript.output.starts_with(b"HTTP/1.1 ")
        && !transcript.output.starts_with(b"HTTP/1.1 101 ");
    let shutdowns = transcript.events.iter().filter(|e| *e == SHUTDOWN).count();
    assert_eq!(
        shutdowns,
        usize::from(refused),
        "a refusal (and only a refusal) lingers: {:?}",
        transcript.events
    );
    if refused {
        let reason = &transcript.events[transcript.events.len() - 1];
        assert!(
            reason.starts_with("Closed(Handshake(") || reason.starts_with("Closed(Rejected("),
            "a refusal ends with its own reason: {reason}"
        );
    }
    transcript
}

/// How `poll_shutdown() == true` shows among the events.
const SHUTDOWN: &str = "Shutdown";

fn drain(conn: &mut Connection, now: Instant, transcript: &mut Transcript) {
    loop {
        let mut moved = false;
        while let Some(bytes) = conn.poll_transmit(now) {
            assert!(
                !transcript.events.iter().any(|e| e == SHUTDOWN),
                "output after the shutdown"
            );
            transcript.output.extend_from_slice(&bytes);
            moved = true;
        }
        if conn.poll_shutdown() {
            assert!(!conn.wants_write(), "shutdown with output queued");
            transcript.events.push(SHUTDOWN.to_owned());
            moved = true;
        }
        while let Some(event) = conn.poll_event() {
            if let Event::Request(request) = &event {
                let answer = if request.is_websocket() {
                    let accept = match request.protocols().first() {
                        Some(protocol) => Accept::with_protocol(protocol.clone()),
                        None => Accept::default(),
                    };
                    conn.accept(now, accept)
                } else {
                    conn.reject(now, Reject::status(StatusCode::NOT_FOUND))
                };
                answer.expect("a pending request can be answered");
            }
            transcript.events.push(format!("{event:?}"));
            moved = true;
        }
        if !moved {
            return;
        }
    }
}
