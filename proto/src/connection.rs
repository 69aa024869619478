//! The connection: its lifecycle (the phases of `phase.rs`, the timers)
//! around a receive path (`receive.rs`), a send path (`send.rs`) and, for
//! connections that start with HTTP/1.1, the opening handshake (`opening.rs`).
//!
//! Its methods come in four kinds, as in quinn-proto:
//!
//! - getters: [`role`](Connection::role), [`state`](Connection::state),
//!   [`wants_read`](Connection::wants_read), [`wants_write`](Connection::wants_write)...
//! - inputs: [`handle_read`](Connection::handle_read) (or
//!   [`receive_buffer`](Connection::receive_buffer) then
//!   [`handle_received`](Connection::handle_received)),
//!   [`handle_eof`](Connection::handle_eof), [`handle_reset`](Connection::handle_reset),
//!   [`handle_timeout`](Connection::handle_timeout),
//!   [`advance_transmit`](Connection::advance_transmit);
//! - commands, each given the time it is: [`accept`](Connection::accept),
//!   [`reject`](Connection::reject), [`send`](Connection::send),
//!   [`send_fragment`](Connection::send_fragment), [`ping`](Connection::ping),
//!   [`close`](Connection::close)...;
//! - outputs: [`poll_event`](Connection::poll_event),
//!   [`transmit_chunks`](Connection::transmit_chunks) / [`poll_transmit`](Connection::poll_transmit),
//!   [`poll_shutdown`](Connection::poll_shutdown), [`poll_timeout`](Connection::poll_timeout).
//!
//! After any input or command, drain every output.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha12Rng;

use crate::close::{CloseCode, CloseFrame};
use crate::config::Config;
#[cfg(feature = "deflate")]
use crate::deflate::{Compressor, Decompressor, Deflate};
use crate::error::{AcceptError, CloseReason, ConfigError, ProtocolError, SendError};
use crate::event::{Event, Message, MessageKind};
use crate::frame::OpCode;
use crate::handshake::extension::Agreed;
use crate::handshake::{Accept, ClientRequest, Reject, Request, Response};
use crate::opening::{Opening, Progress};
use crate::phase::{AfterDrain, Phase, State};
use crate::prepared::PreparedMessage;
use crate::receive::{Received, Receiver};
use crate::send::Sender;
use crate::timer::{Timer, Timers};

/// Which end of the connection this is (RFC 6455 section 1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Opens the connection and masks every frame it sends.
    Client,
    /// Accepts the connection and never masks.
    Server,
}

/// The most bytes of control frames (pongs owed, mostly) that may wait to be
/// written. A peer that keeps pinging without reading the pongs crosses it
/// and is dropped with 1008: about 500 pongs of full size.
const MAX_CONTROL_QUEUE: usize = 64 << 10;

/// One WebSocket connection, from the first byte of the opening handshake to
/// the end of the closing handshake, in either role. See the crate docs for
/// the run loop.
///
/// # Example
///
/// A client and a server in memory: each one's output is the other's input.
/// After every input or command, drain the outputs (`poll_transmit`,
/// `poll_event`); a real program does the same with a socket in between.
///
/// ```
/// use std::time::Instant;
///
/// use rusty_socket_proto::{Accept, ClientRequest, Config, Connection, Event, Message};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let now = Instant::now();
/// let request = ClientRequest::new("ws://example.com/chat")?;
/// let mut client = Connection::client(&request, Config::default(), [7; 32], now)?;
/// let mut server = Connection::server(Config::default(), now)?;
///
/// // Moves every pending byte from one side to the other.
/// fn pump(from: &mut Connection, to: &mut Connection, now: Instant) {
///     while let Some(bytes) = from.poll_transmit(now) {
///         to.handle_read(now, &bytes);
///     }
/// }
///
/// pump(&mut client, &mut server, now);
/// let Some(Event::Request(request)) = server.poll_event() else { panic!() };
/// assert_eq!(request.path(), "/chat");
/// server.accept(now, Accept::default())?;
/// pump(&mut server, &mut client, now);
/// assert!(matches!(client.poll_event(), Some(Event::Connected(_))));
///
/// client.send(now, &Message::text("hello"))?;
/// pump(&mut client, &mut server, now);
/// let Some(Event::Message(message)) = server.poll_event() else { panic!() };
/// assert_eq!(message, Message::text("hello"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Connection {
    role: Role,
    /// Often shared by all the connections of a server.
    config: Arc<Config>,
    phase: Phase,
    protocol: Option<String>,
    rx: Receiver,
    tx: Sender,
    events: VecDeque<Event>,
    timers: Timers,
    /// The peer ended its side of the transport while the application was
    /// deciding on its request: once decided, the connection drains and ends.
    peer_eof: bool,
    /// The transport's write side should be shut down (see `poll_shutdown`).
    shutdown: ShutdownState,
    /// The latest time any input or command gave; decoding done lazily in
    /// `poll_event` runs at that time.
    now: Instant,
    /// Bytes in the receive buffer after the last decoding: more than that
    /// in `handle_received` means new bytes arrived.
    seen: usize,
    /// The stream is an HTTP/2 stream opened by an extended CONNECT (RFC
    /// 8441): after the closing handshake each side ends it with
    /// END_STREAM and waits for the other's, since dropping a stream the
    /// peer has not ended resets it (RST_STREAM), which section 5 keeps for
    /// an abort, as a TCP reset.
    half_close: bool,
    /// The permessage-deflate parameters agreed in the opening handshake.
    #[cfg(feature = "deflate")]
    deflate: Option<Deflate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShutdownState {
    NotWanted,
    Wanted,
    Reported,
}

