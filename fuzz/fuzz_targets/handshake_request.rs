//! Server side of the opening handshake: a server `Connection` fed the input
//! whole, then cut into reads (cut sizes from the input, see `split`).
//!
//! Both runs accept a WebSocket request (with the first subprotocol offered)
//! or answer 404, read whatever follows as frames, then see the EOF. Checks:
//! the events and the output bytes are the same however the input is cut,
//! the HTTP head goes out first, and `Event::Closed` comes exactly once, last.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use rusty_socket_proto::Connection;
use rusty_socket_proto_fuzz::handshake::{handshake_config, transcript};
use rusty_socket_proto_fuzz::split::split;

fuzz_target!(|data: &[u8]| {
    let split = split(data);
    let server = || Connection::server(handshake_config(), Instant::now()).unwrap();
    let whole = transcript(server(), &[split.whole]);
    let pieces = transcript(server(), &split.pieces);
    assert_eq!(whole, pieces);
});
