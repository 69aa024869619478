//! HTTP/2 on the TLS port (Tokio runtime). When a browser's ALPN picks
//! `h2`, hyper serves the connection, and every request on it goes through
//! the same gate as over HTTP/1.1: the page and `/stats` are ordinary
//! responses, and the chat's WebSocket is an extended CONNECT (RFC 8441),
//! answered `200`, whose stream becomes a `WebSocket` that joins the chat
//! like any other. One TLS connection then carries the page and its
//! WebSocket, which is what browsers do when the server offers it: the
//! server says so in its HTTP/2 SETTINGS (`enable_connect_protocol`).
//!
//! The std runtime offers only HTTP/1.1: hyper needs an async runtime.
//!
//! Bounds: the first request must come within what is left of the
//! handshake deadline, as on HTTP/1.1; after that, a connection that
//! carries no WebSocket and has had no request for a whole
//! `--handshake-timeout` is closed gracefully (GOAWAY), so idle HTTP/2
//! connections cannot pile up. Each WebSocket still takes a place among
//! `--max-connections` through the gate.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rusty_socket_proto::http::Version;
use rusty_socket_tokio::hyper::{upgrade, UpgradeResponse};
use rusty_socket_tokio::rustls::ServerConfig;
use rusty_socket_tokio::tokio_rustls::server::TlsStream;
use rusty_socket_tokio::Error;
use tokio::net::TcpStream;
use tracing::{debug, info};

use crate::server_tokio::{chat, handshake_failed};
use crate::shutdown::Tracker;
use crate::{gate, Context};

/// The ALPN protocol id of HTTP/2 over TLS.
const H2: &[u8] = b"h2";

/// How many streams a client may open at once on one connection: a page,
/// its WebSocket and a few reloads; more is a client hoarding streams.
const MAX_STREAMS: u32 = 32;

/// How often hyper pings an HTTP/2 connection, to find peers that vanished
/// without a word (their WebSockets then end with an I/O error).
const KEEP_ALIVE: Duration = Duration::from_secs(20);

/// The TLS config of the Tokio runtime: `h2` offered first, then
/// HTTP/1.1, so that browsers pick HTTP/2 and other clients still get
/// HTTP/1.1.
pub fn offer(config: Arc<ServerConfig>) -> Arc<ServerConfig> {
    let mut config = ServerConfig::clone(&config);
    config.alpn_protocols = vec![H2.to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Whether the client chose HTTP/2 during the TLS handshake.
pub fn negotiated(stream: &TlsStream<TcpStream>) -> bool {
    stream.get_ref().1.alpn_protocol() == Some(H2)
}

/// What the idle check looks at.
#[derive(Debug, Default)]
struct Activity {
    /// Requests received so far.
    requests: AtomicU64,
    /// WebSockets of this connection still running.
    websockets: AtomicUsize,
}

/// One running WebSocket of a connection, counted in [`Activity`].
struct Running(Arc<Activity>);

impl Running {
    fn start(activity: &Arc<Activity>) -> Running {
        activity.websockets.fetch_add(1, Ordering::AcqRel);
        Running(Arc::clone(activity))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.websockets.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves an HTTP/2 connection until the client ends it, or it idles (see
/// the module's bounds). `deadline` is the connection's handshake deadline.
pub async fn serve(
    stream: TlsStream<TcpStream>,
    peer: SocketAddr,
    context: Arc<Context>,
    tracker: Tracker,
    deadline: Option<Instant>,
) {
    let activity = Arc::new(Activity::default());
    let idle = context.config.handshake_timeout;
    let close_timeout = context.close_timeout;
    let service = {
        let activity = Arc::clone(&activity);
        service_fn(move |request| {
            activity.requests.fetch_add(1, Ordering::AcqRel);
            let response = answer(request, peer, &context, &tracker, &activity);
            std::future::ready(Ok::<_, Infallible>(response))
        })
    };
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .enable_connect_protocol()
        .timer(TokioTimer::new())
        .keep_alive_interval(KEEP_ALIVE)
        .max_concurrent_streams(MAX_STREAMS);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let (Some(deadline), Some(idle)) = (deadline, idle) else {
        return ended(peer, connection.await);
    };
    let mut check = tokio::time::Instant::from_std(deadline);
    let mut seen = 0;
    loop {
        tokio::select! {
            served = connection.as_mut() => return ended(peer, served),
            () = tokio::time::sleep_until(check) => {}
        }
        let requests = activity.requests.load(Ordering::Acquire);
        if requests == 0 {
            info!(%peer, "refused: no HTTP/2 request before the handshake timeout");
            return;
        }
        if requests == seen && activity.websockets.load(Ordering::Acquire) == 0 {
            debug!(%peer, "closing an idle HTTP/2 connection");
            break;
        }
        seen = requests;
        check += idle;
    }
    connection.as_mut().graceful_shutdown();
    match tokio::time::timeout(close_timeout, connection).await {
        Ok(served) => ended(peer, served),
        Err(_) => debug!(%peer, "HTTP/2 connection did not close in time; dropped"),
    }
}

/// The answer to one request: the gate decides, as over HTTP/1.1; an
/// accepted WebSocket runs the chat in a task of its own once hyper has
/// handed its stream over.
fn answer(
    mut request: hyper::Request<Incoming>,
    peer: SocketAddr,
    context: &Arc<Context>,
    tracker: &Tracker,
    activity: &Arc<Activity>,
) -> UpgradeResponse {
    let mut slot = None;
    let (response, upgrading) = upgrade(&mut request, Arc::clone(&context.config), |request| {
        let decision = gate::decide(request, peer, &context.hub, &context.origins);
        slot = decision.slot;
        decision.answer
    });
    match upgrading {
        Ok(upgrading) => {
            let context = Arc::clone(context);
            let tracker = tracker.clone();
            let running = Running::start(activity);
            tokio::spawn(async move {
                let _running = running;
                match (upgrading.await, slot) {
                    (Ok(ws), Some(slot)) => {
                        chat(ws, peer, slot, &context, tracker, Version::HTTP_2).await
                    }
                    // Accepted without a slot cannot happen: the gate
                    // gives one with every acceptance.
                    (Ok(_), None) => {}
                    (Err(e), _) => handshake_failed(peer, &e),
                }
            });
        }
        // Answered with a page or a refusal, and logged, by the gate.
        Err(Error::Rejected(_)) => {}
        Err(e) => handshake_failed(peer, &e),
    }
    response
}

/// The connection's end, for the log: a client that goes away is normal.
fn ended(peer: SocketAddr, served: Result<(), hyper::Error>) {
    match served {
        Ok(()) => debug!(%peer, "HTTP/2 connection closed"),
        Err(e) => debug!(%peer, "HTTP/2 connection ended: {e}"),
    }
}
