//! The connection: inputs, commands and outputs around one [`Phase`].
//!
//! Its methods come in four kinds, as in quinn-proto:
//!
//! - getters: [`role`](Connection::role), [`state`](Connection::state),
//!   [`wants_read`](Connection::wants_read), [`wants_write`](Connection::wants_write)...
//! - inputs: [`handle_read`](Connection::handle_read) (or
//!   [`receive_buffer`](Connection::receive_buffer) then
//!   [`handle_received`](Connection::handle_received)),
//!   [`handle_eof`](Connection::handle_eof), [`handle_timeout`](Connection::handle_timeout),
//!   [`advance_transmit`](Connection::advance_transmit);
//! - commands: [`accept`](Connection::accept), [`reject`](Connection::reject),
//!   [`send`](Connection::send), [`send_fragment`](Connection::send_fragment),
//!   [`close`](Connection::close)...;
//! - outputs: [`poll_event`](Connection::poll_event),
//!   [`transmit_chunks`](Connection::transmit_chunks) / [`poll_transmit`](Connection::poll_transmit),
//!   [`poll_timeout`](Connection::poll_timeout).
//!
//! After any input or command, drain every output.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha12Rng;

use crate::close::{CloseCode, CloseFrame};
use crate::config::Config;
use crate::error::{
    AcceptError, CloseReason, ConfigError, HandshakeError, ProtocolError, SendError,
};
use crate::event::{Event, Fragment, Message, MessageKind};
use crate::frame::{apply_mask, Decoded, FrameHeader, OpCode, MAX_CONTROL_PAYLOAD};
use crate::handshake::RequestParser;
use crate::handshake::{
    parse_request, parse_response, reject_response, Accept, ClientRequest, Reject,
};
use crate::outgoing::Outgoing;
use crate::phase::{Phase, State};
use crate::prepared::PreparedMessage;
use crate::text::Utf8Bytes;
use crate::timer::{Timer, Timers};
use crate::utf8::Utf8Validator;

/// Which end of the connection this is (RFC 6455 section 1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Opens the connection and masks every frame it sends.
    Client,
    /// Accepts the connection and never masks.
    Server,
}

/// How much a read should be able to bring in at least.
const READ_CHUNK: usize = 16 << 10;

/// The most a single read is offered while a large frame arrives.
const READ_CHUNK_LARGE: usize = 1 << 20;

/// The most bytes of control frames (pongs owed, mostly) that may wait to be
/// written. A peer that keeps pinging without reading the pongs crosses it
/// and is dropped with 1008: about 500 pongs of full size.
const MAX_CONTROL_QUEUE: usize = 64 << 10;

/// The frame whose payload is arriving.
#[derive(Debug, Clone, Copy)]
struct InFrame {
    header: FrameHeader,
    /// Payload bytes unmasked (and validated) so far.
    processed: u64,
    /// Processed payload bytes still at the front of the receive buffer.
    held: usize,
}

/// The message whose frames are arriving.
#[derive(Debug)]
struct InMessage {
    kind: MessageKind,
    /// Payload bytes so far, across frames.
    len: u64,
    /// The pieces of a fragmented message (unused when streaming, or for a
    /// message that fits in one frame, which is sliced from the receive buffer).
    assembled: BytesMut,
    /// Whether a fragment of it was delivered (streaming).
    started: bool,
}

/// One WebSocket connection, from the first byte of the opening handshake to
/// the end of the closing handshake, in either role. See the crate docs for
/// the run loop.
#[derive(Debug)]
pub struct Connection {
    role: Role,
    config: Config,
    /// Makes the handshake key and the masking keys: clients only (a server
    /// never masks), and boxed, so that a server connection stays small.
    rng: Option<Box<ChaCha12Rng>>,
    phase: Phase,
    protocol: Option<String>,
    recv: BytesMut,
    frame: Option<InFrame>,
    message: Option<InMessage>,
    utf8: Utf8Validator,
    out: Outgoing,
    /// The kind of the fragmented message being sent, and its UTF-8 state.
    sending: Option<(MessageKind, Utf8Validator)>,
    events: VecDeque<Event>,
    timers: Timers,
    /// The latest time any input or command gave; decoding done lazily in
    /// `poll_event` runs at that time.
    now: Instant,
}

