//! WebSockets inside a hyper 1.x server (feature `hyper`).
//!
//! hyper parses the request and owns the connection; [`upgrade`] decides
//! with proto's rules and your hook, gives the response for hyper to send,
//! and an [`Upgrading`] future that becomes the [`WebSocket`] once hyper has
//! sent that response and handed the connection over:
//!
//! ```no_run
//! use http_body_util::Full;
//! use hyper::body::Incoming;
//! use rusty_socket_tokio::{hyper::upgrade, Accept, Bytes, Config};
//!
//! async fn handle(
//!     mut request: hyper::Request<Incoming>,
//! ) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
//!     let (response, upgrading) = upgrade(&mut request, Config::default(), |_| Ok(Accept::default()));
//!     if let Ok(upgrading) = upgrading {
//!         tokio::spawn(async move {
//!             let mut ws = upgrading.await?;
//!             while let Some(message) = ws.recv().await? {
//!                 ws.send(message).await?;
//!             }
//!             Ok::<_, rusty_socket_tokio::Error>(())
//!         });
//!     }
//!     Ok(response)
//! }
//! ```
//!
//! Serve the connection with hyper's `.with_upgrades()`, or the upgrade
//! never happens.
//!
//! # HTTP/2 (RFC 8441)
//!
//! The same [`upgrade`] serves WebSockets over HTTP/2 when hyper's HTTP/2
//! server is built with `enable_connect_protocol()`: browsers then open
//! a page's WebSockets as streams of its HTTP/2 connection, with an
//! extended CONNECT instead of an upgrading GET. `upgrade` tells them apart
//! (the `:protocol` hyper reports as [`hyper::ext::Protocol`]), answers
//! `200` instead of `101`, and the WebSocket runs on the stream: after its
//! closing handshake it ends the stream with END_STREAM and waits for the
//! peer's, as RFC 8441 section 5 asks; dropping it before then resets the
//! stream (RST_STREAM with CANCEL), which is the RFC's abort. On the client
//! side, [`connect_h2`] opens a WebSocket on a hyper HTTP/2 client
//! connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use ::hyper::client::conn::http2::SendRequest;
use ::hyper::ext::Protocol;
use ::hyper::upgrade::{OnUpgrade, Upgraded};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use rusty_socket_proto::http::{self, Method, StatusCode};
use rusty_socket_proto::{AcceptError, Connection, ExtendedConnect, HandshakeError};

use crate::WebSocket;
use crate::{now, seed, Accept, Bytes, ClientRequest, Config, Error, Reject, Request, Response};

/// The WebSocket that [`Upgrading`] resolves to: the connection hyper
/// handed over, as a Tokio transport.
pub type HyperWebSocket = WebSocket<TokioIo<Upgraded>>;

/// The response [`upgrade`] gives for hyper to send: a `101 Switching
/// Protocols` (HTTP/1.1) or a `200` (HTTP/2) with an empty body, or a
/// refusal with its body.
pub type UpgradeResponse = http::Response<Full<Bytes>>;

