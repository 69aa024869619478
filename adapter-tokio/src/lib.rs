//! WebSockets (RFC 6455) for Tokio: a thin driver of the sans-IO
//! [`rusty_socket_proto`] state machine over any
//! `AsyncRead + AsyncWrite + Unpin` transport.
//!
//! - Clients: [`connect`] a `ws://` or `wss://` URL, or [`connect_with`] a
//!   [`ClientRequest`] (subprotocols, headers) and a [`Config`], or
//!   [`connect_tls`] with your own rustls `ClientConfig` (a private CA,
//!   client certificates), or [`connect_on`] a transport you opened
//!   yourself (a proxy tunnel, say).
//! - Servers: [`accept`] a stream, or [`accept_with`] a callback that
//!   inspects the [`Request`] (path, `Origin`, headers, subprotocols) and
//!   returns an [`Accept`] or a [`Reject`] with its HTTP status. For
//!   `wss://`, [`tls::accept`] the TLS connection first (a few lines: see
//!   [`tls`]).
//! - Behind another HTTP server (hyper, axum): build the 101 response with
//!   [`upgrade_response`] and hand the upgraded connection to [`from_raw`].
//!
//! The [`WebSocket`] is a `futures` [`Stream`](futures_core::Stream) of
//! received [`Message`]s and a [`Sink`](futures_sink::Sink) of messages to
//! send, with plain helpers ([`recv`](WebSocket::recv),
//! [`send`](WebSocket::send), [`close`](WebSocket::close)), and splits into
//! owned halves for two tasks ([`WebSocket::split`]). With
//! [`Config::streaming`], [`recv_incoming`](WebSocket::recv_incoming)
//! delivers large messages as fragments as they arrive.
//!
//! The API has the same shape as `rusty-socket-std`'s, with `async`: the
//! same names, the same `Error` variants, `split` in the same order, and
//! `recv` returning `Ok(None)` once the closing handshake has completed.
//!
//! # Example
//!
//! An echo server and a client talking to it:
//!
//! ```
//! use rusty_socket_tokio::{accept, connect, CloseCode, Error, Message};
//! use tokio::net::TcpListener;
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Error> {
//!     let listener = TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     tokio::spawn(async move {
//!         while let Ok((stream, _)) = listener.accept().await {
//!             // One task per connection.
//!             tokio::spawn(async move {
//!                 let mut ws = accept(stream).await?;
//!                 // `None`: the closing handshake has completed.
//!                 while let Some(message) = ws.recv().await? {
//!                     if let Message::Text(_) | Message::Binary(_) = message {
//!                         ws.send(message).await?;
//!                     }
//!                 }
//!                 Ok::<(), Error>(())
//!             });
//!         }
//!     });
//!
//!     let (mut ws, _response) = connect(&format!("ws://{addr}/chat")).await?;
//!     ws.send(Message::text("hello")).await?;
//!     assert_eq!(ws.recv().await?, Some(Message::text("hello")));
//!     ws.close(CloseCode::NORMAL, "done").await?; // sends our close frame
//!     // Finish the closing handshake: the server's close frame, then `None`.
//!     while let Some(message) = ws.recv().await? {
//!         println!("{message:?}");
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # How it runs
//!
//! There is no background task per connection: the `WebSocket` moves when
//! it is polled. Receiving reads straight into the protocol's receive buffer
//! (the only copy between the socket and a message), decodes, and fires the
//! protocol's timers with Tokio's clock; once the socket has no more input,
//! it writes everything queued (what the protocol owes the peer, pongs and
//! the echo of a close, and messages sent without a flush), so that the
//! answers to a burst of messages leave in one write. Sending queues
//! messages; a flush writes everything queued since the last one with
//! vectored writes, large payloads by reference. An idle connection holds
//! no read or write buffer. **Timers (handshake, close, keepalive and idle
//! timeouts) advance only while the connection is polled**, so keep
//! receiving while it is open. Details, cancel safety and backpressure: see
//! [`WebSocket`].
//!
//! # TLS
//!
//! With the `rustls` feature (on by default), `wss://` works through
//! tokio-rustls with rustls' ring crypto provider, chosen explicitly (no
//! process-level default provider is needed or installed). Trust roots
//! come from the `webpki-roots` feature (Mozilla's, bundled; on by
//! default) and/or `native-roots` (the platform's). Certificate errors are
//! [`Error::Tls`] with a [`TlsError`] saying which (unknown issuer, name
//! mismatch, expired); a TLS error mid-connection is reported the same
//! way, and [`close`](WebSocket::close) ends with TLS close_notify.
//!
//! The adapter adds no protocol rule of its own: the protocol (framing,
//! masking, UTF-8, control frames, the closing handshake, timeouts) is all
//! in [`rusty_socket_proto`]. It needs a Tokio runtime with the time driver
//! enabled (for the timeouts).

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod driver;
mod error;
mod split;
mod stream;
#[cfg(feature = "rustls")]
pub mod tls;
mod websocket;

use std::io;

use rusty_socket_proto::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

pub use error::Error;
#[cfg(feature = "rustls")]
pub use error::TlsError;
pub use split::{ReadHalf, ReuniteError, WriteHalf};
pub use stream::MaybeTlsStream;
pub use websocket::WebSocket;

/// The rustls this crate is built with, to name the same version's types.
#[cfg(feature = "rustls")]
pub use rustls;
pub use rusty_socket_proto as proto;
pub use rusty_socket_proto::{
    http, upgrade_response, Accept, AcceptError, Bytes, ClientRequest, CloseCode, CloseFrame,
    CloseReason, Config, ConfigError, Deflate, DeflateConfig, Fragment, HandshakeError, Message,
    MessageKind, PreparedMessage, ProtocolError, Reject, Request, Response, Role, SendError, State,
    Timer, UrlError, Utf8Bytes,
};
/// The tokio-rustls this crate is built with ([`tls::accept`] returns its
/// server `TlsStream`).
#[cfg(feature = "rustls")]
pub use tokio_rustls;

use rusty_socket_proto::{Connection, Event};

/// What [`WebSocket::recv_incoming`] receives: a whole message, or with
/// [`Config::streaming`] a piece of a text or binary message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Incoming {
    /// A whole message, or a control frame (ping, pong, close).
    Message(Message),
    /// A piece of a text or binary message (`Config::streaming`).
    Fragment(Fragment),
}

