//! Attack 6, protocol violations mid-conversation: after an ordinary
//! message, each attacker sends one broken frame (invalid UTF-8, an
//! unmasked frame, a reserved opcode, RSV bits, and the other framing rules
//! of RFC 6455 section 5). The server must close with the right code (1007
//! for bad UTF-8, 1002 for the rest) at once and end the connection; the
//! honest client is served throughout, and on the chat server no broken
//! frame's payload reaches anyone (an observer sees every attacker's first,
//! valid message, and nothing of the broken ones).

#![cfg(target_os = "linux")]

mod common;

use std::time::{Duration, Instant};

use common::{client_frame, frame, op, report, serial, Honest, Kind, Raw, Server, MASK, RSV1};
use common::{RSV2, RSV3};

/// Every broken payload carries this, for the observer to look for.
const EVIL: &str = "EVIL";

/// One violation: its name, the frames, the close code expected.
struct Case {
    name: &'static str,
    frames: Vec<u8>,
    code: u16,
}

fn cases() -> Vec<Case> {
    let evil = EVIL.as_bytes();
    let with = |tail: &[u8]| [evil, tail].concat();
    let close_payload = |code: u16, reason: &[u8]| [&code.to_be_bytes()[..], reason].concat();
    vec![
        Case {
            name: "invalid UTF-8 in a text frame",
            frames: client_frame(op::TEXT, &with(b" \xff")),
            code: 1007,
        },
        Case {
            name: "invalid UTF-8 in the second fragment (message not finished)",
            frames: [
                frame(false, 0, op::TEXT, &with(b" ok"), Some(MASK)),
                frame(false, 0, op::CONTINUATION, b"\xc3\x28", Some(MASK)),
            ]
            .concat(),
            code: 1007,
        },
        Case {
            name: "invalid UTF-8 in a close reason",
            frames: client_frame(op::CLOSE, &close_payload(1000, b"\xff\xfe")),
            code: 1007,
        },
        Case {
            name: "unmasked text frame",
            frames: frame(true, 0, op::TEXT, evil, None),
            code: 1002,
        },
        Case {
            name: "unmasked ping",
            frames: frame(true, 0, op::PING, evil, None),
            code: 1002,
        },
        Case {
            name: "reserved data opcode 0x3",
            frames: client_frame(0x3, evil),
            code: 1002,
        },
        Case {
            name: "reserved control opcode 0xB",
            frames: client_frame(0xB, evil),
            code: 1002,
        },
        Case {
            name: "RSV1 without an extension",
            frames: frame(true, RSV1, op::TEXT, evil, Some(MASK)),
            code: 1002,
        },
        Case {
            name: "RSV2",
            frames: frame(true, RSV2, op::TEXT, evil, Some(MASK)),
            code: 1002,
        },
        Case {
            name: "RSV3 on a ping",
            frames: frame(true, RSV3, op::PING, evil, Some(MASK)),
            code: 1002,
        },
        Case {
            name: "continuation without a message",
            frames: client_frame(op::CONTINUATION, evil),
            code: 1002,
        },
        Case {
            name: "new text inside a fragmented message",
            frames: [
                frame(false, 0, op::TEXT, evil, Some(MASK)),
                client_frame(op::TEXT, evil),
            ]
            .concat(),
            code: 1002,
        },
        Case {
            name: "fragmented ping",
            frames: frame(false, 0, op::PING, evil, Some(MASK)),
            code: 1002,
        },
        Case {
            name: "ping of 126 bytes",
            frames: client_frame(op::PING, &[b'E'; 126]),
            code: 1002,
        },
        Case {
            name: "close code 1005 on the wire",
            frames: client_frame(op::CLOSE, &close_payload(1005, b"")),
            code: 1002,
        },
        Case {
            name: "close code 999",
            frames: client_frame(op::CLOSE, &close_payload(999, b"")),
            code: 1002,
        },
        Case {
            name: "close frame of 1 byte",
            frames: client_frame(op::CLOSE, &[3]),
            code: 1002,
        },
    ]
}

#[test]
fn protocol_violations_get_the_right_close_code_from_the_echo_server() {
    let _serial = serial();
    violations(Server::echo(&[]));
}

#[test]
fn protocol_violations_get_the_right_close_code_from_the_chat_server() {
    let _serial = serial();
    violations(Server::chat(&[]));
}

#[test]
fn protocol_violations_get_the_right_close_code_from_the_chat_server_std_runtime() {
    let _serial = serial();
    violations(Server::chat(&["--runtime", "std"]));
}

fn violations(mut server: Server) {
    let kind = server.name();
    let honest = Honest::start(&server.url(), "honest");
    let mut observer = (server.kind == Kind::Chat).then(|| {
        let mut observer = Raw::open(server.addr);
        // Its own message back: it has joined the chat, it sees what follows.
        observer.converse("the observer is here");
        observer
    });
    let watch = server.watch();
    let mut slowest = Duration::ZERO;
    let cases = cases();
    for (i, case) in cases.iter().enumerate() {
        let mut raw = Raw::open(server.addr);
        raw.converse(&format!("attacker {i} says hello"));
        let started = Instant::now();
        raw.send(&case.frames).expect("send the broken frame");
        let ending = raw.expect_close(case.code, &format!("{kind}, {}", case.name));
        slowest = slowest.max(started.elapsed());
        assert!(
            ending.count(op::TEXT) == 0 || server.kind == Kind::Chat,
            "{kind}, {}: echoed something first: {ending:?}",
            case.name
        );
        assert!(
            raw.expect_eof(),
            "{kind}, {}: the connection stays open after the close",
            case.name
        );
    }
    // The chat's observer: every attacker's hello, nothing of theirs after.
    let mut seen_hellos = 0;
    if let Some(observer) = &mut observer {
        observer
            .send(&client_frame(op::TEXT, b"observer's sentinel"))
            .expect("send the sentinel");
        loop {
            let frame = observer
                .read_frame()
                .expect("the observer reads")
                .expect("the observer's connection is open");
            if frame.opcode != op::TEXT {
                continue;
            }
            let text = String::from_utf8(frame.payload).expect("broadcasts are UTF-8");
            assert!(
                !text.contains(EVIL),
                "a broken frame's payload was broadcast: {text:?}"
            );
            if text.starts_with("attacker ") {
                seen_hellos += 1;
            }
            if text == "observer's sentinel" {
                break;
            }
        }
        assert_eq!(seen_hellos, cases.len(), "the observer missed a hello");
    }
    let served = honest.stop();
    let watched = watch.finish();
    server.assert_running();
    served.assert_served(&format!("protocol violations on {kind}"));
    watched.assert_growth_below(4 << 10, &format!("protocol violations on {kind}"));
    let observed = if server.kind == Kind::Chat {
        format!("; an observer saw all {seen_hellos} attackers' hellos and no broken payload")
    } else {
        String::new()
    };
    report(format_args!(
        "protocol violations {kind}: {} cases, each closed with its code (1007 for the 3 UTF-8 \
         cases, 1002 for the others), slowest {:.1} ms after the broken frame{observed}; \
         {watched}; {served}",
        cases.len(),
        slowest.as_secs_f64() * 1e3,
    ));
}