/// Answers a request that hyper has parsed, as
/// [`accept_with`](crate::accept_with) answers one it read itself: returns
/// the response for hyper to send and, when it is a 101, the [`Upgrading`]
/// future of the WebSocket. Otherwise the second value is the reason, the
/// error `accept_with` would return, to log or count refusals:
///
/// - An invalid upgrade request is answered with proto's status (400, 405,
///   426 with `Sec-WebSocket-Version`...) and the error as body, and gives
///   [`Error::Handshake`]; `hook` is not called. An HTTP/2 extended
///   CONNECT (RFC 8441) is read with its own rules
///   ([`Request::from_extended_connect`]) and accepted with a `200`.
/// - `hook` sees the [`Request`] (path, `Origin`, headers, subprotocols)
///   and returns an [`Accept`] (subprotocol, headers) or a [`Reject`]
///   (any status, headers, body), which is sent as is
///   ([`Error::Rejected`]). It is also called for a plain HTTP GET
///   ([`Request::is_websocket`] false): accepting that answers
///   `426 Upgrade Required` ([`Error::NotWebSocket`]), a `Reject` can serve
///   a page.
/// - Extensions (permessage-deflate) are agreed from `config`: the 101
///   carries the agreed `Sec-WebSocket-Extensions` and the WebSocket speaks
///   it.
/// - An [`Accept`] that cannot apply (a subprotocol the client did not
///   offer, [`Error::Accept`]), an invalid `config` ([`Error::Config`]), or
///   a request whose connection hyper cannot upgrade ([`Error::Io`]) is
///   answered `500 Internal Server Error`.
///
/// `request` is borrowed mutably to take hyper's upgrade handle from it.
pub fn upgrade<B, F>(
    request: &mut http::Request<B>,
    config: impl Into<Arc<Config>>,
    hook: F,
) -> (UpgradeResponse, Result<Upgrading, Error>)
where
    F: FnOnce(&Request) -> Result<Accept, Reject>,
{
    let parsed = match read_request(request) {
        Ok(parsed) => parsed,
        Err(e) => {
            let reject = Reject::with_body(e.status(), format!("{e}\n"));
            return refuse(&reject, Error::Handshake(e));
        }
    };
    let accept = match hook(&parsed) {
        Ok(_) if !parsed.is_websocket() => {
            let reject = Reject::with_body(
                StatusCode::UPGRADE_REQUIRED,
                "This is a WebSocket endpoint: send an upgrade request.\n",
            );
            return refuse(&reject, Error::NotWebSocket);
        }
        Ok(accept) => accept,
        Err(reject) => return refuse(&reject, Error::Rejected(reject.status_code())),
    };
    // Without hyper's handle (an HTTP/2 GET, or a request that hyper will
    // not let upgrade) a 101 would promise what cannot happen.
    if request.extensions().get::<OnUpgrade>().is_none() {
        let error = io::Error::new(
            io::ErrorKind::Unsupported,
            "hyper cannot upgrade this request's connection",
        );
        return internal_error(Error::Io(error));
    }
    match Connection::accept_upgraded(&parsed, accept, config, now()) {
        Ok((connection, response)) => {
            let upgrading = Upgrading {
                on_upgrade: ::hyper::upgrade::on(request),
                connection: Some(connection),
            };
            (response.map(|()| Full::default()), Ok(upgrading))
        }
        Err(AcceptError::Config(e)) => internal_error(Error::Config(e)),
        Err(e) => internal_error(Error::Accept(e)),
    }
}

/// Reads an HTTP/2 extended CONNECT by its rules, anything else as
/// HTTP/1.1.
fn read_request<B>(request: &http::Request<B>) -> Result<Request, HandshakeError> {
    match request.extensions().get::<Protocol>() {
        Some(protocol) if request.method() == Method::CONNECT => {
            Request::from_extended_connect(request, protocol.as_str())
        }
        _ => Request::from_http(request),
    }
}

/// Answers with `reject`, or with a 500 if it cannot be a final response
/// (a hook's `Reject` with a 1xx status).
fn refuse(reject: &Reject, error: Error) -> (UpgradeResponse, Result<Upgrading, Error>) {
    match reject.to_http() {
        Ok(response) => (response.map(Full::new), Err(error)),
        Err(e) => internal_error(Error::Accept(e)),
    }
}

/// A 500: the request was fine, this side could not answer it.
fn internal_error(error: Error) -> (UpgradeResponse, Result<Upgrading, Error>) {
    let body = Bytes::from_static(b"Internal Server Error\n");
    let mut response = http::Response::new(Full::new(body));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    (response, Err(error))
}

