//! What a whole [`WebSocket`](crate::WebSocket) and its split halves share:
//! the connection, the bookkeeping of its end, and the read step.

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use rusty_socket_proto::{CloseReason, Connection, Event, Fragment, Message, SendError, State};

use crate::error::{copy_io, is_timeout, Error};
use crate::transport::Transport;

/// How much one read may bring in.
const READ_BUF_LEN: usize = 64 << 10;

/// The shortest read timeout armed: a deadline closer than that is as good as
/// passed (and a zero timeout means "no timeout" to the OS).
const MIN_WAIT: Duration = Duration::from_millis(1);

/// What a receive hands back: a whole message or control frame, or, with
/// [`Config::streaming`](crate::Config::streaming), a piece of a data message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Incoming {
    /// A whole text or binary message, or a ping, pong or close frame.
    Message(Message),
    /// With `Config::streaming`: a piece of a text or binary message, as it
    /// arrived. Its `first` and `fin` flags delimit the message.
    Fragment(Fragment),
}

/// The connection and what the adapter knows about its end.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) conn: Connection,
    /// An item handed back by `recv` (a fragment it cannot return).
    stash: Option<Incoming>,
    /// The end (`Event::Closed`) was reported to the application.
    ended: bool,
    /// The I/O error that ended the connection, reported instead of the
    /// `CloseReason::Eof` that proto gives it.
    io_error: Option<io::Error>,
}

/// The outcome of [`Core::poll`].
pub(crate) enum Polled {
    /// Something for the application.
    Item(Incoming),
    /// The connection has ended: `first` for the report that comes with the
    /// `Closed` event (the transport is to be shut down then), not for the
    /// `AlreadyClosed` of later calls.
    End { error: Error, first: bool },
    /// Nothing yet.
    Empty,
}

/// What a read brought, in [`Core::handle_read_result`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Input {
    /// Bytes (or nothing, after an interrupted read).
    Data,
    /// The transport ended or failed, or a deadline passed: if the connection
    /// has ended, it did so without output to finish.
    Abrupt,
}

impl Core {
    pub(crate) fn new(conn: Connection) -> Self {
        Core {
            conn,
            stash: None,
            ended: false,
            io_error: None,
        }
    }

    /// The next event for the application, if any.
    pub(crate) fn poll(&mut self) -> Polled {
        if let Some(item) = self.stash.take() {
            return Polled::Item(item);
        }
        while let Some(event) = self.conn.poll_event() {
            match event {
                Event::Message(message) => return Polled::Item(Incoming::Message(message)),
                Event::Fragment(fragment) => return Polled::Item(Incoming::Fragment(fragment)),
                Event::Closed(reason) => {
                    return Polled::End {
                        error: self.finish(reason),
                        first: true,
                    }
                }
                // `Request` and `Connected` belong to the opening handshake.
                _ => {}
            }
        }
        if self.ended {
            Polled::End {
                error: Error::AlreadyClosed,
                first: false,
            }
        } else {
            Polled::Empty
        }
    }

    /// Whether the end was reported to the application.
    pub(crate) fn is_ended(&self) -> bool {
        self.ended
    }

    /// Acts on the deadlines that have passed.
    pub(crate) fn expire(&mut self) {
        let now = Instant::now();
        if self.conn.poll_timeout().is_some_and(|at| at <= now) {
            self.conn.handle_timeout(now);
        }
    }

    /// Puts back an item that `recv` cannot return.
    pub(crate) fn stash(&mut self, item: Incoming) {
        self.stash = Some(item);
    }

    /// Records the end and turns its reason into the error reported for it.
    pub(crate) fn finish(&mut self, reason: CloseReason) -> Error {
        self.ended = true;
        if let Some(e) = self.io_error.take() {
            return Error::from(e);
        }
        match reason {
            CloseReason::Protocol(e) => Error::Protocol(e),
            CloseReason::Handshake(e) => Error::Handshake(e),
            CloseReason::Rejected(status) => Error::Rejected(status),
            reason => Error::Closed(reason),
        }
    }

