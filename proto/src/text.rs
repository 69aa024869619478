//! `Utf8Bytes`: cheaply cloned text that is known to be valid UTF-8.
//!
//! # Why two representations
//!
//! Without `unsafe`, the only ways to a `&str` are a value that is already
//! `str`-typed (`String`, `Arc<str>`, `&'static str`) or a validation pass
//! over bytes. The receive path validates a text as it unmasks it, and
//! collects the validated pieces into a `String` (one pass and one copy);
//! a large text in a single frame would rather stay a zero-copy slice of
//! the receive buffer, validated but byte-typed, since turning that into a
//! `str`-typed value would cost a copy and a second validation: about +60%
//! on the time to receive a large multi-byte text. So:
//!
//! - texts up to [`STR_MAX`] bytes received from the wire, uncompressed
//!   fragmented texts, and every text built from a `String`, a `&str` or a
//!   `&'static str`, are held `str`-typed: [`Utf8Bytes::as_str`] is O(1);
//! - longer received texts stay the zero-copy slice of the receive buffer, and
//!   `as_str` validates them again with `simdutf8` (about 20 GiB/s on
//!   multi-byte text with AVX2), which never fails. Call `as_str` once and
//!   keep the `&str` when walking such a text many times.
//!
//! Copying small texts out also stops a short message from pinning the whole
//! receive buffer it was sliced from.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use bytes::Bytes;

/// Received texts up to this many bytes are collected into a `String` as
/// they are validated, so that reading them is O(1); longer ones (in a
/// single frame, or compressed) stay zero-copy slices that `as_str`
/// validates again. When this limit was set, a copy and a validation at
/// this size cost about 4 µs, the price of one `as_str` on the bytes.
pub(crate) const STR_MAX: usize = 64 << 10;

/// Immutable, reference-counted bytes that hold valid UTF-8.
///
/// A text message up to 64 KiB, or uncompressed in several frames, is
/// handed out `str`-typed (as the `String` it was collected into while it
/// was validated, or a shared copy); a longer one as a slice of the receive
/// buffer (or of its inflated bytes), so that no copy is made to turn a
/// large frame into a `String`. The only way to build one checks (or
/// inherits from a `str`) that the bytes are UTF-8.
///
/// [`as_str`](Self::as_str) (and so `Deref`, `Display`, `Debug`) is O(1) for
/// every text built from a `String` or `&str`, and for received texts up to
/// 64 KiB or uncompressed in several frames; on a longer received text it
/// validates the bytes again, at memory speed. [`len`](Self::len),
/// [`as_bytes`](Self::as_bytes), comparisons and hashing are O(1) or
/// byte-wise for all.
#[derive(Clone)]
pub struct Utf8Bytes(Repr);

#[derive(Clone)]
enum Repr {
    /// A string literal.
    Static(&'static str),
    /// A short received text, or one copied from a `&str`.
    Shared(Arc<str>),
    /// A `String` handed over whole, kept without a copy.
    Owned(Arc<String>),
    /// A long received text: bytes validated when the value was built.
    Validated(Bytes),
}

/// Lends an `Arc<str>` to `Bytes::from_owner`, so that turning a text into
/// bytes never copies it.
struct SharedStr(Arc<str>);

impl AsRef<[u8]> for SharedStr {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// The same for a shared `String`.
struct SharedString(Arc<String>);

impl AsRef<[u8]> for SharedString {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl Utf8Bytes {
    /// Text from a static string, without copying.
    pub const fn from_static(text: &'static str) -> Self {
        Utf8Bytes(Repr::Static(text))
    }

    /// The text.
    ///
    /// O(1), except for a received text over 64 KiB, whose bytes are
    /// validated again (with `simdutf8`, at memory speed) because this crate
    /// forbids the `unsafe` that skipping the check would need.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Static(text) => text,
            Repr::Shared(text) => text,
            Repr::Owned(text) => text,
            Repr::Validated(bytes) => {
                simdutf8::basic::from_utf8(bytes).expect("Utf8Bytes holds UTF-8 by construction")
            }
        }
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.as_bytes().is_empty()
    }

    /// The text's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Static(text) => text.as_bytes(),
            Repr::Shared(text) => text.as_bytes(),
            Repr::Owned(text) => text.as_bytes(),
            Repr::Validated(bytes) => bytes,
        }
    }

    /// The underlying bytes, without copying.
    pub fn into_bytes(self) -> Bytes {
        match self.0 {
            Repr::Static(text) => Bytes::from_static(text.as_bytes()),
            Repr::Shared(text) => Bytes::from_owner(SharedStr(text)),
            Repr::Owned(text) => match Arc::try_unwrap(text) {
                Ok(text) => Bytes::from(text),
                Err(shared) => Bytes::from_owner(SharedString(shared)),
            },
            Repr::Validated(bytes) => bytes,
        }
    }

    /// The text's bytes to queue by reference, without copying them.
    pub(crate) fn shared_bytes(&self) -> Bytes {
        self.clone().into_bytes()
    }

    /// Wraps bytes that the caller has already validated as UTF-8: a long
    /// text sliced from the receive buffer, or an inflated one.
    ///
    /// Up to 64 KiB, the text is validated again and copied, to make
    /// `as_str` O(1); longer texts are kept as they are, without a pass.
    pub(crate) fn from_validated(bytes: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&bytes).is_ok());
        if bytes.len() <= STR_MAX {
            if let Ok(text) = simdutf8::basic::from_utf8(&bytes) {
                return Utf8Bytes(Repr::Shared(Arc::from(text)));
            }
        }
        Utf8Bytes(Repr::Validated(bytes))
    }
}

