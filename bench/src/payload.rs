//! Message payloads: what kind of message, and the bytes that go in it.

use serde::{Deserialize, Serialize};

/// The kind of message sent, which decides both the opcode and the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Binary frames of pseudo-random bytes (no UTF-8 check on the server).
    Binary,
    /// Text frames of ASCII, the fast path of most UTF-8 validators.
    TextAscii,
    /// Text frames of two-, three- and four-byte characters, the slow path.
    TextUtf8,
}

impl Kind {
    /// Every kind, in the order the sanity check runs them.
    pub const ALL: [Kind; 3] = [Kind::Binary, Kind::TextAscii, Kind::TextUtf8];

    /// The WebSocket opcode of a message of this kind.
    pub fn opcode(self) -> u8 {
        match self {
            Kind::Binary => crate::frame::OP_BINARY,
            Kind::TextAscii | Kind::TextUtf8 => crate::frame::OP_TEXT,
        }
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Binary => "binary",
            Kind::TextAscii => "text-ascii",
            Kind::TextUtf8 => "text-utf8",
        }
    }
}

/// Characters of two, three and four bytes, so that every UTF-8 validator
/// leaves its ASCII fast path.
const UTF8_PATTERN: &str = "é€😀";

/// Builds a payload of `size` bytes of the given kind. `TextUtf8` stops at
/// the last whole character that fits, so it may be up to three bytes short.
pub fn build(kind: Kind, size: usize) -> Vec<u8> {
    match kind {
        Kind::Binary => {
            // xorshift64: deterministic, and varied enough that a swapped or
            // shifted byte in an echo shows up under `--verify`.
            let mut state = 0x9e37_79b9_7f4a_7c15_u64;
            (0..size)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 32) as u8
                })
                .collect()
        }
        Kind::TextAscii => (0..size).map(|i| b'a' + (i % 26) as u8).collect(),
        Kind::TextUtf8 => {
            let mut text = String::with_capacity(size);
            for c in UTF8_PATTERN.chars().cycle() {
                if text.len() + c.len_utf8() > size {
                    break;
                }
                text.push(c);
            }
            text.into_bytes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_exact_or_just_below_for_utf8() {
        for size in [0, 1, 2, 3, 9, 125, 126, 16384, 65536] {
            assert_eq!(build(Kind::Binary, size).len(), size);
            assert_eq!(build(Kind::TextAscii, size).len(), size);
            let utf8 = build(Kind::TextUtf8, size);
            assert!(utf8.len() <= size && size - utf8.len() < 4, "{size}");
            assert!(std::str::from_utf8(&utf8).is_ok());
        }
        assert!(std::str::from_utf8(&build(Kind::TextAscii, 1000)).is_ok());
        assert_eq!(build(Kind::TextUtf8, 16384).len(), 16382);
    }
}
