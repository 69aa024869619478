//! Client side of the opening handshake: a client `Connection` with a fixed
//! seed (so its key, and the `Sec-WebSocket-Accept` in the seed corpus, never
//! change) fed the input as the server's response, whole, then cut into
//! reads (cut sizes from the input, see `split`).
//!
//! The client offers subprotocols `chat`, `superchat` and the
//! `permessage-deflate` extension; whatever follows the response is read as
//! frames, then the EOF. Checks: the events and the output bytes are the same
//! however the input is cut, the request goes out first, and
//! `Event::Closed` comes exactly once, last.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use rusty_socket_proto::Connection;
use rusty_socket_proto_fuzz::handshake::{
    client_request, handshake_config, transcript, CLIENT_SEED,
};
use rusty_socket_proto_fuzz::split::split;

fuzz_target!(|data: &[u8]| {
    let split = split(data);
    let client = || {
        Connection::client(
            &client_request(),
            handshake_config(),
            CLIENT_SEED,
            Instant::now(),
        )
        .unwrap()
    };
    let whole = transcript(client(), &[split.whole]);
    let pieces = transcript(client(), &split.pieces);
    assert_eq!(whole, pieces);
});
