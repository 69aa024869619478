//! What a connection wants from permessage-deflate ([`DeflateConfig`]) and
//! what the opening handshake agreed to ([`Deflate`]).
//!
//! The config speaks in roles ("local": what we send, "remote": what the
//! peer sends), so one value serves a client and a server alike; the
//! agreement speaks in the RFC's terms (`server_*`, `client_*`), the same
//! value on both ends of a connection, and turns back into roles through
//! its `local_*` / `remote_*` helpers.

use crate::connection::Role;
use crate::error::ConfigError;

/// The largest LZ77 window, in bits (32 KiB): the RFC's default when a
/// window parameter is absent (RFC 7692 section 7.1.2).
pub(crate) const MAX_WINDOW_BITS: u8 = 15;

/// The smallest window a [`DeflateConfig`] may ask for: zlib cannot compress
/// with a window of 8 bits, so we never offer or impose one (a peer may
/// still ask us for 8, see [`Deflate`]).
pub(crate) const MIN_CONFIG_WINDOW_BITS: u8 = 9;

/// How a connection negotiates and uses permessage-deflate (RFC 7692).
///
/// The fields are relative to our role: "local" is what we compress and
/// send, "remote" is what the peer compresses and we decompress. A client
/// turns them into its offer, a server into its answer to the client's
/// offer; the result of the negotiation is a [`Deflate`].
///
/// What we ask of the peer (the `remote_*` fields) is a request: a client
/// also offers plain permessage-deflate after its detailed offer, and a
/// server cannot limit the window of a client that did not say it supports
/// a limit (RFC 7692 section 7.1.2.2), so a peer that cannot honour the
/// request still gets compression, and our decompressor then keeps the
/// larger window. Decompressing is bounded by the connection's message
/// size limit either way.
///
/// ```
/// use rusty_socket_proto::DeflateConfig;
///
/// let mut config = DeflateConfig::default();
/// config.level = 6;
/// config.remote_max_window_bits = 12;
/// assert_eq!(config.validate(), Ok(()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// Use permessage-deflate at all. Default `true`.
    ///
    /// A client offers it, a server accepts an offer of it. When `false` a
    /// client offers nothing and a server declines every offer (which never
    /// fails the handshake: the connection runs uncompressed).
    pub enabled: bool,
    /// Compression level of what we send, 0 (store only) to 9 (smallest,
    /// slowest). Default 1.
    ///
    /// Level 1 gets most of the gain on the text WebSocket messages usually
    /// carry, at a fraction of the CPU time of the higher levels.
    pub level: u32,
    /// Messages shorter than this many bytes are sent uncompressed.
    /// Default 64.
    ///
    /// Compression has a fixed cost of a few bytes and a few microseconds:
    /// a 16-byte chat line grows when compressed. A sender may always send a
    /// message uncompressed (RFC 7692 section 6), so this needs no agreement.
    pub threshold: usize,
    /// Reset our compressor after every message. Default `true`.
    ///
    /// Costs some compression ratio on streams of similar messages; in
    /// exchange an idle connection holds no compressor state (about 256 KiB
    /// with zlib's defaults), and a message compressed once can be sent to
    /// many connections (a broadcast). We announce it to the peer, so its
    /// decompressor can drop its window between messages too: a client
    /// offers `client_no_context_takeover`, a server answers
    /// `server_no_context_takeover`.
    pub local_no_context_takeover: bool,
    /// Ask the peer to reset its compressor after every message. Default
    /// `true`.
    ///
    /// Then our decompressor holds nothing between messages, so an idle
    /// connection costs no decompressor window. A client offers
    /// `server_no_context_takeover` (and falls back to a plain offer for
    /// servers that cannot honour it); a server answers
    /// `client_no_context_takeover`, which a client must obey.
    pub remote_no_context_takeover: bool,
    /// The largest LZ77 window our compressor uses, in bits (9 to 15; the
    /// window is 2^bits bytes). Default 15 (32 KiB).
    ///
    /// A smaller window saves compressor memory and costs ratio. The peer
    /// can only lower it: the agreed window is at most this.
    pub local_max_window_bits: u8,
    /// The largest LZ77 window we ask the peer's compressor to use, in bits
    /// (9 to 15). Default 15 (32 KiB, no request).
    ///
    /// A smaller window saves memory in our decompressor, which must hold a
    /// window as large as the peer's. A client offers
    /// `server_max_window_bits`; a server answers `client_max_window_bits`
    /// when the client's offer allows it.
    pub remote_max_window_bits: u8,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            enabled: true,
            level: 1,
            threshold: 64,
            local_no_context_takeover: true,
            remote_no_context_takeover: true,
            local_max_window_bits: MAX_WINDOW_BITS,
            remote_max_window_bits: MAX_WINDOW_BITS,
        }
    }
}

impl DeflateConfig {
    /// Checks that the values can work: a level of 0 to 9 and windows of 9
    /// to 15 bits (zlib cannot compress with a window of 8 bits, and RFC
    /// 7692 allows none larger than 15).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |field, reason| Err(ConfigError { field, reason });
        if self.level > 9 {
            return fail("deflate.level", "must be 0 to 9");
        }
        let windows = MIN_CONFIG_WINDOW_BITS..=MAX_WINDOW_BITS;
        if !windows.contains(&self.local_max_window_bits) {
            return fail("deflate.local_max_window_bits", "must be 9 to 15");
        }
        if !windows.contains(&self.remote_max_window_bits) {
            return fail("deflate.remote_max_window_bits", "must be 9 to 15");
        }
        Ok(())
    }
}

