//! Interoperability tests between `rusty-socket-std` and `rusty-socket-tokio`
//! live in `tests/`; this crate has no code of its own. It exists so that
//! neither adapter depends on the other, not even for its tests.
