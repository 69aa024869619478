//! A message encoded once and sent to many connections.

#[cfg(feature = "deflate")]
use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};

use crate::event::Message;
use crate::frame::{write_frame, FrameHeader, OpCode};

/// A text or binary message encoded once as a complete server frame, so that
/// a broadcast queues the very same bytes (one `Bytes`, reference-counted) on
/// every connection instead of copying or re-encoding it per recipient.
///
/// Only servers can send it: a client must mask every frame with a fresh key,
/// so its frames cannot be shared.
///
/// With permessage-deflate, connections that reset their compressor after
/// every message (the default) all send the same compressed bytes: the
/// first such connection compresses the message and the others reuse its
/// frame, so a broadcast is compressed once, not once per recipient.
#[derive(Debug, Clone)]
pub struct PreparedMessage {
    frame: Bytes,
    #[cfg(feature = "deflate")]
    opcode: OpCode,
    /// Where the payload starts in `frame`.
    #[cfg(feature = "deflate")]
    header_len: usize,
    /// The compressed frame, made by the first connection that needed it,
    /// with the window it was compressed with; `None` inside when the
    /// message goes uncompressed (short, or not smaller compressed).
    #[cfg(feature = "deflate")]
    compressed: Arc<OnceLock<(u8, Option<Bytes>)>>,
}

impl PartialEq for PreparedMessage {
    fn eq(&self, other: &Self) -> bool {
        self.frame == other.frame
    }
}

impl Eq for PreparedMessage {}

impl PreparedMessage {
    /// Encodes a text or binary message; `None` for control frames, which
    /// are sent per connection.
    pub fn new(message: &Message) -> Option<Self> {
        let (opcode, payload) = match message {
            Message::Text(text) => (OpCode::Text, text.as_bytes()),
            Message::Binary(data) => (OpCode::Binary, &data[..]),
            _ => return None,
        };
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask: None,
            payload_len: payload.len() as u64,
        };
        let mut frame = BytesMut::with_capacity(header.encoded_len() + payload.len());
        write_frame(&mut frame, header, payload);
        Some(PreparedMessage {
            frame: frame.freeze(),
            #[cfg(feature = "deflate")]
            opcode,
            #[cfg(feature = "deflate")]
            header_len: header.encoded_len(),
            #[cfg(feature = "deflate")]
            compressed: Arc::default(),
        })
    }

    /// The message's payload.
    #[cfg(feature = "deflate")]
    pub(crate) fn payload(&self) -> &[u8] {
        &self.frame[self.header_len..]
    }

    #[cfg(feature = "deflate")]
    pub(crate) fn opcode(&self) -> OpCode {
        self.opcode
    }

    /// The compressed frame for a connection that compresses with `window`
    /// bits and no context takeover: made once by `compress` (which returns
    /// the compressed frame, or `None` to send the plain one), then shared
    /// with every connection whose window is at least as large.
    #[cfg(feature = "deflate")]
    pub(crate) fn compressed_frame(
        &self,
        window: u8,
        compress: impl FnOnce() -> Option<Bytes>,
    ) -> Option<Bytes> {
        let mut compress = Some(compress);
        let (made_with, frame) = self
            .compressed
            .get_or_init(|| (window, compress.take().and_then(|f| f())));
        if *made_with <= window {
            return frame.clone();
        }
        // Compressed for a larger window than this connection agreed.
        compress.and_then(|f| f())
    }

    /// The encoded frame.
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }
}