/// The permessage-deflate parameters a connection's opening handshake
/// agreed to, in the terms of RFC 7692 section 7.1: the same value on the
/// client and on the server.
///
/// A window may be agreed at 8 bits, which RFC 7692 allows and a peer may
/// ask for; zlib cannot compress with so small a window, so a side held to
/// 8 bits sends every message uncompressed, which a sender may always do
/// (RFC 7692 section 6: a message with RSV1 unset is not compressed).
/// Decompressing with a window larger than the sender's is always fine, so
/// the receiving side uses 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Deflate {
    /// The server resets its compressor after every message, so the
    /// client's decompressor needs no window between messages
    /// (section 7.1.1.1).
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message, so the
    /// server's decompressor needs no window between messages
    /// (section 7.1.1.2). Set when the server asked for it, and when the
    /// client announced it in the offer it made.
    pub client_no_context_takeover: bool,
    /// The largest window, in bits (8 to 15), the server compresses with;
    /// 15 when not limited (section 7.1.2.1).
    pub server_max_window_bits: u8,
    /// The largest window, in bits (8 to 15), the client compresses with;
    /// 15 when not limited (section 7.1.2.2).
    pub client_max_window_bits: u8,
}

impl Default for Deflate {
    /// Plain `permessage-deflate`: context takeover on both sides, 32 KiB
    /// windows.
    fn default() -> Self {
        Deflate {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
        }
    }
}

// The role-relative view, for the codec: `local` is what `role` compresses,
// `remote` what it decompresses.
#[cfg_attr(not(test), allow(dead_code))] // Used by the codec, wired in separately.
impl Deflate {
    /// The largest window our compressor may use.
    pub(crate) fn local_max_window_bits(&self, role: Role) -> u8 {
        match role {
            Role::Client => self.client_max_window_bits,
            Role::Server => self.server_max_window_bits,
        }
    }

    /// The largest window the peer compresses with: our decompressor's.
    pub(crate) fn remote_max_window_bits(&self, role: Role) -> u8 {
        self.local_max_window_bits(peer(role))
    }

    /// The window our compressor is built with, or `None` when the agreed
    /// window is 8 bits: zlib cannot compress with it (flate2's
    /// `Compress::new_with_window_bits` panics below 9), so every message
    /// is sent uncompressed (RFC 7692 section 6: RSV1 unset).
    pub(crate) fn compressor_window_bits(&self, role: Role) -> Option<u8> {
        let bits = self.local_max_window_bits(role);
        (bits >= MIN_CONFIG_WINDOW_BITS).then_some(bits)
    }

    /// Whether we reset our compressor after every message.
    pub(crate) fn local_no_context_takeover(&self, role: Role) -> bool {
        match role {
            Role::Client => self.client_no_context_takeover,
            Role::Server => self.server_no_context_takeover,
        }
    }

    /// Whether the peer resets its compressor after every message, so our
    /// decompressor may drop its window between messages.
    pub(crate) fn remote_no_context_takeover(&self, role: Role) -> bool {
        self.local_no_context_takeover(peer(role))
    }
}

/// The other end's role.
#[cfg_attr(not(test), allow(dead_code))]
fn peer(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert_eq!(DeflateConfig::default().validate(), Ok(()));
    }

    #[test]
    fn validate_names_the_offending_field() {
        let error = |change: fn(&mut DeflateConfig)| {
            let mut config = DeflateConfig::default();
            change(&mut config);
            config.validate().map_err(|e| e.field)
        };
        assert_eq!(error(|c| c.level = 9), Ok(()));
        assert_eq!(error(|c| c.level = 10), Err("deflate.level"));
        assert_eq!(error(|c| c.local_max_window_bits = 9), Ok(()));
        assert_eq!(
            error(|c| c.local_max_window_bits = 8),
            Err("deflate.local_max_window_bits")
        );
        assert_eq!(
            error(|c| c.local_max_window_bits = 16),
            Err("deflate.local_max_window_bits")
        );
        assert_eq!(
            error(|c| c.remote_max_window_bits = 8),
            Err("deflate.remote_max_window_bits")
        );
        assert_eq!(
            error(|c| c.remote_max_window_bits = 16),
            Err("deflate.remote_max_window_bits")
        );
        assert_eq!(
            error(|c| {
                c.enabled = false;
                c.threshold = 0;
                c.level = 0;
            }),
            Ok(())
        );
    }

    #[test]
    fn role_relative_view() {
        let agreed = Deflate {
            server_no_context_takeover: true,
            client_no_context_takeover: false,
            server_max_window_bits: 10,
            client_max_window_bits: 12,
        };
        assert_eq!(agreed.local_max_window_bits(Role::Server), 10);
        assert_eq!(agreed.remote_max_window_bits(Role::Server), 12);
        assert_eq!(agreed.local_max_window_bits(Role::Client), 12);
        assert_eq!(agreed.remote_max_window_bits(Role::Client), 10);
        assert!(agreed.local_no_context_takeover(Role::Server));
        assert!(!agreed.remote_no_context_takeover(Role::Server));
        assert!(!agreed.local_no_context_takeover(Role::Client));
        assert!(agreed.remote_no_context_takeover(Role::Client));
        assert_eq!(agreed.compressor_window_bits(Role::Server), Some(10));
    }

    #[test]
    fn an_8_bit_window_means_no_compressor() {
        let agreed = Deflate {
            server_max_window_bits: 8,
            ..Deflate::default()
        };
        assert_eq!(agreed.local_max_window_bits(Role::Server), 8);
        assert_eq!(agreed.compressor_window_bits(Role::Server), None);
        assert_eq!(agreed.compressor_window_bits(Role::Client), Some(15));
    }
}
