//! The compression of messages (RFC 7692 section 7.2): deflate for what we
//! send, inflate, bounded, for what we receive.
//!
//! A compressed message is the raw deflate stream of its payload, flushed
//! with a sync flush and without the `00 00 ff ff` that the flush ends with
//! (section 7.2.1); the receiver appends those four bytes back before it
//! inflates the end of the message (section 7.2.2). Without context
//! takeover the LZ77 window starts empty at every message, so the engines
//! are reset between messages, and, since nothing needs to be remembered,
//! given up while the connection is idle: to the process's few spares (see
//! `spare.rs`), from which the next connection that needs one takes it.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::spare::{self, SpareCompress};

/// What a sync flush ends with, left out of a message on the wire.
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// How much inflated output is made room for at once. The limit, not this,
/// bounds a message: output stops at the limit whatever the input says.
const INFLATE_CHUNK: usize = 32 << 10;

/// The largest output buffer a compressor keeps between messages; a larger
/// one (left by a large message) is freed at the next message.
const SCRATCH_KEEP: usize = 64 << 10;

/// Compresses the messages we send.
#[derive(Debug)]
pub(crate) struct Compressor {
    /// Given up while idle when it holds no context; then always clean
    /// (reset after its last message) while held.
    engine: Option<Box<Compress>>,
    /// The last message's compressed bytes, reused from message to message
    /// so that compressing allocates nothing once warm; the caller copies
    /// them into the outgoing queue.
    out: Vec<u8>,
    level: u32,
    /// The window agreed for our side, 8 to 15. zlib cannot compress with an
    /// 8-bit window: then every message is sent uncompressed, which a sender
    /// may always do.
    window_bits: u8,
    /// Reset after every message (`*_no_context_takeover` for our side).
    reset: bool,
    /// Messages shorter than this are sent uncompressed.
    threshold: usize,
}

impl Compressor {
    pub(crate) fn new(level: u32, window_bits: u8, reset: bool, threshold: usize) -> Self {
        Compressor {
            engine: None,
            out: Vec::new(),
            level,
            window_bits,
            reset,
            threshold,
        }
    }

    /// The window our compressed frames use, for sharing them between
    /// connections (see `PreparedMessage`): `None` when frames cannot be
    /// shared because the context carries over between messages.
    pub(crate) fn shareable_window(&self) -> Option<u8> {
        self.reset.then_some(self.window_bits)
    }

    /// Whether a message of `len` bytes is compressed at all.
    pub(crate) fn wants(&self, len: usize) -> bool {
        self.window_bits >= 9 && len >= self.threshold
    }

    /// Compresses one whole message. `None`: send it uncompressed, because
    /// it is short, or (without context takeover, where the choice is free)
    /// because compressing did not make it smaller.
    pub(crate) fn compress(&mut self, payload: &[u8]) -> Option<&[u8]> {
        if !self.wants(payload.len()) {
            return None;
        }
        if self.out.capacity() > SCRATCH_KEEP {
            self.out = Vec::new();
        }
        let out = &mut self.out;
        out.clear();
        out.reserve(payload.len() + payload.len() / 64 + 64);
        let (level, window_bits) = (self.level, self.window_bits);
        let engine = self.engine.get_or_insert_with(|| {
            spare::take_compress(level, window_bits).unwrap_or_else(|| {
                Box::new(Compress::new_with_window_bits(
                    Compression::new(level),
                    false,
                    window_bits,
                ))
            })
        });
        let mut consumed = 0;
        loop {
            let before = engine.total_in();
            // Deflate cannot fail on a stream it started itself; a failure
            // would be a bug in the engine, and the message then goes out
            // uncompressed rather than corrupt.
            if engine
                .compress_vec(&payload[consumed..], out, FlushCompress::Sync)
                .is_err()
            {
                self.engine = None;
                return None;
            }
            consumed += (engine.total_in() - before) as usize;
            // The flush is complete once all input is in and the engine
            // stopped with room to spare.
            if consumed == payload.len() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity().max(4096));
        }
        if self.reset {
            engine.reset();
        }
        if !out.ends_with(&SYNC_TAIL) {
            self.engine = None;
            return None;
        }
        out.truncate(out.len() - SYNC_TAIL.len());
        if self.reset && out.len() >= payload.len() {
            return None;
        }
        Some(out)
    }

    /// Drops the output buffer, and gives the engine up when it holds no
    /// context between messages.
    pub(crate) fn release(&mut self) {
        self.out = Vec::new();
        if !self.reset {
            return;
        }
        if let Some(engine) = self.engine.take() {
            spare::give_compress(SpareCompress {
                level: self.level,
                window_bits: self.window_bits,
                engine,
            });
        }
    }

    /// Whether an engine is allocated.
    #[cfg(test)]
    fn is_allocated(&self) -> bool {
        self.engine.is_some()
    }
}

