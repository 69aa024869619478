//! A seed for a [`Connection`](crate::Connection)'s CSPRNG, from the
//! operating system (cargo feature `getrandom`, on by default).
//!
//! The connection itself stays deterministic: the seed is an argument of
//! [`Connection::client`](crate::Connection::client) and
//! [`Connection::upgraded`](crate::Connection::upgraded), so tests and
//! fuzzers can pass a fixed one. This function is only where a real
//! program gets an unpredictable one.

use std::fmt;

/// 32 bytes from the operating system's CSPRNG, to seed a
/// [`Connection`](crate::Connection): its masking keys and handshake nonce
/// must be unpredictable (RFC 6455 section 10.3).
///
/// ```
/// let seed = rusty_socket_proto::random_seed()?;
/// assert_ne!(seed, rusty_socket_proto::random_seed()?);
/// # Ok::<(), rusty_socket_proto::SeedError>(())
/// ```
pub fn random_seed() -> Result<[u8; 32], SeedError> {
    let mut seed = [0; 32];
    getrandom::fill(&mut seed).map_err(SeedError)?;
    Ok(seed)
}

/// The operating system could not provide random bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedError(getrandom::Error);

impl SeedError {
    /// The OS error code, if the failure came from a system call.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.0.raw_os_error()
    }
}

impl fmt::Display for SeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot get random bytes from the operating system: {}",
            self.0
        )
    }
}

impl std::error::Error for SeedError {}

impl From<SeedError> for std::io::Error {
    fn from(e: SeedError) -> Self {
        match e.raw_os_error() {
            Some(code) => std::io::Error::from_raw_os_error(code),
            None => std::io::Error::other(e),
        }
    }
}
