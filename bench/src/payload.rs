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
    /// Text frames of JSON: one chat message (up to 1 KiB) or a document
    /// holding a page of chat history; see [`json`].
    Json,
}

impl Kind {
    /// Every kind, in the order the sanity check runs them.
    pub const ALL: [Kind; 3] = [Kind::Binary, Kind::TextAscii, Kind::TextUtf8];

    /// The WebSocket opcode of a message of this kind.
    pub fn opcode(self) -> u8 {
        match self {
            Kind::Binary => crate::frame::OP_BINARY,
            Kind::TextAscii | Kind::TextUtf8 | Kind::Json => crate::frame::OP_TEXT,
        }
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Binary => "binary",
            Kind::TextAscii => "text-ascii",
            Kind::TextUtf8 => "text-utf8",
            Kind::Json => "json",
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
        Kind::Json => json(size),
    }
}

/// Words of the chat texts: common English, so that deflate finds what it
/// finds in real chat (repeated short words, no long repeats).
const WORDS: &[&str] = &[
    "the",
    "a",
    "to",
    "and",
    "of",
    "is",
    "it",
    "in",
    "that",
    "you",
    "for",
    "on",
    "this",
    "we",
    "be",
    "with",
    "have",
    "not",
    "are",
    "but",
    "just",
    "can",
    "do",
    "at",
    "so",
    "if",
    "what",
    "my",
    "was",
    "will",
    "about",
    "all",
    "get",
    "one",
    "there",
    "think",
    "know",
    "like",
    "when",
    "up",
    "out",
    "now",
    "time",
    "yes",
    "no",
    "ok",
    "thanks",
    "please",
    "deploy",
    "build",
    "test",
    "release",
    "branch",
    "merge",
    "review",
    "server",
    "client",
    "latency",
    "memory",
    "bug",
    "fixed",
    "broken",
    "tomorrow",
    "today",
    "meeting",
    "lunch",
    "coffee",
    "weekend",
    "ticket",
    "customer",
    "dashboard",
    "metrics",
    "alert",
    "rollback",
    "config",
    "staging",
    "production",
    "works",
    "failing",
    "looks",
    "good",
    "great",
    "maybe",
    "later",
    "again",
    "still",
    "check",
    "issue",
    "question",
    "answer",
    "update",
    "soon",
    "here",
    "there",
    "why",
    "how",
    "who",
];

/// Names of the chat users.
const NAMES: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yasmin",
];

/// Chat rooms.
const ROOMS: &[&str] = &[
    "general",
    "random",
    "dev-backend",
    "ops",
    "support",
    "release-2026",
];

/// A small deterministic generator (xorshift64*), so that every run and
/// every tool sends the very same JSON.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// One chat message as a JSON object, its text exactly `text_len` bytes.
/// The other fields are drawn first, so the same generator state gives the
/// same fixed part whatever the text length.
fn chat_message(rng: &mut Rng, seq: u64, text_len: usize) -> String {
    let id = rng.next();
    let room = rng.pick(ROOMS);
    let user = rng.below(NAMES.len());
    let ts = 1_764_864_000_000 + seq * 1_731 + rng.below(1000) as u64;
    let edited = rng.below(10) == 0;
    let reactions = rng.below(4);
    let mut text = String::with_capacity(text_len + 16);
    while text.len() < text_len {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(rng.pick(WORDS));
    }
    text.truncate(text_len);
    format!(
        concat!(
            r#"{{"type":"message","id":"msg_{:016x}","room":"{}","#,
            r#""user":{{"id":{},"name":"{}","role":"{}"}},"#,
            r#""ts":{},"edited":{},"reactions":{},"text":"{}"}}"#
        ),
        id,
        room,
        1000 + user * 37,
        NAMES[user],
        if user.is_multiple_of(5) {
            "admin"
        } else {
            "member"
        },
        ts,
        edited,
        reactions,
        text
    )
}

/// Realistic, deterministic JSON of exactly `size` bytes.
///
/// Up to 1 KiB: one chat message, as a chat server relays it (below the
/// size of a message with an empty text, plain ASCII text instead). Larger:
/// `{"type":"history","room":..,"messages":[...]}`, a page of messages with
/// texts of 8 to 227 bytes, as an API answers it; the last text is sized so
/// that the total is exact.
pub fn json(size: usize) -> Vec<u8> {
    let mut rng = Rng(0x5eed_0fc4_a7a7_1234);
    let fixed = |rng: &Rng, seq| chat_message(&mut rng.clone(), seq, 0).len();
    if size <= 1024 {
        let skeleton = fixed(&rng, 0);
        if size < skeleton {
            return build(Kind::TextAscii, size);
        }
        return chat_message(&mut rng, 0, size - skeleton).into_bytes();
    }
    let mut doc = String::with_capacity(size);
    doc.push_str(r#"{"type":"history","room":"general","messages":["#);
    let close = "]}";
    let mut seq = 0;
    loop {
        if seq > 0 {
            doc.push(',');
        }
        let text_len = 8 + rng.below(220);
        let skeleton = fixed(&rng, seq);
        let left = size - doc.len() - close.len();
        // Room for this message and one more after it (at most 200 bytes
        // of fixed part plus a short text)? Else this one is the last.
        if left < skeleton + text_len + 1 + 200 + 8 {
            doc.push_str(&chat_message(&mut rng, seq, left - skeleton));
            break;
        }
        doc.push_str(&chat_message(&mut rng, seq, text_len));
        seq += 1;
    }
    doc.push_str(close);
    debug_assert_eq!(doc.len(), size);
    doc.into_bytes()
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

    #[test]
    fn json_is_exact_valid_and_deterministic() {
        for size in [200, 1024, 1025, 4096, 65536, 1 << 20] {
            let doc = build(Kind::Json, size);
            assert_eq!(doc.len(), size, "{size}");
            let value: serde_json::Value = serde_json::from_slice(&doc).unwrap();
            assert!(value.is_object());
            assert_eq!(doc, build(Kind::Json, size));
        }
    }
}