/// Invalid compressed data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// The deflate stream is corrupt.
    Corrupt,
    /// The output would pass the limit it was given.
    TooLarge,
}

/// How far one `Decompressor::inflate` call got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Inflated {
    /// Input bytes consumed.
    pub(crate) consumed: usize,
    /// All the input was inflated (and the message's end, if it was given):
    /// nothing is pending.
    pub(crate) done: bool,
}

/// Inflates the compressed messages we receive, never past a limit.
#[derive(Debug)]
pub(crate) struct Decompressor {
    engine: Option<Box<Decompress>>,
    /// The engine was reset after the last message it inflated (or never
    /// used): only then may another connection have it.
    clean: bool,
    /// The peer resets its context after every message, so ours does too.
    reset: bool,
    /// The message's deflate data ended with a final block (BFINAL): the
    /// rest of it can only be the tail we append, and the next message
    /// starts a new stream.
    finished: bool,
}

impl Decompressor {
    /// Always with a 15-bit window, whatever window was agreed: a larger
    /// window than the sender's always decodes, and with the agreed one
    /// zlib would judge data that reaches past it (a peer breaking its
    /// promise) by how the frames happened to be cut into reads, since it
    /// checks a distance against its window plus the output of the current
    /// call only. With 15 bits every distance deflate can encode is valid,
    /// so any split gives the same verdict. It costs the 32 KiB window even
    /// when a smaller one was agreed, and only while a message is inflated
    /// unless the peer keeps its context.
    pub(crate) fn new(reset: bool) -> Self {
        Decompressor {
            engine: None,
            clean: true,
            reset,
            finished: false,
        }
    }

    fn engine(&mut self) -> &mut Decompress {
        self.engine.get_or_insert_with(|| {
            spare::take_inflate()
                .unwrap_or_else(|| Box::new(Decompress::new_with_window_bits(false, 15)))
        })
    }

