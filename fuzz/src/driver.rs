//! The `connection_*` targets: a structured input, and a [`Driver`] that runs
//! it against an open [`Connection`] and checks its invariants after every step.
//!
//! The input is a script of operations ([`Op`]) and a tape of bytes: every
//! operation that needs bytes (what the peer sends, a payload to send) takes
//! the next ones from the tape, so the payloads stay contiguous and readable
//! in the corpus.
//!
//! Invariants, after every step:
//!
//! - **Events**: nothing follows `Event::Closed`, which comes at most once and
//!   exactly when the state is `Closed` (then nothing is buffered either way);
//!   a received message, or the fragments of a streamed one, never exceed
//!   `max_message_size`, and text is valid UTF-8; control payloads fit 125
//!   bytes; messages come whole unless streaming, fragments only when streaming.
//! - **Input bound**: once every event is polled, `buffered_incoming() <=
//!   max_message_size + max(max_frame_size, MAX_HEADER_LEN)`: the fragments
//!   of one message plus one frame's payload (or a partial header). Frames
//!   are decoded as events are polled, so between polls the bytes read since
//!   the last poll come on top.
//! - **Output bound**: a send (message, fragment, prepared message, ping,
//!   pong) is accepted exactly when the queue is empty or stays within
//!   `max_outgoing_buffer` (its whole frame counted, header included), and
//!   then grows the queue by exactly its frame; it fails with the right error
//!   otherwise, leaving the queue as it was. So the queue holds at most
//!   `max_outgoing_buffer`, or one message larger than that which went into
//!   an empty queue. What the
//!   connection queues by itself is bounded per step: a pong per ping
//!   received (never more than 64 KiB of them, which proto enforces), one
//!   keepalive ping per timeout, one close frame ever.
//! - **Wire**: everything transmitted parses as valid frames (see
//!   [`Wire`]); the data and close frames sent through the API come out in
//!   order and unchanged.
//! - **Closing**: whenever the connection leaves the open state with a close
//!   frame (ours, the echo of the peer's, or a protocol error's), the queue
//!   ends with that close frame and it follows all data queued before; an
//!   echo carries the peer's code; a protocol error's close carries the
//!   error's code (checked when `Event::Closed(CloseReason::Protocol(e))`
//!   arrives).
//! - **Timers**: after `handle_timeout(now)`, `poll_timeout()` is after `now`.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use rusty_socket_proto::{
    accept_key, apply_mask, Accept, AcceptError, Bytes, CloseCode, CloseFrame, CloseReason, Config,
    Connection, Event, Fragment, FrameHeader, Message, MessageKind, OpCode, PreparedMessage, Role,
    SendError, State, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN,
};

use crate::handshake::{client_request, CLIENT_SEED};
use crate::wire::{frame_len, Frame, Wire};

/// The request the server under test receives first.
pub const REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\nHost: example.com\r\n\
    Upgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// The close frame the idle timer sends.
const IDLE_CLOSE: (u16, &str) = (1001, "idle timeout");

/// The input of a `connection_*` target.
#[derive(Arbitrary, Debug)]
pub struct Input<'a> {
    /// The connection's limits and timers.
    pub limits: Limits,
    /// How many tape bytes arrive in the same read as the handshake, right behind it.
    pub eager: u8,
    /// What happens, in order.
    pub ops: Vec<Op>,
    /// The bytes the operations take, in order.
    pub tape: &'a [u8],
}

/// Small limits, so that the bounds bite with inputs of a few KiB.
#[derive(Arbitrary, Debug, Clone)]
pub struct Limits {
    /// `max_frame_size` is 1 + this.
    pub max_frame_size: u8,
    /// `max_message_size` is 1 + this % 1024.
    pub max_message_size: u16,
    /// `max_outgoing_buffer` is 1 + this % 1024.
    pub max_outgoing_buffer: u16,
    /// Deliver fragments as they arrive.
    pub streaming: bool,
    /// Answer pings.
    pub auto_pong: bool,
    /// Keepalive interval and timeout in ms; 0 is off.
    pub keepalive_ms: u8,
    /// Idle timeout in ms; 0 is off.
    pub idle_ms: u8,
    /// Close timeout in ms; 0 is none.
    pub close_ms: u8,
}

