//! What the loop needs besides the two machines' own configurations.

use std::time::Duration;

use crate::error::Error;

/// Settings of the loop, and the WebSocket configuration every connection
/// starts with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The configuration of each [`Connection`](rusty_socket_proto::Connection):
    /// its limits and timers. Its `handshake_timeout` bounds the TLS
    /// handshake and the WebSocket opening handshake together, from the
    /// moment the TCP connection is accepted. `streaming` must stay off: the
    /// [`Handler`](crate::Handler) takes whole messages.
    pub websocket: rusty_socket_proto::Config,
    /// Outgoing bytes (proto's queue) above which a connection is not read
    /// and its received messages not handled, until the client reads what
    /// it was sent. Default 1 MiB.
    ///
    /// An echo's replies grow as fast as a client sends; a client that sends
    /// without reading would otherwise fill the queue up to proto's
    /// `max_outgoing_buffer` and then have its replies refused. With this
    /// bound, the client's own TCP window stops it instead.
    pub max_backlog: usize,
    /// How long an ended connection may take to write its last TLS records
    /// (`close_notify`) and to close its side, after which the socket is
    /// closed anyway. Default 5 s.
    pub linger: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            websocket: rusty_socket_proto::Config::default(),
            max_backlog: 1 << 20,
            linger: Duration::from_secs(5),
        }
    }
}

impl Config {
    /// Checks that the values can work together.
    pub fn validate(&self) -> Result<(), Error> {
        self.websocket.validate().map_err(Error::Config)?;
        if self.websocket.streaming {
            return Err(Error::InvalidConfig {
                field: "websocket.streaming",
                reason: "must be off: the handler takes whole messages, not fragments",
            });
        }
        if self.max_backlog == 0 {
            return Err(Error::InvalidConfig {
                field: "max_backlog",
                reason: "must be at least 1, or no connection would ever be read",
            });
        }
        Ok(())
    }
}
