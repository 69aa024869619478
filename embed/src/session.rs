//! One connection: a non-blocking socket, the rustls machine that turns its
//! ciphertext into plaintext and back, and the proto machine that turns the
//! plaintext into WebSocket events and back.
//!
//! [`Session::drive`] is called whenever something may have changed (the
//! socket became readable or writable, a deadline passed). It runs the four
//! pumps in turn until none of them moves a byte:
//!
//! 1. [`dispatch`](Session::dispatch): proto's events to the handler, and
//!    its answers back into proto;
//! 2. [`encrypt`](Session::encrypt): proto's outgoing bytes into rustls;
//! 3. [`flush`](Session::flush): rustls's records to the socket;
//! 4. [`read`](Session::read): one piece of input, from rustls to proto, or
//!    else from the socket to rustls.
//!
//! Reading one piece at a time, with events handled between pieces, is what
//! proto's run loop asks for: it decodes lazily as events are polled, so its
//! receive buffer holds one piece, not everything the socket had.
//!
//! `mio` reports readiness as edges: a readable socket is reported once,
//! not again until more bytes arrive. So the socket is read until it would
//! block, with two exceptions that the loop must remember, since no new
//! edge will come for them:
//!
//! - backpressure stops the reading; the next `drive` (woken by
//!   writability, since a backlog means bytes to write) picks up where it
//!   stopped;
//! - a `drive` takes at most [`READ_BUDGET`] pieces of input, so that a
//!   client sending as fast as the server reads cannot starve the other
//!   connections; it then asks to be driven again on the loop's next turn
//!   (`Status::Alive { again: true, .. }`).

use std::io::{self, BufRead, IoSlice, Read, Write};
use std::net::Shutdown;
use std::time::Instant;

use mio::net::TcpStream;
use mio::Interest;
use rustls::ServerConnection;
use rusty_socket_proto::{Connection, Event, Message, SendError};

use crate::error::End;
use crate::handler::{ConnectionId, Handler};

/// Most pieces of input (TLS records in, or plaintext handed to proto) one
/// `drive` takes from a connection before giving the others their turn.
const READ_BUDGET: usize = 64;

/// Most pieces of proto's queue handed to rustls in one vectored write.
const MAX_CHUNKS: usize = 32;

/// What the loop does with a session after driving it.
pub(crate) enum Status {
    /// Still going: wait for these socket events, and until this deadline.
    /// `again`: the read budget ran out with input possibly left, so drive
    /// this session again on the next turn without waiting for an event.
    Alive {
        interest: Interest,
        deadline: Option<Instant>,
        again: bool,
    },
    /// The socket can be closed: the connection ended, for this reason.
    Done(End),
}

/// After the WebSocket connection ended: the last TLS records are being
/// written, then the client's end awaited.
struct Ending {
    end: End,
    deadline: Instant,
}

pub(crate) struct Session {
    id: ConnectionId,
    socket: TcpStream,
    tls: ServerConnection,
    ws: Connection,
    /// A reply that proto's full queue refused. It goes out first; until it
    /// does, nothing is read and no event is handled.
    held: Option<Message>,
    /// Shut down the socket's write side once rustls has written everything
    /// (the `close_notify` was queued last).
    shutdown_wanted: bool,
    /// The write side is shut down (FIN sent).
    write_shut: bool,
    /// Set once the WebSocket connection has ended.
    ending: Option<Ending>,
}

impl Session {
    pub(crate) fn new(
        id: ConnectionId,
        socket: TcpStream,
        tls: ServerConnection,
        ws: Connection,
    ) -> Self {
        Session {
            id,
            socket,
            tls,
            ws,
            held: None,
            shutdown_wanted: false,
            write_shut: false,
            ending: None,
        }
    }

    /// The socket, to register it with the poll.
    pub(crate) fn socket(&mut self) -> &mut TcpStream {
        &mut self.socket
    }

