//! The frame header codec (RFC 6455 section 5.2).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! ```
//!
//! The decoder is a pure function in the style of httparse: it looks at the
//! bytes it is given and answers `Partial` (need more) or `Complete(header,
//! length)`. It checks every rule that needs nothing but the header itself;
//! rules that depend on the connection (masking by role, RSV bits claimed by
//! an extension, continuation order, size limits) are the connection's.

use crate::error::ProtocolError;

/// The largest possible frame header: 2 bytes, a 64-bit length, a masking key.
pub const MAX_HEADER_LEN: usize = 14;

/// Largest payload of a control frame (RFC 6455 section 5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame's opcode (RFC 6455 section 5.2). Reserved opcodes never get this far:
/// the decoder rejects them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// `0x0`: continues a fragmented message.
    Continuation,
    /// `0x1`: the first (or only) frame of a text message.
    Text,
    /// `0x2`: the first (or only) frame of a binary message.
    Binary,
    /// `0x8`: starts or answers the closing handshake.
    Close,
    /// `0x9`: asks the peer for a pong.
    Ping,
    /// `0xA`: answers a ping, or is a unidirectional heartbeat.
    Pong,
}

impl OpCode {
    /// The opcode's 4-bit value on the wire.
    pub fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Decodes a 4-bit opcode; reserved values (`0x3`-`0x7`, `0xB`-`0xF`) are `None`.
    pub fn from_u8(value: u8) -> Option<OpCode> {
        Some(match value {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            _ => return None,
        })
    }

    /// Close, ping and pong are control frames (opcodes with the high bit set).
    pub fn is_control(self) -> bool {
        self.as_u8() & 0x8 != 0
    }
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: this is the final fragment of a message.
    pub fin: bool,
    /// The three reserved bits RSV1..RSV3, as the low bits `0b0000_0RRR`
    /// (RSV1 is `0b100`). Non-zero only if an extension claims them.
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present on every client-to-server frame.
    pub mask: Option<[u8; 4]>,
    /// The payload length in bytes.
    pub payload_len: u64,
}

/// The outcome of decoding from a buffer that may not hold a whole header yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<T> {
    /// More bytes are needed; nothing was consumed.
    Partial,
    /// A complete value, and how many bytes of the input it took.
    Complete(T, usize),
}

impl FrameHeader {
    /// Decodes a header from the start of `buf`.
    ///
    /// Rejects reserved opcodes, fragmented or oversized (over 125 bytes)
    /// control frames, and a 64-bit length with its most significant bit set
    /// (RFC 6455 section 5.2: "the most significant bit MUST be 0").
    pub fn decode(buf: &[u8]) -> Result<Decoded<FrameHeader>, ProtocolError> {
        let [b0, b1, ..] = *buf else {
            return Ok(Decoded::Partial);
        };
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 0x7;
        let opcode = OpCode::from_u8(b0 & 0x0f).ok_or(ProtocolError::ReservedOpcode(b0 & 0x0f))?;
        let masked = b1 & 0x80 != 0;
        let (payload_len, mut at) = match b1 & 0x7f {
            126 => match buf.get(2..4) {
                Some(&[hi, lo]) => (u64::from(u16::from_be_bytes([hi, lo])), 4),
                _ => return Ok(Decoded::Partial),
            },
            127 => match buf.get(2..10).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                Some(bytes) => (u64::from_be_bytes(bytes), 10),
                None => return Ok(Decoded::Partial),
            },
            len => (u64::from(len), 2),
        };
        if payload_len > i64::MAX as u64 {
            return Err(ProtocolError::LengthOverflow);
        }
        if opcode.is_control() {
            if !fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolError::ControlFrameTooLong(payload_len));
            }
        }
        let mask = if masked {
            match buf
                .get(at..at + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
            {
                Some(key) => {
                    at += 4;
                    Some(key)
                }
                None => return Ok(Decoded::Partial),
            }
        } else {
            None
        };
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len,
        };
        Ok(Decoded::Complete(header, at))
    }

    /// The number of bytes [`encode`](Self::encode) writes for this header.
    pub fn encoded_len(&self) -> usize {
        let len = match self.payload_len {
            0..=125 => 2,
            126..=0xffff => 4,
            _ => 10,
        };
        len + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Encodes the header into `dst` with the shortest length encoding and
    /// returns how many bytes it wrote.
    pub fn encode(&self, dst: &mut [u8; MAX_HEADER_LEN]) -> usize {
        dst[0] = (u8::from(self.fin) << 7) | ((self.rsv & 0x7) << 4) | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut at = match self.payload_len {
            len @ 0..=125 => {
                dst[1] = mask_bit | len as u8;
                2
            }
            len @ 126..=0xffff => {
                dst[1] = mask_bit | 126;
                dst[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                4
            }
            len => {
                dst[1] = mask_bit | 127;
                dst[2..10].copy_from_slice(&len.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            dst[at..at + 4].copy_from_slice(&key);
            at += 4;
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8]) -> FrameHeader {
        match FrameHeader::decode(bytes) {
            Ok(Decoded::Complete(header, len)) => {
                assert_eq!(len, bytes.len());
                header
            }
            other => panic!("expected a complete header, got {other:?}"),
        }
    }

    #[test]
    fn every_proper_prefix_is_partial() {
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Binary,
            mask: Some([1, 2, 3, 4]),
            payload_len: 70_000,
        };
        let mut buf = [0; MAX_HEADER_LEN];
        let len = header.encode(&mut buf);
        assert_eq!(len, header.encoded_len());
        for end in 0..len {
            assert_eq!(
                FrameHeader::decode(&buf[..end]),
                Ok(Decoded::Partial),
                "prefix {end}"
            );
        }
        assert_eq!(decode_all(&buf[..len]), header);
    }

    #[test]
    fn lengths_use_the_shortest_encoding() {
        for (len, expected) in [(0, 2), (125, 2), (126, 4), (65_535, 4), (65_536, 10)] {
            let header = FrameHeader {
                fin: true,
                rsv: 0,
                opcode: OpCode::Binary,
                mask: None,
                payload_len: len,
            };
            assert_eq!(header.encoded_len(), expected, "length {len}");
        }
    }

    #[test]
    fn rfc_6455_section_5_7_length_examples() {
        // 256 bytes binary message in a single unmasked frame.
        let header = decode_all(&[0x82, 0x7E, 0x01, 0x00]);
        assert_eq!((header.opcode, header.payload_len), (OpCode::Binary, 256));
        // 64 KiB binary message in a single unmasked frame.
        let header = decode_all(&[0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]);
        assert_eq!(
            (header.opcode, header.payload_len),
            (OpCode::Binary, 65_536)
        );
    }

    #[test]
    fn header_only_rules() {
        assert_eq!(
            FrameHeader::decode(&[0x83, 0x00]),
            Err(ProtocolError::ReservedOpcode(3))
        );
        assert_eq!(
            FrameHeader::decode(&[0x8B, 0x00]),
            Err(ProtocolError::ReservedOpcode(0xB))
        );
        assert_eq!(
            FrameHeader::decode(&[0x09, 0x00]),
            Err(ProtocolError::FragmentedControlFrame)
        );
        assert_eq!(
            FrameHeader::decode(&[0x89, 0x7E, 0x00, 0x7E]),
            Err(ProtocolError::ControlFrameTooLong(126))
        );
        assert_eq!(
            FrameHeader::decode(&[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            Err(ProtocolError::LengthOverflow)
        );
    }
}
