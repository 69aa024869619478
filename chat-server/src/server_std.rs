//! The std runtime: blocking sockets, a reader and a writer thread per
//! connection over the split halves of rusty-socket-std's WebSocket.
//!
//! - The reader thread (the connection's own) receives, broadcasts text
//!   through the hub, refuses binary with 1003, and completes the closing
//!   handshake; it also drives proto's timers (keepalive, idle, close).
//! - The writer thread takes prepared broadcasts off the client's queue
//!   (`Mailbox::next_blocking`) and sends each with `send_prepared`.
//!
//! With `--tls-cert`, the connection's thread first runs the TLS front
//! door (see the `tls` module), then the same WebSocket code over
//! rusty-socket-std's `TlsStream`, whose handles clone like a socket's.
//!
//! A blocking write to a client that does not read would never look at
//! the mailbox, so the socket gets a short write timeout
//! ([`WRITE_POLL`]): a timed-out write keeps its bytes queued in proto and
//! the writer checks its mailbox before writing on. When the hub (1008) or
//! the shutdown (1001) stops it, the writer sends the close frame, giving
//! the client `close_timeout` to take it before the socket is shut down.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rusty_socket_proto::http::Version;
use rusty_socket_proto::{CloseCode, Config, Message};
use rusty_socket_std::rustls::{ServerConfig, ServerConnection};
use rusty_socket_std::tls::TlsStream;
use rusty_socket_std::{accept_with, Error, ReadHalf, TlsError, Transport, TryClone, WriteHalf};
use tracing::{debug, info, warn};

use crate::cli::Settings;
use crate::handles::{self, Reserved};
use crate::hub::{Hub, Mailbox, Membership, Stop};
use crate::report::{self, Ended};
use crate::shutdown::{Signals, Tracker};
use crate::tls::{self, Opening, Refused};
use crate::{gate, Context};

/// How often a writer blocked on a client that does not read looks at its
/// mailbox.
const WRITE_POLL: Duration = Duration::from_millis(100);

/// Stack of the connection threads: they keep little on it, and 2 MiB
/// each (the default) adds up at thousands of clients.
const STACK_SIZE: usize = 256 << 10;

/// The bound on a TLS handshake under `--handshake-timeout off`: the
/// adapter's TLS accept takes a duration, and a day is no bound a client
/// would wait for.
const NO_DEADLINE: Duration = Duration::from_secs(24 * 60 * 60);

/// How long to wait before accepting again after `accept` failed.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Runs the server until SIGINT or SIGTERM, then shuts it down.
pub fn run(settings: Settings) -> Result<(), String> {
    // Only for the signals; see the shutdown module.
    let signal_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| format!("cannot start the signal handler: {e}"))?;
    let mut signals = signal_runtime
        .block_on(async { Signals::install() })
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let listener = crate::listen::bind(settings.addr, settings.backlog)
        .map_err(|e| format!("cannot listen on {}: {e}", settings.addr))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the listening address: {e}"))?;
    crate::announce(local, &settings);
    let shutdown_timeout = settings.shutdown_timeout;
    let context = Arc::new(Context::new(settings)?);
    let tracker = Tracker::new();
    {
        let context = Arc::clone(&context);
        let tracker = tracker.clone();
        thread::Builder::new()
            .name("chat-accept".into())
            .spawn(move || accept_loop(&listener, &context, &tracker))
            .map_err(|e| format!("cannot start the accept thread: {e}"))?;
    }
    let signal = signal_runtime.block_on(signals.recv());
    let told = context.hub.shutdown();
    info!(%signal, clients = told, "shutting down: closing every client with 1001");
    let waiter = tracker.clone();
    let (left, again) = signal_runtime.block_on(async {
        let waiting = tokio::task::spawn_blocking(move || waiter.wait_blocking(shutdown_timeout));
        tokio::select! {
            left = waiting => (left.unwrap_or_else(|_| tracker.live()), None),
            again = signals.recv() => (tracker.live(), Some(again)),
        }
    });
    crate::report_shutdown(left, again, shutdown_timeout);
    // Not waiting for the waiter thread (after a second signal) nor for
    // the accept thread, still blocked in `accept`: exiting ends them.
    signal_runtime.shutdown_background();
    Ok(())
}

fn accept_loop(listener: &TcpListener, context: &Arc<Context>, tracker: &Tracker) {
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(e) => {
                warn!("accept failed: {e}");
                thread::sleep(ACCEPT_BACKOFF);
                continue;
            }
        };
        let context = Arc::clone(context);
        let tracker = tracker.clone();
        let spawned = thread::Builder::new()
            .name("chat-conn".into())
            .stack_size(STACK_SIZE)
            .spawn(move || connection(stream, &context, &tracker));
        if let Err(e) = spawned {
            warn!("refused: cannot start a thread for a connection: {e}");
        }
    }
}

