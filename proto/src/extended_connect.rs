//! Client: a WebSocket on an HTTP/2 stream (RFC 8441).
//!
//! The HTTP/2 connection belongs to an HTTP/2 client (hyper's, for one);
//! proto only says what to ask and checks the answer. The request is an
//! extended CONNECT instead of an upgrading GET, with no key; a 2xx answers
//! it instead of a 101; the rest (subprotocols, permessage-deflate, and
//! every frame on the stream afterwards) is RFC 6455 unchanged, checked by
//! the same code as over HTTP/1.1.

use std::sync::Arc;
use std::time::Instant;

use crate::config::Config;
use crate::connection::Connection;
use crate::error::{ConfigError, HandshakeError};
use crate::handshake::{check_response, ClientRequest, PendingResponse, Response};

/// A client's extended CONNECT (RFC 8441 section 4), between the request it
/// sends on a new HTTP/2 stream and the connection that speaks WebSocket
/// on that stream once the server has answered.
///
/// ```
/// use std::time::Instant;
///
/// use rusty_socket_proto::{http, ClientRequest, Config, ExtendedConnect, Message};
///
/// let request = ClientRequest::new("wss://example.com/chat")?;
/// let (pending, connect) = ExtendedConnect::new(&request, Config::default())?;
/// assert_eq!(connect.method(), http::Method::CONNECT);
/// assert_eq!(connect.uri(), "https://example.com/chat");
/// assert_eq!(connect.headers()["sec-websocket-version"], "13");
/// // Sent on a new stream with `:protocol = websocket`; the server says yes:
/// let answer = http::Response::builder().status(200).body(())?;
/// let (mut connection, response) = pending.finish(&answer, [7; 32], Instant::now())?;
/// assert_eq!(response.status(), 200);
/// connection.send(Instant::now(), &Message::text("hello"))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ExtendedConnect {
    config: Arc<Config>,
    pending: PendingResponse,
}

impl ExtendedConnect {
    /// The request that asks for `request`'s WebSocket on a new HTTP/2
    /// stream: method CONNECT, the URL with `https` (for `wss://`) or
    /// `http` (for `ws://`) as its scheme, `Sec-WebSocket-Version: 13`, the
    /// subprotocols and headers of `request`, and the extensions `config`
    /// offers. The HTTP/2 client adds the `:protocol` pseudo-header,
    /// `websocket` (in hyper: the `hyper::ext::Protocol` extension), and
    /// sends it only if the server's SETTINGS enabled the extended CONNECT
    /// protocol.
    pub fn new(
        request: &ClientRequest,
        config: impl Into<Arc<Config>>,
    ) -> Result<(Self, http::Request<()>), ConfigError> {
        let config = config.into();
        config.validate()?;
        #[cfg(feature = "deflate")]
        let extensions = crate::deflate::offer(&config.deflate);
        #[cfg(not(feature = "deflate"))]
        let extensions = String::new();
        let (connect, pending) = request.extended_connect(extensions);
        Ok((ExtendedConnect { config, pending }, connect))
    }

    /// Checks the server's answer: a 2xx (anything else is
    /// [`HandshakeError::Status`], with the status and headers), a
    /// subprotocol and extensions among those offered, as over HTTP/1.1.
    /// Returns the connection, open, to run on the stream, and the response.
    ///
    /// `rng_seed` seeds the masking keys, as in
    /// [`Connection::client`]. After the closing handshake the connection
    /// asks for the stream to be ended
    /// ([`poll_shutdown`](Connection::poll_shutdown): END_STREAM) and reads
    /// until the server has ended its side, so that no RST_STREAM is needed.
    pub fn finish<B>(
        self,
        response: &http::Response<B>,
        rng_seed: [u8; 32],
        now: Instant,
    ) -> Result<(Connection, Response), HandshakeError> {
        let response = check_response(
            response.status(),
            response.headers().clone(),
            &self.pending,
            &self.config,
        )?;
        let connection = Connection::extended_connect(self.config, rng_seed, &response, now);
        Ok((connection, response))
    }
}
