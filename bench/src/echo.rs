//! Recognising echoes in the bytes coming back from a server, WebSocket or
//! plain TCP, and checking them against what was sent.

use std::rc::Rc;

use crate::deflate::Inflater;
use crate::frame::{Decoder, Item};
use crate::Error;

/// How echoes are delimited in the stream.
#[derive(Debug)]
enum Framing {
    /// WebSocket frames; `opcode` is what every echo must carry.
    WebSocket {
        decoder: Decoder,
        opcode: u8,
        /// Set when permessage-deflate was negotiated.
        deflate: Option<Box<Compressed>>,
    },
    /// Plain TCP: every `payload.len()` bytes are one echo.
    Raw,
}

/// Counts complete echoes and checks each against the sent payload.
///
/// Length and opcode are always checked (they are free); the bytes themselves
/// only with `verify`, as comparing 1 MiB echoes costs the client real time.
#[derive(Debug)]
pub struct EchoReader {
    framing: Framing,
    payload: Rc<[u8]>,
    verify: bool,
    /// Bytes of the current echo seen so far.
    offset: usize,
    /// Echoes that came back compressed.
    compressed: u64,
}

/// Checking compressed echoes.
///
/// Inflating every echo would cost the client about as much as the server's
/// own inflating, so only some are: every one under `verify`, otherwise the
/// first, and any whose compressed length differs from the last one
/// inflated. With `server_no_context_takeover` a server compresses the same
/// message to the same bytes every time, so the length is a fair check.
#[derive(Debug, Default)]
struct Compressed {
    inflater: Inflater,
    /// The compressed bytes of the current echo.
    wire: Vec<u8>,
    /// Compressed length of the last echo that was inflated and matched.
    checked_len: Option<u64>,
}

impl EchoReader {
    /// Reader for WebSocket echoes of `payload` sent with `opcode`.
    pub fn websocket(payload: Rc<[u8]>, opcode: u8, verify: bool) -> Self {
        EchoReader {
            framing: Framing::WebSocket {
                decoder: Decoder::default(),
                opcode,
                deflate: None,
            },
            payload,
            verify,
            offset: 0,
            compressed: 0,
        }
    }

    /// Reader for WebSocket echoes over a connection that negotiated
    /// permessage-deflate: echoes may come compressed or not.
    pub fn websocket_deflate(payload: Rc<[u8]>, opcode: u8, verify: bool) -> Self {
        EchoReader {
            framing: Framing::WebSocket {
                decoder: Decoder::with_deflate(),
                opcode,
                deflate: Some(Box::default()),
            },
            payload,
            verify,
            offset: 0,
            compressed: 0,
        }
    }

    /// How many echoes came back compressed.
    pub fn compressed_echoes(&self) -> u64 {
        self.compressed
    }

    /// Reader for a plain TCP echo of repeated `payload` blocks.
    pub fn raw(payload: Rc<[u8]>, verify: bool) -> Self {
        EchoReader {
            framing: Framing::Raw,
            payload,
            verify,
            offset: 0,
            compressed: 0,
        }
    }

