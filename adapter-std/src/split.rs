//! Two threads on one connection: a read half and a write half.
//!
//! # Design
//!
//! [`WebSocket::split`] clones the transport twice (`try_clone`) and shares
//! the [`Connection`] between the halves:
//!
//! ```text
//!  ReadHalf ── own stream handle: reads, no lock held while blocked
//!     │
//!     ├──> core:   Mutex<Connection + end bookkeeping>   held only for
//!     │            handle_read / send / poll_*: never across blocking I/O
//!     ├──> writer: Mutex<stream handle + bytes taken, not yet written>
//!     │            held across blocking writes: frames never interleave
//!     └──> closer: a third handle, only to shut the transport down
//!  WriteHalf ──┘
//! ```
//!
//! - The reader reads on its own handle without holding any lock, then takes
//!   the `core` lock just to hand the bytes to the connection and poll its
//!   events, so a sender is never blocked by a waiting reader.
//! - Writing takes the `writer` lock, then repeatedly takes a piece of
//!   output from the connection (`poll_transmit`, under the `core` lock
//!   briefly) and writes it with the `core` lock released, so a write
//!   blocked on a slow peer never stops the reader.
//! - Output that the reader causes (pongs, the echo of a close) is written
//!   by whoever holds the `writer` lock: the reader only tries the lock. The
//!   holder, after releasing it, looks at the connection again and takes the
//!   lock back if output arrived meanwhile, so nothing is left behind.
//!   Frames never interleave: the connection's queue keeps frames whole and
//!   one writer at a time writes them in order.
//! - Deadlines: the reader arms its read timeout from the connection's next
//!   deadline, as the whole `WebSocket` does. The one deadline a sender can
//!   start is the close timeout of [`WriteHalf::close`], which a read
//!   already blocked cannot see: `WriteHalf::close` returns at once, and a
//!   short-lived watchdog thread waits for the end until that deadline,
//!   acts on it if it passes, and shuts the transport down to wake the
//!   reader. It holds the shared state only while it waits.
//! - The transport is shut down once the connection has ended: after the
//!   last bytes are written (by the writer), or at once when the peer went
//!   away or a deadline passed.
//!
//! Lock order: `writer`, then `core`; nothing holds `core` while it waits
//! for `writer`.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use rusty_socket_proto::{
    CloseCode, CloseFrame, Connection, Message, MessageKind, PreparedMessage, Role, SendError,
    State,
};

use crate::core::{Core, Incoming, Input, Polled, ReadBuf};
use crate::error::{is_timeout, Error};
use crate::socket::{end_of_stream, WebSocket};
use crate::transport::{Transport, TryClone};

/// How long the reader waits at most, while the connection finishes its
/// output on another thread, before it looks again (it may have to write it).
const DRAIN_POLL: Duration = Duration::from_millis(50);

impl<S: Transport + TryClone> WebSocket<S> {
    /// Splits the connection into a [`WriteHalf`] and a [`ReadHalf`] that can
    /// be moved to different threads: one can send while the other is
    /// blocked in `recv`. The transport is cloned twice (`try_clone`).
    ///
    /// The order is the `futures` convention of `StreamExt::split`, sink
    /// first: `let (writer, reader) = ws.split()?;`, in this crate and in
    /// `rusty-socket-tokio` alike.
    ///
    /// Pings are answered and closes echoed as before, by whichever half is
    /// writing at the time; see the [crate docs](crate#one-thread-sends-while-another-receives).
    /// The reader acts on proto's deadlines; [`WriteHalf::close`] waits for
    /// the end itself.
    ///
    /// ```no_run
    /// use std::thread;
    ///
    /// use rusty_socket_std::{connect, Message};
    ///
    /// let (ws, _) = connect("ws://127.0.0.1:9001/")?;
    /// let (mut writer, mut reader) = ws.split()?;
    /// let printer = thread::spawn(move || -> Result<(), rusty_socket_std::Error> {
    ///     // Until the closing handshake completes (`None`) or fails.
    ///     while let Some(message) = reader.recv()? {
    ///         println!("{message:?}");
    ///     }
    ///     Ok(())
    /// });
    /// writer.send(Message::text("hello"))?;
    /// writer.close(1000, "done")?;
    /// printer.join().unwrap()?;
    /// # Ok::<(), rusty_socket_std::Error>(())
    /// ```
    pub fn split(self) -> Result<(WriteHalf<S>, ReadHalf<S>), Error> {
        let writer = self.get_ref().try_clone()?;
        let closer = self.get_ref().try_clone()?;
        let (stream, core, reader, shut) = self.into_parts();
        let shared = Arc::new(Shared {
            core: Mutex::new(core),
            ended: Condvar::new(),
            writer: Mutex::new(Writer {
                stream: writer,
                pending: Bytes::new(),
            }),
            closer: Mutex::new(closer),
            shut: AtomicBool::new(shut),
            in_flight: AtomicUsize::new(0),
        });
        let read = ReadHalf {
            stream,
            reader,
            shared: Arc::clone(&shared),
        };
        Ok((WriteHalf { shared }, read))
    }
}

