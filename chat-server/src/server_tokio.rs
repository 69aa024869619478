//! The Tokio runtime: one task per connection, on a multi-threaded runtime.
//!
//! A connection's task runs two loops over the split halves of its
//! WebSocket, side by side (`select!`, not two tasks):
//!
//! - the reader receives, broadcasts text through the hub, refuses binary
//!   with 1003, and completes the closing handshake;
//! - the writer takes prepared broadcasts off the client's queue and sends
//!   each with `send_prepared` (the shared bytes, queued by reference), and
//!   when the hub or the reader stops it, sends the close frame.
//!
//! With `--tls-cert`, the task first runs the TLS front door (see the
//! `tls` module) and then the same WebSocket code over the TLS stream; or,
//! when the client chose HTTP/2 by ALPN, hands the connection to hyper
//! (see `server_h2`), whose WebSocket streams run the same chat.
//!
//! A writer stuck on a client that does not read is cut off by its mailbox
//! (the hub's 1008, or the shutdown's 1001) in the middle of a send, and
//! its close gets `close_timeout` to go out before the connection is dropped.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusty_socket_proto::http::Version;
use rusty_socket_proto::{CloseCode, Config, Message};
use rusty_socket_tokio::rustls::ServerConfig;
use rusty_socket_tokio::tokio_rustls::server::TlsStream;
use rusty_socket_tokio::tokio_rustls::TlsAcceptor;
use rusty_socket_tokio::{accept_with, CloseReason, Error, ReadHalf, WebSocket, WriteHalf};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info, warn};

use crate::cli::Settings;
use crate::hub::{Hub, Mailbox, Membership, Slot, Stop};
use crate::report::{self, Ended};
use crate::shutdown::{Signals, Tracker};
use crate::tls::{self, Opening, Refused};
use crate::{gate, server_h2, Context};

/// How long to wait before accepting again after `accept` failed (out of
/// file descriptors, typically): the failure would repeat at once.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Runs the server until SIGINT or SIGTERM, then shuts it down.
pub fn run(settings: Settings) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("chat-worker")
        .build()
        .map_err(|e| format!("cannot start the Tokio runtime: {e}"))?;
    let result = runtime.block_on(serve(settings));
    // Connections that outlived the shutdown deadline are dropped here.
    runtime.shutdown_timeout(Duration::from_millis(100));
    result
}