    /// Consumes received bytes and returns how many echoes they completed.
    pub fn consume(&mut self, mut input: &[u8]) -> Result<usize, Error> {
        let mut completed = 0;
        match &mut self.framing {
            Framing::WebSocket {
                decoder,
                opcode,
                deflate,
            } => {
                while let Some(item) = decoder.next(&mut input)? {
                    match item {
                        Item::Data(data) if decoder.compressed() => {
                            let state = deflate.as_mut().expect("only with deflate");
                            state.wire.extend_from_slice(data);
                        }
                        Item::Data(data) => {
                            check_chunk(&self.payload, self.offset, data, self.verify)?;
                            self.offset += data.len();
                        }
                        Item::End {
                            opcode: got,
                            len,
                            compressed,
                        } => {
                            if got != *opcode {
                                return Err(Error::Mismatch(format!(
                                    "sent opcode {opcode:#x}, echo has {got:#x}"
                                )));
                            }
                            if compressed {
                                let state = deflate.as_mut().expect("only with deflate");
                                if self.verify || state.checked_len != Some(len) {
                                    state.inflater.begin();
                                    state.inflater.feed(&state.wire)?;
                                    let echo = state.inflater.finish()?;
                                    if echo.len() != self.payload.len() {
                                        return Err(Error::Mismatch(format!(
                                            "sent {} bytes, echo inflates to {}",
                                            self.payload.len(),
                                            echo.len()
                                        )));
                                    }
                                    check_chunk(&self.payload, 0, echo, true)?;
                                    state.checked_len = Some(len);
                                }
                                state.wire.clear();
                                self.compressed += 1;
                                completed += 1;
                                continue;
                            }
                            if len != self.payload.len() as u64 {
                                return Err(Error::Mismatch(format!(
                                    "sent {} bytes, echo has {len}",
                                    self.payload.len()
                                )));
                            }
                            self.offset = 0;
                            completed += 1;
                        }
                    }
                }
            }
            Framing::Raw => {
                let size = self.payload.len();
                while !input.is_empty() {
                    let take = (size - self.offset).min(input.len());
                    check_chunk(&self.payload, self.offset, &input[..take], self.verify)?;
                    input = &input[take..];
                    self.offset += take;
                    if self.offset == size {
                        self.offset = 0;
                        completed += 1;
                    }
                }
            }
        }
        Ok(completed)
    }
}

/// Checks that `chunk` is what `payload` holds at `offset`.
fn check_chunk(payload: &[u8], offset: usize, chunk: &[u8], verify: bool) -> Result<(), Error> {
    let Some(expected) = payload.get(offset..offset + chunk.len()) else {
        return Err(Error::Mismatch(format!(
            "echo longer than the {} bytes sent",
            payload.len()
        )));
    };
    if verify && expected != chunk {
        let at = expected
            .iter()
            .zip(chunk)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        return Err(Error::Mismatch(format!(
            "byte {} differs: sent {:#04x}, echo has {:#04x}",
            offset + at,
            expected[at],
            chunk[at]
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{OP_BINARY, OP_TEXT};

    fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        assert!(payload.len() < 126);
        let mut frame = vec![0x80 | opcode, payload.len() as u8];
        frame.extend_from_slice(payload);
        frame
    }

    #[test]
    fn websocket_echoes_are_counted_and_checked() {
        let payload: Rc<[u8]> = Rc::from(&b"abc"[..]);
        let mut reader = EchoReader::websocket(payload.clone(), OP_TEXT, true);
        let mut two = server_frame(OP_TEXT, b"abc");
        two.extend(server_frame(OP_TEXT, b"abc"));
        assert_eq!(reader.consume(&two[..3]).unwrap(), 0);
        assert_eq!(reader.consume(&two[3..]).unwrap(), 2);

        let mut reader = EchoReader::websocket(payload.clone(), OP_TEXT, true);
        assert!(reader.consume(&server_frame(OP_BINARY, b"abc")).is_err());
        let mut reader = EchoReader::websocket(payload.clone(), OP_TEXT, true);
        assert!(reader.consume(&server_frame(OP_TEXT, b"abd")).is_err());
        let mut reader = EchoReader::websocket(payload.clone(), OP_TEXT, false);
        assert_eq!(reader.consume(&server_frame(OP_TEXT, b"abd")).unwrap(), 1);
        let mut reader = EchoReader::websocket(payload, OP_TEXT, false);
        assert!(reader.consume(&server_frame(OP_TEXT, b"ab")).is_err());
    }

    #[test]
    fn raw_echoes_split_on_payload_size() {
        let payload: Rc<[u8]> = Rc::from(&b"xyz"[..]);
        let mut reader = EchoReader::raw(payload, true);
        assert_eq!(reader.consume(b"xy").unwrap(), 0);
        assert_eq!(reader.consume(b"zxyzx").unwrap(), 2);
        assert!(reader.consume(b"q").is_err());
    }
}