/// The receiving half of a split [`WebSocket`]; see [`WebSocket::split`].
pub struct ReadHalf<S> {
    stream: S,
    reader: ReadBuf,
    shared: Arc<Shared<S>>,
}

/// The sending half of a split [`WebSocket`]; see [`WebSocket::split`].
pub struct WriteHalf<S> {
    shared: Arc<Shared<S>>,
}

struct Shared<S> {
    core: Mutex<Core>,
    /// Signalled when the connection ends.
    ended: Condvar,
    writer: Mutex<Writer<S>>,
    closer: Mutex<S>,
    /// The transport was shut down.
    shut: AtomicBool,
    /// Bytes taken from the connection and not yet written.
    in_flight: AtomicUsize,
}

struct Writer<S> {
    stream: S,
    /// Taken from the connection's queue, not yet written.
    pending: Bytes,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S> Shared<S> {
    fn core(&self) -> MutexGuard<'_, Core> {
        lock(&self.core)
    }

    /// Runs `f` on the core, and wakes the threads waiting for the end if
    /// the connection has ended.
    fn with_core<R>(&self, f: impl FnOnce(&mut Core) -> R) -> R {
        let mut core = self.core();
        let result = f(&mut core);
        if core.conn.is_closed() {
            self.ended.notify_all();
        }
        result
    }

    /// Whether a writer has work: bytes to write, or the transport to shut
    /// down after the last of them.
    fn owes_writer(&self, core: &Core) -> bool {
        core.conn.wants_write() || (core.conn.is_closed() && !self.shut.load(Ordering::Acquire))
    }

    fn buffered_outgoing(&self) -> usize {
        self.core().conn.buffered_outgoing() + self.in_flight.load(Ordering::Relaxed)
    }
}

impl<S: Transport> Shared<S> {
    /// Shuts the transport down once the connection has ended, unless a
    /// writer still holds its last bytes: that writer shuts it down after
    /// writing them (see `drain`), so the close frame is never cut off.
    fn shut_down_if_drained(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            self.shut_down();
        }
    }

    /// Shuts the transport down now, once.
    fn shut_down(&self) {
        if !self.shut.swap(true, Ordering::AcqRel) {
            let _ = lock(&self.closer).shutdown();
        }
    }

    /// Writes out what the connection has queued. With `wait`, waits for the
    /// writer lock; without, leaves the work to the thread that holds it.
    fn flush(&self, mut wait: bool) -> io::Result<()> {
        loop {
            let mut writer = if wait {
                lock(&self.writer)
            } else {
                match self.writer.try_lock() {
                    Ok(writer) => writer,
                    Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                    Err(TryLockError::WouldBlock) => return Ok(()),
                }
            };
            let result = self.drain(&mut writer);
            drop(writer);
            if let Err(e) = result {
                // A reader waiting for the end may have to write itself.
                self.ended.notify_all();
                return Err(e);
            }
            // Another thread may have queued output while we held the lock,
            // and given up on it: look again.
            if !self.owes_writer(&self.core()) {
                return Ok(());
            }
            wait = false;
        }
    }

    /// Writes until the connection's queue is empty; shuts the transport
    /// down after the last bytes if the connection has ended.
    fn drain(&self, writer: &mut Writer<S>) -> io::Result<()> {
        loop {
            while !writer.pending.is_empty() {
                match writer.stream.write(&writer.pending) {
                    Ok(0) => return Err(self.broken(writer, io::ErrorKind::WriteZero.into())),
                    Ok(n) => {
                        writer.pending.advance(n);
                        self.in_flight
                            .store(writer.pending.len(), Ordering::Relaxed);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if is_timeout(&e) => return Err(e),
                    Err(e) => return Err(self.broken(writer, e)),
                }
            }
            // Taken and counted as in flight under the connection's lock:
            // proto counts taken bytes as written (and may report the end),
            // so a reader must see them in flight until they really are.
            let (next, closed) = self.with_core(|core| {
                let next = core.conn.poll_transmit(Instant::now());
                if let Some(bytes) = &next {
                    self.in_flight.store(bytes.len(), Ordering::Relaxed);
                }
                (next, core.conn.is_closed())
            });
            match next {
                Some(bytes) => writer.pending = bytes,
                None => {
                    if let Err(e) = writer.stream.flush() {
                        return Err(if is_timeout(&e) {
                            e
                        } else {
                            self.broken(writer, e)
                        });
                    }
                    if closed {
                        self.shut_down();
                    }
                    return Ok(());
                }
            }
        }
    }

    /// A write failed: the connection ends with the error, and the transport
    /// is shut down, which wakes the reader to report it.
    fn broken(&self, writer: &mut Writer<S>, error: io::Error) -> io::Error {
        writer.pending = Bytes::new();
        self.in_flight.store(0, Ordering::Relaxed);
        self.with_core(|core| core.fail_io(&error));
        self.shut_down();
        error
    }
}

