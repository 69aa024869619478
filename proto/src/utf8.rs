//! Incremental UTF-8 validation.
//!
//! A text message may arrive split across frames and reads at any byte, even
//! inside a multi-byte character. RFC 6455 section 8.1 asks an endpoint to fail
//! the connection as soon as it sees invalid UTF-8, so this validator checks
//! each piece as it arrives and fails at the first invalid byte, keeping only
//! the up to three bytes of a character that is not complete yet. The bulk of
//! the work is done by `simdutf8`, which validates at memory speed.

/// The bytes fed so far are not a prefix of any valid UTF-8 text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

/// Validates UTF-8 text that arrives in pieces.
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    /// The start of a character cut off at the end of the last piece.
    partial: [u8; 4],
    partial_len: u8,
}

impl Utf8Validator {
    /// A validator at the start of a text.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the next piece of the text. Fails as soon as the bytes seen so
    /// far can no longer be the beginning of valid UTF-8.
    pub fn feed(&mut self, piece: &[u8]) -> Result<(), InvalidUtf8> {
        self.check(piece, |_| {})
    }

    /// Checks the next piece of the text, as [`feed`](Self::feed), and
    /// appends what is valid so far to `text`: a character cut at the end of
    /// the piece is appended once the next piece completes it. One pass
    /// both validates and yields the `str`, so collecting a text that
    /// arrives in pieces costs one validation and one copy.
    pub fn feed_into(&mut self, piece: &[u8], text: &mut String) -> Result<(), InvalidUtf8> {
        self.check(piece, |valid| text.push_str(valid))
    }

    /// Validates `piece` after what came before, handing each validated
    /// run of it to `valid`.
    fn check(&mut self, mut piece: &[u8], mut valid: impl FnMut(&str)) -> Result<(), InvalidUtf8> {
        if self.partial_len > 0 {
            let have = usize::from(self.partial_len);
            let need = char_width(self.partial[0]) - have;
            let take = need.min(piece.len());
            self.partial[have..have + take].copy_from_slice(&piece[..take]);
            self.partial_len += take as u8;
            piece = &piece[take..];
            match std::str::from_utf8(&self.partial[..usize::from(self.partial_len)]) {
                Ok(character) => {
                    valid(character);
                    self.partial_len = 0;
                }
                Err(e) if e.error_len().is_none() => return Ok(()),
                Err(_) => return Err(InvalidUtf8),
            }
        }
        // A piece cut inside a character: validate up to the cut at full
        // speed, and keep the start of the character for the next piece.
        let (whole, tail) = piece.split_at(complete_prefix_len(piece));
        valid(simdutf8::basic::from_utf8(whole).map_err(|_| InvalidUtf8)?);
        match std::str::from_utf8(tail) {
            Ok(rest) => {
                valid(rest);
                Ok(())
            }
            Err(e) if e.error_len().is_none() => {
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len() as u8;
                Ok(())
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Ends the text: fails if it stops in the middle of a character.
    /// The validator is ready for a new text afterwards.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let complete = self.partial_len == 0;
        self.partial_len = 0;
        if complete {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }
}

/// The length of `piece` without a character cut off at its end: the bytes
/// from the last lead byte on, if there are fewer of them than it announces.
/// (Whether those bytes are valid is checked separately.)
fn complete_prefix_len(piece: &[u8]) -> usize {
    let len = piece.len();
    for back in 1..=len.min(3) {
        let byte = piece[len - back];
        if byte & 0xC0 != 0x80 {
            let width = if byte >= 0xC0 { char_width(byte) } else { 1 };
            return if width > back { len - back } else { len };
        }
    }
    len
}

/// The length of the character that starts with the lead byte `lead`
/// (0xC0 and up; invalid leads are caught by the validation).
fn char_width(lead: u8) -> usize {
    match lead {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `bytes` cut at `cuts` is valid, by `feed`; `feed_into` must
    /// agree, and collect exactly the bytes of a valid text.
    fn valid_in_pieces(bytes: &[u8], cuts: &[usize]) -> bool {
        let mut validator = Utf8Validator::new();
        let mut collector = Utf8Validator::new();
        let mut collected = String::new();
        let mut start = 0;
        for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
            let piece = &bytes[start..cut];
            let fed = validator.feed(piece);
            assert_eq!(collector.feed_into(piece, &mut collected), fed);
            if fed.is_err() {
                return false;
            }
            assert!(bytes.starts_with(collected.as_bytes()));
            start = cut;
        }
        let finished = validator.finish();
        assert_eq!(collector.finish(), finished);
        if finished.is_ok() {
            assert_eq!(collected.as_bytes(), bytes);
        }
        finished.is_ok()
    }

    #[test]
    fn agrees_with_std_for_every_two_way_split() {
        let samples: &[&[u8]] = &[
            "κόσμε".as_bytes(),
            "héllo wörld €😀".as_bytes(),
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            b"\xf4\x90\x80\x80",
            b"\xe0\x80\xaf",
            b"\xc0\xaf",
            b"abc\xff",
            b"\xf0\x9f\x98",
            b"",
        ];
        for bytes in samples {
            let expected = std::str::from_utf8(bytes).is_ok();
            for cut in 0..=bytes.len() {
                assert_eq!(
                    valid_in_pieces(bytes, &[cut]),
                    expected,
                    "{bytes:?} cut at {cut}"
                );
            }
            let every_byte: Vec<usize> = (1..bytes.len()).collect();
            assert_eq!(
                valid_in_pieces(bytes, &every_byte),
                expected,
                "{bytes:?} byte by byte"
            );
        }
    }

    #[test]
    fn fails_at_the_first_invalid_byte_not_at_the_end() {
        // 0xF4 0x90 is already out of range (above U+10FFFF): fail on the second byte.
        let mut validator = Utf8Validator::new();
        assert_eq!(validator.feed(b"ok \xf4"), Ok(()));
        assert_eq!(validator.feed(b"\x90"), Err(InvalidUtf8));
        // A surrogate's first two bytes are enough to know.
        let mut validator = Utf8Validator::new();
        assert_eq!(validator.feed(b"\xed\xa0"), Err(InvalidUtf8));
    }

    #[test]
    fn an_unfinished_character_fails_at_the_end() {
        let mut validator = Utf8Validator::new();
        assert_eq!(
            validator.feed("€".as_bytes().get(..2).unwrap_or_default()),
            Ok(())
        );
        assert_eq!(validator.finish(), Err(InvalidUtf8));
        assert_eq!(validator.feed(b"fresh start"), Ok(()));
        assert_eq!(validator.finish(), Ok(()));
    }
}