async fn serve(settings: Settings) -> Result<(), String> {
    let mut signals =
        Signals::install().map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let listener = crate::listen::bind(settings.addr, settings.backlog)
        .and_then(|listener| {
            listener.set_nonblocking(true)?;
            TcpListener::from_std(listener)
        })
        .map_err(|e| format!("cannot listen on {}: {e}", settings.addr))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    crate::announce(local, &settings);
    let shutdown_timeout = settings.shutdown_timeout;
    let mut settings = settings;
    settings.tls = settings.tls.map(server_h2::offer);
    let context = Arc::new(Context::new(settings)?);
    let tracker = Tracker::new();
    let signal = loop {
        tokio::select! {
            signal = signals.recv() => break signal,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let context = Arc::clone(&context);
                    tokio::spawn(connection(stream, peer, context, tracker.clone()));
                }
                Err(e) => {
                    warn!("accept failed: {e}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    };
    drop(listener);
    let told = context.hub.shutdown();
    info!(%signal, clients = told, "shutting down: closing every client with 1001");
    let (left, again) = tokio::select! {
        left = tracker.wait(shutdown_timeout) => (left, None),
        again = signals.recv() => (tracker.live(), Some(again)),
    };
    crate::report_shutdown(left, again, shutdown_timeout);
    Ok(())
}

/// One connection, from its first byte to its end: over TLS first if the
/// server has a certificate.
async fn connection(stream: TcpStream, peer: SocketAddr, context: Arc<Context>, tracker: Tracker) {
    let deadline = context.handshake_deadline(Instant::now());
    if let Err(e) = stream.set_nodelay(true) {
        debug!(%peer, "cannot set TCP_NODELAY: {e}");
    }
    match &context.tls {
        None => chat_over(stream, peer, context.config.clone(), &context, tracker).await,
        // Boxed: the TLS handshake's and hyper's states are large, and an
        // idle plain connection should not carry their room in its task.
        Some(tls) => {
            let tls = Arc::clone(tls);
            Box::pin(over_tls(stream, tls, peer, context, tracker, deadline)).await;
        }
    }
}

/// A connection on the TLS port: the handshake, then HTTP/2 or HTTP/1.1 as
/// ALPN chose.
async fn over_tls(
    stream: TcpStream,
    tls: Arc<ServerConfig>,
    peer: SocketAddr,
    context: Arc<Context>,
    tracker: Tracker,
    deadline: Option<Instant>,
) {
    match open_tls(stream, tls, deadline).await {
        // The browser chose HTTP/2 by ALPN: hyper serves the connection.
        Ok(stream) if server_h2::negotiated(&stream) => {
            server_h2::serve(stream, peer, context, tracker, deadline).await;
        }
        Ok(stream) => {
            let config = context.config_after_tls(deadline, Instant::now());
            chat_over(stream, peer, config, &context, tracker).await;
        }
        Err(refused) => refused.log(peer),
    }
}

/// The TLS port's front door (see the `tls` module), within `deadline`.
async fn open_tls(
    mut stream: TcpStream,
    config: Arc<ServerConfig>,
    deadline: Option<Instant>,
) -> Result<TlsStream<TcpStream>, Refused> {
    let mut first = [0; 1];
    match within(deadline, stream.peek(&mut first)).await {
        None => return Err(Refused::TimedOut),
        Some(Ok(0) | Err(_)) => return Err(Refused::Silent),
        Some(Ok(_)) => {}
    }
    match Opening::of(first[0]) {
        Opening::Tls => {}
        Opening::PlainHttp => {
            // Take the request off the socket, so that closing after the
            // answer does not reset the connection under it.
            let mut request = vec![0; tls::PLAIN_REQUEST_READ];
            let _ = within(deadline, stream.read(&mut request)).await;
            let answer = async {
                stream.write_all(tls::plain_http_answer()).await?;
                stream.shutdown().await
            };
            let _ = within(deadline, answer).await;
            return Err(Refused::PlainHttp);
        }
        Opening::Garbage(byte) => return Err(Refused::Garbage(byte)),
    }
    let handshake = TlsAcceptor::from(config).accept(stream);
    match within(deadline, handshake).await {
        Some(Ok(stream)) => Ok(stream),
        // tokio-rustls' I/O error shows the rustls error it carries.
        Some(Err(e)) => Err(Refused::Handshake(e.to_string())),
        None => Err(Refused::TimedOut),
    }
}

/// Runs `future` until `deadline` (`None`: to its end); `None` if the
/// deadline came first.
async fn within<F: Future>(deadline: Option<Instant>, future: F) -> Option<F::Output> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline.into(), future).await.ok(),
        None => Some(future.await),
    }
}

/// A connection's WebSocket handshake through the gate, then the chat.
async fn chat_over<S>(
    stream: S,
    peer: SocketAddr,
    config: Arc<Config>,
    context: &Context,
    tracker: Tracker,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut slot = None;
    let accepted = accept_with(stream, config, |request| {
        let decision = gate::decide(request, peer, &context.hub, &context.origins);
        slot = decision.slot;
        decision.answer
    })
    .await;
    let ws = match accepted {
        Ok(ws) => ws,
        // Answered with a page or a refusal, and logged, by the gate.
        Err(Error::Rejected(_)) => return,
        Err(e) => {
            handshake_failed(peer, &e);
            return;
        }
    };
    // Accepted, so the gate gave a slot.
    let Some(slot) = slot else { return };
    chat(ws, peer, slot, context, tracker, Version::HTTP_11).await;
}

/// An accepted WebSocket, which came in over HTTP `version`, in the chat
/// until it ends; `slot` is its place among `--max-connections`, held
/// until then.
pub async fn chat<S>(
    mut ws: WebSocket<S>,
    peer: SocketAddr,
    slot: Slot,
    context: &Context,
    tracker: Tracker,
    version: Version,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // From here on, a shutdown waits for this connection's closing handshake.
    let _live = tracker.enter();
    let membership = match context.hub.join(peer, version) {
        Ok(joined) => joined,
        Err(_closing) => {
            let closing = async {
                ws.close(CloseCode::GOING_AWAY, "server shutting down")
                    .await?;
                // Finish the closing handshake.
                while ws.recv().await?.is_some() {}
                Ok::<(), Error>(())
            };
            let _ = tokio::time::timeout(context.close_timeout, closing).await;
            return;
        }
    };
    report::connected(peer, context.hub.clients(), version);
    let (write, read) = ws.split();
    let ended = drive(read, write, &membership, context).await;
    // Free the place before the client count drops, so that a client who
    // sees the count drop finds the place free.
    drop(slot);
    membership.leave();
    report::disconnected(peer, &ended, membership.mailbox(), context.hub.clients());
}