    /// A deadline this session asked for has passed.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        // While ending, the deadline is the linger deadline, which `drive`
        // checks itself.
        if self.ending.is_none() {
            self.ws.handle_timeout(now);
        }
    }

    /// Moves bytes through both machines until nothing more moves, and says
    /// what to wait for next.
    pub(crate) fn drive<H: Handler>(
        &mut self,
        now: Instant,
        handler: &mut H,
        config: &crate::Config,
    ) -> Status {
        let ending = match self.ending.take() {
            Some(ending) => ending,
            None => match self.pump(now, handler, config.max_backlog) {
                Ok(again) => {
                    if !again {
                        // Nothing more to read for now: an idle connection
                        // keeps no WebSocket buffer (proto allocates again
                        // on the next read).
                        self.ws.release_buffers();
                    }
                    let mut interest = Interest::READABLE;
                    if self.tls.wants_write() {
                        interest |= Interest::WRITABLE;
                    }
                    return Status::Alive {
                        interest,
                        deadline: self.ws.poll_timeout(),
                        again,
                    };
                }
                // The socket is gone: nothing more can be written to it.
                Err(end @ End::Io(_)) => return Status::Done(end),
                Err(end) => {
                    // The WebSocket connection ended (or TLS failed): say
                    // goodbye at the TLS level too. rustls sends nothing
                    // here if it already sent a fatal alert.
                    self.tls.send_close_notify();
                    self.shutdown_wanted = true;
                    Ending {
                        end,
                        deadline: now + config.linger,
                    }
                }
            },
        };
        match self.wind_down(now, ending.deadline) {
            Some((interest, again)) => {
                let deadline = Some(ending.deadline);
                self.ending = Some(ending);
                Status::Alive {
                    interest,
                    deadline,
                    again,
                }
            }
            None => Status::Done(ending.end),
        }
    }

    /// The four pumps, until none moves anything (`Ok(false)`) or the read
    /// budget is spent (`Ok(true)`: input may be left). An error ends the
    /// WebSocket connection (with `End::WebSocket` once proto reports its
    /// end).
    fn pump<H: Handler>(
        &mut self,
        now: Instant,
        handler: &mut H,
        max_backlog: usize,
    ) -> Result<bool, End> {
        let mut budget = READ_BUDGET;
        loop {
            let mut progress = self.dispatch(now, handler, max_backlog)?;
            progress |= self.encrypt(now)?;
            progress |= self.flush()?;
            if budget == 0 {
                return Ok(true);
            }
            if self.read(now, max_backlog)? {
                budget -= 1;
                progress = true;
            }
            if !progress {
                return Ok(false);
            }
        }
    }

    /// Whether proto's outgoing queue is over the bound: then the
    /// connection is neither read nor handled.
    fn backlogged(&self, max_backlog: usize) -> bool {
        self.held.is_some() || self.ws.buffered_outgoing() >= max_backlog
    }

    /// proto -> handler -> proto: handles every event proto has (it decodes
    /// them from its receive buffer one at a time, as they are polled), while
    /// the outgoing queue is under the bound.
    fn dispatch<H: Handler>(
        &mut self,
        now: Instant,
        handler: &mut H,
        max_backlog: usize,
    ) -> Result<bool, End> {
        let mut progress = false;
        if let Some(reply) = self.held.take() {
            if !self.send(now, reply)? {
                return Ok(false);
            }
            progress = true;
        }
        while !self.backlogged(max_backlog) {
            let Some(event) = self.ws.poll_event() else {
                break;
            };
            progress = true;
            match event {
                Event::Request(request) => match handler.request(self.id, &request) {
                    Ok(accept) => self.ws.accept(now, accept).map_err(End::Accept)?,
                    Err(reject) => self.ws.reject(now, reject).map_err(End::Accept)?,
                },
                Event::Message(message) => {
                    if let Some(reply) = handler.message(self.id, message) {
                        self.send(now, reply)?;
                    }
                }
                Event::Closed(reason) => return Err(End::WebSocket(reason)),
                // A server is never `Connected`, and `Config::validate`
                // refuses `streaming`, so no `Fragment` comes either.
                _ => {}
            }
        }
        Ok(progress)
    }

    /// Queues a reply in proto. Returns false if the queue was full: the
    /// reply is held until it is not.
    fn send(&mut self, now: Instant, reply: Message) -> Result<bool, End> {
        match self.ws.send(now, &reply) {
            Ok(()) => Ok(true),
            Err(SendError::Full { .. }) => {
                self.held = Some(reply);
                Ok(false)
            }
            // The closing handshake has begun: no data may follow a close
            // frame, the reply is moot.
            Err(SendError::Closed) => Ok(true),
            Err(e) => Err(End::Send(e)),
        }
    }

    /// proto -> rustls: hands proto's pending bytes to rustls, which
    /// encrypts as much as its buffer limit allows and says how much it
    /// took; that much is what proto is told was written.
    fn encrypt(&mut self, now: Instant) -> Result<bool, End> {
        let mut progress = false;
        while self.ws.wants_write() {
            let mut chunks = [IoSlice::new(&[]); MAX_CHUNKS];
            let n = self.ws.transmit_chunks(&mut chunks);
            let taken = self
                .tls
                .writer()
                .write_vectored(&chunks[..n])
                .map_err(End::Io)?;
            if taken == 0 {
                // rustls's buffer is full: the socket must take some first.
                break;
            }
            self.ws.advance_transmit(now, taken);
            progress = true;
        }
        // After an HTTP refusal, proto keeps reading but writes nothing
        // more: end the TLS stream and, once flushed, the TCP write side.
        if self.ws.poll_shutdown() {
            self.tls.send_close_notify();
            self.shutdown_wanted = true;
            progress = true;
        }
        Ok(progress)
    }

    /// rustls -> socket: writes TLS records until the socket would block
    /// (then the loop waits for writability) or none are left; then sends
    /// FIN if the TLS stream has ended.
    fn flush(&mut self) -> Result<bool, End> {
        let mut progress = false;
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.socket) {
                Ok(0) => return Err(End::Io(io::ErrorKind::WriteZero.into())),
                Ok(_) => progress = true,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(progress),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(End::Io(e)),
            }
        }
        if self.shutdown_wanted && !self.write_shut {
            self.write_shut = true;
            self.socket.shutdown(Shutdown::Write).map_err(End::Io)?;
            progress = true;
        }
        Ok(progress)
    }

    /// Moves one piece of input: the plaintext rustls holds into proto, or,
    /// if it holds none, one read from the socket into rustls. Nothing while
    /// proto does not want bytes or the connection is backlogged.
    fn read(&mut self, now: Instant, max_backlog: usize) -> Result<bool, End> {
        if !self.ws.wants_read() || self.backlogged(max_backlog) {
            return Ok(false);
        }
        // rustls -> proto. rustls lends its decrypted bytes; proto copies
        // them into its receive buffer.
        let mut plaintext = self.tls.reader();
        match plaintext.fill_buf() {
            // The client sent close_notify: its plaintext stream has ended.
            Ok([]) => {
                self.ws.handle_eof(now);
                return Ok(true);
            }
            Ok(bytes) => {
                let n = bytes.len();
                self.ws.handle_read(now, bytes);
                plaintext.consume(n);
                return Ok(true);
            }
            // TCP EOF without close_notify. proto judges whether that cut
            // anything short: after the closing handshake it did not.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                self.ws.handle_eof(now);
                return Ok(true);
            }
            // No plaintext waiting: read the socket.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(End::Io(e)),
        }
        // socket -> rustls. rustls does not want more while it holds
        // plaintext, or after the client's close_notify.
        if !self.tls.wants_read() {
            return Ok(false);
        }
        match self.tls.read_tls(&mut self.socket) {
            // Bytes, or 0 for EOF, which rustls notes and its reader reports.
            Ok(_) => {
                self.tls.process_new_packets().map_err(End::Tls)?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) => Err(End::Io(e)),
        }
    }

    /// After the end: writes the last records (close_notify) and FIN, then
    /// reads and discards until the client closes its side, so that closing
    /// a socket with unread input (which makes the kernel send a reset)
    /// never destroys our last bytes before the client has read them.
    /// Returns the interest to wait with and whether the read budget ran
    /// out, or `None` once the socket can be closed.
    fn wind_down(&mut self, now: Instant, deadline: Instant) -> Option<(Interest, bool)> {
        if now >= deadline || self.flush().is_err() {
            return None;
        }
        if self.tls.wants_write() {
            return Some((Interest::READABLE | Interest::WRITABLE, false));
        }
        let mut discard = [0; 16 << 10];
        for _ in 0..READ_BUDGET {
            match self.socket.read(&mut discard) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Some((Interest::READABLE, false))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return None,
            }
        }
        Some((Interest::READABLE, true))
    }
}