/// A seed for proto's CSPRNG (masking keys, handshake nonce) from the OS.
fn seed() -> Result<[u8; 32], Error> {
    Ok(rusty_socket_proto::random_seed().map_err(io::Error::from)?)
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// Opens a WebSocket to a `ws://` or `wss://` URL with the default
/// [`Config`]: connects over TCP (with `TCP_NODELAY`), runs the TLS
/// handshake for `wss://` (with [`tls::default_client_config`]), sends the
/// upgrade request, and returns the open connection with the server's
/// response, as tokio-tungstenite's `connect_async` does.
///
/// ```no_run
/// use rusty_socket_tokio::{connect, Message};
///
/// # async fn run() -> Result<(), rusty_socket_tokio::Error> {
/// let (mut ws, response) = connect("wss://example.com/chat").await?;
/// println!("subprotocol: {:?}", response.protocol());
/// ws.send(Message::text("hello")).await?;
/// println!("{:?}", ws.recv().await?);
/// ws.close(1000, "bye").await?;
/// while let Some(message) = ws.recv().await? {
///     println!("{message:?}"); // the server's close frame
/// }
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<(WebSocket<MaybeTlsStream<TcpStream>>, Response), Error> {
    connect_with(ClientRequest::new(url)?, Config::default()).await
}

/// Opens a WebSocket for `request` (URL, subprotocols, extra headers) with
/// `config`; returns it with the server's response (its headers, the chosen
/// subprotocol). A server that refuses the upgrade gives
/// [`Error::Handshake`] with [`HandshakeError::Status`], which carries its
/// status and headers.
///
/// The TCP connection has `TCP_NODELAY` set: messages leave when flushed.
/// The opening handshake timeout also bounds the TCP connect and the TLS
/// handshake: a host that never answers gives an
/// [`io::ErrorKind::TimedOut`] error ([`Error::is_timeout`]).
///
/// A `wss://` URL uses [`tls::default_client_config`]: the server name
/// sent (SNI) and checked is the URL's host, a DNS name or an IP address.
/// Without the `rustls` feature it gives `Error::TlsUnsupported`.
pub async fn connect_with(
    request: ClientRequest,
    config: Config,
) -> Result<(WebSocket<MaybeTlsStream<TcpStream>>, Response), Error> {
    #[cfg(feature = "rustls")]
    {
        let tls = match request.is_tls() {
            true => Some(tls::default_client_config()?),
            false => None,
        };
        open(request, config, tls).await
    }
    #[cfg(not(feature = "rustls"))]
    {
        if request.is_tls() {
            return Err(Error::TlsUnsupported);
        }
        open(request, config).await
    }
}

/// Like [`connect_with`], with your own rustls `ClientConfig` for a
/// `wss://` URL: a private CA ([`tls::client_config_with_ca_file`]),
/// client certificates, ALPN. For a `ws://` URL, `tls` is unused.
#[cfg(feature = "rustls")]
pub async fn connect_tls(
    request: ClientRequest,
    config: Config,
    tls: std::sync::Arc<rustls::ClientConfig>,
) -> Result<(WebSocket<MaybeTlsStream<TcpStream>>, Response), Error> {
    let tls = request.is_tls().then_some(tls);
    open(request, config, tls).await
}

/// Connects (TCP, then TLS if `tls` is given) within the opening
/// handshake's deadline, then runs the WebSocket handshake.
async fn open(
    request: ClientRequest,
    config: Config,
    #[cfg(feature = "rustls")] tls: Option<std::sync::Arc<rustls::ClientConfig>>,
) -> Result<(WebSocket<MaybeTlsStream<TcpStream>>, Response), Error> {
    // Before any I/O: a host that cannot be a TLS name fails at once.
    #[cfg(feature = "rustls")]
    let tls = match tls {
        Some(tls) => Some((tls, tls::server_name(request.host())?)),
        None => None,
    };
    // The handshake's deadline starts here, before the TCP connect.
    let conn = Connection::client(&request, config, seed()?, now())?;
    let connecting = async {
        let stream = TcpStream::connect((request.host(), request.port())).await?;
        stream.set_nodelay(true)?;
        #[cfg(feature = "rustls")]
        if let Some((tls, name)) = tls {
            let stream = tls::connect(stream, name, request.host(), tls).await?;
            return Ok(MaybeTlsStream::Rustls(Box::new(stream)));
        }
        Ok::<_, Error>(MaybeTlsStream::Plain(stream))
    };
    let stream = match conn.poll_timeout() {
        Some(deadline) => {
            let deadline = tokio::time::Instant::from_std(deadline);
            tokio::time::timeout_at(deadline, connecting)
                .await
                .map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the opening handshake timed out while connecting",
                    )
                })??
        }
        None => connecting.await?,
    };
    client_handshake(WebSocket::new(stream, conn)).await
}