impl Connection {
    /// A client connection that sends `request` and waits for the server's answer.
    ///
    /// `rng_seed` seeds the CSPRNG that makes the handshake key and the masking
    /// keys; RFC 6455 section 10.3 requires them to be unpredictable, so take it
    /// from the operating system's entropy source. Tests pass a fixed seed.
    pub fn client(
        request: &ClientRequest,
        config: impl Into<Arc<Config>>,
        rng_seed: [u8; 32],
        now: Instant,
    ) -> Result<Self, ConfigError> {
        let config = config.into();
        let mut rng = Box::new(ChaCha12Rng::from_seed(rng_seed));
        let mut key = [0; 16];
        rng.fill_bytes(&mut key);
        let mut head = BytesMut::new();
        let opening = Opening::client(request, key, &config, &mut head);
        let mut connection = Connection::new(Role::Client, config, Some(rng), opening, now)?;
        connection.tx.out.push_head(&head);
        Ok(connection)
    }

    /// A server connection that waits for a client's request.
    /// It needs no randomness: a server never masks.
    ///
    /// `config` is a [`Config`], or an `Arc<Config>` that a server shares
    /// between all its connections: a connection keeps its configuration
    /// for its whole life, and sharing saves each one the 160 bytes of a
    /// copy (about a tenth of an idle connection's memory in the Tokio
    /// adapter).
    pub fn server(config: impl Into<Arc<Config>>, now: Instant) -> Result<Self, ConfigError> {
        Connection::new(Role::Server, config.into(), None, Opening::server(), now)
    }

    /// A connection on a stream whose opening handshake was done elsewhere;
    /// it starts open. That is an HTTP/1.1 upgrade done by another server
    /// (hyper or axum: [`upgrade_response`](crate::upgrade_response)
    /// validates the request and builds the response), or an HTTP/2 stream
    /// after an extended CONNECT answered 200 (RFC 8441), which has no key
    /// and no 101 at all. `rng_seed` is used by clients only.
    pub fn upgraded(
        role: Role,
        config: impl Into<Arc<Config>>,
        rng_seed: [u8; 32],
        now: Instant,
    ) -> Result<Self, ConfigError> {
        let rng = (role == Role::Client).then(|| Box::new(ChaCha12Rng::from_seed(rng_seed)));
        let mut connection = Connection::new(role, config.into(), rng, Opening::server(), now)?;
        connection.open(now);
        Ok(connection)
    }

