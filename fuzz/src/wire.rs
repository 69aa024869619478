//! Parsing and checking the bytes a connection transmits.

use rusty_socket_proto::{apply_mask, CloseCode, Decoded, FrameHeader, OpCode, Role};

use crate::deflate::Inflater;

/// The bytes of a frame on the wire: header, plus 4 mask bytes from a client.
pub fn frame_len(sender: Role, payload: usize) -> usize {
    let head = match payload {
        0..=125 => 2,
        126..=0xffff => 4,
        _ => 10,
    };
    let mask = if sender == Role::Client { 4 } else { 0 };
    head + mask + payload
}

/// A frame read back from the output, unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The opcode.
    pub opcode: OpCode,
    /// The FIN bit.
    pub fin: bool,
    /// The payload, unmasked, and inflated when it was compressed.
    pub payload: Vec<u8>,
    /// It was compressed (RSV1).
    pub compressed: bool,
}

/// The output of one connection, parsed as it is transmitted.
///
/// Every frame must decode, carry no RSV bits but RSV1 on the first frame
/// of a data message once permessage-deflate was agreed (its payload then
/// inflates, in the order sent, with the agreed window and context
/// takeover, and is returned inflated), be masked exactly when a
/// client sends it, keep the fragmentation order (no new message inside a
/// fragmented one, no continuation outside), carry valid UTF-8 in text
/// messages, and nothing may follow a close frame, whose payload must be
/// empty or a code valid on the wire plus a UTF-8 reason.
#[derive(Debug)]
pub struct Wire {
    sender: Role,
    /// An HTTP 101 head precedes the frames and has not been seen whole yet.
    head_pending: bool,
    /// Bytes not parsed yet (an incomplete head or frame).
    pending: Vec<u8>,
    /// The data message being sent: its opcode and, for text, its bytes.
    message: Option<(OpCode, Vec<u8>)>,
    /// The close frame sent, if any: `Some(None)` for one without a code.
    pub close: Option<Option<u16>>,
    /// permessage-deflate was agreed: RSV1 may mark a compressed message.
    deflate: bool,
    /// Inflates the compressed messages (none in a copy: see `Clone`).
    inflater: Option<Inflater>,
}

/// A copy parses the frames that follow but cannot inflate them (a flate2
/// engine cannot be copied): its compressed payloads stay compressed and
/// are not checked.
impl Clone for Wire {
    fn clone(&self) -> Self {
        Wire {
            sender: self.sender,
            head_pending: self.head_pending,
            pending: self.pending.clone(),
            message: self.message.clone(),
            close: self.close,
            deflate: self.deflate,
            inflater: None,
        }
    }
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inflater")
    }
}

impl Wire {
    /// The output of a connection in `sender`'s role; `head` when an HTTP 101
    /// response comes before the frames.
    pub fn new(sender: Role, head: bool) -> Self {
        Wire {
            sender,
            head_pending: head,
            pending: Vec::new(),
            message: None,
            close: None,
            deflate: false,
            inflater: None,
        }
    }

    /// permessage-deflate was agreed: the sender compresses with a window of
    /// `window_bits` (8 to 15), resetting after every message when `reset`.
    pub fn with_deflate(mut self, window_bits: u8, reset: bool) -> Self {
        self.deflate = true;
        self.inflater = Some(Inflater::new(window_bits, reset));
        self
    }

    /// Whether everything pushed so far ends at a frame boundary.
    pub fn at_boundary(&self) -> bool {
        !self.head_pending && self.pending.is_empty()
    }

    /// Appends transmitted bytes and returns the frames they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Frame> {
        self.pending.extend_from_slice(bytes);
        if self.head_pending {
            let Some(end) = self.pending.windows(4).position(|w| w == b"\r\n\r\n") else {
                return Vec::new();
            };
            assert!(
                self.pending.starts_with(b"HTTP/1.1 101 "),
                "the output must start with the 101 response: {:?}",
                String::from_utf8_lossy(&self.pending)
            );
            self.pending.drain(..end + 4);
            self.head_pending = false;
        }
        let mut frames = Vec::new();
        while let Some(frame) = self.next_frame() {
            self.check(&frame);
            frames.push(frame);
        }
        frames
    }

    fn next_frame(&mut self) -> Option<Frame> {
        let (header, head_len) = match FrameHeader::decode(&self.pending) {
            Ok(Decoded::Complete(header, len)) => (header, len),
            Ok(Decoded::Partial) => return None,
            Err(e) => panic!("the connection sent an invalid frame header: {e}"),
        };
        assert!(
            self.close.is_none(),
            "a frame was sent after the close frame: {header:?}"
        );
        let end = head_len + usize::try_from(header.payload_len).ok()?;
        if self.pending.len() < end {
            return None;
        }
        let compressed = header.rsv != 0;
        if compressed {
            assert!(self.deflate, "RSV bits sent without an extension");
            assert_eq!(header.rsv, 0b100, "RSV bits other than RSV1");
            assert!(
                matches!(header.opcode, OpCode::Text | OpCode::Binary),
                "RSV1 on a {:?} frame",
                header.opcode
            );
        }
        assert_eq!(
            header.mask.is_some(),
            self.sender == Role::Client,
            "a client masks every frame, a server none"
        );
        let mut payload: Vec<u8> = self.pending.drain(..end).skip(head_len).collect();
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key, 0);
        }
        if compressed {
            if let Some(inflater) = &mut self.inflater {
                // Compressed messages go out whole: the frame is the message.
                payload = match inflater.inflate(&payload, header.fin, usize::MAX - 1) {
                    Ok(inflated) => inflated,
                    Err(e) => panic!("the connection sent invalid compressed data: {e:?}"),
                };
            }
        }
        Some(Frame {
            opcode: header.opcode,
            fin: header.fin,
            payload,
            compressed,
        })
    }

    fn check(&mut self, frame: &Frame) {
        // A copy does not inflate: its compressed text cannot be checked.
        let unchecked = frame.compressed && self.inflater.is_none();
        match frame.opcode {
            OpCode::Text | OpCode::Binary => {
                assert!(
                    self.message.is_none(),
                    "new message inside a fragmented one"
                );
                self.message = Some((frame.opcode, Vec::new()));
            }
            OpCode::Continuation => {
                assert!(self.message.is_some(), "continuation outside a message");
            }
            OpCode::Close => {
                let code = match frame.payload.len() {
                    0 => None,
                    1 => panic!("close frame with a 1-byte payload"),
                    _ => Some(u16::from_be_bytes([frame.payload[0], frame.payload[1]])),
                };
                if let Some(code) = code {
                    assert!(CloseCode(code).is_valid_on_wire(), "sent close code {code}");
                    assert!(std::str::from_utf8(&frame.payload[2..]).is_ok());
                }
                self.close = Some(code);
                return;
            }
            OpCode::Ping | OpCode::Pong => return,
        }
        let Some((opcode, text)) = &mut self.message else {
            return;
        };
        if unchecked {
            *opcode = OpCode::Binary;
        }
        if *opcode == OpCode::Text {
            text.extend_from_slice(&frame.payload);
        }
        if frame.fin {
            assert!(
                std::str::from_utf8(text).is_ok(),
                "a text message was sent with invalid UTF-8"
            );
            self.message = None;
        }
    }
}