impl Limits {
    /// The `Config` these limits describe.
    pub fn config(&self) -> Config {
        let ms = |ms: u8| (ms > 0).then(|| Duration::from_millis(ms.into()));
        let mut config = Config::default();
        config.max_frame_size = 1 + usize::from(self.max_frame_size);
        config.max_message_size = 1 + usize::from(self.max_message_size % 1024);
        config.max_outgoing_buffer = 1 + usize::from(self.max_outgoing_buffer % 1024);
        config.streaming = self.streaming;
        config.auto_pong = self.auto_pong;
        config.keepalive_interval = ms(self.keepalive_ms);
        config.keepalive_timeout = Duration::from_millis(self.keepalive_ms.max(1).into());
        config.idle_timeout = ms(self.idle_ms);
        config.close_timeout = ms(self.close_ms);
        config
    }
}

/// One step of the script. Lengths are in tape bytes (fewer if the tape runs out).
#[derive(Arbitrary, Debug)]
pub enum Op {
    /// `len` bytes arrive, through `handle_read`, or through
    /// `receive_buffer` + `handle_received` when `lend`.
    Read { len: u16, lend: bool },
    /// A frame arrives in two reads cut at `split`: the first byte is `head`
    /// (FIN, RSV, opcode), the payload is `len` bytes, masked when `masked`.
    Frame {
        head: u8,
        masked: bool,
        len: u16,
        split: u16,
    },
    /// `send` a text (the bytes made valid UTF-8) or binary message; the
    /// bytes repeat `1 + times % 64` times, so that payloads can outgrow the
    /// 4 KiB beyond which proto queues them by reference.
    Send { text: bool, len: u16, times: u8 },
    /// `send_fragment` of text (the bytes as they are) or binary, repeated
    /// as for `Send`.
    SendFragment {
        text: bool,
        len: u16,
        times: u8,
        fin: bool,
    },
    /// `send_prepared` of a `PreparedMessage` made as for `Send` (servers only).
    SendPrepared { text: bool, len: u16, times: u8 },
    /// `ping`.
    Ping { len: u8 },
    /// `pong`.
    Pong { len: u8 },
    /// `close`, with a code and a reason (the bytes made valid UTF-8) or without.
    Close { code: Option<u16>, reason_len: u8 },
    /// `accept`, which has nothing to accept once open.
    Accept,
    /// `poll_transmit` this many times (0: until empty).
    Transmit { pieces: u8 },
    /// A vectored write of `len` bytes: `transmit_chunks` + `advance_transmit`.
    Write { len: u16 },
    /// The clock moves `ms` on, then `handle_timeout`.
    Sleep { ms: u16 },
    /// The clock moves to `poll_timeout()`, then `handle_timeout`.
    Wake,
    /// `handle_eof`.
    Eof,
}

/// How much a step may change the output queue.
enum Growth {
    /// Exactly this many bytes more (a command's frame, or 0).
    Exactly(usize),
    /// Bytes arrived: a pong per ping received, plus one close frame.
    Peer,
    /// Timers fired: a keepalive ping, plus one close frame.
    Timer,
    /// This many bytes were written out.
    Written(usize),
    /// The transport ended: nothing is left.
    Eof,
    /// The opening handshake (and, for a server, its 101 response): not checked.
    Start,
}

/// Who queued the close frame that ended the open state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    /// We did (`close`, or the idle timer).
    Ours,
    /// The peer's close, echoed.
    Echo,
    /// A protocol error of the peer; the code sent.
    Failure(Option<u16>),
}

/// Runs an [`Input`] against a connection and checks it after every step.
pub struct Driver<'a> {
    conn: Connection,
    config: Config,
    role: Role,
    now: Instant,
    tape: &'a [u8],
    /// What was transmitted, parsed.
    wire: Wire,
    /// Data and close frames sent through the API, not yet seen on the wire.
    expected: VecDeque<Frame>,
    /// The fragmented message being sent: its kind and bytes so far.
    sending: Option<(MessageKind, Vec<u8>)>,
    /// The streamed message being received: its kind and bytes so far.
    receiving: Option<(MessageKind, Vec<u8>)>,
    /// Bytes of pongs that the pings received in this step may queue.
    pongs_owed: usize,
    /// Bytes read since events were last polled (decoding waits for the polls).
    unpolled: usize,
    /// The peer's close frame received in this step.
    peer_close: Option<Option<CloseFrame>>,
    closing: Option<Closing>,
    closed: bool,
}

