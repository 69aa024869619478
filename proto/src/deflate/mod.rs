//! permessage-deflate (RFC 7692): negotiation and parameters.

mod negotiate;
mod params;

#[allow(unused_imports)] // `offer` and `accept` are called once the handshake is wired in.
pub(crate) use negotiate::{accept, check_response, offer};
pub use params::{Deflate, DeflateConfig};
