//! permessage-deflate (RFC 7692): the negotiation of its parameters in the
//! opening handshake (`negotiate.rs`, `params.rs`) and the compression of
//! messages (`codec.rs`), which the receive and send paths call.

mod codec;
mod negotiate;
mod params;
mod spare;

pub(crate) use codec::{Compressor, Decompressor, InflateError};
pub(crate) use negotiate::{accept, check_response, offer};
pub use params::{Deflate, DeflateConfig};
pub use spare::{drop_spare_engines, SPARE_ENGINES};
