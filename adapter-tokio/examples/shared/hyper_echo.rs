//! hyper 1.x glue, shared by the `hyper_server` example and its tests: a
//! server of HTTP/1.1 and HTTP/2 (h2c: the client speaks HTTP/2 from its
//! first byte) that opens WebSockets on `/ws` with
//! `rusty_socket_tokio::hyper::upgrade` (an HTTP/1.1 upgrade, or an HTTP/2
//! extended CONNECT, RFC 8441) and echoes; any other path gets a plain page.
//!
//! `/ws` speaks the subprotocol `echo` when the client offers it, and
//! refuses browsers from other sites than `http://localhost` with 403.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rusty_socket_tokio::hyper::upgrade;
use rusty_socket_tokio::{Accept, Bytes, Config, Reject};
use tokio::net::TcpListener;

use crate::echo_loop::echo;

/// The page served on every path but `/ws`.
pub const PAGE: &str = "rusty-socket hyper example: connect a WebSocket to /ws\n";

/// The only `Origin` a browser may connect from.
pub const ORIGIN: &str = "http://localhost";

/// The body of the 403 sent to other origins.
pub const FOREIGN_ORIGIN: &str = "WebSockets are only for pages from http://localhost\n";

/// Serves HTTP on `listener` until it fails, one task per connection.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    // One config for every connection (permessage-deflate on by default).
    let config = Arc::new(Config::default());
    loop {
        let (stream, _) = listener.accept().await?;
        let config = config.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let service = service_fn(move |request| handle(request, config.clone()));
            let mut builder = auto::Builder::new(TokioExecutor::new());
            // Without this, HTTP/2 clients may not send extended CONNECTs.
            builder.http2().enable_connect_protocol();
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                eprintln!("http connection: {e}");
            }
        });
    }
}

/// Answers one request: a page, or a WebSocket on `/ws`.
pub async fn handle(
    mut request: Request<Incoming>,
    config: Arc<Config>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.uri().path() != "/ws" {
        let mut response = Response::new(Full::new(Bytes::from_static(PAGE.as_bytes())));
        *response.status_mut() = StatusCode::OK;
        return Ok(response);
    }
    let (response, upgrading) = upgrade(&mut request, config, |request| {
        if request.origin().is_some_and(|origin| origin != ORIGIN) {
            return Err(Reject::with_body(StatusCode::FORBIDDEN, FOREIGN_ORIGIN));
        }
        match request.protocols().iter().any(|p| p == "echo") {
            true => Ok(Accept::with_protocol("echo")),
            false => Ok(Accept::default()),
        }
    });
    if let Ok(upgrading) = upgrading {
        tokio::spawn(async move {
            if let Err(e) = async { echo(upgrading.await?).await }.await {
                eprintln!("websocket: {e}");
            }
        });
    }
    Ok(response)
}
