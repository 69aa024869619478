//! permessage-deflate (RFC 7692) for the load generator: the offer, the
//! server's answer, one compressed message reused for every send, and an
//! inflater to check echoes with.
//!
//! The client always resets its compressor between messages (it offers
//! `client_no_context_takeover`), so a message compressed once can be sent
//! over and over: compressing costs the client nothing during a run. It asks
//! the server to do the same (`server_no_context_takeover`), so each echo
//! can be inflated on its own.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::Error;

/// The four bytes a sync flush ends with, which RFC 7692 leaves off the wire.
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The extension offer: no context takeover either way, full windows.
///
/// `client_max_window_bits` is not offered: some servers take it as leave to
/// pick a small client window (yawc answers 9), which would make what the
/// client sends larger than with other servers. A server that answers a
/// client window anyway (wtx answers 12 to every offer) is still obeyed.
pub const OFFER: &str =
    "permessage-deflate; client_no_context_takeover; server_no_context_takeover";

/// What the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateOffer {
    /// Compression level of what the client sends, 0 to 9.
    pub level: u32,
}

/// What the server agreed to, from its `Sec-WebSocket-Extensions` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The answer as sent.
    pub header: String,
    /// Window the client must compress within, 9 to 15 (an 8-bit answer is
    /// refused: zlib cannot compress within 256 bytes).
    pub client_max_window_bits: u8,
    /// The server promised to reset its compressor after every message.
    pub server_no_context_takeover: bool,
}

/// Parses the server's `Sec-WebSocket-Extensions` value; `None` if it did not
/// accept permessage-deflate.
pub fn parse_answer(header: &str) -> Result<Option<Negotiated>, Error> {
    let mut params = header.split(';').map(str::trim);
    if !params
        .next()
        .is_some_and(|name| name.eq_ignore_ascii_case("permessage-deflate"))
    {
        if header.trim().is_empty() {
            return Ok(None);
        }
        return Err(Error::Handshake(format!(
            "server answered an extension we did not offer: {header:?}"
        )));
    }
    let mut negotiated = Negotiated {
        header: header.trim().to_string(),
        client_max_window_bits: 15,
        server_no_context_takeover: false,
    };
    for param in params {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim().trim_matches('"'))),
            None => (param, None),
        };
        match (name.to_ascii_lowercase().as_str(), value) {
            ("server_no_context_takeover", None) => negotiated.server_no_context_takeover = true,
            ("client_no_context_takeover", None) => {}
            ("client_max_window_bits", Some(bits)) => {
                negotiated.client_max_window_bits = bits
                    .parse()
                    .ok()
                    .filter(|b| (9..=15).contains(b))
                    .ok_or_else(|| {
                        Error::Handshake(format!("bad client_max_window_bits in {header:?}"))
                    })?;
            }
            ("server_max_window_bits", Some(_)) => {}
            _ => {
                return Err(Error::Handshake(format!(
                    "unexpected permessage-deflate parameter {param:?} in {header:?}"
                )))
            }
        }
    }
    Ok(Some(negotiated))
}

/// Compresses one whole message as a permessage-deflate payload (without the
/// sync-flush tail), with a fresh compressor of `window_bits`, 9 to 15
/// (zlib cannot compress within 8: `parse_answer` refuses such an answer).
pub fn compress(payload: &[u8], level: u32, window_bits: u8) -> Vec<u8> {
    let mut engine =
        Compress::new_with_window_bits(Compression::new(level), false, window_bits.clamp(9, 15));
    let mut out = Vec::with_capacity(payload.len() + payload.len() / 16 + 64);
    loop {
        let consumed = engine.total_in() as usize;
        engine
            .compress_vec(&payload[consumed..], &mut out, FlushCompress::Sync)
            .expect("deflate of a fresh stream cannot fail");
        if engine.total_in() as usize == payload.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity().max(4096));
    }
    debug_assert!(out.ends_with(&SYNC_TAIL));
    out.truncate(out.len() - SYNC_TAIL.len());
    if out.is_empty() {
        // RFC 7692 section 7.2.3.6: an empty message is one zero byte.
        out.push(0x00);
    }
    out
}

/// Inflates echoes, one message at a time, resetting in between.
pub struct Inflater {
    engine: Decompress,
    out: Vec<u8>,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater").finish_non_exhaustive()
    }
}

impl Default for Inflater {
    fn default() -> Self {
        Inflater {
            engine: Decompress::new_with_window_bits(false, 15),
            out: Vec::new(),
        }
    }
}

impl Inflater {
    /// Starts a new message.
    pub fn begin(&mut self) {
        self.engine.reset(false);
        self.out.clear();
    }

    /// Inflates a piece of the current message.
    pub fn feed(&mut self, input: &[u8]) -> Result<(), Error> {
        let mut consumed = 0;
        loop {
            if self.out.capacity() - self.out.len() < 4096 {
                self.out.reserve(self.out.capacity().max(16 * 1024));
            }
            let before = self.engine.total_in();
            let status = self
                .engine
                .decompress_vec(&input[consumed..], &mut self.out, FlushDecompress::Sync)
                .map_err(|e| Error::Protocol(format!("corrupt compressed echo: {e}")))?;
            consumed += (self.engine.total_in() - before) as usize;
            let full = self.out.len() == self.out.capacity();
            if status == Status::StreamEnd || (consumed == input.len() && !full) {
                return Ok(());
            }
        }
    }

    /// Ends the message and returns what it inflated to.
    pub fn finish(&mut self) -> Result<&[u8], Error> {
        self.feed(&SYNC_TAIL)?;
        Ok(&self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rfc_example() {
        // RFC 7692 section 7.2.3.1: "Hello" compressed.
        assert_eq!(
            compress(b"Hello", 6, 15),
            [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]
        );
        let payload = crate::payload::json(65536);
        for bits in [9, 12, 15] {
            let wire = compress(&payload, 1, bits);
            assert!(wire.len() < payload.len(), "{bits}: {}", wire.len());
            let mut inflater = Inflater::default();
            for _ in 0..2 {
                inflater.begin();
                for piece in wire.chunks(1000) {
                    inflater.feed(piece).unwrap();
                }
                assert_eq!(inflater.finish().unwrap(), &payload[..]);
            }
        }
        let mut inflater = Inflater::default();
        inflater.begin();
        inflater.feed(&compress(b"", 1, 15)).unwrap();
        assert_eq!(inflater.finish().unwrap(), b"");
    }

    #[test]
    fn answers() {
        let n = parse_answer("permessage-deflate; server_no_context_takeover; client_max_window_bits=12; client_no_context_takeover; server_max_window_bits=12")
            .unwrap()
            .unwrap();
        assert_eq!(n.client_max_window_bits, 12);
        assert!(n.server_no_context_takeover);
        assert_eq!(parse_answer("").unwrap(), None);
        assert!(parse_answer("x-webkit-deflate-frame").is_err());
        assert!(parse_answer("permessage-deflate; client_max_window_bits=20").is_err());
    }
}