impl<'a> Driver<'a> {
    /// A server that received [`REQUEST`] (and `input.eager` tape bytes in
    /// the same read) and accepted it.
    pub fn server(input: &Input<'a>) -> Self {
        let config = input.limits.config();
        let conn = Connection::server(config.clone(), Instant::now()).expect("config");
        let mut driver = Driver::new(conn, config, input.tape, Wire::new(Role::Server, true));
        let mut read = REQUEST.to_vec();
        read.extend_from_slice(driver.take(input.eager.into()));
        driver.conn.handle_read(driver.now, &read);
        let event = driver.conn.poll_event();
        assert!(matches!(event, Some(Event::Request(_))), "{event:?}");
        let accepted = driver.conn.accept(driver.now, Accept::default());
        assert_eq!(accepted, Ok(()));
        driver.after(State::Open, 0, Growth::Start);
        driver
    }

    /// A client that sent its request and received a valid 101 response for
    /// its key (and `input.eager` tape bytes in the same read).
    pub fn client(input: &Input<'a>) -> Self {
        let config = input.limits.config();
        let conn = Connection::client(
            &client_request(),
            config.clone(),
            CLIENT_SEED,
            Instant::now(),
        )
        .expect("config");
        let mut driver = Driver::new(conn, config, input.tape, Wire::new(Role::Client, false));
        let request: Vec<u8> = std::iter::from_fn(|| driver.conn.poll_transmit(Instant::now()))
            .flatten()
            .collect();
        let request = String::from_utf8(request).expect("the request is text");
        let key = request
            .lines()
            .find_map(|line| line.strip_prefix("Sec-WebSocket-Key: "))
            .expect("the request carries a key");
        let mut read = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            accept_key(key.as_bytes())
        )
        .into_bytes();
        read.extend_from_slice(driver.take(input.eager.into()));
        driver.conn.handle_read(driver.now, &read);
        let event = driver.conn.poll_event();
        assert!(matches!(event, Some(Event::Connected(_))), "{event:?}");
        driver.after(State::Open, 0, Growth::Start);
        driver
    }

    fn new(conn: Connection, config: Config, tape: &'a [u8], wire: Wire) -> Self {
        Driver {
            role: conn.role(),
            conn,
            config,
            now: Instant::now(),
            tape,
            wire,
            expected: VecDeque::new(),
            sending: None,
            receiving: None,
            pongs_owed: 0,
            unpolled: 0,
            peer_close: None,
            closing: None,
            closed: false,
        }
    }

    /// Runs every operation, then ends the transport: `Event::Closed` must
    /// have come, once.
    pub fn run(mut self, ops: &[Op]) {
        for op in ops {
            self.step(op);
        }
        self.step(&Op::Eof);
        assert!(self.closed, "no Event::Closed after the EOF");
    }

    fn step(&mut self, op: &Op) {
        let state = self.conn.state();
        let before = self.conn.buffered_outgoing();
        let growth = self.apply(op, before);
        self.after(state, before, growth);
    }

    /// Carries out `op` and says how it may change the output queue.
    fn apply(&mut self, op: &Op, before: usize) -> Growth {
        let now = self.now;
        let repeat = |times: u8| 1 + usize::from(times % 64);
        match *op {
            Op::Read { len, lend } => {
                let bytes = self.take(len.into());
                self.read(bytes, lend);
                Growth::Peer
            }
            Op::Frame {
                head,
                masked,
                len,
                split,
            } => {
                let frame = encode_frame(head, masked, self.take(len.into()));
                let (first, second) = frame.split_at(usize::from(split) % (frame.len() + 1));
                self.read(first, false);
                self.read(second, false);
                Growth::Peer
            }
            Op::Send { text, len, times } => {
                let bytes = self.take(len.into()).repeat(repeat(times));
                self.send(text, &bytes, before)
            }
            Op::SendFragment {
                text,
                len,
                times,
                fin,
            } => {
                let bytes = self.take(len.into()).repeat(repeat(times));
                self.send_fragment(text, &bytes, fin, before)
            }
            Op::SendPrepared { text, len, times } => {
                let bytes = self.take(len.into()).repeat(repeat(times));
                self.send_prepared(text, &bytes, before)
            }
            Op::Ping { len } => self.send_control(OpCode::Ping, len, before),
            Op::Pong { len } => self.send_control(OpCode::Pong, len, before),
            Op::Close { code, reason_len } => self.close(code, reason_len),
            Op::Accept => {
                let result = self.conn.accept(now, Accept::default());
                assert_eq!(result, Err(AcceptError::NoPendingRequest));
                Growth::Exactly(0)
            }
            Op::Transmit { pieces } => self.poll_transmit(pieces),
            Op::Write { len } => self.write(len.into(), before),
            Op::Sleep { ms } => {
                self.now += Duration::from_millis(ms.into());
                self.timeout()
            }
            Op::Wake => {
                if let Some(at) = self.conn.poll_timeout() {
                    self.now = self.now.max(at);
                }
                self.timeout()
            }
            Op::Eof => {
                self.conn.handle_eof(self.now);
                Growth::Eof
            }
        }
    }

    /// Bytes arrive, through `handle_read` or, when `lend`, through
    /// `receive_buffer` + `handle_received`.
    fn read(&mut self, bytes: &[u8], lend: bool) {
        if lend {
            self.conn.receive_buffer().extend_from_slice(bytes);
            self.conn.handle_received(self.now);
        } else {
            self.conn.handle_read(self.now, bytes);
        }
        self.unpolled += bytes.len();
        let bound = self.max_incoming() + self.unpolled;
        let incoming = self.conn.buffered_incoming();
        assert!(
            incoming <= bound,
            "{incoming} bytes buffered, bound {bound}"
        );
    }

    fn send(&mut self, text: bool, bytes: &[u8], before: usize) -> Growth {
        let (message, frame) = message(text, bytes);
        let expected = self.may_send().and_then(|()| match self.sending {
            Some(_) => Err(SendError::MessageInProgress),
            None => self.capacity(before, self.frame_len(frame.payload.len())),
        });
        let result = self.conn.send(self.now, &message);
        self.sent(result, expected, frame, true)
    }

    fn send_fragment(&mut self, text: bool, bytes: &[u8], fin: bool, before: usize) -> Growth {
        let kind = if text {
            MessageKind::Text
        } else {
            MessageKind::Binary
        };
        let (opcode, mut so_far) = match &self.sending {
            Some((_, so_far)) => (OpCode::Continuation, so_far.clone()),
            None if text => (OpCode::Text, Vec::new()),
            None => (OpCode::Binary, Vec::new()),
        };
        so_far.extend_from_slice(bytes);
        let expected = self.may_send().and_then(|()| {
            if matches!(&self.sending, Some((sending, _)) if *sending != kind) {
                return Err(SendError::MessageInProgress);
            }
            self.capacity(before, self.frame_len(bytes.len()))?;
            if text && !utf8_prefix(&so_far, fin) {
                return Err(SendError::InvalidUtf8);
            }
            Ok(())
        });
        let result = self
            .conn
            .send_fragment(self.now, kind, &Bytes::copy_from_slice(bytes), fin);
        // A refused fragment changes nothing: the message stays in progress.
        if result.is_ok() {
            self.sending = (!fin).then_some((kind, so_far));
        }
        self.sent(result, expected, data(opcode, fin, bytes), true)
    }

    fn send_prepared(&mut self, text: bool, bytes: &[u8], before: usize) -> Growth {
        let (message, frame) = message(text, bytes);
        let prepared = PreparedMessage::new(&message).expect("a data message");
        let expected = match self.role {
            Role::Client => Err(SendError::ClientCannotSendPrepared),
            Role::Server => self.may_send().and_then(|()| match self.sending {
                Some(_) => Err(SendError::MessageInProgress),
                None => self.capacity(before, prepared.frame().len()),
            }),
        };
        let result = self.conn.send_prepared(self.now, &prepared);
        self.sent(result, expected, frame, true)
    }

    fn send_control(&mut self, opcode: OpCode, len: u8, before: usize) -> Growth {
        let payload = self.take(len.into());
        let expected = self.may_send().and_then(|()| {
            if payload.len() > MAX_CONTROL_PAYLOAD {
                return Err(SendError::ControlPayloadTooLong(payload.len()));
            }
            self.capacity(before, self.frame_len(payload.len()))
        });
        let result = match opcode {
            OpCode::Ping => self.conn.ping(self.now, payload),
            _ => self.conn.pong(self.now, payload),
        };
        // Control frames may overtake queued data: not checked for order.
        self.sent(result, expected, data(opcode, true, payload), false)
    }

    fn close(&mut self, code: Option<u16>, reason_len: u8) -> Growth {
        let reason = String::from_utf8_lossy(self.take(reason_len.into())).into_owned();
        let expected = self.may_send().and_then(|()| match code {
            Some(code) if !CloseCode(code).is_valid_on_wire() => {
                Err(SendError::InvalidCloseCode(code))
            }
            Some(_) if reason.len() > CloseFrame::MAX_REASON_LEN => {
                Err(SendError::ControlPayloadTooLong(reason.len() + 2))
            }
            _ => Ok(()),
        });
        let payload = close_payload(code, &reason);
        let frame = code.map(|code| CloseFrame::new(CloseCode(code), reason));
        let result = self.conn.close(self.now, frame);
        self.sent(result, expected, data(OpCode::Close, true, &payload), true)
    }

    /// `poll_transmit`, `pieces` times (0: until empty).
    fn poll_transmit(&mut self, pieces: u8) -> Growth {
        let pieces = if pieces == 0 {
            usize::MAX
        } else {
            pieces.into()
        };
        let mut written = 0;
        for _ in 0..pieces {
            let Some(bytes) = self.conn.poll_transmit(self.now) else {
                break;
            };
            assert!(!bytes.is_empty(), "poll_transmit returned an empty piece");
            written += bytes.len();
            self.transmitted(&bytes);
        }
        Growth::Written(written)
    }

    /// A vectored write of up to `len` bytes.
    fn write(&mut self, len: usize, before: usize) -> Growth {
        let mut slices = [IoSlice::new(&[]); 64];
        let filled = self.conn.transmit_chunks(&mut slices);
        let mut bytes: Vec<u8> = slices[..filled]
            .iter()
            .flat_map(|s| s.iter())
            .copied()
            .collect();
        if filled < slices.len() {
            assert_eq!(bytes.len(), before, "transmit_chunks must cover the queue");
        }
        bytes.truncate(len);
        self.conn.advance_transmit(self.now, bytes.len());
        self.transmitted(&bytes);
        Growth::Written(bytes.len())
    }

    fn timeout(&mut self) -> Growth {
        self.conn.handle_timeout(self.now);
        let next = self.conn.poll_timeout();
        assert!(
            next.is_none_or(|at| at > self.now),
            "a deadline is still due after handle_timeout"
        );
        Growth::Timer
    }

    /// Checks the connection after a step that started in `state` with
    /// `before` bytes queued.
    fn after(&mut self, state: State, before: usize, growth: Growth) {
        self.pongs_owed = 0;
        self.peer_close = None;
        while let Some(event) = self.conn.poll_event() {
            self.event(event);
        }
        self.unpolled = 0;
        assert_eq!(self.closed, self.conn.is_closed(), "Closed event vs state");

        let after = self.conn.buffered_outgoing();
        assert_eq!(self.conn.wants_write(), after > 0);
        let close_max = frame_len(self.role, MAX_CONTROL_PAYLOAD);
        match growth {
            Growth::Exactly(n) => assert_eq!(after, before + n, "queue after a command"),
            Growth::Peer => assert!(
                after <= before + self.pongs_owed + close_max,
                "input queued {} bytes (before {before}, pongs {})",
                after.saturating_sub(before),
                self.pongs_owed
            ),
            Growth::Timer => assert!(
                after <= before + frame_len(self.role, 0) + close_max,
                "timers queued {} bytes",
                after.saturating_sub(before)
            ),
            Growth::Written(n) => assert_eq!(after, before - n, "queue after a write"),
            Growth::Eof => assert_eq!(after, 0, "output left after EOF"),
            Growth::Start => {}
        }

        let incoming = self.conn.buffered_incoming();
        let bound = self.max_incoming();
        assert!(
            incoming <= bound,
            "{incoming} bytes buffered, bound {bound}"
        );

        if state == State::Open && self.conn.state() != State::Open {
            self.left_open(&growth);
        }
    }

    /// The connection left the open state in the last step.
    fn left_open(&mut self, growth: &Growth) {
        if self.conn.state() == State::Closed {
            // Only the transport ending or a timeout drop a connection at once.
            assert!(
                matches!(growth, Growth::Eof | Growth::Timer),
                "left the open state without a close frame"
            );
            return;
        }
        let mut wire = self.wire.clone();
        wire.push(&self.queued());
        assert!(wire.at_boundary(), "the queue ends inside a frame");
        let code = wire
            .close
            .expect("left the open state without queueing a close frame");
        let closing = match (growth, &self.peer_close) {
            (Growth::Peer | Growth::Start, Some(frame)) => {
                assert_eq!(code, frame.as_ref().map(|f| f.code.0), "echoed close code");
                Closing::Echo
            }
            (Growth::Peer | Growth::Start, None) => Closing::Failure(code),
            (Growth::Timer, _) => {
                let (idle_code, reason) = IDLE_CLOSE;
                let payload = close_payload(Some(idle_code), reason);
                self.expected.push_back(data(OpCode::Close, true, &payload));
                Closing::Ours
            }
            _ => Closing::Ours,
        };
        self.closing = Some(closing);
    }

    fn event(&mut self, event: Event) {
        assert!(!self.closed, "event after Event::Closed: {event:?}");
        let max = self.config.max_message_size;
        match event {
            Event::Message(Message::Text(text)) => {
                assert!(!self.config.streaming, "whole message while streaming");
                assert!(text.len() <= max, "message of {} bytes", text.len());
                let _ = text.as_str();
            }
            Event::Message(Message::Binary(bytes)) => {
                assert!(!self.config.streaming, "whole message while streaming");
                assert!(bytes.len() <= max, "message of {} bytes", bytes.len());
            }
            Event::Message(Message::Ping(payload)) => {
                assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
                self.pongs_owed += frame_len(self.role, payload.len());
            }
            Event::Message(Message::Pong(payload)) => {
                assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
            }
            Event::Message(Message::Close(frame)) => {
                if let Some(frame) = &frame {
                    assert!(frame.code.is_valid_on_wire());
                    assert!(frame.reason.len() <= CloseFrame::MAX_REASON_LEN);
                }
                self.peer_close = Some(frame);
            }
            Event::Fragment(fragment) => self.fragment(fragment),
            Event::Closed(reason) => {
                self.closed = true;
                assert!(
                    self.conn.is_closed(),
                    "Event::Closed before the state is Closed"
                );
                assert_eq!(self.conn.buffered_outgoing(), 0);
                assert_eq!(self.conn.buffered_incoming(), 0);
                if let CloseReason::Protocol(error) = &reason {
                    let closing = self.closing.expect("a protocol error always closes");
                    if let Closing::Failure(code) = closing {
                        assert_eq!(code, Some(error.close_code().0), "{error}");
                    }
                }
            }
            other => panic!("unexpected event once open: {other:?}"),
        }
    }

    fn fragment(&mut self, fragment: Fragment) {
        assert!(self.config.streaming, "fragment while not streaming");
        let mut so_far = match self.receiving.take() {
            Some((kind, so_far)) => {
                assert!(!fragment.first && kind == fragment.kind, "{fragment:?}");
                so_far
            }
            None => {
                assert!(fragment.first, "{fragment:?}");
                Vec::new()
            }
        };
        so_far.extend_from_slice(&fragment.data);
        assert!(
            so_far.len() <= self.config.max_message_size,
            "streamed message too large"
        );
        if fragment.kind == MessageKind::Text {
            assert!(
                utf8_prefix(&so_far, fragment.fin),
                "invalid UTF-8 delivered"
            );
        }
        if !fragment.fin {
            self.receiving = Some((fragment.kind, so_far));
        }
    }

    /// Checks a command's result against the model's; returns its growth.
    fn sent(
        &mut self,
        result: Result<(), SendError>,
        expected: Result<(), SendError>,
        frame: Frame,
        in_order: bool,
    ) -> Growth {
        assert_eq!(
            result,
            expected,
            "{:?} of {} bytes",
            frame.opcode,
            frame.payload.len()
        );
        if result.is_err() {
            return Growth::Exactly(0);
        }
        let len = frame_len(self.role, frame.payload.len());
        if in_order {
            self.expected.push_back(frame);
        }
        Growth::Exactly(len)
    }

    /// The bytes arrived at the peer: parse them, and match the data and
    /// close frames against those sent.
    fn transmitted(&mut self, bytes: &[u8]) {
        for frame in self.wire.push(bytes) {
            match frame.opcode {
                OpCode::Ping | OpCode::Pong => {}
                OpCode::Close => match self.closing {
                    Some(Closing::Ours) => {
                        assert_eq!(self.expected.pop_front(), Some(frame), "our close frame")
                    }
                    Some(Closing::Echo | Closing::Failure(_)) => {
                        assert!(self.expected.is_empty(), "the close overtook data");
                    }
                    None => panic!("close frame sent while open"),
                },
                _ => {
                    let expected = self.expected.pop_front();
                    assert_eq!(expected, Some(frame), "data frames must go out as sent");
                }
            }
        }
    }

    /// Everything queued, as `transmit_chunks` shows it.
    fn queued(&self) -> Vec<u8> {
        let mut slices = vec![IoSlice::new(&[]); 4096];
        let filled = self.conn.transmit_chunks(&mut slices);
        assert!(filled < slices.len());
        slices[..filled]
            .iter()
            .flat_map(|s| s.iter())
            .copied()
            .collect()
    }

    /// What may stay buffered from the peer once every event is polled.
    fn max_incoming(&self) -> usize {
        self.config.max_message_size + self.config.max_frame_size.max(MAX_HEADER_LEN)
    }

    fn may_send(&self) -> Result<(), SendError> {
        match self.conn.state() {
            State::Open => Ok(()),
            _ => Err(SendError::Closed),
        }
    }

    /// The size of the frame this connection sends for `payload` bytes: a
    /// client's frames carry a 4-byte masking key.
    fn frame_len(&self, payload: usize) -> usize {
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Binary,
            mask: (self.conn.role() == Role::Client).then_some([0; 4]),
            payload_len: payload as u64,
        };
        header.encoded_len() + payload
    }

    /// The documented backpressure rule: a send is refused when its frame
    /// would push a non-empty queue past `max_outgoing_buffer`.
    fn capacity(&self, buffered: usize, frame: usize) -> Result<(), SendError> {
        let limit = self.config.max_outgoing_buffer;
        if buffered > 0 && buffered + frame > limit {
            return Err(SendError::Full { buffered, limit });
        }
        Ok(())
    }

    fn take(&mut self, len: usize) -> &'a [u8] {
        let (taken, rest) = self.tape.split_at(len.min(self.tape.len()));
        self.tape = rest;
        taken
    }
}