impl Connection {
    /// A client connection that sends `request` and waits for the server's answer.
    ///
    /// `rng_seed` seeds the CSPRNG that makes the handshake key and the masking
    /// keys; RFC 6455 section 10.3 requires them to be unpredictable, so take it
    /// from the operating system's entropy source. Tests pass a fixed seed.
    pub fn client(
        request: &ClientRequest,
        config: Config,
        rng_seed: [u8; 32],
        now: Instant,
    ) -> Result<Self, ConfigError> {
        let mut rng = Box::new(ChaCha12Rng::from_seed(rng_seed));
        let mut key = [0; 16];
        rng.fill_bytes(&mut key);
        let mut connection = Connection::new(Role::Client, config, Some(rng), now)?;
        let mut head = BytesMut::new();
        let pending = request.encode(key, &mut head);
        connection.out.push_head(&head);
        connection.phase = Phase::AwaitingResponse(pending);
        Ok(connection)
    }

    /// A server connection that waits for a client's request.
    /// It needs no randomness: a server never masks.
    pub fn server(config: Config, now: Instant) -> Result<Self, ConfigError> {
        Connection::new(Role::Server, config, None, now)
    }

    /// A connection whose opening handshake another HTTP implementation has
    /// already done (hyper or axum upgrades, for instance); it starts open.
    /// For a server, [`upgrade_response`](crate::upgrade_response) validates
    /// the request and builds the response.
    pub fn upgraded(
        role: Role,
        config: Config,
        rng_seed: [u8; 32],
        now: Instant,
    ) -> Result<Self, ConfigError> {
        let rng = (role == Role::Client).then(|| Box::new(ChaCha12Rng::from_seed(rng_seed)));
        let mut connection = Connection::new(role, config, rng, now)?;
        connection.open(now);
        Ok(connection)
    }

    fn new(
        role: Role,
        config: Config,
        rng: Option<Box<ChaCha12Rng>>,
        now: Instant,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut timers = Timers::default();
        if let Some(timeout) = config.handshake_timeout {
            timers.set(Timer::Handshake, now + timeout);
        }
        Ok(Connection {
            role,
            config,
            rng,
            phase: Phase::AwaitingRequest(RequestParser::default()),
            protocol: None,
            recv: BytesMut::new(),
            frame: None,
            message: None,
            utf8: Utf8Validator::new(),
            out: Outgoing::default(),
            sending: None,
            events: VecDeque::new(),
            timers,
            now,
        })
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

    /// Whether bytes from the peer are wanted now. False while a server
    /// application decides on a request (so an eager client cannot make it
    /// buffer without bound) and once nothing more will be read.
    pub fn wants_read(&self) -> bool {
        match self.phase {
            Phase::AwaitingResponse(_)
            | Phase::AwaitingRequest(_)
            | Phase::Open
            | Phase::CloseSent => true,
            Phase::Draining { await_eof, .. } => await_eof,
            Phase::AwaitingDecision(_) | Phase::Closed => false,
        }
    }

    /// Whether bytes wait to be written.
    #[must_use]
    pub fn wants_write(&self) -> bool {
        !self.out.is_empty()
    }

    /// Bytes waiting to be written (bounded by `Config::max_outgoing_buffer`).
    pub fn buffered_outgoing(&self) -> usize {
        self.out.len()
    }

    /// Bytes received but not yet delivered: the receive buffer and the
    /// fragments of a message being assembled.
    pub fn buffered_incoming(&self) -> usize {
        self.recv.len() + self.message.as_ref().map_or(0, |m| m.assembled.len())
    }

    /// Bytes of memory the connection holds in its buffers (capacity, not
    /// content): the receive buffer, the outgoing queue and the event queue.
    /// [`release_buffers`](Self::release_buffers) brings it to zero once
    /// nothing waits in them.
    pub fn buffer_capacity(&self) -> usize {
        self.recv.capacity()
            + self.out.capacity()
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
        self.recv.extend_from_slice(data);
        self.handle_received(now);
    }

    /// Lends the receive buffer so that a transport can read straight into
    /// it, with room reserved for one read; then call
    /// [`handle_received`](Self::handle_received). Append only: bytes already in
    /// the buffer belong to the connection.
    pub fn receive_buffer(&mut self) -> &mut BytesMut {
        let wanted = match self.frame {
            Some(frame) => (frame.header.payload_len - frame.processed)
                .min(READ_CHUNK_LARGE as u64)
                .max(READ_CHUNK as u64) as usize,
            None => READ_CHUNK,
        };
        self.recv.reserve(wanted);
        &mut self.recv
    }

    /// Frees the buffers that hold nothing: the receive buffer when no bytes
    /// wait in it, and the outgoing queue's when everything was written.
    ///
    /// Call it when the transport has nothing more to read for now: an idle
    /// connection then holds no buffer at all (a server with many idle
    /// clients pays for its connections, not for their buffers), and the next
    /// [`receive_buffer`](Self::receive_buffer) allocates again.
    pub fn release_buffers(&mut self) {
        if self.recv.is_empty() {
            self.recv = BytesMut::new();
        }
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
        self.out.release();
    }

    /// Processes what was appended to the [`receive_buffer`](Self::receive_buffer).
    ///
    /// Frames are decoded as events are polled, one event at a time: a
    /// violation later in the input is found only after the application has
    /// handled (and, say, answered) every message before it, and decoded
    /// messages never pile up faster than they are taken.
    pub fn handle_received(&mut self, now: Instant) {
        self.now = now;
        if self.recv.is_empty() {
            return;
        }
        if matches!(self.phase, Phase::Open | Phase::CloseSent) {
            self.touch(now);
        }
        self.decode();
    }

    /// Decodes buffered input until it yields an event or runs out.
    fn decode(&mut self) {
        loop {
            let step = match self.phase {
                Phase::AwaitingResponse(_) => self.read_response(),
                Phase::AwaitingRequest(_) => self.read_request(),
                Phase::Open | Phase::CloseSent => {
                    if let Err(error) = self.read_frames() {
                        self.fail(error);
                    }
                    Step::Wait
                }
                Phase::AwaitingDecision(_) => Step::Wait,
                Phase::Draining { .. } | Phase::Closed => {
                    self.recv.clear();
                    Step::Wait
                }
            };
            if let Step::Wait = step {
                break;
            }
        }
        self.finish_if_drained();
    }

    /// The peer ended the transport (a read returned 0 bytes).
    pub fn handle_eof(&mut self) {
        let reason = match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Closed => return,
            // What is still queued cannot reach the peer any more.
            Phase::Draining { reason, .. } => reason,
            _ => CloseReason::Eof,
        };
        self.end(reason);
    }