/// One connection, from its first byte to its end, on its own thread: over
/// TLS first if the server has a certificate.
fn connection(stream: TcpStream, context: &Context, tracker: &Tracker) {
    let deadline = context.handshake_deadline(Instant::now());
    let Ok(peer) = stream.peer_addr() else {
        return;
    };
    if let Err(e) = stream.set_nodelay(true) {
        debug!(%peer, "cannot set TCP_NODELAY: {e}");
    }
    // A second handle on the socket (a TLS stream hides its own): for the
    // write timeout, and to shut the socket down under a writer stuck on a
    // client that does not read.
    let socket = match stream.try_clone() {
        Ok(socket) => socket,
        Err(e) => {
            warn!(%peer, "cannot set up the connection: {e}");
            return;
        }
    };
    let Some(tls) = &context.tls else {
        return serve(
            stream,
            socket,
            peer,
            context.config.clone(),
            context,
            tracker,
        );
    };
    match open_tls(stream, Arc::clone(tls), deadline) {
        Ok(stream) => {
            let config = context.config_after_tls(deadline, Instant::now());
            serve(stream, socket, peer, config, context, tracker);
        }
        Err(refused) => refused.log(peer),
    }
}

/// The TLS port's front door (see the `tls` module), within `deadline`.
fn open_tls(
    mut stream: TcpStream,
    config: Arc<ServerConfig>,
    deadline: Option<Instant>,
) -> Result<TlsStream<ServerConnection>, Refused> {
    let left = |deadline: Option<Instant>| match deadline {
        Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(Some(left)),
            _ => Err(Refused::TimedOut),
        },
        None => Ok(None),
    };
    let mut first = [0; 1];
    let peeked = stream
        .set_read_timeout(left(deadline)?)
        .and_then(|()| stream.peek(&mut first));
    match peeked {
        Ok(0) => return Err(Refused::Silent),
        Ok(_) => {}
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            return Err(Refused::TimedOut)
        }
        Err(_) => return Err(Refused::Silent),
    }
    match Opening::of(first[0]) {
        Opening::Tls => {}
        Opening::PlainHttp => {
            // Take the request off the socket, so that closing after the
            // answer does not reset the connection under it.
            let mut request = vec![0; tls::PLAIN_REQUEST_READ];
            let _ = stream.read(&mut request);
            let _ = stream
                .set_write_timeout(left(deadline)?)
                .and_then(|()| stream.write_all(tls::plain_http_answer()))
                .and_then(|()| stream.shutdown(Shutdown::Write));
            return Err(Refused::PlainHttp);
        }
        Opening::Garbage(byte) => return Err(Refused::Garbage(byte)),
    }
    let left = left(deadline)?.unwrap_or(NO_DEADLINE);
    rusty_socket_std::tls::accept(stream, config, left).map_err(|e| match e {
        e if e.is_timeout() => Refused::TimedOut,
        // rustls' own words, as the Tokio runtime logs them (without the
        // adapter's "TLS: " in front).
        Error::Tls(TlsError::Other(e)) => Refused::Handshake(e.to_string()),
        e => Refused::Handshake(e.to_string()),
    })
}