impl<S: Transport> Shared<S> {
    /// After our close frame: waits for the end of the connection until the
    /// close deadline (`at`, or later if proto moved it), and ends the
    /// connection there if it has not ended, shutting the transport down
    /// to wake the reader.
    fn close_watchdog(&self, mut at: Instant) {
        let mut core = self.core();
        loop {
            if core.conn.is_closed() {
                return;
            }
            let now = Instant::now();
            if at > now {
                core = self
                    .ended
                    .wait_timeout(core, at - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                continue;
            }
            core.expire();
            if core.conn.is_closed() {
                drop(core);
                self.ended.notify_all();
                self.shut_down();
                return;
            }
            match core.conn.poll_timeout() {
                Some(next) if next > now => at = next,
                // Nothing left to wait for: the reader has it.
                _ => return,
            }
        }
    }
}

impl<S: Transport> ReadHalf<S> {
    /// Receives the next message, as [`WebSocket::recv`] does: `Ok(None)`
    /// once the closing handshake has completed. Holds no lock while it
    /// waits, so the [`WriteHalf`] can send meanwhile.
    pub fn recv(&mut self) -> Result<Option<Message>, Error> {
        match self.recv_incoming()? {
            Some(Incoming::Message(message)) => Ok(Some(message)),
            Some(fragment @ Incoming::Fragment(_)) => {
                self.shared.core().stash(fragment);
                Err(Error::FragmentPending)
            }
            None => Ok(None),
        }
    }

    /// Receives the next message, control frame or fragment, as
    /// [`WebSocket::recv_incoming`] does.
    pub fn recv_incoming(&mut self) -> Result<Option<Incoming>, Error> {
        loop {
            self.write_owed()?;
            match self.shared.with_core(Core::poll) {
                Polled::Item(item) => return Ok(Some(item)),
                Polled::End { error, .. } => return end_of_stream(error),
                Polled::Empty => {}
            }
            // Decoding may have queued output (a pong, a failure's close
            // frame): write it before waiting, and look again if that helped.
            if self.shared.owes_writer(&self.shared.core()) {
                self.write_owed()?;
                if !self.shared.owes_writer(&self.shared.core()) {
                    continue;
                }
            }
            self.wait()?;
        }
    }

    /// Writes what the connection owes the peer (a pong, the echo of a
    /// close), unless another thread is writing: then it does.
    fn write_owed(&self) -> Result<(), Error> {
        if self.shared.owes_writer(&self.shared.core()) {
            if let Err(e) = self.shared.flush(false) {
                if is_timeout(&e) {
                    // The peer does not take our output. Its deadlines
                    // (keepalive, idle, close) still run: one that ends the
                    // connection ends the transport, and `poll` reports it
                    // instead of the timeout.
                    let ended = self.shared.with_core(|core| {
                        core.expire();
                        core.conn.is_closed()
                    });
                    if ended {
                        self.shared.shut_down_if_drained();
                        return Ok(());
                    }
                    return Err(Error::Io(e));
                }
                // Otherwise the connection has ended; reported by `poll`.
            }
        }
        Ok(())
    }

    /// Waits for the peer once.
    fn wait(&mut self) -> Result<(), Error> {
        enum Plan {
            Again,
            Drain(Option<Instant>),
            Read(Option<Duration>),
        }
        let plan = self.shared.with_core(|core| {
            if !core.conn.wants_read() {
                return Plan::Drain(core.conn.poll_timeout());
            }
            match core.read_timeout() {
                Some(timeout) => Plan::Read(timeout),
                None => Plan::Again,
            }
        });
        let abrupt = match plan {
            Plan::Again => true,
            Plan::Drain(deadline) => {
                // Another thread is writing the last output; the close
                // deadline bounds it.
                let core = self.shared.core();
                let wait = deadline.map_or(DRAIN_POLL, |at| {
                    at.saturating_duration_since(Instant::now()).min(DRAIN_POLL)
                });
                let (mut core, _) = self
                    .shared
                    .ended
                    .wait_timeout(core, wait)
                    .unwrap_or_else(PoisonError::into_inner);
                core.expire();
                true
            }
            Plan::Read(timeout) => {
                let (result, bounded) = self.reader.read(&mut self.stream, timeout);
                let bytes = self.reader.bytes();
                let input = self
                    .shared
                    .with_core(|core| core.handle_read_result(result, bytes, bounded))?;
                input == Input::Abrupt
            }
        };
        // The peer went away or a deadline passed: nothing more to write.
        if abrupt && self.shared.core().conn.is_closed() {
            self.shared.ended.notify_all();
            self.shared.shut_down_if_drained();
        }
        Ok(())
    }

