//! Interoperability tests between `rusty-socket-std` and `rusty-socket-tokio`
//! live in `tests/`; this crate has no code of its own. It exists so that
//! neither adapter depends on the other, not even for its tests.

/// The snippets of `docs/tour.md`, compiled by `cargo test --doc`: this crate
/// is the one that has every adapter as a (dev-)dependency.
#[cfg(doctest)]
#[doc = include_str!("../../docs/tour.md")]
mod tour_doctest {}
