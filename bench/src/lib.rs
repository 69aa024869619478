//! Benchmark harness for rusty_socket.
//!
//! The pieces live here so that the `wsload` load generator and the
//! `bench-report` writer share one definition of every frame, payload and JSON
//! record, and so that the codecs get unit tests under `cargo test`.
//!
//! The load generator is deliberately cheap: one current-thread Tokio runtime,
//! raw `TcpStream`s (or rustls over them, for `wss://`), client frames encoded once and written over and over, and
//! a streaming decoder that never buffers a whole echo. Whatever CPU it saves
//! is left to the server under test, which sits on the other core.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod check;
pub mod deflate;
pub mod deflate_report;
pub mod echo;
pub mod error;
pub mod fanout;
pub mod frame;
pub mod goals;
pub mod handshake;
pub mod histogram;
pub mod idle;
pub mod load;
pub mod payload;
pub mod record;
pub mod report;
pub mod section;
pub mod spread;
pub mod stream;
pub mod svg;
pub mod target;
pub mod tls;

pub use error::Error;
