//! The little of RFC 6455 framing that a load generator needs: encoding masked
//! client frames, and decoding the server's unmasked frames as a stream.
//!
//! The decoder hands out payload slices of the caller's input as they arrive
//! instead of assembling whole messages, so a 1 MiB echo costs no copy and no
//! allocation on the client; callers that want whole messages collect them.

use crate::Error;

/// Continuation frame.
pub const OP_CONTINUATION: u8 = 0x0;
/// Text frame.
pub const OP_TEXT: u8 = 0x1;
/// Binary frame.
pub const OP_BINARY: u8 = 0x2;
/// Close frame.
pub const OP_CLOSE: u8 = 0x8;
/// Ping frame.
pub const OP_PING: u8 = 0x9;
/// Pong frame.
pub const OP_PONG: u8 = 0xA;

/// Encodes one final, masked client frame.
///
/// Load runs encode a frame once per configuration and write the same bytes
/// for every message: a server unmasks in place on its own copy, so reusing
/// a mask key costs it nothing and saves the client the XOR pass.
pub fn encode_client_frame(opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let len = payload.len();
    let mut frame = Vec::with_capacity(len + 14);
    frame.push(0x80 | opcode);
    if len < 126 {
        frame.push(0x80 | len as u8);
    } else if let Ok(len16) = u16::try_from(len) {
        frame.push(0x80 | 126);
        frame.extend_from_slice(&len16.to_be_bytes());
    } else {
        frame.push(0x80 | 127);
        frame.extend_from_slice(&(len as u64).to_be_bytes());
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// What the decoder found in the input.
#[derive(Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// Some payload bytes of the current data message, in order.
    Data(&'a [u8]),
    /// The current data message is complete.
    End {
        /// Opcode of the message's first frame (text or binary).
        opcode: u8,
        /// Total payload length over all its frames (on the wire: still
        /// compressed if `compressed`).
        len: u64,
        /// The first frame had RSV1 set: permessage-deflate compressed it.
        compressed: bool,
    },
}

/// Where the decoder is inside the byte stream.
#[derive(Debug)]
enum State {
    /// Collecting the 2 to 10 header bytes of the next frame.
    Header,
    /// Inside the payload of a data frame; `fin` says if it ends the message.
    Data { remaining: u64, fin: bool },
    /// Inside the payload of a control frame, which is collected (<= 125 B).
    Control { opcode: u8, remaining: usize },
}

/// Incremental decoder of server-to-client frames.
///
/// Pings and pongs are skipped (echo servers do not send them unprompted),
/// unless the decoder [answers pings](Decoder::answering_pings); a close
/// frame becomes [`Error::Closed`] with its code and reason.
#[derive(Debug)]
pub struct Decoder {
    state: State,
    header: [u8; 10],
    header_len: usize,
    control: Vec<u8>,
    /// Opcode, length so far and compression of the message being
    /// received, if any.
    message: Option<(u8, u64, bool)>,
    /// permessage-deflate was negotiated: RSV1 may mark a message.
    deflate: bool,
    /// Pong frames owed for the pings received, when answering them.
    pongs: Option<Vec<u8>>,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            state: State::Header,
            header: [0; 10],
            header_len: 0,
            control: Vec::new(),
            message: None,
            deflate: false,
            pongs: None,
        }
    }
}

impl Decoder {
    /// A decoder for a connection that negotiated permessage-deflate.
    pub fn with_deflate() -> Self {
        Decoder {
            deflate: true,
            ..Decoder::default()
        }
    }

    /// A decoder that collects a pong for every ping, for connections held
    /// longer than a server's keepalive (a server drops a client that does
    /// not answer): send [`take_pongs`](Self::take_pongs) after decoding.
    pub fn answering_pings() -> Self {
        Decoder {
            pongs: Some(Vec::new()),
            ..Decoder::default()
        }
    }

