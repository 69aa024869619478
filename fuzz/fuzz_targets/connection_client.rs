//! A whole client `Connection`: it sends its request and receives a valid 101
//! response computed for its key (with the first `eager` tape bytes behind
//! it, in the same read), then runs a script of reads, frames, sends,
//! fragments, pings, pongs, closes, accepts, writes (whole, vectored,
//! limited), timeouts, EOFs and resets on a virtual clock, and finally sees
//! the EOF and writes everything out.
//!
//! The invariants checked after every step against a model of the lifecycle
//! (phase, deadlines, the reason it ends with, exact output growth, bounded
//! input, events, the frames on the wire, the close frame of every failure)
//! are listed in `rusty_socket_proto_fuzz::driver`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rusty_socket_proto_fuzz::driver::{Driver, Input};

fuzz_target!(|input: Input| {
    Driver::client(&input).run(&input.ops);
});