    /// Handshake, open, closing or closed.
    pub fn state(&self) -> State {
        self.shared.core().conn.state()
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        self.shared.core().conn.role()
    }

    /// The subprotocol agreed in the opening handshake, if any.
    pub fn protocol(&self) -> Option<String> {
        self.shared.core().conn.protocol().map(str::to_owned)
    }
}

impl<S: Transport> WriteHalf<S> {
    /// Sends a message and writes it out, as [`WebSocket::send`] does.
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        self.feed(message)?;
        self.flush()
    }

    /// Queues a message without writing it out, except to make room, as
    /// [`WebSocket::feed`] does.
    pub fn feed(&mut self, message: Message) -> Result<(), Error> {
        self.command(|conn, now| conn.send(now, &message))
    }

    /// Sends one fragment of a message, as [`WebSocket::send_fragment`] does.
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: impl Into<Bytes>,
        fin: bool,
    ) -> Result<(), Error> {
        let data = data.into();
        self.command(|conn, now| conn.send_fragment(now, kind, &data, fin))?;
        self.flush()
    }

    /// Sends a message prepared once for many connections, as
    /// [`WebSocket::send_prepared`] does.
    pub fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        self.command(|conn, now| conn.send_prepared(now, message))?;
        self.flush()
    }

    /// Sends a ping and writes it out; the pong arrives at the [`ReadHalf`].
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.command(|conn, now| conn.ping(now, payload))?;
        self.flush()
    }

    /// Writes out everything queued, waiting for another thread's write to
    /// finish first.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.shared.flush(true).map_err(Error::from)
    }

    /// Starts the closing handshake, as [`WebSocket::close`] does: queues a
    /// close frame with a code and reason, writes it out, and returns. The
    /// [`ReadHalf`] finishes the handshake: keep calling its `recv` until
    /// `Ok(None)`; messages still in flight arrive first.
    ///
    /// If the peer does not answer within `Config::close_timeout`, the
    /// connection ends then (the reader reports
    /// `Error::Closed(CloseReason::Timeout(Timer::Close))`), even if the
    /// reader is blocked in a read without a deadline: a watchdog thread
    /// waits for that deadline and shuts the transport down.
    pub fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error>
    where
        S: Send + 'static,
    {
        let frame = CloseFrame::new(code.into(), reason);
        let deadline = self.shared.with_core(|core| {
            if core.is_ended() {
                return Err(Error::AlreadyClosed);
            }
            core.expire();
            match core.conn.close(Instant::now(), Some(frame)) {
                // Closed: the peer's close came first, or the connection
                // ended: the reader finishes or reports it.
                Ok(()) => Ok(core.conn.poll_timeout()),
                Err(SendError::Closed) => Ok(None),
                Err(e) => Err(core.send_error(e)),
            }
        })?;
        // Armed before the write, which may time out (a write timeout set
        // on the stream): a retried `close` finds the frame queued already.
        if let Some(deadline) = deadline {
            let shared = Arc::clone(&self.shared);
            // Without a thread, the deadline is only seen by the reader's
            // next read: the peer's answer or a deadline armed before.
            let spawned = std::thread::Builder::new()
                .name("rusty-socket close timer".into())
                .spawn(move || shared.close_watchdog(deadline));
            spawned.map_err(Error::Io)?;
        }
        self.flush()
    }

    /// Bytes queued but not yet written, including a piece being written.    /// Bytes queued but not yet written, including a piece being written.
    /// Bounded by `Config::max_outgoing_buffer` plus that piece.
    pub fn buffered_outgoing(&self) -> usize {
        self.shared.buffered_outgoing()
    }

    /// Handshake, open, closing or closed.
    pub fn state(&self) -> State {
        self.shared.core().conn.state()
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        self.shared.core().conn.role()
    }

    /// Runs a command on the connection; a full queue is written out first.
    fn command(
        &mut self,
        mut command: impl FnMut(&mut Connection, Instant) -> Result<(), SendError>,
    ) -> Result<(), Error> {
        loop {
            let sent =
                self.shared
                    .with_core(|core| match command(&mut core.conn, Instant::now()) {
                        Ok(()) => Ok(true),
                        Err(SendError::Full { .. }) => Ok(false),
                        Err(e) => Err(core.send_error(e)),
                    })?;
            if sent {
                return Ok(());
            }
            self.flush()?;
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for ReadHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadHalf")
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl<S> fmt::Debug for WriteHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteHalf").finish_non_exhaustive()
    }
}