    /// Acts on every deadline that has passed by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        while let Some(timer) = self.timers.expired(now) {
            match timer {
                Timer::Handshake | Timer::Pong => self.end(CloseReason::Timeout(timer)),
                Timer::Close => match std::mem::replace(&mut self.phase, Phase::Closed) {
                    Phase::Draining { reason, .. } => self.end(reason),
                    _ => self.end(CloseReason::Timeout(Timer::Close)),
                },
                Timer::Keepalive => {
                    if matches!(self.phase, Phase::Open) {
                        // A peer that has not even read the last control
                        // frames gets no further ping: one is enough to wait
                        // for, and they must not pile up.
                        if self.out.control_len() == 0 {
                            self.queue_control(OpCode::Ping, &[]);
                        }
                        self.timers
                            .set(Timer::Pong, now + self.config.keepalive_timeout);
                    }
                }
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
        self.timers.next()
    }

    /// Fills `dst` with the pending outgoing bytes, in order, for a vectored
    /// write, and returns how many slices it filled. Report what was written
    /// with [`advance_transmit`](Self::advance_transmit).
    pub fn transmit_chunks<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        self.out.chunks(dst)
    }

    /// Marks the first `n` pending outgoing bytes as written.
    pub fn advance_transmit(&mut self, n: usize) {
        self.out.advance(n);
        self.finish_if_drained();
    }

    /// Takes the next piece of pending outgoing bytes, which the caller must
    /// write out in full. Simpler than `transmit_chunks` when vectored writes
    /// do not matter.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        let next = self.out.pop();
        self.finish_if_drained();
        next
    }

    // ----- commands -----

    /// Server: accepts the pending request (from [`Event::Request`]), optionally
    /// with a subprotocol and extra headers. Frames that arrived behind the
    /// request are decoded now.
    pub fn accept(&mut self, now: Instant, accept: Accept) -> Result<(), AcceptError> {
        let Phase::AwaitingDecision(request) = &self.phase else {
            return Err(AcceptError::NoPendingRequest);
        };
        let mut head = BytesMut::new();
        accept.encode(request, &mut head)?;
        self.out.push_head(&head);
        self.protocol = accept.protocol;
        self.now = now;
        self.open(now);
        Ok(())
    }

    /// Server: answers the pending request with a complete HTTP response
    /// instead of upgrading (a refusal, or a page for a plain HTTP request),
    /// then ends the connection once the response is written.
    pub fn reject(&mut self, now: Instant, reject: Reject) -> Result<(), AcceptError> {
        if !matches!(self.phase, Phase::AwaitingDecision(_)) {
            return Err(AcceptError::NoPendingRequest);
        }
        let mut head = BytesMut::new();
        reject_response(
            reject.status_code(),
            reject.headers(),
            reject.body(),
            &mut head,
        );
        self.out.push_head(&head);
        self.now = now;
        self.drain(CloseReason::Rejected(reject.status_code()), false);
        Ok(())
    }

    /// Sends a whole message: text, binary, ping, pong, or close (which starts
    /// the closing handshake; see [`close`](Self::close)).
    pub fn send(&mut self, now: Instant, message: Message) -> Result<(), SendError> {
        match message {
            Message::Text(text) => self.send_data(OpCode::Text, true, &text.into_bytes()),
            Message::Binary(data) => self.send_data(OpCode::Binary, true, &data),
            Message::Ping(payload) => self.ping(&payload),
            Message::Pong(payload) => self.pong(&payload),
            Message::Close(frame) => self.close(now, frame),
        }
    }

    /// Sends one fragment of a message: the first fragment gives the kind,
    /// `fin` ends the message. Text fragments are checked as UTF-8 across the
    /// message, so a piece may end inside a character.
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: Bytes,
        fin: bool,
    ) -> Result<(), SendError> {
        self.check_can_send()?;
        let opcode = match &self.sending {
            Some((sending, _)) if *sending != kind => return Err(SendError::MessageInProgress),
            Some(_) => OpCode::Continuation,
            None => match kind {
                MessageKind::Text => OpCode::Text,
                MessageKind::Binary => OpCode::Binary,
            },
        };
        self.check_capacity(self.frame_len(data.len()))?;
        // Validate on a copy: a refused fragment leaves the message in progress
        // and its UTF-8 state as they were.
        let mut validator = match &self.sending {
            Some((_, validator)) => validator.clone(),
            None => Utf8Validator::new(),
        };
        if kind == MessageKind::Text {
            let valid =
                validator
                    .feed(&data)
                    .and_then(|()| if fin { validator.finish() } else { Ok(()) });
            if valid.is_err() {
                return Err(SendError::InvalidUtf8);
            }
        }
        self.queue_data(opcode, fin, &data);
        self.sending = if fin { None } else { Some((kind, validator)) };
        Ok(())
    }

    /// Server: sends a message encoded once for many connections (a
    /// broadcast), queuing its bytes by reference.
    pub fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), SendError> {
        if self.role == Role::Client {
            return Err(SendError::ClientCannotSendPrepared);
        }
        self.check_can_send()?;
        if self.sending.is_some() {
            return Err(SendError::MessageInProgress);
        }
        self.check_capacity(message.frame().len())?;
        self.out.push_encoded(message.frame().clone());
        Ok(())
    }

    /// Sends a ping (at most 125 bytes of payload).
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Ping, payload)
    }

    /// Sends a pong: an answer to a ping when `Config::auto_pong` is off, or a
    /// unidirectional heartbeat.
    pub fn pong(&mut self, payload: &[u8]) -> Result<(), SendError> {
        self.send_control(OpCode::Pong, payload)
    }

    /// Starts the closing handshake: queues a close frame behind the data
    /// already queued. No message may be sent afterwards; messages from the
    /// peer are dropped until its close arrives (or the close timeout passes).
    pub fn close(&mut self, now: Instant, frame: Option<CloseFrame>) -> Result<(), SendError> {
        match self.phase {
            Phase::Open => {}
            Phase::AwaitingResponse(_) | Phase::AwaitingRequest(_) | Phase::AwaitingDecision(_) => {
                return Err(SendError::NotOpen)
            }
            _ => return Err(SendError::Closed),
        }
        if let Some(frame) = &frame {
            if !frame.code.is_valid_on_wire() {
                return Err(SendError::InvalidCloseCode(frame.code.0));
            }
            if frame.reason.len() > CloseFrame::MAX_REASON_LEN {
                return Err(SendError::ControlPayloadTooLong(frame.reason.len() + 2));
            }
        }
        self.queue_data(OpCode::Close, true, &CloseFrame::encode(frame.as_ref()));
        self.now = now;
        self.phase = Phase::CloseSent;
        self.stop_liveness_timers();
        if let Some(timeout) = self.config.close_timeout {
            self.timers.set(Timer::Close, now + timeout);
        }
        Ok(())
    }

    // ----- the machinery -----

    /// Enters the open phase.
    fn open(&mut self, now: Instant) {
        self.phase = Phase::Open;
        self.timers.stop(Timer::Handshake);
        self.touch(now);
    }

    /// Something arrived: the peer is alive, restart the keepalive and idle clocks.
    fn touch(&mut self, now: Instant) {
        if let Some(interval) = self.config.keepalive_interval {
            self.timers.set(Timer::Keepalive, now + interval);
            self.timers.stop(Timer::Pong);
        }
        if let Some(timeout) = self.config.idle_timeout {
            self.timers.set(Timer::Idle, now + timeout);
        }
    }

    fn stop_liveness_timers(&mut self) {
        self.timers.stop(Timer::Keepalive);
        self.timers.stop(Timer::Pong);
        self.timers.stop(Timer::Idle);
    }

    /// Stops reading and waits for the output to drain; `Event::Closed(reason)` follows.
    fn drain(&mut self, reason: CloseReason, await_eof: bool) {
        self.phase = Phase::Draining { reason, await_eof };
        self.frame = None;
        self.message = None;
        self.recv = BytesMut::new();
        self.timers.stop_all();
        if let Some(timeout) = self.config.close_timeout {
            self.timers.set(Timer::Close, self.now + timeout);
        }
    }

    /// Reports the end once everything that had to be written is written
    /// (and a client that closed cleanly has seen the server's EOF).
    fn finish_if_drained(&mut self) {
        if let Phase::Draining {
            await_eof: false, ..
        } = self.phase
        {
            if self.out.is_empty() {
                if let Phase::Draining { reason, .. } =
                    std::mem::replace(&mut self.phase, Phase::Closed)
                {
                    self.end(reason);
                }
            }
        }
    }

    /// Ends the connection now, dropping what was not written.
    fn end(&mut self, reason: CloseReason) {
        self.phase = Phase::Closed;
        self.out.clear();
        self.recv = BytesMut::new();
        self.frame = None;
        self.message = None;
        self.timers.stop_all();
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
            self.queue_data(OpCode::Close, true, &CloseFrame::encode(Some(&frame)));
        }
        self.drain(CloseReason::Protocol(error), false);
    }

    fn handshake_failed(&mut self, error: HandshakeError) {
        if self.role == Role::Server {
            let mut head = BytesMut::new();
            reject_response(
                error.status(),
                &HeaderMap::new(),
                error.to_string().as_bytes(),
                &mut head,
            );
            self.out.push_head(&head);
        }
        self.drain(CloseReason::Handshake(error), false);
    }

    fn read_response(&mut self) -> Step {
        let Phase::AwaitingResponse(pending) = &mut self.phase else {
            return Step::Wait;
        };
        match parse_response(&self.recv, pending, &self.config) {
            Ok(Decoded::Partial) => Step::Wait,
            Ok(Decoded::Complete(response, len)) => {
                self.recv.advance(len);
                self.protocol = response.protocol().map(str::to_owned);
                self.open(self.now);
                self.events.push_back(Event::Connected(Box::new(response)));
                Step::Continue
            }
            Err(error) => {
                self.handshake_failed(error);
                Step::Wait
            }
        }
    }

    fn read_request(&mut self) -> Step {
        let Phase::AwaitingRequest(parser) = &mut self.phase else {
            return Step::Wait;
        };
        match parse_request(&self.recv, parser, &self.config) {
            Ok(Decoded::Partial) => {}
            Ok(Decoded::Complete(request, len)) => {
                self.recv.advance(len);
                let request = Box::new(request);
                self.phase = Phase::AwaitingDecision(request.clone());
                self.events.push_back(Event::Request(request));
            }
            Err(error) => self.handshake_failed(error),
        }
        Step::Wait
    }

    /// Decodes every complete frame (and every arrived piece of a payload) in
    /// the receive buffer.
    fn read_frames(&mut self) -> Result<(), ProtocolError> {
        while matches!(self.phase, Phase::Open | Phase::CloseSent) && self.events.is_empty() {
            let mut frame = match self.frame.take() {
                Some(frame) => frame,
                None => match FrameHeader::decode(&self.recv)? {
                    Decoded::Partial => return Ok(()),
                    Decoded::Complete(header, len) => {
                        self.start_frame(&header)?;
                        self.recv.advance(len);
                        InFrame {
                            header,
                            processed: 0,
                            held: 0,
                        }
                    }
                },
            };
            let remaining = frame.header.payload_len - frame.processed;
            let fresh = (self.recv.len() - frame.held)
                .min(usize::try_from(remaining).unwrap_or(usize::MAX));
            if fresh > 0 {
                let text = self
                    .message
                    .as_ref()
                    .is_some_and(|m| m.kind == MessageKind::Text)
                    && !frame.header.opcode.is_control();
                let piece = &mut self.recv[frame.held..frame.held + fresh];
                let offset = frame.processed as usize;
                if let Some(key) = frame.header.mask {
                    apply_mask(piece, key, offset);
                }
                if text {
                    self.utf8
                        .feed(piece)
                        .map_err(|_| ProtocolError::InvalidUtf8)?;
                }
                frame.processed += fresh as u64;
                frame.held += fresh;
            }
            let complete = frame.processed == frame.header.payload_len;
            if frame.header.opcode.is_control() {
                if !complete {
                    self.frame = Some(frame);
                    return Ok(());
                }
                let payload = self.recv.split_to(frame.held).freeze();
                self.read_control(frame.header.opcode, payload)?;
            } else {
                self.read_data(&mut frame, complete)?;
                if !complete {
                    self.frame = Some(frame);
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Checks a data or control frame's header against the connection's rules
    /// and starts a message where one begins.
    fn start_frame(&mut self, header: &FrameHeader) -> Result<(), ProtocolError> {
        if header.rsv != 0 {
            return Err(ProtocolError::ReservedBits(header.rsv));
        }
        match (self.role, header.mask) {
            (Role::Server, None) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, Some(_)) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        if header.payload_len > self.config.max_frame_size as u64 {
            return Err(ProtocolError::FrameTooLarge {
                len: header.payload_len,
                max: self.config.max_frame_size,
            });
        }
        let kind = match header.opcode {
            OpCode::Text => MessageKind::Text,
            OpCode::Binary => MessageKind::Binary,
            OpCode::Continuation => {
                let message = self
                    .message
                    .as_ref()
                    .ok_or(ProtocolError::UnexpectedContinuation)?;
                let len = message.len + header.payload_len;
                if len > self.config.max_message_size as u64 {
                    let max = self.config.max_message_size;
                    return Err(ProtocolError::MessageTooLarge { len, max });
                }
                return Ok(());
            }
            OpCode::Close | OpCode::Ping | OpCode::Pong => return Ok(()),
        };
        if self.message.is_some() {
            return Err(ProtocolError::ExpectedContinuation);
        }
        if header.payload_len > self.config.max_message_size as u64 {
            return Err(ProtocolError::MessageTooLarge {
                len: header.payload_len,
                max: self.config.max_message_size,
            });
        }
        self.message = Some(InMessage {
            kind,
            len: 0,
            assembled: BytesMut::new(),
            started: false,
        });
        Ok(())
    }

    /// Moves the processed part of a data frame's payload on: into a
    /// fragment event (streaming), into the message being assembled (a
    /// fragmented message), or, for a message in a single frame, into a
    /// message event once complete, sliced from the receive buffer without a copy.
    fn read_data(&mut self, frame: &mut InFrame, complete: bool) -> Result<(), ProtocolError> {
        let Some(message) = self.message.as_mut() else {
            return Ok(());
        };
        let last = complete && frame.header.fin;
        if last && message.kind == MessageKind::Text {
            self.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        let mut payload = None;
        if !matches!(self.phase, Phase::Open) {
            // After our close, data frames are read for their framing only.
            self.recv.advance(frame.held);
            frame.held = 0;
        } else if self.config.streaming {
            if frame.held > 0 || last {
                let fragment = Fragment {
                    kind: message.kind,
                    data: self.recv.split_to(frame.held).freeze(),
                    first: !message.started,
                    fin: last,
                };
                message.started = true;
                self.events.push_back(Event::Fragment(fragment));
            }
            frame.held = 0;
        } else if !frame.header.fin || message.len > 0 {
            message
                .assembled
                .extend_from_slice(&self.recv[..frame.held]);
            self.recv.advance(frame.held);
            frame.held = 0;
            if last {
                payload = Some(std::mem::take(&mut message.assembled).freeze());
            }
        } else if complete {
            payload = Some(self.recv.split_to(frame.held).freeze());
            frame.held = 0;
        }
        if complete {
            message.len += frame.header.payload_len;
        }
        if last {
            let kind = message.kind;
            self.message = None;
            if let Some(payload) = payload {
                let message = match kind {
                    MessageKind::Text => Message::Text(Utf8Bytes::from_validated(payload)),
                    MessageKind::Binary => Message::Binary(payload),
                };
                self.events.push_back(Event::Message(message));
            }
        }
        Ok(())
    }

    /// Acts on a complete control frame.
    fn read_control(&mut self, opcode: OpCode, payload: Bytes) -> Result<(), ProtocolError> {
        match opcode {
            OpCode::Ping => {
                if self.config.auto_pong && matches!(self.phase, Phase::Open) {
                    if self.out.control_len() + self.frame_len(payload.len()) > MAX_CONTROL_QUEUE {
                        return Err(ProtocolError::PeerNotReading);
                    }
                    self.queue_control(OpCode::Pong, &payload);
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
                    self.queue_data(OpCode::Close, true, &CloseFrame::encode(echo.as_ref()));
                }
                self.events
                    .push_back(Event::Message(Message::Close(frame.clone())));
                let await_eof = self.role == Role::Client;
                self.drain(CloseReason::Normal(frame), await_eof);
            }
            OpCode::Continuation | OpCode::Text | OpCode::Binary => {}
        }
        Ok(())
    }

    fn check_can_send(&self) -> Result<(), SendError> {
        match self.phase {
            Phase::Open => Ok(()),
            Phase::AwaitingResponse(_) | Phase::AwaitingRequest(_) | Phase::AwaitingDecision(_) => {
                Err(SendError::NotOpen)
            }
            _ => Err(SendError::Closed),
        }
    }

    /// The encoded size of a frame this connection sends with `payload_len` bytes.
    fn frame_len(&self, payload_len: usize) -> usize {
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Binary,
            mask: (self.role == Role::Client).then_some([0; 4]),
            payload_len: payload_len as u64,
        };
        header.encoded_len() + payload_len
    }

    /// A send is refused when its frame would push a non-empty queue past
    /// its limit.
    fn check_capacity(&self, frame_len: usize) -> Result<(), SendError> {
        let buffered = self.out.len();
        let limit = self.config.max_outgoing_buffer;
        if buffered > 0 && buffered + frame_len > limit {
            return Err(SendError::Full { buffered, limit });
        }
        Ok(())
    }

    fn send_data(&mut self, opcode: OpCode, fin: bool, payload: &Bytes) -> Result<(), SendError> {
        self.check_can_send()?;
        if self.sending.is_some() {
            return Err(SendError::MessageInProgress);
        }
        self.check_capacity(self.frame_len(payload.len()))?;
        self.queue_data(opcode, fin, payload);
        Ok(())
    }

    fn send_control(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), SendError> {
        self.check_can_send()?;
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlPayloadTooLong(payload.len()));
        }
        self.check_capacity(self.frame_len(payload.len()))?;
        self.queue_control(opcode, payload);
        Ok(())
    }

    fn header(&mut self, opcode: OpCode, fin: bool, len: usize) -> FrameHeader {
        // Only clients have a generator, and clients mask every frame.
        let mask = self
            .rng
            .as_deref_mut()
            .map(|rng| rng.next_u32().to_ne_bytes());
        FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask,
            payload_len: len as u64,
        }
    }

    fn queue_data(&mut self, opcode: OpCode, fin: bool, payload: &Bytes) {
        let header = self.header(opcode, fin, payload.len());
        self.out.push_data(header, payload);
    }

    fn queue_control(&mut self, opcode: OpCode, payload: &[u8]) {
        let header = self.header(opcode, true, payload.len());
        self.out.push_control(header, payload);
    }
}

/// Whether the input loop should look at the buffer again.
enum Step {
    Continue,
    Wait,
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
