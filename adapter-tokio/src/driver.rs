//! The driver: one [`Connection`] and one transport, moved by polling.
//!
//! There is no background task. Whoever polls (the stream side, the sink
//! side, a handshake future) drives the connection as far as it can without
//! blocking:
//!
//! - output: proto's pending bytes go out with vectored writes
//!   ([`Connection::transmit_chunks`]) until the transport pushes back;
//! - input (stream side only): one read straight into proto's receive buffer
//!   ([`Connection::receive_buffer`]), then every event it produced is
//!   handed out before the next read; output waits until the transport has
//!   no more input (or [`WRITE_EARLY`] bytes are pending), so that the
//!   answers to a burst leave in one write, and an idle connection releases
//!   its buffers ([`Connection::release_buffers`]);
//! - time: one [`Sleep`] follows [`Connection::poll_timeout`]; when it fires,
//!   [`Connection::handle_timeout`] runs.
//!
//! # Wakers
//!
//! The transport and the timer keep one waker each per direction, but the
//! two sides of a split connection may wait in different tasks on the same
//! readiness (the reader waits for the write of a pong or of the close echo,
//! the writer for room in the socket). So the driver never hands a task's
//! waker to the transport: it registers each side's waker in its own slot
//! and gives the transport and the timer one combined waker that wakes both
//! slots. No wakeup is lost, whichever task polled last.
//!
//! A side registers its waker only when it has nothing to hand out, not
//! on every poll: the two atomic read-modify-writes that registering costs
//! were the largest single item per message in a profile of pipelined small
//! messages. A count of wakes covers the moment between finding nothing and
//! registering (see `Driver::with`).

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll, Wake, Waker};
use std::time::Instant;

use bytes::Bytes;
use futures_util::task::AtomicWaker;
use rusty_socket_proto::http::StatusCode;
use rusty_socket_proto::{
    Accept, AcceptError, CloseFrame, CloseReason, Connection, Event, Fragment, Message,
    MessageKind, PreparedMessage, Reject, SendError, State,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Sleep;

use crate::error::{copy_io, Error};
use crate::Incoming;

/// Most slices handed to one vectored write.
const MAX_IOVECS: usize = 32;

/// Output that is written before reading more, rather than once the
/// transport has no more input.
const WRITE_EARLY: usize = 64 << 10;

/// Which side of the connection is polling.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Side {
    /// The stream side: receives, and drives the handshakes.
    Read,
    /// The sink side: sends and flushes.
    Write,
}

/// One waker slot per side; waking it wakes both.
#[derive(Debug, Default)]
struct Wakers {
    read: AtomicWaker,
    write: AtomicWaker,
    /// Wakes so far: how a poll that registers only once it found nothing
    /// to do learns that a wake came before its registration.
    wakes: AtomicU64,
}

impl Wake for Wakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Counted before the slots are emptied, so that a registration that
        // this wake did not see sees the count (see `Driver::with`).
        self.wakes.fetch_add(1, Ordering::AcqRel);
        self.read.wake();
        self.write.wake();
    }
}

/// Something the sink accepted but that did not fit in proto's outgoing
/// buffer yet (at most one: `poll_ready` stays pending while it waits).
/// proto refuses a send without taking the message, so the item waits here
/// as it is, and the adapter never has to guess whether proto will take it.
#[derive(Debug)]
pub(crate) enum Outbound {
    Message(Message),
    /// A broadcast encoded once (`send_prepared`).
    Prepared(PreparedMessage),
    Fragment {
        kind: MessageKind,
        data: Bytes,
        fin: bool,
    },
}

/// How far the end of the connection has been carried.
#[derive(Debug)]
enum End {
    /// The connection runs (or proto's `Closed` event has not been polled yet).
    Running,
    /// Proto reported the end; the transport is being shut down.
    ShuttingDown(Box<CloseReason>),
    /// The end was reported to the stream side.
    Reported,
}

/// A connection and its transport, with the wakers of both sides.
#[derive(Debug)]
pub(crate) struct Driver<S> {
    wakers: Arc<Wakers>,
    /// The combined waker, built once.
    waker: Waker,
    inner: Inner<S>,
}

