//! Cutting an input into reads.

/// An input and the same bytes cut into pieces.
pub struct Split<'a> {
    /// The bytes, whole.
    pub whole: &'a [u8],
    /// The same bytes, cut into non-empty pieces.
    pub pieces: Vec<&'a [u8]>,
}

/// Reads the cut sizes from the front of `data` and cuts the rest with them.
///
/// Format: a byte `n`, then `n % 16` size bytes, then the bytes to cut. Each
/// size byte `s` makes a piece of `s + 1` bytes; the sizes repeat until the
/// bytes run out. With no size bytes (`n % 16 == 0`) there is one piece.
/// So `\x00` + text is the text whole, `\x01\x00` + text is the text one byte
/// at a time.
pub fn split(data: &[u8]) -> Split<'_> {
    let (count, rest) = match data.split_first() {
        Some((&n, rest)) => (usize::from(n % 16).min(rest.len()), rest),
        None => (0, data),
    };
    let (sizes, whole) = rest.split_at(count);
    let mut pieces = Vec::new();
    let mut left = whole;
    let mut sizes = sizes.iter().map(|&s| usize::from(s) + 1).cycle();
    while !left.is_empty() {
        let size = sizes.next().unwrap_or(left.len()).min(left.len());
        let (piece, rest) = left.split_at(size);
        pieces.push(piece);
        left = rest;
    }
    Split { whole, pieces }
}
