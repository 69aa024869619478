//! Recognising echoes in the bytes coming back from a server, WebSocket or
//! plain TCP, and checking them against what was sent.

use std::rc::Rc;

use crate::frame::{Decoder, Item};
use crate::Error;

/// How echoes are delimited in the stream.
#[derive(Debug)]
enum Framing {
    /// WebSocket frames; `opcode` is what every echo must carry.
    WebSocket { decoder: Decoder, opcode: u8 },
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
}

impl EchoReader {
    /// Reader for WebSocket echoes of `payload` sent with `opcode`.
    pub fn websocket(payload: Rc<[u8]>, opcode: u8, verify: bool) -> Self {
        EchoReader {
            framing: Framing::WebSocket {
                decoder: Decoder::default(),
                opcode,
            },
            payload,
            verify,
            offset: 0,
        }
    }

    /// Reader for a plain TCP echo of repeated `payload` blocks.
    pub fn raw(payload: Rc<[u8]>, verify: bool) -> Self {
        EchoReader {
            framing: Framing::Raw,
            payload,
            verify,
            offset: 0,
        }
    }

    /// Consumes received bytes and returns how many echoes they completed.
    pub fn consume(&mut self, mut input: &[u8]) -> Result<usize, Error> {
        let mut completed = 0;
        match &mut self.framing {
            Framing::WebSocket { decoder, opcode } => {
                while let Some(item) = decoder.next(&mut input)? {
                    match item {
                        Item::Data(data) => {
                            check_chunk(&self.payload, self.offset, data, self.verify)?;
                            self.offset += data.len();
                        }
                        Item::End { opcode: got, len } => {
                            if got != *opcode {
                                return Err(Error::Mismatch(format!(
                                    "sent opcode {opcode:#x}, echo has {got:#x}"
                                )));
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