pub fn handshake_failed(peer: SocketAddr, error: &Error) {
    match error {
        // A probe or a port scan: connected and left without a request.
        Error::Closed(CloseReason::Eof) | Error::Io(_) => {
            debug!(%peer, "handshake failed: {error}")
        }
        _ => info!(%peer, "handshake failed: {error}"),
    }
}

/// What the writer did last.
enum Written {
    /// It stopped, having sent the close frame if there was one to send.
    Done,
    /// The close frame could not be written in time: the peer does not read.
    GaveUp,
}

/// Runs the reader and the writer of an open connection until it ends.
async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
    mut read: ReadHalf<S>,
    mut write: WriteHalf<S>,
    membership: &Membership,
    context: &Context,
) -> Ended {
    let mailbox = membership.mailbox();
    let reader = read_loop(&mut read, membership, &context.hub);
    let writer = write_loop(&mut write, mailbox, context.close_timeout);
    tokio::pin!(reader, writer);
    tokio::select! {
        // The peer closed or vanished: whatever the writer was doing is moot.
        ended = &mut reader => ended,
        written = &mut writer => match written {
            Written::GaveUp => Ended::abnormal("the client did not read its close frame in time"),
            // The close frame is out (or the connection failed): the reader
            // completes the handshake, bounded by proto's close timeout.
            Written::Done => {
                let bound = context.close_timeout + Duration::from_secs(1);
                tokio::time::timeout(bound, reader)
                    .await
                    .unwrap_or_else(|_| Ended::abnormal("closing handshake timed out"))
            }
        },
    }
}

async fn read_loop<S: AsyncRead + AsyncWrite + Unpin>(
    read: &mut ReadHalf<S>,
    membership: &Membership,
    hub: &Hub,
) -> Ended {
    let mut peer_close = None;
    loop {
        match read.next().await {
            Some(Ok(Message::Text(text))) => {
                // A client being closed has had its last word.
                if membership.mailbox().stop_reason().is_none() {
                    hub.say(text);
                }
            }
            Some(Ok(Message::Binary(data))) => {
                info!(
                    bytes = data.len(),
                    "refused: binary message, closing with 1003"
                );
                membership.close(
                    CloseCode::UNSUPPORTED_DATA,
                    "binary messages are not supported: send text",
                );
            }
            Some(Ok(Message::Close(frame))) => peer_close = frame,
            // Pings are answered by the connection itself.
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Err(Error::Protocol(e))) => {
                return Ended {
                    code: e.close_code(),
                    reason: format!("protocol error: {e}"),
                }
            }
            Some(Err(Error::Closed(reason))) => return Ended::from_reason(&reason),
            Some(Err(e)) => return Ended::abnormal(e),
            None => return Ended::closed(peer_close.as_ref()),
        }
    }
}

async fn write_loop<S: AsyncRead + AsyncWrite + Unpin>(
    write: &mut WriteHalf<S>,
    mailbox: &Mailbox,
    close_timeout: Duration,
) -> Written {
    // `None`: the connection is to stop; the mailbox says why.
    while let Some(prepared) = mailbox.next().await {
        let len = prepared.frame().len();
        let sent = tokio::select! {
            biased;
            () = mailbox.stopped() => break,
            sent = write.send_prepared(&prepared) => sent,
        };
        mailbox.written(len);
        if sent.is_err() {
            // The connection has ended; the reader reports how.
            return Written::Done;
        }
    }
    let Some(Stop::Close(frame)) = mailbox.stop_reason() else {
        return Written::Done;
    };
    match tokio::time::timeout(close_timeout, write.close(frame.code, &frame.reason)).await {
        Ok(_) => Written::Done,
        Err(_) => Written::GaveUp,
    }
}