/// Runs the client's opening handshake for `request` over a transport that
/// is already connected (a proxy tunnel, a TLS stream set up by hand...).
/// The URL gives the request's path and `Host` header.
pub async fn connect_on<S>(
    stream: S,
    request: ClientRequest,
    config: Config,
) -> Result<(WebSocket<S>, Response), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let conn = Connection::client(&request, config, seed()?, now())?;
    client_handshake(WebSocket::new(stream, conn)).await
}

/// Drives a client connection until the server's response.
async fn client_handshake<S>(mut ws: WebSocket<S>) -> Result<(WebSocket<S>, Response), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        match ws.next_event().await {
            Some(Ok(Event::Connected(response))) => return Ok((ws, *response)),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e),
            None => return Err(Error::AlreadyClosed),
        }
    }
}

/// Accepts a WebSocket on `stream` with the default [`Config`], whatever
/// the path. A plain HTTP request is answered `426 Upgrade Required` and
/// gives [`Error::NotWebSocket`]; an invalid upgrade request is answered
/// with its 4xx status and gives [`Error::Handshake`].
pub async fn accept<S>(stream: S) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    accept_with(stream, Config::default(), |_| Ok(Accept::default())).await
}

/// Accepts a WebSocket on `stream` if `callback` agrees.
///
/// The callback sees the client's [`Request`] (path, headers, `Origin`,
/// offered subprotocols) and returns an [`Accept`] (with the subprotocol to
/// speak and extra headers) or a [`Reject`] (status, headers, body), which
/// is written out before `accept_with` returns [`Error::Rejected`] with its
/// status. The callback is also
/// called for a plain HTTP request ([`Request::is_websocket`] is false), so
/// that a `Reject` can serve a page; accepting one answers 426 and gives
/// [`Error::NotWebSocket`].
///
/// ```no_run
/// use rusty_socket_tokio::{accept_with, http::StatusCode, Accept, Config, Reject};
///
/// # async fn run(stream: tokio::net::TcpStream) -> Result<(), rusty_socket_tokio::Error> {
/// let ws = accept_with(stream, Config::default(), |request| {
///     if request.origin() != Some("https://example.com") {
///         return Err(Reject::status(StatusCode::FORBIDDEN));
///     }
///     match request.protocols().iter().find(|p| *p == "chat.v2") {
///         Some(protocol) => Ok(Accept::with_protocol(protocol.clone())),
///         None => Ok(Accept::default()),
///     }
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub async fn accept_with<S, F>(
    stream: S,
    config: Config,
    callback: F,
) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request) -> Result<Accept, Reject>,
{
    let conn = Connection::server(config, now())?;
    let mut ws = WebSocket::new(stream, conn);
    let request = loop {
        match ws.next_event().await {
            Some(Ok(Event::Request(request))) => break request,
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e),
            None => return Err(Error::AlreadyClosed),
        }
    };
    let mut decision = callback(&request);
    let plain_http = !request.is_websocket() && decision.is_ok();
    if plain_http {
        decision = Err(Reject::with_body(
            StatusCode::UPGRADE_REQUIRED,
            "This is a WebSocket endpoint: send an upgrade request.\n",
        ));
    }
    let accepted = decision.is_ok();
    let refused = ws.decide(decision).err();
    if accepted && refused.is_none() {
        // Send the 101 now: the client waits for it.
        ws.flush().await?;
        return Ok(ws);
    }
    // Write out the error response, then end the transport.
    let mut end = None;
    while let Some(event) = ws.next_event().await {
        if let Err(e) = event {
            end = Some(e);
        }
    }
    Err(if plain_http {
        Error::NotWebSocket
    } else if let Some(refused) = refused {
        Error::Accept(refused)
    } else {
        end.unwrap_or(Error::AlreadyClosed)
    })
}

/// A WebSocket over a connection whose opening handshake another HTTP
/// server has already done (hyper, axum: see [`upgrade_response`]), or that
/// a client upgraded by other means. It starts open, in `role`.
pub fn from_raw<S>(stream: S, role: Role, config: Config) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let conn = Connection::upgraded(role, config, seed()?, now())?;
    Ok(WebSocket::new(stream, conn))
}

/// The README's example, compiled by `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme_doctest {}