    /// The pong frames owed so far (empty if none, or not answering pings).
    pub fn take_pongs(&mut self) -> Vec<u8> {
        self.pongs.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Whether the message being received is compressed.
    pub fn compressed(&self) -> bool {
        self.message.is_some_and(|(_, _, compressed)| compressed)
    }

    /// Returns the next item from `input`, advancing it past the bytes used,
    /// or `None` once `input` is used up (state is kept for the next call).
    pub fn next<'a>(&mut self, input: &mut &'a [u8]) -> Result<Option<Item<'a>>, Error> {
        loop {
            match self.state {
                State::Header => {
                    if !self.read_header(input)? {
                        return Ok(None);
                    }
                }
                State::Data { remaining: 0, fin } => {
                    self.state = State::Header;
                    if fin {
                        let (opcode, len, compressed) =
                            self.message.take().expect("data frame has a message");
                        return Ok(Some(Item::End {
                            opcode,
                            len,
                            compressed,
                        }));
                    }
                }
                State::Data { remaining, fin } => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(input.len());
                    let (data, rest) = input.split_at(take);
                    *input = rest;
                    self.state = State::Data {
                        remaining: remaining - take as u64,
                        fin,
                    };
                    if let Some((_, len, _)) = self.message.as_mut() {
                        *len += take as u64;
                    }
                    return Ok(Some(Item::Data(data)));
                }
                State::Control { opcode, remaining } => {
                    let take = remaining.min(input.len());
                    self.control.extend_from_slice(&input[..take]);
                    *input = &input[take..];
                    if take < remaining {
                        self.state = State::Control {
                            opcode,
                            remaining: remaining - take,
                        };
                        return Ok(None);
                    }
                    self.state = State::Header;
                    if opcode == OP_CLOSE {
                        return Err(Error::Closed(describe_close(&self.control)));
                    }
                    if let (OP_PING, Some(pongs)) = (opcode, self.pongs.as_mut()) {
                        pongs.extend(encode_client_frame(OP_PONG, &self.control, [0; 4]));
                    }
                }
            }
        }
    }

    /// Collects header bytes; returns `false` if more input is needed, and
    /// otherwise moves to the payload state of the frame.
    fn read_header(&mut self, input: &mut &[u8]) -> Result<bool, Error> {
        let needed = if self.header_len < 2 {
            2
        } else {
            match self.header[1] & 0x7f {
                126 => 4,
                127 => 10,
                _ => 2,
            }
        };
        let take = (needed - self.header_len).min(input.len());
        self.header[self.header_len..self.header_len + take].copy_from_slice(&input[..take]);
        self.header_len += take;
        *input = &input[take..];
        if self.header_len < needed {
            return Ok(false);
        }
        if needed == 2 && matches!(self.header[1] & 0x7f, 126 | 127) {
            // The extended length follows; go round again for it.
            return self.read_header(input);
        }
        self.header_len = 0;
        self.start_frame()?;
        Ok(true)
    }

    /// Interprets a complete header.
    fn start_frame(&mut self) -> Result<(), Error> {
        let (b0, b1) = (self.header[0], self.header[1]);
        if b1 & 0x80 != 0 {
            return Err(Error::Protocol("server frame is masked".into()));
        }
        let fin = b0 & 0x80 != 0;
        let opcode = b0 & 0x0f;
        // RSV1 is permessage-deflate's, on the first frame of a data message.
        let rsv1_ok = self.deflate && matches!(opcode, OP_TEXT | OP_BINARY);
        if b0 & 0x70 != 0 && !(b0 & 0x70 == 0x40 && rsv1_ok) {
            return Err(Error::Protocol(format!(
                "reserved bits set (first byte {b0:#04x}) without an extension"
            )));
        }
        let len = match b1 & 0x7f {
            126 => u64::from(u16::from_be_bytes([self.header[2], self.header[3]])),
            127 => u64::from_be_bytes(self.header[2..10].try_into().expect("8 bytes")),
            short => u64::from(short),
        };
        match opcode {
            OP_TEXT | OP_BINARY => {
                if self.message.is_some() {
                    return Err(Error::Protocol(
                        "new data frame inside a fragmented message".into(),
                    ));
                }
                self.message = Some((opcode, 0, b0 & 0x40 != 0));
                self.state = State::Data {
                    remaining: len,
                    fin,
                };
            }
            OP_CONTINUATION => {
                if self.message.is_none() {
                    return Err(Error::Protocol("continuation frame with no message".into()));
                }
                self.state = State::Data {
                    remaining: len,
                    fin,
                };
            }
            0x8..=0xA if fin && len <= 125 => {
                self.control.clear();
                self.state = State::Control {
                    opcode,
                    remaining: len as usize,
                };
            }
            0x8..=0xA => {
                return Err(Error::Protocol(format!(
                    "control frame {opcode:#x} fragmented or longer than 125 bytes"
                )))
            }
            _ => return Err(Error::Protocol(format!("reserved opcode {opcode:#x}"))),
        }
        Ok(())
    }
}