    /// Server: accepts a request that another HTTP server (hyper, axum...)
    /// has parsed ([`Request::from_http`]) and will answer, and returns the
    /// `101 Switching Protocols` response for it to send, with a connection
    /// that starts open once that server hands over the stream.
    ///
    /// The negotiation is the one [`accept`](Self::accept) does: `accept`
    /// is checked the same way (the subprotocol must have been offered...),
    /// and the extensions (permessage-deflate) are agreed from `config`, the
    /// response carrying the agreed `Sec-WebSocket-Extensions`, so that the
    /// connection speaks what the response promised. That is what
    /// [`upgrade_response`](crate::upgrade_response) followed by
    /// [`upgraded`](Self::upgraded) cannot do: they agree to no extension.
    ///
    /// An invalid `config` gives [`AcceptError::Config`].
    pub fn accept_upgraded(
        request: &Request,
        accept: Accept,
        config: impl Into<Arc<Config>>,
        now: Instant,
    ) -> Result<(Self, http::Response<()>), AcceptError> {
        let config = config.into();
        let (agreed, response) = crate::opening::accept_upgraded(request, &accept, &config)?;
        let mut connection = Connection::new(Role::Server, config, None, Opening::server(), now)
            .map_err(AcceptError::Config)?;
        connection.protocol = accept.protocol;
        connection.half_close = request.is_extended_connect();
        connection.start_extensions(agreed);
        connection.open(now);
        Ok((connection, response))
    }

    /// Client: the open connection of an HTTP/2 extended CONNECT that the
    /// server accepted with `response` (see
    /// [`ExtendedConnect`](crate::ExtendedConnect)); `config` is valid.
    pub(crate) fn extended_connect(
        config: Arc<Config>,
        rng_seed: [u8; 32],
        response: &Response,
        now: Instant,
    ) -> Self {
        let rng = Box::new(ChaCha12Rng::from_seed(rng_seed));
        let mut connection =
            Connection::build(Role::Client, config, Some(rng), Opening::server(), now);
        connection.half_close = true;
        connection.connected(response, now);
        connection
    }