#[derive(Debug)]
struct Inner<S> {
    io: S,
    conn: Connection,
    /// The one timer: allocated when proto asks for a deadline, dropped
    /// while it asks for none.
    timer: Option<Pin<Box<Sleep>>>,
    /// The deadline the timer is set to, if it is armed.
    armed: Option<Instant>,
    /// The last reading of the clock.
    now: Instant,
    /// An item the sink took that proto could not queue yet (the outgoing
    /// buffer was full). This and the next two fields are boxed: they are
    /// rarely set, and every idle connection would carry their size.
    stash: Option<Box<Outbound>>,
    /// A fragment that the message stream refused (see `Error::FragmentPending`).
    peeked: Option<Box<Fragment>>,
    /// The transport's error, which ended the connection.
    io_error: Option<io::Error>,
    /// proto asked for the write side to be shut down, which is under way.
    write_shutdown: bool,
    end: End,
}

/// Tokio's clock (which tests can pause) as the `std` instant proto wants.
fn clock() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl<S> Driver<S> {
    pub(crate) fn new(io: S, conn: Connection) -> Self {
        let wakers = Arc::new(Wakers::default());
        Driver {
            waker: Waker::from(wakers.clone()),
            wakers,
            inner: Inner {
                io,
                conn,
                timer: None,
                armed: None,
                now: clock(),
                stash: None,
                peeked: None,
                io_error: None,
                write_shutdown: false,
                end: End::Running,
            },
        }
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.inner.conn
    }

    pub(crate) fn io(&self) -> &S {
        &self.inner.io
    }

    pub(crate) fn io_mut(&mut self) -> &mut S {
        &mut self.inner.io
    }

    pub(crate) fn into_io(self) -> S {
        self.inner.io
    }

    /// Whether the end was reported to the stream side.
    pub(crate) fn is_end_reported(&self) -> bool {
        matches!(self.inner.end, End::Reported)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Driver<S> {
    /// Runs `f` with the combined waker; if it is pending, registers the
    /// side's waker.
    ///
    /// A wake that came after `f` began and before the registration found
    /// the slot without this task's waker: the count of wakes shows it, and
    /// the task is woken at once to poll again. (Either the wake's `take`
    /// follows the registration in the slot's state and wakes the new
    /// waker, or the registration follows the `take` and so sees the count
    /// that the wake raised before it.)
    fn with<T>(
        &mut self,
        side: Side,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut Inner<S>, &mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        let wakes = self.wakers.wakes.load(Ordering::Acquire);
        let mut combined = Context::from_waker(&self.waker);
        let poll = f(&mut self.inner, &mut combined);
        if poll.is_pending() {
            let slot = match side {
                Side::Read => &self.wakers.read,
                Side::Write => &self.wakers.write,
            };
            slot.register(cx.waker());
            if self.wakers.wakes.load(Ordering::Acquire) != wakes {
                cx.waker().wake_by_ref();
            }
        }
        poll
    }

    /// The next event of any kind (`Request`, `Connected`, `Message`,
    /// `Fragment`); the end as `None` (a clean close) or one error, then `None`.
    pub(crate) fn poll_event(
        &mut self,
        side: Side,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Event, Error>>> {
        self.with(side, cx, Inner::poll_event)
    }

    /// The next message; a fragment is kept and refused with `FragmentPending`.
    pub(crate) fn poll_message(
        &mut self,
        side: Side,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Message, Error>>> {
        self.with(side, cx, |inner, cx| {
            if inner.peeked.is_some() {
                return Poll::Ready(Some(Err(Error::FragmentPending)));
            }
            inner.poll_incoming(cx).map(|incoming| {
                incoming.map(|result| match result? {
                    Incoming::Message(message) => Ok(message),
                    Incoming::Fragment(fragment) => {
                        inner.peeked = Some(Box::new(fragment));
                        Err(Error::FragmentPending)
                    }
                })
            })
        })
    }

    /// The next message or fragment.
    pub(crate) fn poll_incoming(
        &mut self,
        side: Side,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Incoming, Error>>> {
        self.with(side, cx, |inner, cx| match inner.peeked.take() {
            Some(fragment) => Poll::Ready(Some(Ok(Incoming::Fragment(*fragment)))),
            None => inner.poll_incoming(cx),
        })
    }

    /// Ready when a message can be queued.
    pub(crate) fn poll_ready(
        &mut self,
        side: Side,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Error>> {
        self.with(side, cx, Inner::poll_ready)
    }

    /// Queues a message (after `poll_ready`).
    pub(crate) fn start_send(&mut self, item: Outbound) -> Result<(), Error> {
        self.inner.start_send(item)
    }

    /// Writes out everything queued.
    pub(crate) fn poll_flush(
        &mut self,
        side: Side,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Error>> {
        self.with(side, cx, Inner::poll_flush)
    }

    /// Queues a close frame (if the connection is open) and writes it out.
    pub(crate) fn poll_close(
        &mut self,
        side: Side,
        cx: &mut Context<'_>,
        frame: &Option<CloseFrame>,
    ) -> Poll<Result<(), Error>> {
        self.with(side, cx, |inner, cx| inner.poll_close(cx, frame))
    }

    /// Server: accepts or rejects the pending request. Returns what `accept`
    /// refused, having rejected the request with a 500 instead.
    pub(crate) fn decide(&mut self, decision: Result<Accept, Reject>) -> Result<(), AcceptError> {
        let now = self.inner.clock();
        let conn = &mut self.inner.conn;
        match decision {
            Ok(accept) => conn.accept(now, accept).inspect_err(|_| {
                let reject = Reject::status(StatusCode::INTERNAL_SERVER_ERROR);
                // A request that could not be accepted is still pending.
                let _ = conn.reject(now, reject);
            }),
            Err(reject) => conn.reject(now, reject),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Inner<S> {
    fn clock(&mut self) -> Instant {
        self.now = clock();
        self.now
    }

    /// The next message or fragment for the application; the handshake's
    /// events are not for it.
    fn poll_incoming(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Incoming, Error>>> {
        loop {
            let incoming = match ready!(self.poll_event(cx)) {
                Some(Ok(Event::Message(message))) => Ok(Incoming::Message(message)),
                Some(Ok(Event::Fragment(fragment))) => Ok(Incoming::Fragment(fragment)),
                Some(Ok(_)) => continue,
                Some(Err(e)) => Err(e),
                None => return Poll::Ready(None),
            };
            return Poll::Ready(Some(incoming));
        }
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Event, Error>>> {
        loop {
            match std::mem::replace(&mut self.end, End::Reported) {
                End::Running => self.end = End::Running,
                End::ShuttingDown(reason) => {
                    // Ends the transport: after a clean close the server
                    // closes first (RFC 6455 section 7.1.1); a TLS stream
                    // sends its close_notify here.
                    if self.io_error.is_none()
                        && Pin::new(&mut self.io).poll_shutdown(cx).is_pending()
                    {
                        self.end = End::ShuttingDown(reason);
                        return Poll::Pending;
                    }
                    return Poll::Ready(self.final_result(*reason));
                }
                End::Reported => return Poll::Ready(None),
            }
            if let Some(event) = self.conn.poll_event() {
                if let Event::Closed(reason) = event {
                    self.end = End::ShuttingDown(Box::new(reason));
                    continue;
                }
                if let Event::Message(Message::Ping(_) | Message::Close(_)) = event {
                    // Proto queued the pong or the close echo: send it now,
                    // even if the application does not poll again soon. (Other
                    // events do not write, so that the application can batch
                    // its answers to a burst of messages in one flush.)
                    if let Poll::Ready(Err(e)) = self.poll_write_out(cx) {
                        self.fail_io(e);
                    }
                }
                return Poll::Ready(Some(Ok(event)));
            }
            if self.poll_timer(cx) {
                continue;
            }
            if self.conn.wants_read() {
                // Input first: the answers to everything the transport holds
                // leave together, in one write, once it is drained. Output
                // that piles up under a flood of input goes out early.
                if self.conn.buffered_outgoing() >= WRITE_EARLY {
                    if let Poll::Ready(Err(e)) = self.poll_write_out(cx) {
                        self.fail_io(e);
                        continue;
                    }
                }
                match self.poll_read_in(cx) {
                    Poll::Ready(Ok(())) => continue,
                    Poll::Ready(Err(e)) => {
                        self.fail_io(e);
                        continue;
                    }
                    Poll::Pending => {}
                }
            }
            match self.poll_write_out(cx) {
                Poll::Ready(Ok(true)) => continue,
                Poll::Ready(Ok(false)) | Poll::Pending => {}
                Poll::Ready(Err(e)) => {
                    self.fail_io(e);
                    continue;
                }
            }
            // Nothing to read, nothing to do: hold no buffer while waiting
            // (a large receive buffer until a deadline, which the timer
            // must then watch).
            self.conn.release_buffers();
            if self.poll_timer(cx) {
                continue;
            }
            return Poll::Pending;
        }
    }

    /// What the stream reports at the end: nothing after a closing
    /// handshake, else the error.
    fn final_result(&mut self, reason: CloseReason) -> Option<Result<Event, Error>> {
        if let CloseReason::Normal(_) = reason {
            return None;
        }
        if let Some(e) = self.io_error.take() {
            // Keep a copy for the sink side.
            self.io_error = Some(copy_io(&e));
            return Some(Err(Error::from(e)));
        }
        Error::from_reason(reason).map(Err)
    }

    /// The transport failed: the connection ends (proto reports why).
    fn fail_io(&mut self, e: io::Error) {
        if self.io_error.is_none() {
            self.io_error = Some(e);
        }
        self.conn.handle_reset();
    }

    /// One read into proto's receive buffer, then proto decodes it.
    fn poll_read_in(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let buf = self.conn.receive_buffer();
        match tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, buf) {
            Poll::Ready(Ok(0)) => {
                let now = self.clock();
                self.conn.handle_eof(now);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Ok(_)) => {
                let now = self.clock();
                self.conn.handle_received(now);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => Poll::Ready(Ok(())),
            // A TLS stream whose peer ended the TCP connection without a
            // close_notify. proto judges that end like any other EOF: clean
            // after a closing handshake (many servers skip close_notify),
            // `CloseReason::Eof` before it. A truncated message cannot pass
            // for a whole one: the framing says how long it is.
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                let now = self.clock();
                self.conn.handle_eof(now);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Writes proto's pending output until there is none or the transport
    /// pushes back, then flushes the transport. `Ok(true)` if anything was
    /// written.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let mut wrote = false;
        let mut now = None;
        while self.conn.wants_write() {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let count = self.conn.transmit_chunks(&mut slices);
            match Pin::new(&mut self.io).poll_write_vectored(cx, &slices[..count]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    // One reading of the clock per write-out: proto times
                    // the closing handshake from the output's progress.
                    let now = *now.get_or_insert_with(clock);
                    self.conn.advance_transmit(now, n);
                    wrote = true;
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        if self.conn.poll_shutdown() {
            self.write_shutdown = true;
        }
        if self.write_shutdown {
            // A refused request: the client may still be sending. Half-close
            // and keep reading, so that it reads our answer (RFC 9112
            // section 9.6) instead of a reset.
            ready!(Pin::new(&mut self.io).poll_shutdown(cx))?;
            self.write_shutdown = false;
        }
        Poll::Ready(Ok(wrote))
    }

    /// Follows proto's next deadline with the one timer; runs
    /// `handle_timeout` when it fires. True if it fired.
    ///
    /// The timer is only moved to an earlier deadline: a later one (the
    /// keepalive timer restarts on every read) waits for the timer to fire,
    /// which then finds nothing due and re-arms.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(deadline) = self.conn.poll_timeout() else {
            // No deadline (a connection without keepalive, once open): an
            // idle connection holds no timer either.
            self.timer = None;
            self.armed = None;
            return false;
        };
        if self.armed.is_none_or(|armed| deadline < armed) {
            let at = tokio::time::Instant::from_std(deadline);
            match &mut self.timer {
                Some(timer) => timer.as_mut().reset(at),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(at))),
            }
            self.armed = Some(deadline);
        }
        let Some(timer) = &mut self.timer else {
            return false;
        };
        if timer.as_mut().poll(cx).is_pending() {
            return false;
        }
        self.armed = None;
        let now = self.clock();
        self.conn.handle_timeout(now);
        true
    }

    /// Whether messages may be sent.
    fn check_open(&self) -> Result<(), Error> {
        if let Some(e) = &self.io_error {
            return Err(Error::from(copy_io(e)));
        }
        match self.conn.state() {
            State::Open => Ok(()),
            State::Handshake => Err(Error::Send(SendError::NotOpen)),
            State::Closing | State::Closed => Err(Error::AlreadyClosed),
        }
    }

    /// Hands `item` to proto; gives it back if proto's buffer is full.
    fn queue(&mut self, item: Outbound) -> Result<Option<Outbound>, Error> {
        let result = match &item {
            Outbound::Message(Message::Close(frame)) => {
                let now = self.clock();
                self.conn.close(now, frame.clone())
            }
            Outbound::Message(message) => self.conn.send(self.now, message),
            Outbound::Fragment { kind, data, fin } => {
                self.conn.send_fragment(self.now, *kind, data, *fin)
            }
            Outbound::Prepared(prepared) => self.conn.send_prepared(self.now, prepared),
        };
        match result {
            Ok(()) => Ok(None),
            Err(SendError::Full { .. }) => Ok(Some(item)),
            Err(e) => Err(e.into()),
        }
    }

    /// Moves the stashed item into proto if it fits. True if nothing is stashed.
    fn push_stash(&mut self) -> Result<bool, Error> {
        let Some(item) = self.stash.take() else {
            return Ok(true);
        };
        self.stash = self.queue(*item)?.map(Box::new);
        Ok(self.stash.is_none())
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            self.check_open()?;
            let empty = self.push_stash()?;
            if empty && self.conn.buffered_outgoing() < self.conn.config().max_outgoing_buffer {
                return Poll::Ready(Ok(()));
            }
            ready!(self.poll_drain(cx))?;
        }
    }

    fn start_send(&mut self, item: Outbound) -> Result<(), Error> {
        self.check_open()?;
        if self.stash.is_some() {
            // `poll_ready` was not called (or did not return `Ready`).
            let buffered = self.conn.buffered_outgoing();
            let limit = self.conn.config().max_outgoing_buffer;
            return Err(Error::Send(SendError::Full { buffered, limit }));
        }
        self.stash = self.queue(item)?.map(Box::new);
        Ok(())
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            if let Some(e) = &self.io_error {
                return Poll::Ready(Err(Error::from(copy_io(e))));
            }
            let empty = self.push_stash()?;
            if ready!(self.poll_drain(cx))? && empty {
                return Poll::Ready(Ok(()));
            }
        }
    }

    /// One step of the sink side waiting on the transport: writes out what
    /// is queued. `Ok(true)` once all of it is written, `Ok(false)` if the
    /// transport is full but a timer fired (look again); a write error ends
    /// the connection and is returned.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, Error>> {
        match self.poll_write_out(cx) {
            Poll::Ready(Ok(_)) => Poll::Ready(Ok(true)),
            Poll::Ready(Err(e)) => {
                let copy = copy_io(&e);
                self.fail_io(e);
                Poll::Ready(Err(Error::from(copy)))
            }
            Poll::Pending if self.poll_timer(cx) => Poll::Ready(Ok(false)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Flushes what is queued, queues `frame` if the connection is still
    /// open, and flushes it. Polled again, it only flushes.
    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        frame: &Option<CloseFrame>,
    ) -> Poll<Result<(), Error>> {
        match self.poll_flush(cx) {
            Poll::Ready(Ok(())) => {}
            // The connection is closing already: what the sink held cannot go.
            Poll::Ready(Err(Error::AlreadyClosed)) => self.stash = None,
            other => return other,
        }
        if self.conn.state() == State::Open {
            let now = self.clock();
            self.conn.close(now, frame.clone())?;
        }
        self.poll_flush(cx)
    }
}