/// Renders a close frame's payload as "code 1009 (reason)".
fn describe_close(payload: &[u8]) -> String {
    match payload {
        [] => "close frame without a code".to_string(),
        [hi, lo, reason @ ..] => format!(
            "close frame, code {} ({:?})",
            u16::from_be_bytes([*hi, *lo]),
            String::from_utf8_lossy(reason)
        ),
        [_] => "close frame with a one-byte payload".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes an unmasked server frame.
    fn server_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = encode_client_frame(b0 & 0x0f, payload, [0; 4]);
        frame[0] = b0;
        frame[1] &= 0x7f;
        let mask_at = frame.len() - payload.len() - 4;
        frame.drain(mask_at..mask_at + 4);
        frame
    }

    /// Decodes `bytes` fed in pieces of `step` bytes into whole messages.
    fn decode(bytes: &[u8], step: usize) -> Result<Vec<(u8, Vec<u8>)>, Error> {
        let mut decoder = Decoder::default();
        let mut messages = Vec::new();
        let mut current = Vec::new();
        for chunk in bytes.chunks(step) {
            let mut input = chunk;
            while let Some(item) = decoder.next(&mut input)? {
                match item {
                    Item::Data(data) => current.extend_from_slice(data),
                    Item::End { opcode, len, .. } => {
                        assert_eq!(len as usize, current.len());
                        messages.push((opcode, std::mem::take(&mut current)));
                    }
                }
            }
        }
        Ok(messages)
    }

    #[test]
    fn rfc_example_masked_hello() {
        // RFC 6455 section 5.7, "A single-frame masked text message".
        let frame = encode_client_frame(OP_TEXT, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(
            frame,
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
    }

    #[test]
    fn length_encodings_round_trip_in_any_split() {
        for len in [0, 1, 125, 126, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let bytes = server_frame(0x82, &payload);
            let header = bytes.len() - len;
            assert_eq!(
                header,
                match len {
                    0..=125 => 2,
                    126..=65535 => 4,
                    _ => 10,
                }
            );
            for step in [1, 3, 4096, bytes.len()] {
                assert_eq!(
                    decode(&bytes, step).unwrap(),
                    vec![(OP_BINARY, payload.clone())]
                );
            }
        }
    }

    #[test]
    fn fragments_and_interleaved_pings() {
        let mut bytes = server_frame(0x01, b"hel");
        bytes.extend(server_frame(0x89, b"ping"));
        bytes.extend(server_frame(0x80, b"lo"));
        bytes.extend(server_frame(0x82, b""));
        for step in [1, 2, bytes.len()] {
            assert_eq!(
                decode(&bytes, step).unwrap(),
                vec![(OP_TEXT, b"hello".to_vec()), (OP_BINARY, Vec::new())]
            );
        }
    }

    #[test]
    fn close_and_bad_frames_are_errors() {
        let close = server_frame(0x88, &[0x03, 0xf1, b'b', b'y']);
        assert!(matches!(decode(&close, 1), Err(Error::Closed(m)) if m.contains("1009")));
        let masked = encode_client_frame(OP_TEXT, b"x", [1, 2, 3, 4]);
        assert!(matches!(decode(&masked, 10), Err(Error::Protocol(_))));
        assert!(matches!(decode(&[0xC1, 0x00], 2), Err(Error::Protocol(_))));
        assert!(matches!(decode(&[0x80, 0x00], 2), Err(Error::Protocol(_))));
        assert!(matches!(decode(&[0x83, 0x00], 2), Err(Error::Protocol(_))));
    }

    #[test]
    fn rsv1_only_with_deflate_and_on_first_frames() {
        let compressed = server_frame(0xc1, b"xy");
        assert!(matches!(decode(&compressed, 4), Err(Error::Protocol(_))));
        let mut decoder = Decoder::with_deflate();
        let mut input = &compressed[..];
        assert_eq!(decoder.next(&mut input).unwrap(), Some(Item::Data(b"xy")));
        assert!(decoder.compressed());
        assert_eq!(
            decoder.next(&mut input).unwrap(),
            Some(Item::End {
                opcode: OP_TEXT,
                len: 2,
                compressed: true
            })
        );
        let mut decoder = Decoder::with_deflate();
        let continuation = [0x01, 0x00, 0xc0, 0x00];
        assert!(decoder.next(&mut &continuation[..]).is_err());
        let mut decoder = Decoder::with_deflate();
        assert!(decoder.next(&mut &[0xe1, 0x00][..]).is_err());
    }
}
