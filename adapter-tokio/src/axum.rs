//! An axum 0.8 extractor for WebSockets (feature `axum`).
//!
//! Take a [`WebSocketUpgrade`] in a handler and return what
//! [`on_upgrade`](WebSocketUpgrade::on_upgrade) gives:
//!
//! ```no_run
//! use axum::{response::IntoResponse, routing::get, Router};
//! use rusty_socket_tokio::axum::WebSocketUpgrade;
//!
//! async fn ws(upgrade: WebSocketUpgrade) -> impl IntoResponse {
//!     upgrade.on_upgrade(|mut ws| async move {
//!         while let Ok(Some(message)) = ws.recv().await {
//!             if ws.send(message).await.is_err() {
//!                 break;
//!             }
//!         }
//!     })
//! }
//!
//! // GET: HTTP/1.1 upgrades; CONNECT: HTTP/2 extended CONNECTs (RFC 8441).
//! let app: Router = Router::new().route("/ws", get(ws).connect(ws));
//! ```
//!
//! The request is checked by [`crate::hyper::upgrade`], with proto's rules,
//! when `on_upgrade` is called, so a hook set by the builder methods
//! ([`protocols`](WebSocketUpgrade::protocols),
//! [`check`](WebSocketUpgrade::check)) takes part in the decision. A plain
//! GET on the route gets `426 Upgrade Required`.
//!
//! Over HTTP/2 (`axum::serve` with axum's `http2` feature enables the
//! extended CONNECT protocol) a browser opens the WebSocket with a CONNECT
//! on a stream of the page's connection: route CONNECT to the handler too,
//! as above, and it works the same, answered with a `200`.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use ::axum::body::Body;
use ::axum::extract::FromRequestParts;
use ::axum::response::{IntoResponse, Response};
use ::hyper::upgrade::OnUpgrade;
use rusty_socket_proto::http::{self, request::Parts};

use crate::hyper::upgrade;
pub use crate::hyper::HyperWebSocket;
use crate::{Accept, Config, Error, Reject, Request};

/// The decision on a request, as [`accept_with`](crate::accept_with)'s
/// callback makes it.
type Hook = Box<dyn FnOnce(&Request) -> Result<Accept, Reject> + Send>;

/// What to do with an upgrade that failed after the 101 was sent.
type OnFailed = Box<dyn FnOnce(Error) + Send>;

/// Extracts a WebSocket upgrade request; answer it with
/// [`on_upgrade`](Self::on_upgrade), after choosing the [`Config`], the
/// subprotocols and any checks with the builder methods.
///
/// Extraction never fails: the request is judged when `on_upgrade` is
/// called (invalid upgrades get proto's 400/405/426), so that the hook can
/// take part.
pub struct WebSocketUpgrade {
    /// The request's head, with hyper's upgrade handle in its extensions.
    request: http::Request<()>,
    config: Arc<Config>,
    protocols: Vec<String>,
    hook: Option<Hook>,
    on_failed: Option<OnFailed>,
}

impl fmt::Debug for WebSocketUpgrade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketUpgrade")
            .field("uri", self.request.uri())
            .field("protocols", &self.protocols)
            .field("hook", &self.hook.is_some())
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for WebSocketUpgrade {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut request = http::Request::new(());
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = parts.uri.clone();
        *request.version_mut() = parts.version;
        *request.headers_mut() = parts.headers.clone();
        // hyper's handle to the connection (or, over HTTP/2, to the
        // stream), present on requests that can upgrade; taken, since only
        // one can.
        if let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() {
            request.extensions_mut().insert(on_upgrade);
        }
        // The `:protocol` of an HTTP/2 extended CONNECT (RFC 8441).
        if let Some(protocol) = parts.extensions.get::<::hyper::ext::Protocol>() {
            request.extensions_mut().insert(protocol.clone());
        }
        Ok(WebSocketUpgrade {
            request,
            config: Arc::default(),
            protocols: Vec::new(),
            hook: None,
            on_failed: None,
        })
    }
}

impl WebSocketUpgrade {
    /// The request (path, headers, `Origin`...), for a handler that decides
    /// by itself.
    pub fn request(&self) -> &http::Request<()> {
        &self.request
    }

    /// The connection's [`Config`] (limits, timeouts, permessage-deflate);
    /// an `Arc<Config>` shared by all the connections of a server saves each
    /// one a copy. Default: [`Config::default`].
    pub fn config(mut self, config: impl Into<Arc<Config>>) -> Self {
        self.config = config.into();
        self
    }

    /// The subprotocols this server speaks, in its order of preference: the
    /// first one the client offers is chosen (none if it offers none of
    /// them; then [`check`](Self::check) may refuse). A subprotocol chosen
    /// by the `check` hook's [`Accept`] wins over this list.
    pub fn protocols<I>(mut self, protocols: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// A hook that sees the [`Request`] (path, `Origin`, offered
    /// subprotocols) and accepts it, with a subprotocol and headers, or
    /// rejects it with any status, headers and body.
    ///
    /// ```no_run
    /// use rusty_socket_tokio::{axum::WebSocketUpgrade, http::StatusCode, Accept, Reject};
    ///
    /// # fn handler(upgrade: WebSocketUpgrade) -> axum::response::Response {
    /// upgrade
    ///     .check(|request| match request.origin() {
    ///         Some("https://example.com") => Ok(Accept::default()),
    ///         _ => Err(Reject::with_body(StatusCode::FORBIDDEN, "unknown origin")),
    ///     })
    ///     .on_upgrade(|ws| async move { drop(ws) })
    /// # }
    /// ```
    pub fn check<F>(mut self, hook: F) -> Self
    where
        F: FnOnce(&Request) -> Result<Accept, Reject> + Send + 'static,
    {
        self.hook = Some(Box::new(hook));
        self
    }

    /// What to do when the upgrade fails after the 101 was sent (the client
    /// went away): by default, nothing.
    pub fn on_failed_upgrade<F>(mut self, callback: F) -> Self
    where
        F: FnOnce(Error) + Send + 'static,
    {
        self.on_failed = Some(Box::new(callback));
        self
    }

    /// Decides on the request and returns the response for the handler to
    /// return: a 101, after which `callback` runs in a task of its own with
    /// the WebSocket, or a refusal (proto's status for an invalid request,
    /// the hook's [`Reject`], `426` for a plain GET).
    pub fn on_upgrade<C, Fut>(self, callback: C) -> Response
    where
        C: FnOnce(HyperWebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let WebSocketUpgrade {
            mut request,
            config,
            protocols,
            hook,
            on_failed,
        } = self;
        let decide = |request: &Request| {
            let mut accept = match hook {
                Some(hook) => hook(request)?,
                None => Accept::default(),
            };
            if accept.protocol.is_none() {
                accept.protocol = protocols
                    .into_iter()
                    .find(|protocol| request.protocols().contains(protocol));
            }
            Ok(accept)
        };
        let (response, upgrading) = upgrade(&mut request, config, decide);
        if let Ok(upgrading) = upgrading {
            tokio::spawn(async move {
                match upgrading.await {
                    Ok(ws) => callback(ws).await,
                    Err(error) => {
                        if let Some(on_failed) = on_failed {
                            on_failed(error);
                        }
                    }
                }
            });
        }
        response.map(Body::new).into_response()
    }
}