    /// Inflates `input`, a piece of a compressed message, appending the
    /// output to `out`, of which at most `limit` bytes in all may be used.
    /// With `end`, the piece ends the message.
    ///
    /// Output pauses once `out` holds `pause_at` bytes (a streaming reader
    /// takes pieces of a bounded size): the call then reports how much of
    /// `input` it consumed, and is called again with the rest.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        end: bool,
        out: &mut Vec<u8>,
        pause_at: usize,
        limit: usize,
    ) -> Result<Inflated, InflateError> {
        if self.finished && !input.is_empty() {
            return Err(InflateError::Corrupt);
        }
        let (consumed, drained) = self.inflate_some(input, out, pause_at, limit)?;
        if consumed < input.len() || !drained {
            return Ok(Inflated {
                consumed,
                done: false,
            });
        }
        if end {
            // The tail completes the last block: at most one match more.
            if !self.finished {
                self.inflate_some(&SYNC_TAIL, out, usize::MAX, limit)?;
            }
            if self.reset || self.finished {
                self.engine().reset(false);
                self.finished = false;
                self.clean = true;
            }
        }
        Ok(Inflated {
            consumed,
            done: true,
        })
    }

    /// Inflates as much of `input` as fits before `pause_at`; returns the
    /// bytes consumed and whether the engine holds no pending output.
    fn inflate_some(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        pause_at: usize,
        limit: usize,
    ) -> Result<(usize, bool), InflateError> {
        self.clean = false;
        let engine = self.engine();
        let mut consumed = 0;
        loop {
            if out.len() >= pause_at {
                return Ok((consumed, false));
            }
            // Room for one more byte than the limit allows: output that
            // reaches it proves the message too large.
            let room = limit
                .saturating_add(1)
                .saturating_sub(out.len())
                .min(INFLATE_CHUNK)
                .min(pause_at - out.len());
            if room == 0 {
                return Err(InflateError::TooLarge);
            }
            if out.capacity() - out.len() < room {
                // Grow by doubling, for linear time, but never past the
                // limit or the pause.
                let target = (out.capacity() * 2)
                    .min(limit.saturating_add(1))
                    .min(pause_at)
                    .max(out.len() + room);
                out.reserve_exact(target - out.len());
            }
            let spare = out.capacity() - out.len();
            let before = engine.total_in();
            let produced_before = out.len();
            let status = engine.decompress_vec(&input[consumed..], out, FlushDecompress::Sync);
            // Output past the limit came before whatever zlib found wrong
            // after it in the same call (it reads block headers even with
            // the output full): the message was too large first.
            if out.len() > limit {
                return Err(InflateError::TooLarge);
            }
            let status = status.map_err(|_| InflateError::Corrupt)?;
            consumed += (engine.total_in() - before) as usize;
            let filled = out.len() - produced_before == spare;
            match status {
                // The message's data ended with a final block (RFC 7692
                // section 7.2.3.4): nothing may follow it in this message.
                Status::StreamEnd if consumed < input.len() => return Err(InflateError::Corrupt),
                Status::StreamEnd => {
                    self.finished = true;
                    return Ok((consumed, true));
                }
                _ if consumed == input.len() && !filled => return Ok((consumed, true)),
                Status::BufError if !filled => return Err(InflateError::Corrupt),
                _ => {}
            }
        }
    }

    /// Gives the engine up when it holds no context between messages; one
    /// left dirty by a message that failed is dropped.
    pub(crate) fn release(&mut self) {
        if !self.reset {
            return;
        }
        if let Some(engine) = self.engine.take() {
            if self.clean {
                spare::give_inflate(engine);
            }
        }
        self.clean = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inflate(d: &mut Decompressor, wire: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
        let mut out = Vec::new();
        let inflated = d.inflate(wire, true, &mut out, usize::MAX, limit)?;
        assert!(inflated.done && inflated.consumed == wire.len());
        Ok(out)
    }

    /// RFC 7692 section 7.2.3.1: "Hello" in one compressed message.
    #[test]
    fn rfc_7692_hello_compresses_to_the_example_bytes() {
        // With context takeover: without it, 7 bytes for 5 go uncompressed.
        let mut c = Compressor::new(6, 15, false, 0);
        let wire = c.compress(b"Hello").expect("compressed");
        assert_eq!(wire, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        let mut d = Decompressor::new(true);
        assert_eq!(inflate(&mut d, wire, 100).unwrap(), b"Hello");
    }

    /// Section 7.2.3.2: the second "Hello" with the shared window is a
    /// back-reference; without context takeover it is the same as the first.
    #[test]
    fn rfc_7692_shared_window_example() {
        let mut c = Compressor::new(6, 15, false, 0);
        let first = c.compress(b"Hello").unwrap().to_vec();
        let second = c.compress(b"Hello").unwrap().to_vec();
        assert_eq!(&first[..], [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        assert_eq!(&second[..], [0xf2, 0x00, 0x11, 0x00, 0x00]);
        let mut d = Decompressor::new(false);
        assert_eq!(inflate(&mut d, &first, 100).unwrap(), b"Hello");
        assert_eq!(inflate(&mut d, &second, 100).unwrap(), b"Hello");
    }

    /// Section 7.2.3.3: a message in one stored (uncompressed) block.
    #[test]
    fn rfc_7692_stored_block_example_inflates() {
        let mut d = Decompressor::new(true);
        let wire = [
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        assert_eq!(inflate(&mut d, &wire, 100).unwrap(), b"Hello");
    }

    /// Section 7.2.3.4: a message whose data ends with a final block (BFINAL
    /// set) inflates too.
    #[test]
    fn rfc_7692_final_block_example_inflates() {
        let mut d = Decompressor::new(true);
        let wire = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(inflate(&mut d, &wire, 100).unwrap(), b"Hello");
    }

    #[test]
    fn output_never_passes_the_limit() {
        let zeros = vec![0u8; 10 << 20];
        let mut c = Compressor::new(9, 15, true, 0);
        let bomb = c.compress(&zeros).unwrap();
        assert!(bomb.len() < 20 << 10, "{} bytes", bomb.len());
        let mut d = Decompressor::new(true);
        let mut out = Vec::new();
        assert_eq!(
            d.inflate(bomb, true, &mut out, usize::MAX, 1 << 20),
            Err(InflateError::TooLarge)
        );
        assert!(
            out.capacity() <= (1 << 20) + INFLATE_CHUNK,
            "{}",
            out.capacity()
        );
        let mut d = Decompressor::new(true);
        assert_eq!(inflate(&mut d, bomb, 10 << 20).unwrap().len(), 10 << 20);
    }

    #[test]
    fn output_pauses_at_the_given_size_and_resumes() {
        let text: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 23) as u8).collect();
        let mut c = Compressor::new(6, 15, true, 0);
        let wire = c.compress(&text).unwrap();
        let mut d = Decompressor::new(true);
        let mut all = Vec::new();
        let mut rest = wire;
        let mut pieces = 0;
        loop {
            let mut out = Vec::new();
            let step = d.inflate(rest, true, &mut out, 10_000, usize::MAX).unwrap();
            assert!(out.len() <= 10_000);
            all.extend_from_slice(&out);
            rest = &rest[step.consumed..];
            pieces += 1;
            if step.done {
                break;
            }
        }
        assert!(pieces >= 30, "{pieces}");
        assert_eq!(all, text);
    }

    #[test]
    fn corrupt_data_is_refused() {
        let mut d = Decompressor::new(true);
        assert_eq!(
            inflate(&mut d, &[0xff, 0xff, 0xff, 0xff], 100),
            Err(InflateError::Corrupt)
        );
    }

    #[test]
    fn short_or_incompressible_messages_go_uncompressed_without_takeover() {
        let mut c = Compressor::new(1, 15, true, 64);
        assert_eq!(c.compress(b"short"), None);
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        assert_eq!(c.compress(&noise), None);
        let mut c = Compressor::new(1, 8, true, 0);
        assert_eq!(c.compress(&[b'a'; 1000]), None, "no 8-bit window in zlib");
    }

    #[test]
    fn a_spare_compressor_starts_each_message_afresh() {
        let text = b"{\"user\":\"ann\",\"text\":\"hello, hello, hello again\"}".repeat(3);
        let fresh = Compressor::new(1, 15, true, 0)
            .compress(&text)
            .unwrap()
            .to_vec();
        for _ in 0..3 {
            let mut c = Compressor::new(1, 15, true, 0);
            assert_eq!(c.compress(&text).unwrap(), &fresh[..]);
            c.release();
        }
    }

    #[test]
    fn an_engine_left_dirty_by_a_failed_message_is_never_a_spare() {
        let mut d = Decompressor::new(true);
        assert_eq!(
            inflate(&mut d, &[0xff, 0xff, 0xff, 0xff], 100),
            Err(InflateError::Corrupt)
        );
        d.release();
        // Every spare inflater decodes a new message from its start.
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        while let Some(engine) = spare::take_inflate() {
            let mut d = Decompressor {
                engine: Some(engine),
                ..Decompressor::new(true)
            };
            assert_eq!(inflate(&mut d, &hello, 100).unwrap(), b"Hello");
        }
    }

    #[test]
    fn idle_engines_are_released_only_without_context() {
        let mut c = Compressor::new(1, 15, true, 0);
        c.compress(&[b'a'; 100]).unwrap();
        c.release();
        assert!(!c.is_allocated());
        let mut c = Compressor::new(1, 15, false, 0);
        c.compress(&[b'a'; 100]).unwrap();
        c.release();
        assert!(c.is_allocated());
    }
}