impl Default for Utf8Bytes {
    fn default() -> Self {
        Utf8Bytes::from_static("")
    }
}

impl PartialEq for Utf8Bytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Utf8Bytes {}

impl PartialOrd for Utf8Bytes {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Utf8Bytes {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl Hash for Utf8Bytes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `Bytes` hashes: the same value whatever the representation.
        self.as_bytes().hash(state);
    }
}

impl Deref for Utf8Bytes {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

impl From<String> for Utf8Bytes {
    fn from(text: String) -> Self {
        Utf8Bytes(Repr::Owned(Arc::new(text)))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(text: &str) -> Self {
        Utf8Bytes(Repr::Shared(Arc::from(text)))
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(text: Utf8Bytes) -> Self {
        text.into_bytes()
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = std::str::Utf8Error;

    /// Validates `bytes`; up to 64 KiB they are then copied so that `as_str`
    /// is O(1), longer ones are kept without a copy.
    fn try_from(bytes: Bytes) -> Result<Self, Self::Error> {
        match simdutf8::basic::from_utf8(&bytes) {
            Ok(text) if text.len() <= STR_MAX => Ok(Utf8Bytes(Repr::Shared(Arc::from(text)))),
            Ok(_) => Ok(Utf8Bytes(Repr::Validated(bytes))),
            // simdutf8's basic error carries no position: ask std for it.
            Err(_) => Err(std::str::from_utf8(&bytes).unwrap_err()),
        }
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::hash_map::DefaultHasher;

    use super::*;

    fn hash(text: &Utf8Bytes) -> u64 {
        let mut hasher = DefaultHasher::new();
        text.hash(&mut hasher);
        hasher.finish()
    }

    /// The same text in every representation.
    fn every_repr(text: &'static str) -> Vec<Utf8Bytes> {
        vec![
            Utf8Bytes::from_static(text),
            Utf8Bytes::from(text),
            Utf8Bytes::from(text.to_owned()),
            Utf8Bytes::from_validated(Bytes::from_static(text.as_bytes())),
            Utf8Bytes(Repr::Validated(Bytes::from_static(text.as_bytes()))),
        ]
    }

    #[test]
    fn representations_are_indistinguishable() {
        let texts = every_repr("ünïcødé € 😀");
        for text in &texts {
            assert_eq!(text, &texts[0]);
            assert_eq!(hash(text), hash(&texts[0]));
            assert_eq!(text.as_str(), "ünïcødé € 😀");
            assert_eq!(text.len(), "ünïcødé € 😀".len());
            assert_eq!(format!("{text} {text:?}"), "ünïcødé € 😀 \"ünïcødé € 😀\"");
            assert_eq!(text.clone().into_bytes(), "ünïcødé € 😀".as_bytes());
        }
        assert!(every_repr("")
            .iter()
            .all(|t| t.is_empty() && *t == Utf8Bytes::default()));
    }

    #[test]
    fn short_received_texts_are_str_typed_long_ones_stay_zero_copy() {
        let short = Bytes::from(vec![b'a'; STR_MAX]);
        assert!(matches!(
            Utf8Bytes::from_validated(short.clone()).0,
            Repr::Shared(_)
        ));
        assert!(matches!(
            Utf8Bytes::try_from(short).unwrap().0,
            Repr::Shared(_)
        ));
        let long = Bytes::from(vec![b'a'; STR_MAX + 1]);
        let text = Utf8Bytes::from_validated(long.clone());
        // The very same allocation, not a copy.
        assert_eq!(text.as_bytes().as_ptr(), long.as_ptr());
        assert!(matches!(text.0, Repr::Validated(_)));
        assert_eq!(text.as_str().len(), STR_MAX + 1);
        assert!(matches!(
            Utf8Bytes::try_from(long).unwrap().0,
            Repr::Validated(_)
        ));
    }

    #[test]
    fn strings_are_kept_and_given_back_without_a_copy() {
        let text = "x".repeat(STR_MAX * 2);
        let ptr = text.as_ptr();
        let text = Utf8Bytes::from(text);
        assert_eq!(text.as_str().as_ptr(), ptr);
        let shared = text.clone();
        assert_eq!(text.into_bytes().as_ptr(), ptr);
        assert_eq!(shared.into_bytes().as_ptr(), ptr);
    }

    #[test]
    fn invalid_bytes_are_refused_with_their_position() {
        let error = Utf8Bytes::try_from(Bytes::from_static(b"ok\xff")).unwrap_err();
        assert_eq!(error.valid_up_to(), 2);
    }
}