/// A connection's WebSocket handshake through the gate, then the chat.
/// `socket` is another handle on the connection's socket.
fn serve<S>(
    stream: S,
    socket: TcpStream,
    peer: SocketAddr,
    config: Arc<Config>,
    context: &Context,
    tracker: &Tracker,
) where
    S: Transport + TryClone + Send + 'static,
{
    let mut slot = None;
    let (stream, reserved) = Reserved::new(stream, handles::FOR_SPLIT);
    let accepted = accept_with(stream, config, |request| {
        if let (Err(e), true) = (&reserved, request.is_websocket()) {
            warn!(%peer, "refused: cannot set up the connection: {e} (503)");
            return Err(gate::try_again_later(
                "The server is out of resources; try again later.\n",
            ));
        }
        let decision = gate::decide(request, peer, &context.hub, &context.origins);
        slot = decision.slot;
        decision.answer
    });
    let mut ws = match accepted {
        Ok(ws) => ws,
        // Answered with a page or a refusal, and logged, by the gate.
        Err(Error::Rejected(_)) => return,
        // A probe or a port scan: connected and left without a request.
        Err(e @ (Error::Io(_) | Error::Closed(_))) => {
            debug!(%peer, "handshake failed: {e}");
            return;
        }
        Err(e) => {
            info!(%peer, "handshake failed: {e}");
            return;
        }
    };
    // Accepted, so the gate gave a slot; held until the connection ends.
    let Some(slot) = slot else { return };
    // From here on, a shutdown waits for this connection's closing handshake.
    let _live = tracker.enter();
    let membership = match context.hub.join(peer, Version::HTTP_11) {
        Ok(joined) => joined,
        Err(_closing) => {
            if ws
                .close(CloseCode::GOING_AWAY, "server shutting down")
                .is_ok()
            {
                // Finish the closing handshake (bounded by the close timeout).
                while let Ok(Some(_)) = ws.recv() {}
            }
            return;
        }
    };
    if let Err(e) = socket.set_write_timeout(Some(WRITE_POLL)) {
        warn!(%peer, "cannot set up the connection: {e}");
        return;
    }
    let (write, mut read) = match ws.split() {
        Ok(halves) => halves,
        Err(e) => {
            warn!(%peer, "cannot split the connection: {e}");
            return;
        }
    };
    report::connected(peer, context.hub.clients(), Version::HTTP_11);
    let mailbox = Arc::clone(membership.mailbox());
    let close_timeout = context.close_timeout;
    let writer = thread::Builder::new()
        .name("chat-writer".into())
        .stack_size(STACK_SIZE)
        .spawn(move || write_loop(write, &mailbox, &socket, close_timeout));
    let writer = match writer {
        Ok(writer) => writer,
        Err(e) => {
            // Dropping the halves ends the connection.
            warn!(%peer, "cannot start the writer thread: {e}");
            return;
        }
    };
    let ended = read_loop(&mut read, &membership, &context.hub);
    // Free the place before the client count drops, so that a client who
    // sees the count drop finds the place free.
    drop(slot);
    // Stops the writer: it wakes up from the queue or from its write timeout.
    membership.leave();
    let _ = writer.join();
    report::disconnected(peer, &ended, membership.mailbox(), context.hub.clients());
}

fn read_loop<S: Transport>(read: &mut ReadHalf<S>, membership: &Membership, hub: &Hub) -> Ended {
    let mut peer_close = None;
    loop {
        match read.recv() {
            Ok(Some(Message::Text(text))) => {
                // A client being closed has had its last word.
                if membership.mailbox().stop_reason().is_none() {
                    hub.say(text);
                }
            }
            Ok(Some(Message::Binary(data))) => {
                info!(
                    bytes = data.len(),
                    "refused: binary message, closing with 1003"
                );
                membership.close(
                    CloseCode::UNSUPPORTED_DATA,
                    "binary messages are not supported: send text",
                );
            }
            Ok(Some(Message::Close(frame))) => peer_close = frame,
            // Pings are answered by the connection itself.
            Ok(Some(Message::Ping(_) | Message::Pong(_))) => {}
            // The closing handshake has completed.
            Ok(None) => return Ended::closed(peer_close.as_ref()),
            // Writing a pong timed out (see WRITE_POLL); it stays queued.
            Err(e) if e.is_timeout() => {}
            Err(Error::Protocol(e)) => {
                return Ended {
                    code: e.close_code(),
                    reason: format!("protocol error: {e}"),
                }
            }
            Err(Error::Closed(reason)) => return Ended::from_reason(&reason),
            Err(e) => return Ended::abnormal(e),
        }
    }
}

fn write_loop<S: Transport + Send + 'static>(
    mut write: WriteHalf<S>,
    mailbox: &Mailbox,
    closer: &TcpStream,
    close_timeout: Duration,
) {
    // `None`: the connection is to stop; the mailbox says why.
    'queue: while let Some(prepared) = mailbox.next_blocking() {
        let len = prepared.frame().len();
        let mut sent = write.send_prepared(&prepared);
        while matches!(&sent, Err(e) if e.is_timeout()) {
            if mailbox.stop_reason().is_some() {
                break 'queue;
            }
            sent = write.flush();
        }
        mailbox.written(len);
        if sent.is_err() {
            // The connection has ended; the reader reports how.
            return;
        }
    }
    let Some(Stop::Close(frame)) = mailbox.stop_reason() else {
        return;
    };
    // `close` queues the frame and writes it; the reader sees the closing
    // handshake to its end. A timed-out write returns early and is retried.
    let deadline = Instant::now() + close_timeout;
    loop {
        match write.close(frame.code, &frame.reason) {
            Err(e) if e.is_timeout() && Instant::now() < deadline => continue,
            Err(e) if e.is_timeout() => {
                // The client does not read: end it (this wakes the reader).
                let _ = closer.shutdown(Shutdown::Both);
                return;
            }
            _ => return,
        }
    }
}
