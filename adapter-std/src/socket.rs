//! The blocking WebSocket: one thread drives one connection.

use std::fmt;
use std::io::{self, IoSlice};
use std::thread;
use std::time::Instant;

use bytes::Bytes;
use rusty_socket_proto::{
    CloseCode, CloseFrame, CloseReason, Config, Connection, Event, Message, MessageKind,
    PreparedMessage, Role, SendError, State,
};

use crate::core::{Core, Incoming, Polled, ReadBuf};
use crate::error::{is_timeout, Error};
use crate::transport::Transport;
use crate::Deflate;

/// Most slices handed to one vectored write.
const MAX_SLICES: usize = 64;

/// A WebSocket connection over a blocking transport `S`, after its opening
/// handshake: made by [`connect`](crate::connect), [`connect_on`](crate::connect_on),
/// [`accept`](crate::accept) or [`accept_with`](crate::accept_with).
///
/// Every method drives the connection: it writes out what is queued, reads
/// when it has to wait for the peer, and acts on proto's deadlines (the read
/// timeout is set to the next one before each read). Pings are answered and
/// close frames echoed by the connection itself, written out before `recv`
/// returns them. Nothing happens between calls: to keep keepalive and
/// timeouts running while you are not receiving, keep a thread in
/// [`recv`](Self::recv) (see [`split`](Self::split)).
///
/// Writes block until the bytes are handed to the transport; to bound them,
/// set a write timeout on the stream (`get_ref().set_write_timeout(..)` for
/// a `TcpStream`): a write that times out returns [`Error::Io`] with
/// `WouldBlock`/`TimedOut`, keeps the rest queued (at most
/// `Config::max_outgoing_buffer` bytes, see
/// [`buffered_outgoing`](Self::buffered_outgoing)) and leaves the connection
/// usable. The read timeout belongs to the adapter.
pub struct WebSocket<S> {
    stream: S,
    core: Core,
    reader: ReadBuf,
    /// The transport was shut down.
    shut: bool,
}

impl<S: Transport> WebSocket<S> {
    pub(crate) fn new(stream: S, conn: Connection) -> Self {
        WebSocket {
            stream,
            core: Core::new(conn),
            reader: ReadBuf::new(),
            shut: false,
        }
    }

    // ----- getters -----

    /// The transport.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The transport, to set options on it. Reading or writing it directly
    /// corrupts the connection.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Gives up the connection and returns the transport as it is: bytes
    /// received but not delivered, or queued but not written, are lost.
    pub fn into_inner(self) -> S {
        self.stream
    }

    /// Handshake, open, closing or closed.
    pub fn state(&self) -> State {
        self.core.conn.state()
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        self.core.conn.role()
    }

