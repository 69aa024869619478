//! permessage-deflate (RFC 7692) for the models, on flate2 directly: what
//! the connection must send compressed (its compressor, predicted), what
//! the peer sends compressed, and inflating both directions.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// What a sync flush ends with, left out of a message on the wire.
pub const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The close code of invalid compressed data (and of invalid UTF-8).
pub const CORRUPT: u16 = 1007;
/// The close code of a message past a limit.
pub const TOO_LARGE: u16 = 1009;

/// Compresses `payload` as one message (section 7.2.1): a sync flush,
/// without its last four bytes. `None` when the flush does not end with
/// them: zlib emits nothing for an empty message right after another flush
/// (context takeover).
pub fn deflate_message(engine: &mut Compress, payload: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(payload.len() * 2 + 1024);
    let mut consumed = 0;
    loop {
        let before = engine.total_in();
        engine
            .compress_vec(&payload[consumed..], &mut out, FlushCompress::Sync)
            .expect("deflate");
        consumed += (engine.total_in() - before) as usize;
        if consumed == payload.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity());
    }
    if !out.ends_with(&SYNC_TAIL) {
        return None;
    }
    out.truncate(out.len() - SYNC_TAIL.len());
    Some(out)
}

/// The documented behaviour of the connection's compressor: whole messages
/// of at least `threshold` bytes are compressed at `level` (never with an
/// 8-bit window, which zlib lacks); without context takeover the engine
/// starts afresh at every message, and a message that does not shrink goes
/// out as it is, and so does one whose flush does not end as a sync flush
/// must (the engine then starts afresh).
pub struct Deflater {
    engine: Compress,
    level: u32,
    window_bits: Option<u8>,
    reset: bool,
    threshold: usize,
}

impl Deflater {
    pub fn new(level: u32, window_bits: Option<u8>, reset: bool, threshold: usize) -> Self {
        Deflater {
            engine: Compress::new_with_window_bits(
                Compression::new(level),
                false,
                window_bits.unwrap_or(15),
            ),
            level,
            window_bits,
            reset,
            threshold,
        }
    }

    /// The payload on the wire for a whole message, when compressed.
    pub fn compress(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
        if self.window_bits.is_none() || payload.len() < self.threshold {
            return None;
        }
        let Some(out) = deflate_message(&mut self.engine, payload) else {
            self.engine = Compress::new_with_window_bits(
                Compression::new(self.level),
                false,
                self.window_bits.unwrap_or(15),
            );
            return None;
        };
        if self.reset {
            self.engine.reset();
            if out.len() >= payload.len() {
                return None;
            }
        }
        Some(out)
    }
}

/// Why inflating failed: the close code, and the output so far.
#[derive(Debug)]
pub struct Failed {
    pub code: u16,
    pub output: Vec<u8>,
}

/// Inflates the messages of one direction, piece by piece (frame by frame).
///
/// A piece's output is limited; the message's end appends the tail (unless
/// the stream ended with a final block, section 7.2.3.4, which then must be
/// the end of the message: anything after it, even part of the tail, is
/// corrupt, and the next message starts a new stream). Without context
/// takeover every message starts afresh.
pub struct Inflater {
    engine: Decompress,
    reset: bool,
    finished: bool,
}

impl Inflater {
    pub fn new(window_bits: u8, reset: bool) -> Self {
        Inflater {
            engine: Decompress::new_with_window_bits(false, window_bits.clamp(9, 15)),
            reset,
            finished: false,
        }
    }

    /// Inflates one piece of a message (the end of it when `end`); at most
    /// `limit` bytes of output.
    pub fn inflate(&mut self, input: &[u8], end: bool, limit: usize) -> Result<Vec<u8>, Failed> {
        let mut out = Vec::new();
        if self.finished && !input.is_empty() {
            return Err(Failed {
                code: CORRUPT,
                output: out,
            });
        }
        let result = self.feed(input, &mut out, limit).and_then(|()| {
            if end && !self.finished {
                self.feed(&SYNC_TAIL, &mut out, limit)?;
            }
            Ok(())
        });
        if let Err(code) = result {
            return Err(Failed { code, output: out });
        }
        if end && (self.reset || self.finished) {
            self.engine.reset(false);
            self.finished = false;
        }
        Ok(out)
    }

    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), u16> {
        let mut pos = 0;
        loop {
            // Room for one byte past the limit, which proves it passed.
            let room = limit
                .saturating_add(1)
                .saturating_sub(out.len())
                .min(64 << 10);
            out.reserve(room);
            let spare = out.capacity() - out.len();
            let (in_before, out_before) = (self.engine.total_in(), out.len());
            let status = self
                .engine
                .decompress_vec(&input[pos..], out, FlushDecompress::Sync)
                .map_err(|_| CORRUPT)?;
            if out.len() > limit {
                return Err(TOO_LARGE);
            }
            pos += (self.engine.total_in() - in_before) as usize;
            let filled = out.len() - out_before == spare;
            let progress = self.engine.total_in() != in_before || out.len() != out_before;
            match status {
                Status::StreamEnd if pos < input.len() => return Err(CORRUPT),
                Status::StreamEnd => {
                    self.finished = true;
                    return Ok(());
                }
                _ if pos == input.len() && !filled => return Ok(()),
                _ if !progress => return Err(CORRUPT),
                _ => {}
            }
        }
    }
}
