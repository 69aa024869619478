//! permessage-deflate (RFC 7692): the compression codec.

mod codec;

pub(crate) use codec::{Compressor, Decompressor, InflateError};
