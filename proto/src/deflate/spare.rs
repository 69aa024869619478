//! Spare deflate engines, shared by every connection of the process.
//!
//! Without context takeover an engine holds nothing between messages, and a
//! connection gives its engines up when it goes idle (`release_buffers`), so
//! that thousands of idle connections hold no zlib state. Making an engine
//! is costly, though (zlib allocates about 300 KiB to compress and clears
//! most of it), and a busy server's connections go idle between every burst
//! of messages: without spares, most messages of a chat-like load would pay
//! for a new engine. A few clean engines are therefore kept for whichever
//! connection needs one next. The number kept is bounded, so the memory is
//! too: [`SPARE_ENGINES`] of each kind per process, whatever the number of
//! connections; [`drop_spare_engines`] frees them.
//!
//! Only engines reset after a complete message are given back: they hold no
//! data that any later message could reach.

use std::sync::{Mutex, PoisonError};

use flate2::{Compress, Decompress};

/// How many spare engines of each kind (compressing, inflating) are kept.
pub const SPARE_ENGINES: usize = 8;

/// Engines kept for reuse, of one kind.
struct Spares<T> {
    engines: Mutex<Vec<T>>,
}

impl<T> Spares<T> {
    const fn new() -> Self {
        Spares {
            engines: Mutex::new(Vec::new()),
        }
    }

    /// Takes a spare engine that `fits`, if one is kept.
    fn take(&self, fits: impl Fn(&T) -> bool) -> Option<T> {
        // A panic elsewhere while the lock was held cannot leave the list
        // inconsistent: a push or a removal either happened or did not.
        let mut engines = self.engines.lock().unwrap_or_else(PoisonError::into_inner);
        let at = engines.iter().rposition(fits)?;
        Some(engines.swap_remove(at))
    }

    /// Keeps a clean engine, unless enough are kept already (the oldest
    /// spare then makes room: the newest fits the current load best).
    fn give(&self, engine: T) {
        let mut engines = self.engines.lock().unwrap_or_else(PoisonError::into_inner);
        if engines.len() == SPARE_ENGINES {
            engines.remove(0);
        }
        engines.push(engine);
    }

    fn clear(&self) -> usize {
        let mut engines = self.engines.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut *engines).len()
    }
}

/// A compressing engine with the parameters it was made with.
pub(crate) struct SpareCompress {
    pub(crate) level: u32,
    pub(crate) window_bits: u8,
    pub(crate) engine: Box<Compress>,
}

static COMPRESSORS: Spares<SpareCompress> = Spares::new();
static INFLATERS: Spares<Box<Decompress>> = Spares::new();

/// A clean compressing engine for `level` and `window_bits`, if one is kept.
pub(crate) fn take_compress(level: u32, window_bits: u8) -> Option<Box<Compress>> {
    COMPRESSORS
        .take(|spare| spare.level == level && spare.window_bits == window_bits)
        .map(|spare| spare.engine)
}

/// Keeps a compressing engine that was reset after its last message.
pub(crate) fn give_compress(spare: SpareCompress) {
    COMPRESSORS.give(spare);
}

/// A clean inflating engine (15-bit window), if one is kept.
pub(crate) fn take_inflate() -> Option<Box<Decompress>> {
    INFLATERS.take(|_| true)
}

/// Keeps an inflating engine that was reset after its last message.
pub(crate) fn give_inflate(engine: Box<Decompress>) {
    INFLATERS.give(engine);
}

/// Frees the spare engines kept for the next connection that needs one
/// (at most [`SPARE_ENGINES`] of each kind, about 3.3 MiB in all at the
/// default parameters); returns how many were freed. Nothing else changes:
/// connections make new engines when they need them. For a server that
/// wants its memory back after a burst of compressed traffic.
pub fn drop_spare_engines() -> usize {
    COMPRESSORS.clear() + INFLATERS.clear()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spares_are_bounded_and_matched_by_their_parameters() {
        let spares = Spares::<(u32, u8)>::new();
        for i in 0..20 {
            spares.give((i, 15));
        }
        assert_eq!(spares.engines.lock().unwrap().len(), SPARE_ENGINES);
        assert_eq!(spares.take(|s| s.0 == 3), None, "the oldest made room");
        assert_eq!(spares.take(|s| s.0 == 19), Some((19, 15)));
        assert_eq!(spares.take(|s| s.1 == 9), None);
        assert_eq!(spares.clear(), SPARE_ENGINES - 1);
        assert_eq!(spares.take(|_| true), None);
    }
}