/// A message of `bytes` (made valid UTF-8 for text), and its frame.
fn message(text: bool, bytes: &[u8]) -> (Message, Frame) {
    if text {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let frame = data(OpCode::Text, true, text.as_bytes());
        (Message::text(text), frame)
    } else {
        (
            Message::binary(bytes.to_vec()),
            data(OpCode::Binary, true, bytes),
        )
    }
}

/// Whether `text` is valid UTF-8 (`complete`) or the start of valid UTF-8.
fn utf8_prefix(text: &[u8], complete: bool) -> bool {
    match std::str::from_utf8(text) {
        Ok(_) => true,
        Err(e) => !complete && e.error_len().is_none(),
    }
}

fn data(opcode: OpCode, fin: bool, payload: &[u8]) -> Frame {
    Frame {
        opcode,
        fin,
        payload: payload.to_vec(),
    }
}

fn close_payload(code: Option<u16>, reason: &str) -> Vec<u8> {
    match code {
        Some(code) => [&code.to_be_bytes()[..], reason.as_bytes()].concat(),
        None => Vec::new(),
    }
}

/// A frame with `head` as its first byte, the shortest length encoding, and
/// the payload masked with RFC 6455's example key when `masked`.
pub fn encode_frame(head: u8, masked: bool, payload: &[u8]) -> Vec<u8> {
    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
    let mask_bit = if masked { 0x80 } else { 0 };
    let mut frame = vec![head];
    match payload.len() {
        len @ 0..=125 => frame.push(mask_bit | len as u8),
        len @ 126..=0xffff => {
            frame.push(mask_bit | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(mask_bit | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    if masked {
        frame.extend_from_slice(&KEY);
    }
    let start = frame.len();
    frame.extend_from_slice(payload);
    if masked {
        apply_mask(&mut frame[start..], KEY, 0);
    }
    frame
}