    /// The subprotocol agreed in the opening handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.core.conn.protocol()
    }

    /// The permessage-deflate parameters agreed in the opening handshake,
    /// if compression was agreed (it is offered and accepted by default:
    /// see [`Config::deflate`](crate::Config::deflate)).
    pub fn deflate(&self) -> Option<Deflate> {
        self.core.conn.deflate()
    }

    /// The connection's limits and timeouts.
    pub fn config(&self) -> &Config {
        self.core.conn.config()
    }

    /// The protocol state machine, to read its state.
    pub fn connection(&self) -> &Connection {
        &self.core.conn
    }

    /// Bytes queued but not yet written to the transport. Bounded by
    /// `Config::max_outgoing_buffer` (or one message, if a single message is
    /// larger): a send that would go past it first writes out what is queued.
    pub fn buffered_outgoing(&self) -> usize {
        self.core.conn.buffered_outgoing()
    }

    // ----- receiving -----

    /// Receives the next message: text, binary, or a ping, pong or close
    /// frame (already answered by the connection).
    ///
    /// `Ok(None)` is the normal end: the closing handshake has completed
    /// (the peer's close frame, returned before as [`Message::Close`], was
    /// answered or was the answer to ours), and the transport is shut down.
    /// Every other end is an error: [`Error::Protocol`] for a violation by
    /// the peer, [`Error::Io`] for a transport failure (an EOF without a
    /// closing handshake included), [`Error::Closed`] for a timeout. Once
    /// the end has been reported, later calls return `Ok(None)`.
    ///
    /// With `Config::streaming` on, data arrives in fragments: use
    /// [`recv_incoming`](Self::recv_incoming) (this returns
    /// [`Error::FragmentPending`] when a fragment is next).
    ///
    /// Before it waits for the peer, `recv` writes out everything queued
    /// (messages queued with [`feed`](Self::feed), pongs): a server that
    /// answers with `feed` answers a burst of messages in one write.
    pub fn recv(&mut self) -> Result<Option<Message>, Error> {
        match self.next_item()? {
            Some(Incoming::Message(message)) => Ok(Some(message)),
            Some(fragment @ Incoming::Fragment(_)) => {
                self.core.stash(fragment);
                Err(Error::FragmentPending)
            }
            None => Ok(None),
        }
    }

    /// Receives the next message, control frame, or (with `Config::streaming`)
    /// piece of a message as it arrives, without waiting for the whole
    /// message. Ends as [`recv`](Self::recv) does.
    pub fn recv_incoming(&mut self) -> Result<Option<Incoming>, Error> {
        self.next_item()
    }

    // ----- sending -----

    /// Sends a message and writes it out ([`feed`](Self::feed), then
    /// [`flush`](Self::flush)): text, binary, ping or pong. Sending
    /// [`Message::Close`] starts the closing handshake, as
    /// [`close`](Self::close) does.
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        self.feed(message)?;
        self.flush()
    }

    /// Queues a message without writing it out (see [`flush`](Self::flush)),
    /// except to make room when the queue is full. [`recv`](Self::recv)
    /// also writes out what is queued before it waits.
    pub fn feed(&mut self, message: Message) -> Result<(), Error> {
        self.command(|conn, now| conn.send(now, &message))
    }

    /// Sends one fragment of a message and writes it out: the first gives the
    /// kind, `fin` ends the message. Text may be split inside a character;
    /// the message as a whole must be valid UTF-8. Control frames may be
    /// sent between fragments; other messages may not.
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

    /// Sends a message prepared once for many connections (a server's
    /// broadcast: the same bytes are queued on each) and writes it out.
    pub fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        self.command(|conn, now| conn.send_prepared(now, message))?;
        self.flush()
    }

    /// Sends a ping (at most 125 bytes of payload) and writes it out. The
    /// pong comes back through [`recv`](Self::recv).
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.command(|conn, now| conn.ping(now, payload))?;
        self.flush()
    }

    /// Writes out everything queued.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.write_out().map_err(|e| self.io_failure(e))
    }

    /// Starts the closing handshake: queues a close frame with a status code
    /// (`1000` or [`CloseCode::NORMAL`] for a normal closure) and a reason of
    /// at most 123 bytes, writes it out, and returns.
    ///
    /// Then call [`recv`](Self::recv) until it returns `Ok(None)` to finish
    /// the closing handshake: messages still in flight are delivered first,
    /// then the peer's [`Message::Close`], then `Ok(None)` (an error if the
    /// peer does not answer within `Config::close_timeout`). A client reads
    /// until the server ends the transport, as RFC 6455 wants. Dropping the
    /// `WebSocket` instead just closes the transport.
    ///
    /// If the peer closed first, its close was already answered and this
    /// queues nothing. After the end was reported, returns
    /// [`Error::AlreadyClosed`].
    pub fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        if self.core.is_ended() {
            return Err(Error::AlreadyClosed);
        }
        let frame = CloseFrame::new(code.into(), reason);
        self.core.expire();
        match self.core.conn.close(Instant::now(), Some(frame)) {
            // Closed: the peer's close came first, or the connection ended
            // and `recv` says why.
            Ok(()) | Err(SendError::Closed) => {}
            Err(e) => return Err(self.core.send_error(e)),
        }
        self.flush()
    }

    // ----- the machinery -----

    /// Runs a command on the connection; a full queue is written out first.
    fn command(
        &mut self,
        mut command: impl FnMut(&mut Connection, Instant) -> Result<(), SendError>,
    ) -> Result<(), Error> {
        self.core.expire();
        loop {
            match command(&mut self.core.conn, Instant::now()) {
                Ok(()) => return Ok(()),
                // An empty queue takes any message: this ends.
                Err(SendError::Full { .. }) => self.flush()?,
                Err(e) => return Err(self.core.send_error(e)),
            }
        }
    }

    /// The next thing for the application: hands over the next event, or,
    /// when there is none, writes out what is owed (answers queued with
    /// [`write`](Self::write), pongs, a close) and then reads until there is
    /// one. Writing only before waiting lets a burst of received messages be
    /// answered with a single write.
    fn next_item(&mut self) -> Result<Option<Incoming>, Error> {
        loop {
            match self.core.poll() {
                // The echo of a close goes out with it, so that an
                // application that stops at the close still answers it.
                Polled::Item(item @ Incoming::Message(Message::Close(_))) => {
                    if let Err(e) = self.write_out() {
                        self.core.fail_io(&e);
                    }
                    return Ok(Some(item));
                }
                Polled::Item(item) => return Ok(Some(item)),
                Polled::End { error, first } => {
                    if first {
                        self.shut_down();
                    }
                    return end_of_stream(error);
                }
                Polled::Empty => {}
            }
            if !self.core.conn.wants_write() {
                self.read_once()?;
            } else if let Err(e) = self.write_out() {
                if is_timeout(&e) {
                    // The peer does not take our output. Its deadlines
                    // (keepalive, idle, close) still run: one that ends the
                    // connection is reported instead of the timeout.
                    self.core.expire();
                    if self.core.conn.is_closed() {
                        continue;
                    }
                    return Err(Error::Io(e));
                }
                // The end, with this error, is reported after what arrived.
                self.core.fail_io(&e);
            }
        }
    }

    /// The next opening-handshake event (`Request` or `Connected`); a failed
    /// handshake ends the connection and is returned as the error.
    pub(crate) fn handshake_event(&mut self) -> Result<Event, Error> {
        loop {
            self.flush()?;
            while let Some(event) = self.core.conn.poll_event() {
                match event {
                    Event::Closed(reason) => {
                        self.shut_down();
                        return Err(self.core.finish(reason));
                    }
                    event @ (Event::Request(_) | Event::Connected(_)) => return Ok(event),
                    _ => {}
                }
            }
            self.read_once()?;
        }
    }

    /// The connection, for the handshake functions.
    pub(crate) fn connection_mut(&mut self) -> &mut Connection {
        &mut self.core.conn
    }

    /// Waits for the peer once: reads, bounded by the next deadline.
    fn read_once(&mut self) -> Result<(), Error> {
        let Some(timeout) = self.core.read_timeout() else {
            return Ok(());
        };
        if !self.core.conn.wants_read() {
            // Nothing to read and the output is written: only a deadline
            // can move the connection on.
            match timeout {
                Some(wait) => thread::sleep(wait),
                // Nothing can move it on: end it rather than wait forever.
                None => self.core.conn.handle_reset(),
            }
            return Ok(());
        }
        let (result, bounded) = self.reader.read(&mut self.stream, timeout);
        self.core
            .handle_read_result(result, self.reader.bytes(), bounded)
            .map(drop)
    }

    /// Writes out everything queued, with vectored writes straight from the
    /// connection's queue.
    fn write_out(&mut self) -> io::Result<()> {
        let conn = &mut self.core.conn;
        if !conn.wants_write() {
            return Ok(());
        }
        while conn.wants_write() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let n = conn.transmit_chunks(&mut slices);
            let written = match self.stream.write_vectored(&slices[..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => written,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            conn.advance_transmit(Instant::now(), written);
        }
        self.stream.flush()?;
        if conn.poll_shutdown() {
            // A refused request: the client may still be sending. Half-close
            // and keep reading, so that it reads our answer (RFC 9112
            // section 9.6) instead of a reset.
            self.stream.shutdown_write()?;
        }
        Ok(())
    }

    /// An I/O error from a write: a timeout leaves the connection as it is;
    /// anything else ends it.
    fn io_failure(&mut self, error: io::Error) -> Error {
        if !is_timeout(&error) {
            self.core.fail_io(&error);
        }
        Error::from(error)
    }

    /// Ends the transport once the connection has ended (its output written).
    fn shut_down(&mut self) {
        if !self.shut {
            self.shut = true;
            let _ = self.stream.shutdown();
        }
    }

    /// The parts, for [`split`](Self::split).
    pub(crate) fn into_parts(self) -> (S, Core, ReadBuf, bool) {
        (self.stream, self.core, self.reader, self.shut)
    }
}

/// What receiving reports for the end the core reported as `error`: the
/// normal end (a completed closing handshake) and every report after the
/// first are `Ok(None)`.
pub(crate) fn end_of_stream<T>(error: Error) -> Result<Option<T>, Error> {
    match error {
        Error::Closed(CloseReason::Normal(_)) | Error::AlreadyClosed => Ok(None),
        error => Err(error),
    }
}

impl<S: fmt::Debug> fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("stream", &self.stream)
            .field("role", &self.core.conn.role())
            .field("state", &self.core.conn.state())
            .finish_non_exhaustive()
    }
}