/// The WebSocket of an accepted request, once hyper has upgraded the
/// connection: `.await` it in a task of its own (hyper sends the 101 only
/// after the handler has returned it).
///
/// Resolves to [`Error::Io`] when hyper could not upgrade (the client went
/// away, the connection was not served `.with_upgrades()`), and to
/// [`Error::AlreadyClosed`] if polled again after it has resolved.
#[must_use = "the WebSocket only exists once this future is awaited"]
#[derive(Debug)]
pub struct Upgrading {
    on_upgrade: OnUpgrade,
    /// Taken when the future completes.
    connection: Option<Connection>,
}

impl Future for Upgrading {
    type Output = Result<HyperWebSocket, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let upgraded = ready!(Pin::new(&mut self.on_upgrade).poll(cx)).map_err(io::Error::other)?;
        let connection = self.connection.take().ok_or(Error::AlreadyClosed)?;
        Poll::Ready(Ok(WebSocket::new(TokioIo::new(upgraded), connection)))
    }
}

/// Opens a WebSocket on a new stream of an HTTP/2 connection (RFC 8441)
/// made with hyper's client, for `request` (URL, subprotocols, headers)
/// with `config`, and returns it with the server's response. Other
/// requests can share the connection, before, during and after.
///
/// The server must have enabled the extended CONNECT protocol in its
/// SETTINGS (hyper: `enable_connect_protocol`); one that did not resets the
/// stream, which gives an [`Error::Io`] saying so. (hyper's
/// `Connection::is_extended_connect_protocol_enabled` tells beforehand,
/// once the server's SETTINGS have arrived.) A refusal is [`Error::Handshake`] with
/// [`HandshakeError::Status`], and the opening handshake timeout bounds
/// the wait for the answer (`TimedOut`, [`Error::is_timeout`]).
///
/// ```no_run
/// use http_body_util::Empty;
/// use hyper::client::conn::http2;
/// use hyper_util::rt::{TokioExecutor, TokioIo};
/// use rusty_socket_tokio::hyper::connect_h2;
/// use rusty_socket_tokio::{Bytes, ClientRequest, Config, Message};
///
/// # async fn run(tls_stream: tokio::net::TcpStream) -> Result<(), Box<dyn std::error::Error>> {
/// // `tls_stream`: a TLS connection that negotiated "h2" by ALPN.
/// let (mut sender, connection) = http2::handshake::<_, _, Empty<Bytes>>(
///     TokioExecutor::new(),
///     TokioIo::new(tls_stream),
/// )
/// .await?;
/// tokio::spawn(connection);
/// let request = ClientRequest::new("wss://example.com/chat")?;
/// let (mut ws, _response) = connect_h2(&mut sender, request, Config::default()).await?;
/// ws.send(Message::text("hello")).await?;
/// # Ok(()) }
/// ```
pub async fn connect_h2<B>(
    sender: &mut SendRequest<B>,
    request: ClientRequest,
    config: Config,
) -> Result<(HyperWebSocket, Response), Error>
where
    B: ::hyper::body::Body + Default + 'static,
{
    let (pending, connect) = ExtendedConnect::new(&request, config.clone())?;
    let exchange = async {
        let mut connect = connect.map(|()| B::default());
        connect
            .extensions_mut()
            .insert(Protocol::from_static("websocket"));
        let mut response = sender.send_request(connect).await.map_err(|e| {
            io::Error::other(format!(
                "the extended CONNECT failed: {e} (a server that did not enable \
                 SETTINGS_ENABLE_CONNECT_PROTOCOL, RFC 8441, resets it: it cannot carry WebSockets)"
            ))
        })?;
        let (connection, answer) = pending.finish(&response, seed()?, now())?;
        let upgraded = ::hyper::upgrade::on(&mut response)
            .await
            .map_err(io::Error::other)?;
        Ok((WebSocket::new(TokioIo::new(upgraded), connection), answer))
    };
    match config.handshake_timeout {
        Some(limit) => tokio::time::timeout(limit, exchange).await.map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                "the HTTP/2 server did not answer the extended CONNECT in time",
            )
        })?,
        None => exchange.await,
    }
}
