//! Differential: the incremental `Utf8Validator`, fed the input cut into
//! pieces (cut sizes from the input, see `split`), against `std::str::from_utf8`
//! on the whole.
//!
//! Checks: the validator fails exactly on the piece holding the first byte
//! after which the text can no longer be valid UTF-8 (not before: every
//! earlier piece is accepted; not later); `finish` agrees with std on the
//! whole text; after `finish` the validator works as new (checked again on
//! the text in one piece).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rusty_socket_proto::Utf8Validator;
use rusty_socket_proto_fuzz::split::split;

fuzz_target!(|data: &[u8]| {
    let split = split(data);
    let text = split.whole;
    let mut validator = Utf8Validator::new();
    if check(&mut validator, text, &split.pieces) {
        check(&mut validator, text, &[text]);
    }
});

/// Feeds `pieces` (which make up `text`) to `validator`; returns whether it
/// got as far as `finish`.
fn check(validator: &mut Utf8Validator, text: &[u8], pieces: &[&[u8]]) -> bool {
    let invalid_at = first_invalid_byte(text);
    let mut start = 0;
    for piece in pieces {
        let end = start + piece.len();
        let fed = validator.feed(piece);
        match invalid_at {
            Some(at) if at < end => {
                assert!(
                    fed.is_err(),
                    "byte {at} is invalid, piece {start}..{end} accepted"
                );
                return false;
            }
            _ => assert!(fed.is_ok(), "piece {start}..{end} refused, valid so far"),
        }
        start = end;
    }
    let std_ok = std::str::from_utf8(text).is_ok();
    assert_eq!(validator.finish().is_ok(), std_ok, "finish");
    true
}

/// The index of the first byte at which `text` stops being the start of
/// valid UTF-8, if it does (an incomplete last character does not count).
fn first_invalid_byte(text: &[u8]) -> Option<usize> {
    let error = std::str::from_utf8(text).err()?;
    error.error_len()?;
    let start = error.valid_up_to();
    (start..text.len())
        .find(|&at| std::str::from_utf8(&text[start..=at]).is_err_and(|e| e.error_len().is_some()))
}
