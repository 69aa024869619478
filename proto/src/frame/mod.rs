//! Frames: the header codec, masking, and writing a whole frame.

mod header;
mod mask;

pub use header::{Decoded, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
pub use mask::apply_mask;

use bytes::BytesMut;

/// Appends a whole frame (header and payload, masked when `mask` is given) to `dst`.
pub(crate) fn write_frame(dst: &mut BytesMut, header: FrameHeader, payload: &[u8]) {
    let mut head = [0; MAX_HEADER_LEN];
    let head_len = header.encode(&mut head);
    dst.reserve(head_len + payload.len());
    dst.extend_from_slice(&head[..head_len]);
    let start = dst.len();
    dst.extend_from_slice(payload);
    if let Some(key) = header.mask {
        apply_mask(&mut dst[start..], key, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(fin: bool, opcode: OpCode, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
        let header = FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask,
            payload_len: payload.len() as u64,
        };
        let mut out = BytesMut::new();
        write_frame(&mut out, header, payload);
        out.to_vec()
    }

    /// Every example frame of RFC 6455 section 5.7, encoded byte-exactly.
    #[test]
    fn rfc_6455_section_5_7_examples_encode_exactly() {
        let key = Some([0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(
            frame(true, OpCode::Text, None, b"Hello"),
            [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        );
        assert_eq!(
            frame(true, OpCode::Text, key, b"Hello"),
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        assert_eq!(
            frame(false, OpCode::Text, None, b"Hel"),
            [0x01, 0x03, 0x48, 0x65, 0x6c]
        );
        assert_eq!(
            frame(true, OpCode::Continuation, None, b"lo"),
            [0x80, 0x02, 0x6c, 0x6f]
        );
        assert_eq!(
            frame(true, OpCode::Ping, None, b"Hello"),
            [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        );
        assert_eq!(
            frame(true, OpCode::Pong, key, b"Hello"),
            [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        let big = frame(true, OpCode::Binary, None, &[0; 256]);
        assert_eq!(big[..4], [0x82, 0x7E, 0x01, 0x00]);
        assert_eq!(big.len(), 4 + 256);
        let bigger = frame(true, OpCode::Binary, None, &[0; 65_536]);
        assert_eq!(bigger[..10], [0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]);
        assert_eq!(bigger.len(), 10 + 65_536);
    }
}
