//! A message encoded once and sent to many connections.

use bytes::{Bytes, BytesMut};

use crate::event::Message;
use crate::frame::{write_frame, FrameHeader, OpCode};

/// A text or binary message encoded once as a complete server frame, so that
/// a broadcast queues the very same bytes (one `Bytes`, reference-counted) on
/// every connection instead of copying or re-encoding it per recipient.
///
/// Only servers can send it: a client must mask every frame with a fresh key,
/// so its frames cannot be shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedMessage {
    frame: Bytes,
}

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
        })
    }

    /// The encoded frame.
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }
}