    /// The transport failed: the connection ends at once, and the error
    /// is reported as its reason, unless the closing handshake had begun:
    /// then proto's reason stands (a peer that resets the connection after
    /// the close frames were exchanged has closed cleanly).
    pub(crate) fn fail_io(&mut self, error: &io::Error) {
        if self.conn.is_closed() {
            return;
        }
        if self.conn.state() != State::Closing {
            self.io_error = Some(copy_io(error));
        }
        self.conn.handle_reset();
    }

    /// The error for a refused command.
    pub(crate) fn send_error(&self, error: SendError) -> Error {
        if self.conn.is_closed() || error == SendError::Closed {
            Error::AlreadyClosed
        } else {
            Error::Send(error)
        }
    }

    /// How long the next read may block: `None` if a deadline had passed
    /// (it was acted on, so look at the connection again), else the time
    /// to the next deadline, if any.
    pub(crate) fn read_timeout(&mut self) -> Option<Option<Duration>> {
        let now = Instant::now();
        match self.conn.poll_timeout() {
            Some(at) if at <= now => {
                self.conn.handle_timeout(now);
                None
            }
            Some(at) => Some(Some((at - now).max(MIN_WAIT))),
            None => Some(None),
        }
    }

    /// Hands what a read returned to the connection. `bounded` says whether
    /// the read was bounded by a deadline of the connection, so that a
    /// timeout means the deadline passed.
    pub(crate) fn handle_read_result(
        &mut self,
        result: io::Result<usize>,
        buf: &[u8],
        bounded: bool,
    ) -> Result<Input, Error> {
        match result {
            Ok(0) => {
                self.conn.handle_eof(Instant::now());
                Ok(Input::Abrupt)
            }
            Ok(n) => {
                self.conn.handle_read(Instant::now(), &buf[..n]);
                Ok(Input::Data)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Input::Data),
            // A TLS stream whose peer ended the TCP connection without a
            // close_notify. proto judges that end like any other EOF: clean
            // after a closing handshake (many servers skip close_notify),
            // `CloseReason::Eof` before it. A truncated message cannot pass
            // for a whole one: the framing says how long it is.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                self.conn.handle_eof(Instant::now());
                Ok(Input::Abrupt)
            }
            Err(e) if is_timeout(&e) && bounded => {
                self.conn.handle_timeout(Instant::now());
                Ok(Input::Abrupt)
            }
            // A read timeout of the caller's own, on a transport that
            // cannot take ours: the caller wants control back.
            Err(e) if is_timeout(&e) => Err(Error::Io(e)),
            Err(e) => {
                self.fail_io(&e);
                Ok(Input::Abrupt)
            }
        }
    }
}

/// The read buffer, and the read timeout last armed on the transport (a
/// system call saved when it does not change).
pub(crate) struct ReadBuf {
    buf: Box<[u8]>,
    armed: Option<(Option<Duration>, bool)>,
}

impl ReadBuf {
    pub(crate) fn new() -> Self {
        ReadBuf {
            buf: vec![0; READ_BUF_LEN].into_boxed_slice(),
            armed: None,
        }
    }

    /// Reads once, blocking no longer than `timeout` if the transport can
    /// bound its reads. Returns the result and whether it was so bounded.
    pub(crate) fn read<S: Transport>(
        &mut self,
        stream: &mut S,
        timeout: Option<Duration>,
    ) -> (io::Result<usize>, bool) {
        let bounded = match self.armed {
            Some((armed, bounded)) if armed == timeout => bounded,
            _ => match stream.set_read_timeout(timeout) {
                Ok(bounded) => {
                    self.armed = Some((timeout, bounded));
                    bounded
                }
                Err(e) => return (Err(e), false),
            },
        };
        (stream.read(&mut self.buf), bounded && timeout.is_some())
    }

    /// The buffer the last read filled (from its start).
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }
}

impl fmt::Debug for ReadBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadBuf")
            .field("len", &self.buf.len())
            .field("armed", &self.armed)
            .finish()
    }
}

/// A seed for the connection's CSPRNG (masking keys, the handshake nonce),
/// from the operating system, as RFC 6455 section 10.3 requires.
pub(crate) fn seed() -> Result<[u8; 32], Error> {
    rusty_socket_proto::random_seed().map_err(|e| Error::Io(e.into()))
}