    fn new(
        role: Role,
        config: Arc<Config>,
        rng: Option<Box<ChaCha12Rng>>,
        opening: Opening,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Connection::build(role, config, rng, opening, now))
    }

    /// A connection with a `config` already validated.
    fn build(
        role: Role,
        config: Arc<Config>,
        rng: Option<Box<ChaCha12Rng>>,
        opening: Opening,
        now: Instant,
    ) -> Self {
        let mut timers = Timers::default();
        if let Some(timeout) = config.handshake_timeout {
            timers.set_after(Timer::Handshake, now, timeout);
        }
        Connection {
            role,
            tx: Sender::new(rng, config.max_outgoing_buffer),
            config,
            phase: Phase::Opening(opening),
            protocol: None,
            rx: Receiver::default(),
            events: VecDeque::new(),
            timers,
            peer_eof: false,
            shutdown: ShutdownState::NotWanted,
            now,
            seen: 0,
            half_close: false,
            #[cfg(feature = "deflate")]
            deflate: None,
        }
    }

    // ----- getters -----

    /// Client or server.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The phase of the connection.
    pub fn state(&self) -> State {
        self.phase.state()
    }

    /// Whether the connection has ended (the `Closed` event may still be pending).
    pub fn is_closed(&self) -> bool {
        self.state() == State::Closed
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The subprotocol agreed in the opening handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The permessage-deflate parameters agreed in the opening handshake,
    /// if compression was agreed.
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<Deflate> {
        self.deflate
    }

    /// Whether bytes from the peer are wanted now. False while a server
    /// application decides on a request (so an eager client cannot make it
    /// buffer without bound) and once nothing more will be read.
    pub fn wants_read(&self) -> bool {
        match &self.phase {
            Phase::Opening(Opening::Decision(_)) => false,
            Phase::Opening(_) | Phase::Open | Phase::CloseSent | Phase::AwaitingEof { .. } => {
                !self.peer_eof
            }
            Phase::Draining { then, .. } => *then != AfterDrain::End,
            Phase::Closed => false,
        }
    }

    /// Whether bytes wait to be written.
    #[must_use]
    pub fn wants_write(&self) -> bool {
        !self.tx.out.is_empty()
    }

    /// Bytes waiting to be written (bounded by `Config::max_outgoing_buffer`).
    pub fn buffered_outgoing(&self) -> usize {
        self.tx.out.len()
    }

    /// Bytes received but not yet delivered: the receive buffer and the
    /// fragments of a message being assembled.
    pub fn buffered_incoming(&self) -> usize {
        self.rx.buffered()
    }

    /// How many received bytes the connection has taken out of its receive
    /// buffer so far (decoded and delivered, or discarded), counted from its
    /// start. On a flow-controlled transport (an HTTP/2 stream), grant the
    /// peer as much new window as this grew by.
    pub fn received_consumed(&self) -> u64 {
        self.rx.consumed()
    }

    /// Bytes of memory the connection holds in its buffers (capacity, not
    /// content): the receive buffer, the outgoing queue and the event queue.
    /// [`release_buffers`](Self::release_buffers) brings it to zero once
    /// nothing waits in them (a receive buffer grown for large frames at its
    /// deadline, a moment later).
    pub fn buffer_capacity(&self) -> usize {
        self.rx.capacity()
            + self.tx.out.capacity()
            + self.events.capacity() * std::mem::size_of::<Event>()
    }

    // ----- inputs -----

    /// Hands bytes received from the peer to the connection. Any split of the
    /// stream gives the same events.
    ///
    /// Read (and call this) only while [`wants_read`](Self::wants_read) is
    /// true and after draining [`poll_event`](Self::poll_event): those two
    /// keep the input buffered by the connection within its limits. A caller
    /// that keeps feeding bytes without polling events (or while a server
    /// decides on a request) makes the buffer grow.
    pub fn handle_read(&mut self, now: Instant, data: &[u8]) {
        self.rx.extend(data);
        self.handle_received(now);
    }

    /// Lends the receive buffer so that a transport can read straight into
    /// it, with room reserved for one read; then call
    /// [`handle_received`](Self::handle_received). Append only: bytes already in
    /// the buffer belong to the connection.
    pub fn receive_buffer(&mut self) -> &mut BytesMut {
        self.rx.buffer_mut()
    }

    /// Frees the buffers that hold nothing: the receive buffer when no bytes
    /// wait in it, and the outgoing queue's when everything was written.
    ///
    /// Call it when the transport has nothing more to read for now: an idle
    /// connection then holds no buffer at all (a server with many idle
    /// clients pays for its connections, not for their buffers), and the next
    /// [`receive_buffer`](Self::receive_buffer) allocates again. Received
    /// messages that the application keeps do not keep the receive buffer
    /// alive: payloads of up to 4 KiB are copied out of it.
    ///
    /// A receive buffer that grew past one read chunk for a large frame is
    /// kept for 100 ms after the last read into it, so that a peer sending
    /// large messages one after another does not make each of them allocate
    /// (and fault in) a new buffer: [`poll_timeout`](Self::poll_timeout)
    /// then includes that deadline, and
    /// [`handle_timeout`](Self::handle_timeout) frees the buffer.
    pub fn release_buffers(&mut self) {
        self.rx.release(self.now);
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
        self.tx.release();
    }

    /// Processes what was appended to the [`receive_buffer`](Self::receive_buffer).
    ///
    /// Frames are decoded as events are polled, one event at a time: a
    /// violation later in the input is found only after the application has
    /// handled (and, say, answered) every message before it, and decoded
    /// messages never pile up faster than they are taken.
    pub fn handle_received(&mut self, now: Instant) {
        self.now = now;
        if self.rx.buffer().len() <= self.seen {
            // Nothing new: the peer showed no sign of life.
            return;
        }
        self.rx.received(now);
        if matches!(self.phase, Phase::Open) {
            self.touch(now);
        }
        self.decode();
    }

    /// The peer has finished sending (a read returned 0 bytes, an HTTP/2
    /// stream ended with END_STREAM). It may still read: what is queued is
    /// still written (bounded by the close timeout), then the connection
    /// ends. A server still deciding on a request answers it first.
    pub fn handle_eof(&mut self, now: Instant) {
        self.now = now;
        self.peer_eof = true;
        match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Closed => {}
            phase @ Phase::Opening(Opening::Decision(_)) => self.phase = phase,
            Phase::Opening(_) | Phase::Open | Phase::CloseSent => {
                self.drain(CloseReason::Eof, AfterDrain::End);
            }
            Phase::Draining { reason, .. } => {
                self.phase = Phase::Draining {
                    reason,
                    then: AfterDrain::End,
                };
            }
            Phase::AwaitingEof { reason, .. } => self.end(reason),
        }
        self.finish_if_drained();
    }

    /// The transport is gone (a reset, a read or write error, an HTTP/2
    /// RST_STREAM): nothing more can be written, the connection ends now.
    pub fn handle_reset(&mut self) {
        let reason = match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Closed => return,
            Phase::Draining { reason, .. } | Phase::AwaitingEof { reason, .. } => reason,
            _ => CloseReason::Eof,
        };
        self.end(reason);
    }

    /// Acts on every deadline that has passed by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.rx.handle_timeout(now);
        while let Some(timer) = self.timers.expired(now) {
            match timer {
                Timer::Handshake | Timer::Pong => self.end(CloseReason::Timeout(timer)),
                Timer::Close => match std::mem::replace(&mut self.phase, Phase::Closed) {
                    Phase::Draining { reason, .. } | Phase::AwaitingEof { reason, .. } => {
                        self.end(reason)
                    }
                    _ => self.end(CloseReason::Timeout(Timer::Close)),
                },
                Timer::Keepalive if matches!(self.phase, Phase::Open) => {
                    // A peer that has not even read the last control frames
                    // gets no further ping: one is enough to wait for, and
                    // they must not pile up.
                    if self.tx.out.control_len() == 0 {
                        self.tx.queue_control(OpCode::Ping, &[]);
                    }
                    self.timers
                        .set_after(Timer::Pong, now, self.config.keepalive_timeout);
                }
                Timer::Keepalive => {}
                Timer::Idle => {
                    let frame = CloseFrame::new(CloseCode::GOING_AWAY, "idle timeout");
                    // The idle timer only runs while open, where closing cannot fail.
                    let _ = self.close(now, Some(frame));
                }
            }
        }
        self.finish_if_drained();
    }

    // ----- outputs -----

    /// The next event, if any. Call until `None` after every input or command.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.events.is_empty() {
            self.decode();
        }
        self.events.pop_front()
    }

    /// When the connection next wants [`handle_timeout`](Self::handle_timeout).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers
            .next()
            .into_iter()
            .chain(self.rx.deadline())
            .min()
    }

    /// Fills `dst` with the pending outgoing bytes, in order, for a vectored
    /// write, and returns how many slices it filled. Report what was written
    /// with [`advance_transmit`](Self::advance_transmit).
    pub fn transmit_chunks<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        self.tx.out.chunks(dst, usize::MAX)
    }

    /// [`transmit_chunks`](Self::transmit_chunks), with at most `max` bytes
    /// in all: for a transport that grants the right to send in pieces (the
    /// send window of an HTTP/2 stream).
    pub fn transmit_chunks_limited<'a>(&'a self, dst: &mut [IoSlice<'a>], max: usize) -> usize {
        self.tx.out.chunks(dst, max)
    }

    /// Marks the first `n` pending outgoing bytes as written, at `now`.
    pub fn advance_transmit(&mut self, now: Instant, n: usize) {
        self.tx.out.advance(n);
        self.wrote(now, n);
    }

    /// Takes the next piece of pending outgoing bytes, which the caller must
    /// write out in full, at `now`. Simpler than `transmit_chunks` when
    /// vectored writes do not matter.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Bytes> {
        self.poll_transmit_limited(now, usize::MAX)
    }

    /// [`poll_transmit`](Self::poll_transmit), with at most `max` bytes.
    #[must_use]
    pub fn poll_transmit_limited(&mut self, now: Instant, max: usize) -> Option<Bytes> {
        let next = self.tx.out.pop(max)?;
        self.wrote(now, next.len());
        Some(next)
    }

    /// True once, when the connection will write nothing more but keeps
    /// reading: shut down the transport's write side then (TCP: send FIN;
    /// HTTP/2: end the stream), and keep reading until
    /// [`Event::Closed`]. A server does this after an HTTP error answer, so
    /// that the client can finish sending its request and read the answer.
    #[must_use]
    pub fn poll_shutdown(&mut self) -> bool {
        if self.shutdown == ShutdownState::Wanted {
            self.shutdown = ShutdownState::Reported;
            return true;
        }
        false
    }

    // ----- commands -----

    /// Server: accepts the pending request (from [`Event::Request`]), optionally
    /// with a subprotocol and extra headers. Frames that arrived behind the
    /// request are decoded now.
    pub fn accept(&mut self, now: Instant, accept: Accept) -> Result<(), AcceptError> {
        let Phase::Opening(opening) = &self.phase else {
            return Err(AcceptError::NoPendingRequest);
        };
        let mut head = BytesMut::new();
        let agreed = opening.accept(&accept, &self.config, &mut head)?;
        self.tx.out.push_head(&head);
        self.protocol = accept.protocol;
        self.start_extensions(agreed);
        self.now = now;
        self.open(now);
        if self.peer_eof {
            self.drain(CloseReason::Eof, AfterDrain::End);
        }
        Ok(())
    }

    /// Server: answers the pending request with a complete HTTP response
    /// instead of upgrading (a refusal, or a page for a plain HTTP request).
    /// The connection then lingers (see [`poll_shutdown`](Self::poll_shutdown))
    /// and ends.
    pub fn reject(&mut self, now: Instant, reject: Reject) -> Result<(), AcceptError> {
        let Phase::Opening(opening) = &self.phase else {
            return Err(AcceptError::NoPendingRequest);
        };
        let mut head = BytesMut::new();
        opening.reject(&reject, &mut head)?;
        self.tx.out.push_head(&head);
        self.now = now;
        self.drain(
            CloseReason::Rejected(reject.status_code()),
            AfterDrain::Linger,
        );
        self.finish_if_drained();
        Ok(())
    }

    /// Sends a whole message: text, binary, ping, pong, or close (which starts
    /// the closing handshake; see [`close`](Self::close)).
    ///
    /// A refused send changes nothing: the message stays with the caller, who
    /// can retry it once [`SendError::Full`] has cleared.
    pub fn send(&mut self, now: Instant, message: &Message) -> Result<(), SendError> {
        self.now = now;
        match message {
            Message::Text(text) => {
                self.check_can_send()?;
                self.tx.check_data(text.len())?;
                self.tx.queue_text(text);
                Ok(())
            }
            Message::Binary(data) => {
                self.check_can_send()?;
                self.tx.check_data(data.len())?;
                self.tx.queue_binary(data);
                Ok(())
            }
            Message::Ping(payload) => self.ping(now, payload),
            Message::Pong(payload) => self.pong(now, payload),
            Message::Close(frame) => self.close(now, frame.clone()),
        }
    }

    /// Sends one fragment of a message: the first fragment gives the kind,
    /// `fin` ends the message. Text fragments are checked as UTF-8 across the
    /// message, so a piece may end inside a character.
    pub fn send_fragment(
        &mut self,
        now: Instant,
        kind: MessageKind,
        data: &Bytes,
        fin: bool,
    ) -> Result<(), SendError> {
        self.now = now;
        self.check_can_send()?;
        self.tx.send_fragment(kind, data, fin)
    }

    /// Server: sends a message encoded once for many connections (a
    /// broadcast), queuing its bytes by reference.
    pub fn send_prepared(
        &mut self,
        now: Instant,
        message: &PreparedMessage,
    ) -> Result<(), SendError> {
        self.now = now;
        self.check_can_send()?;
        self.tx.send_prepared(message)
    }

    /// Sends a ping (at most 125 bytes of payload).
    pub fn ping(&mut self, now: Instant, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(now, OpCode::Ping, payload)
    }

    /// Sends a pong: an answer to a ping when `Config::auto_pong` is off, or a
    /// unidirectional heartbeat.
    pub fn pong(&mut self, now: Instant, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(now, OpCode::Pong, payload)
    }

    /// Starts the closing handshake: queues a close frame behind the data
    /// already queued. No message may be sent afterwards. Messages the peer
    /// sent before it saw our close are still delivered; its close frame
    /// ends the handshake. The close timeout runs from the last time our
    /// output made progress, so a large backlog that the peer keeps reading
    /// does not time out.
    pub fn close(&mut self, now: Instant, frame: Option<CloseFrame>) -> Result<(), SendError> {
        self.now = now;
        self.check_can_send()?;
        self.tx.check_close(frame.as_ref())?;
        self.tx
            .queue_data(OpCode::Close, true, &CloseFrame::encode(frame.as_ref()));
        self.phase = Phase::CloseSent;
        self.stop_liveness_timers();
        self.arm_close_timer(now);
        Ok(())
    }

    // ----- the lifecycle -----

    /// Hands the extensions agreed in the opening handshake to the receive
    /// and send paths.
    fn start_extensions(&mut self, agreed: Agreed) {
        #[cfg(feature = "deflate")]
        if let Some(deflate) = agreed.deflate {
            let (role, config) = (self.role, &self.config.deflate);
            if let Some(bits) = deflate.compressor_window_bits(role) {
                self.tx.set_deflater(Compressor::new(
                    config.level,
                    bits,
                    deflate.local_no_context_takeover(role),
                    config.threshold,
                ));
            }
            self.rx
                .set_inflater(Decompressor::new(deflate.remote_no_context_takeover(role)));
            self.deflate = Some(deflate);
        }
        #[cfg(not(feature = "deflate"))]
        let _ = agreed;
    }

    /// Enters the open phase.
    /// Client: opens with what the server's `response` agreed to.
    fn connected(&mut self, response: &Response, now: Instant) {
        self.protocol = response.protocol().map(str::to_owned);
        self.start_extensions(Agreed {
            #[cfg(feature = "deflate")]
            deflate: response.deflate(),
        });
        self.open(now);
    }

    fn open(&mut self, now: Instant) {
        self.phase = Phase::Open;
        self.timers.stop(Timer::Handshake);
        self.touch(now);
    }

    /// Something arrived while open: the peer is alive, restart the
    /// keepalive and idle clocks.
    fn touch(&mut self, now: Instant) {
        if let Some(interval) = self.config.keepalive_interval {
            self.timers.set_after(Timer::Keepalive, now, interval);
            self.timers.stop(Timer::Pong);
        }
        if let Some(timeout) = self.config.idle_timeout {
            self.timers.set_after(Timer::Idle, now, timeout);
        }
    }

    fn stop_liveness_timers(&mut self) {
        self.timers.stop(Timer::Keepalive);
        self.timers.stop(Timer::Pong);
        self.timers.stop(Timer::Idle);
    }

    fn arm_close_timer(&mut self, now: Instant) {
        if let Some(timeout) = self.config.close_timeout {
            self.timers.set_after(Timer::Close, now, timeout);
        }
    }

    /// `n` bytes were written at `now`: while winding down, the close timer
    /// counts from the last progress.
    fn wrote(&mut self, now: Instant, n: usize) {
        if n > 0 && matches!(self.phase, Phase::CloseSent | Phase::Draining { .. }) {
            self.arm_close_timer(now);
        }
        self.finish_if_drained();
    }

    /// Stops delivering and writes out what is queued; `then` says what follows.
    fn drain(&mut self, reason: CloseReason, then: AfterDrain) {
        self.phase = Phase::Draining { reason, then };
        self.rx.clear();
        self.seen = 0;
        self.timers.stop_all();
        self.arm_close_timer(self.now);
    }

    /// Moves on once everything that had to be written is written.
    fn finish_if_drained(&mut self) {
        if !matches!(self.phase, Phase::Draining { .. }) || !self.tx.out.is_empty() {
            return;
        }
        let Phase::Draining { reason, then } = std::mem::replace(&mut self.phase, Phase::Closed)
        else {
            return;
        };
        match then {
            // A peer that has ended its side already sends nothing to wait for.
            _ if self.peer_eof => self.end(reason),
            AfterDrain::End => self.end(reason),
            AfterDrain::AwaitEof | AfterDrain::Linger => {
                let linger = then == AfterDrain::Linger;
                if linger {
                    self.shutdown = ShutdownState::Wanted;
                }
                self.phase = Phase::AwaitingEof {
                    reason,
                    linger,
                    discarded: 0,
                };
            }
        }
    }

    /// Ends the connection now, dropping what was not written.
    fn end(&mut self, reason: CloseReason) {
        self.phase = Phase::Closed;
        self.tx.out.clear();
        self.rx.clear();
        self.seen = 0;
        self.timers.stop_all();
        if self.shutdown == ShutdownState::Wanted {
            self.shutdown = ShutdownState::NotWanted;
        }
        self.events.push_back(Event::Closed(reason));
    }

    /// Fails the connection for the peer's error: a close frame with its
    /// code, behind what the application already queued (its answers to the
    /// messages before the error).
    fn fail(&mut self, error: ProtocolError) {
        if matches!(self.phase, Phase::Open) {
            let mut reason = error.to_string();
            truncate_at_char_boundary(&mut reason, CloseFrame::MAX_REASON_LEN);
            let frame = CloseFrame::new(error.close_code(), reason);
            self.tx
                .queue_data(OpCode::Close, true, &CloseFrame::encode(Some(&frame)));
        }
        self.drain(CloseReason::Protocol(error), AfterDrain::End);
    }

    /// Decodes buffered input until it yields an event or runs out.
    fn decode(&mut self) {
        while self.events.is_empty() {
            match &mut self.phase {
                Phase::Opening(opening) => match opening.read(&mut self.rx, &self.config) {
                    Progress::Waiting => break,
                    Progress::Connected(response) => {
                        self.connected(&response, self.now);
                        self.events.push_back(Event::Connected(response));
                    }
                    Progress::Request(request) => self.events.push_back(Event::Request(request)),
                    Progress::Failed(error) => {
                        let then = match self.role {
                            Role::Server => {
                                let mut head = BytesMut::new();
                                Opening::refuse(&error, &mut head);
                                self.tx.out.push_head(&head);
                                AfterDrain::Linger
                            }
                            Role::Client => AfterDrain::End,
                        };
                        self.drain(CloseReason::Handshake(error), then);
                    }
                },
                Phase::Open | Phase::CloseSent => match self.rx.next(self.role, &self.config) {
                    Ok(None) => break,
                    Ok(Some(Received::Message(message))) => {
                        self.events.push_back(Event::Message(message));
                    }
                    Ok(Some(Received::Fragment(fragment))) => {
                        self.events.push_back(Event::Fragment(fragment));
                    }
                    Ok(Some(Received::Control(opcode, payload))) => {
                        if let Err(error) = self.read_control(opcode, payload) {
                            self.fail(error);
                        }
                    }
                    Err(error) => self.fail(error),
                },
                Phase::AwaitingEof {
                    reason,
                    linger,
                    discarded,
                } => {
                    *discarded += self.rx.discard();
                    if *linger && *discarded > self.config.max_discard {
                        let reason = reason.clone();
                        self.end(reason);
                    }
                    break;
                }
                Phase::Draining { .. } | Phase::Closed => {
                    self.rx.discard();
                    break;
                }
            }
        }
        self.seen = self.rx.buffer().len();
        self.finish_if_drained();
    }

    /// Acts on a complete control frame.
    fn read_control(&mut self, opcode: OpCode, payload: Bytes) -> Result<(), ProtocolError> {
        match opcode {
            OpCode::Ping => {
                if self.config.auto_pong && matches!(self.phase, Phase::Open) {
                    let owed = self.tx.out.control_len() + self.tx.control_frame_len(payload.len());
                    if owed > MAX_CONTROL_QUEUE {
                        return Err(ProtocolError::PeerNotReading);
                    }
                    self.tx.queue_control(OpCode::Pong, &payload);
                }
                self.events
                    .push_back(Event::Message(Message::Ping(payload)));
            }
            OpCode::Pong => {
                self.timers.stop(Timer::Pong);
                self.events
                    .push_back(Event::Message(Message::Pong(payload)));
            }
            OpCode::Close => {
                let frame = CloseFrame::parse(payload)?;
                if matches!(self.phase, Phase::Open) {
                    // "It SHOULD do so as soon as practical", echoing the code
                    // (RFC 6455 section 5.5.1); it follows data already queued.
                    let echo = frame.as_ref().map(|f| CloseFrame::new(f.code, ""));
                    self.tx
                        .queue_data(OpCode::Close, true, &CloseFrame::encode(echo.as_ref()));
                }
                self.events
                    .push_back(Event::Message(Message::Close(frame.clone())));
                let then = match self.role {
                    _ if self.half_close => AfterDrain::Linger,
                    Role::Client => AfterDrain::AwaitEof,
                    Role::Server => AfterDrain::End,
                };
                self.drain(CloseReason::Normal(frame), then);
            }
            OpCode::Continuation | OpCode::Text | OpCode::Binary => {}
        }
        Ok(())
    }

    fn check_can_send(&self) -> Result<(), SendError> {
        match self.phase {
            Phase::Open => Ok(()),
            Phase::Opening(_) => Err(SendError::NotOpen),
            _ => Err(SendError::Closed),
        }
    }

    fn send_control(
        &mut self,
        now: Instant,
        opcode: OpCode,
        payload: &[u8],
    ) -> Result<(), SendError> {
        self.now = now;
        self.check_can_send()?;
        self.tx.check_control(payload.len())?;
        self.tx.queue_control(opcode, payload);
        Ok(())
    }
}

fn truncate_at_char_boundary(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}
