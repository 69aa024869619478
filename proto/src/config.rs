//! Limits and timeouts. Every limit bounds something a peer could otherwise
//! make us allocate or wait for; each field says which attack it stops.
//!
//! Durations may be as long as you like: a deadline too far in the future to
//! be represented (`Duration::MAX`, say) is treated as no deadline.

use std::time::Duration;

use crate::error::ConfigError;

/// Limits and timeouts of one connection.
///
/// Build it from [`Config::default`] and change the fields you need; the
/// constructors of [`Connection`](crate::Connection) call [`Config::validate`].
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// use rusty_socket_proto::Config;
///
/// let mut config = Config::default();
/// config.max_message_size = 1 << 20; // 1 MiB
/// config.keepalive_interval = Some(Duration::from_secs(30));
/// config.validate().expect("a valid config");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest payload of a single received frame. Default 16 MiB.
    ///
    /// A frame header can declare up to 2^63 bytes; a larger declared length
    /// is answered with 1009 as soon as the header arrives, before any of the
    /// payload is buffered.
    pub max_frame_size: usize,
    /// Largest received message, all its fragments together. Default 64 MiB.
    ///
    /// Stops a peer from growing a fragmented message without end; crossing
    /// it is answered with 1009 as soon as the frame header that would cross it
    /// arrives.
    pub max_message_size: usize,
    /// Largest opening handshake head (request or response line and headers).
    /// Default 8 KiB.
    ///
    /// Stops header bombs; a server answers 431 as soon as the limit is
    /// crossed, without buffering further.
    pub max_handshake_size: usize,
    /// Most header fields in the opening handshake. Default 64. A server
    /// answers 431 beyond it.
    pub max_headers: usize,
    /// Most bytes that may wait in the outgoing queue. Default 16 MiB.
    ///
    /// A peer that stops reading must not make us buffer without bound: a send
    /// that would cross the limit fails with [`SendError::Full`](crate::SendError::Full)
    /// (a message is always accepted into an empty queue, so one message larger
    /// than the limit can still be sent).
    pub max_outgoing_buffer: usize,
    /// Most bytes a server reads and discards after answering a request with
    /// an HTTP error, while the client finishes sending. Default 4 MiB.
    ///
    /// Closing a socket that still has unread input makes the kernel send a
    /// reset, which can destroy the answer before the client reads it; so the
    /// server shuts down its write side and reads what the client still
    /// sends (RFC 9112 section 9.6), for at most `close_timeout` and at most
    /// this many bytes, then closes anyway.
    pub max_discard: usize,
    /// Answer every ping with a pong automatically (RFC 6455 section 5.5.2).
    /// Default `true`. Pings are reported as events either way.
    pub auto_pong: bool,
    /// Deliver text and binary messages as [`Fragment`](crate::Fragment)s as
    /// they arrive instead of whole. Default `false`.
    ///
    /// Streaming keeps memory flat for large messages: only the bytes of the
    /// current read are held. Text is still validated as UTF-8 across fragments.
    pub streaming: bool,
    /// How long the opening handshake may take from the connection's start.
    /// Default 10 s. Stops slowloris clients that trickle the request.
    pub handshake_timeout: Option<Duration>,
    /// How long to wait for the peer's close frame (and, for a client, for the
    /// server to end the transport) once ours is sent. Default 5 s.
    pub close_timeout: Option<Duration>,
    /// Send a ping after this long without receiving anything. Default off.
    pub keepalive_interval: Option<Duration>,
    /// How long a keepalive ping may go unanswered before the connection is
    /// dropped. Default 20 s; used only with `keepalive_interval`.
    pub keepalive_timeout: Duration,
    /// Start the closing handshake (code 1001) after this long without
    /// receiving anything. Default off.
    pub idle_timeout: Option<Duration>,
    /// permessage-deflate (RFC 7692): whether a client offers it and a server
    /// accepts it, and with which parameters. On by default; see
    /// [`DeflateConfig`](crate::DeflateConfig) for what each choice costs.
    #[cfg(feature = "deflate")]
    pub deflate: crate::deflate::DeflateConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            max_handshake_size: 8 << 10,
            max_headers: 64,
            max_outgoing_buffer: 16 << 20,
            max_discard: 4 << 20,
            auto_pong: true,
            streaming: false,
            handshake_timeout: Some(Duration::from_secs(10)),
            close_timeout: Some(Duration::from_secs(5)),
            keepalive_interval: None,
            keepalive_timeout: Duration::from_secs(20),
            idle_timeout: None,
            #[cfg(feature = "deflate")]
            deflate: crate::deflate::DeflateConfig::default(),
        }
    }
}

impl Config {
    /// Checks that the values can work together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |field, reason| Err(ConfigError { field, reason });
        if self.max_frame_size == 0 {
            return fail("max_frame_size", "must be at least 1");
        }
        if self.max_message_size == 0 {
            return fail("max_message_size", "must be at least 1");
        }
        if self.max_handshake_size < 256 {
            return fail("max_handshake_size", "must be at least 256 bytes");
        }
        if self.max_headers < 8 {
            return fail("max_headers", "must be at least 8");
        }
        if self.max_outgoing_buffer == 0 {
            return fail("max_outgoing_buffer", "must be at least 1");
        }
        let zero = Some(Duration::ZERO);
        if self.keepalive_interval == zero {
            return fail("keepalive_interval", "must be longer than zero");
        }
        if self.keepalive_interval.is_some() && self.keepalive_timeout.is_zero() {
            return fail("keepalive_timeout", "must be longer than zero");
        }
        if self.idle_timeout == zero {
            return fail("idle_timeout", "must be longer than zero");
        }
        #[cfg(feature = "deflate")]
        self.deflate.validate()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
    }

    #[test]
    fn nonsense_is_refused_with_the_field_named() {
        let config = Config {
            max_headers: 0,
            ..Config::default()
        };
        assert_eq!(config.validate().map_err(|e| e.field), Err("max_headers"));
        let config = Config {
            keepalive_interval: Some(Duration::ZERO),
            ..Config::default()
        };
        assert_eq!(
            config.validate().map_err(|e| e.field),
            Err("keepalive_interval")
        );
    }
}
