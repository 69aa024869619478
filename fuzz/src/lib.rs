//! Shared pieces of the fuzz targets over `rusty-socket-proto`.
//!
//! - [`split`]: cuts an input into the reads of a "any split gives the same
//!   result" target, with the cut sizes taken from the input itself;
//! - [`handshake`]: runs a connection over a list of reads and records
//!   everything observable, for the handshake targets' whole-vs-split check;
//! - [`wire`]: parses and checks what a connection transmits;
//! - [`deflate`]: permessage-deflate on flate2 for the models: the
//!   connection's compressor predicted, the peer's, and inflating;
//! - [`driver`]: the structured input of the `connection_*` targets and the
//!   driver that runs it and checks the connection's invariants after every step.

pub mod deflate;
pub mod driver;
pub mod handshake;
pub mod split;
pub mod wire;
