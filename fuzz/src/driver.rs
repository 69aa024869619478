//! The `connection_*` targets: a structured input, and a [`Driver`] that runs
//! it against an open [`Connection`] next to a model of proto's lifecycle,
//! and checks the connection against the model after every step.
//!
//! The input is a script of operations ([`Op`]) and a tape of bytes: every
//! operation that needs bytes (what the peer sends, a payload to send) takes
//! the next ones from the tape, so the payloads stay contiguous and readable
//! in the corpus.
//!
//! The model follows the phase of the connection (open; our close sent;
//! draining the output with the reason it will end with, and whether a client
//! then waits for the EOF; waiting for the EOF; closed), its deadlines, and
//! the peer's EOF. It learns what the peer did from the events (the model does
//! not decode frames), and of a protocol error from its effects: an open
//! connection that leaves the open state without an event, or one that sent
//! its close and stops wanting input.
//!
//! Invariants, after every step:
//!
//! - **Phase**: `state()` and `wants_read()` are the model's; `Event::Closed`
//!   comes exactly when the model ends the connection, once, last, with the
//!   model's reason: the peer's close frame after a closing handshake, the
//!   timer's for a keepalive pong or a close timeout after our close, `Eof`
//!   for the peer's EOF or a reset before any close, and otherwise the reason
//!   the connection was draining with (a reset, an EOF or the close timer do
//!   not replace it). Then nothing is buffered either way, and
//!   `received_consumed()` counts every byte read.
//! - **EOF and reset**: the peer's EOF stops delivery but leaves the output
//!   queued; the connection ends once it is written (or the close timer
//!   fires). A reset ends it at once. The script always ends with an EOF and
//!   a full write, after which `Event::Closed` must have come.
//! - **Events**: data, pings, pongs and the peer's close come only while open
//!   or after our close (data the peer sent before it saw our close is still
//!   delivered), never once draining. A received message, or the fragments
//!   of a streamed one, never exceed `max_message_size`, and text is valid
//!   UTF-8; control payloads fit 125 bytes; messages come whole unless
//!   streaming, fragments only when streaming. A well-formed frame built by
//!   the script on a clean stream (nothing else read before it) is delivered
//!   as exactly its payload, ping, pong or close frame.
//! - **Input bound**: once every event is polled, `buffered_incoming() <=
//!   max_message_size + max(max_frame_size, MAX_HEADER_LEN)`: the fragments
//!   of one message plus one frame's payload (or a partial header). Frames
//!   are decoded as events are polled, so between polls the bytes read since
//!   the last poll come on top. `received_consumed()` never decreases, never
//!   exceeds the bytes read, and misses at most what is still buffered.
//! - **Output**: a send (message, fragment, prepared message, ping, pong) is
//!   accepted exactly when the model is open and the queue is empty or stays
//!   within `max_outgoing_buffer` (its whole frame counted, header included),
//!   and then grows the queue by exactly its frame; it fails with the right
//!   error otherwise, leaving the queue as it was. What the connection queues
//!   by itself is exact: a pong per ping received while open (with
//!   `auto_pong`; none after our close), the echo of the peer's close (its
//!   code, no reason) when open; a protocol error's close frame (at most 125
//!   bytes of payload) when open; the idle timer's close frame; a keepalive
//!   ping (or none, when control frames are still queued). Writes (whole,
//!   vectored, limited to `max` bytes) take exactly what they report, limited
//!   output is a prefix of the queue, and nothing is queued once closed.
//! - **Wire**: everything transmitted parses as valid frames (see
//!   [`Wire`]); the data and close frames sent through the API come out in
//!   order and unchanged.
//! - **permessage-deflate** (when `Input::deflate` agrees it; the
//!   agreement must be exactly the one the handshake asked for): a whole
//!   message we send (`send`, `send_prepared`) is compressed exactly when,
//!   and into exactly as many bytes as, a flate2 compressor with the agreed
//!   window, context takeover, level and threshold says (see
//!   [`Deflater`]); fragments and control frames never; the wire inflates
//!   RSV1 frames and compares them with what was sent. Compressed messages
//!   from the script (`Op::Deflated`, or `Op::Frame` with RSV bits) on a
//!   clean stream are delivered exactly as a flate2 inflater kept for that
//!   direction inflates them, or fail the open connection with the code
//!   predicted: 1002 for RSV bits not allowed (no agreement, a control or
//!   continuation frame, RSV2/RSV3), 1007 for invalid deflate data or
//!   UTF-8, 1009 past `max_frame_size` or `max_message_size` (see
//!   `Driver::compressed`).
//! - **Closing**: whenever the connection leaves the open state with a close
//!   frame (ours, the echo of the peer's, or a protocol error's), the queue
//!   ends with that close frame and it follows all data queued before; an
//!   echo carries the peer's code; a protocol error's close carries the
//!   error's code (checked when `Event::Closed(CloseReason::Protocol(e))`
//!   arrives); an EOF while open queues no close frame at all.
//! - **Timers**: `poll_timeout()` is the model's next deadline: while open,
//!   the keepalive and idle clocks restart on every read of at least one
//!   byte, a keepalive ping arms the pong deadline; after our close (or the
//!   idle timer's), only the close timer runs, from the close and again from
//!   every write that makes progress while closing or draining; entering the
//!   draining phase stops everything but a fresh close timer. A duration of
//!   255 ms in [`Limits`] stands for `Duration::MAX`, a deadline too far to
//!   represent, which must be no deadline. After `handle_timeout(now)`,
//!   nothing is due at `now`.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use rusty_socket_proto::{
    accept_key, apply_mask, Accept, AcceptError, Bytes, CloseCode, CloseFrame, CloseReason, Config,
    Connection, Deflate, Event, Fragment, FrameHeader, Message, MessageKind, OpCode,
    PreparedMessage, Role, SendError, State, Timer, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN,
};

use flate2::{Compress, Compression};

use crate::deflate::{deflate_message, Deflater, Inflater, CORRUPT, TOO_LARGE};
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
    /// permessage-deflate agreed in the opening handshake, with these
    /// parameters; `None`: the handshake does not agree it.
    pub deflate: Option<DeflateParams>,
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
    /// Keepalive interval and timeout in ms; 0 is off, 255 is `Duration::MAX`.
    pub keepalive_ms: u8,
    /// Idle timeout in ms; 0 is off, 255 is `Duration::MAX`.
    pub idle_ms: u8,
    /// Close timeout in ms; 0 is none, 255 is `Duration::MAX`.
    pub close_ms: u8,
}

impl Limits {
    /// The `Config` these limits describe.
    pub fn config(&self) -> Config {
        let ms = |ms: u8| match ms {
            0 => None,
            255 => Some(Duration::MAX),
            ms => Some(Duration::from_millis(ms.into())),
        };
        let mut config = Config::default();
        config.max_frame_size = 1 + usize::from(self.max_frame_size);
        config.max_message_size = 1 + usize::from(self.max_message_size % 1024);
        config.max_outgoing_buffer = 1 + usize::from(self.max_outgoing_buffer % 1024);
        config.streaming = self.streaming;
        config.auto_pong = self.auto_pong;
        config.keepalive_interval = ms(self.keepalive_ms);
        config.keepalive_timeout = ms(self.keepalive_ms).unwrap_or(Duration::from_millis(1));
        config.idle_timeout = ms(self.idle_ms);
        config.close_timeout = ms(self.close_ms);
        config
    }
}

/// The permessage-deflate agreement (RFC 7692) the peer's side of the
/// handshake makes: a server under test is offered it by the request, a
/// client under test gets it in the 101 response.
#[derive(Arbitrary, Debug, Clone)]
pub struct DeflateParams {
    /// `server_no_context_takeover`.
    pub server_no_context_takeover: bool,
    /// `client_no_context_takeover`.
    pub client_no_context_takeover: bool,
    /// `server_max_window_bits` is 8 + this % 8 (asked by the client, or
    /// set by the server).
    pub server_bits: u8,
    /// `client_max_window_bits`: 9 + this % 7 for the server under test
    /// (its own request to the client), 8 + this % 8 set by the server for
    /// the client under test.
    pub client_bits: u8,
    /// Our compression level is this % 10.
    pub level: u8,
    /// Our compression threshold.
    pub threshold: u8,
}

impl DeflateParams {
    fn server_bits(&self) -> u8 {
        8 + self.server_bits % 8
    }

    /// Our `DeflateConfig`'s level and threshold.
    fn configure(&self, config: &mut Config) {
        config.deflate.level = u32::from(self.level % 10);
        config.deflate.threshold = self.threshold.into();
        config.deflate.local_no_context_takeover = false;
        config.deflate.remote_no_context_takeover = false;
    }
}

/// One step of the script. Lengths are in tape bytes (fewer if the tape runs out).
#[derive(Arbitrary, Debug)]
pub enum Op {
    /// `len` bytes arrive, through `handle_read`, or through
    /// `receive_buffer` + `handle_received` when `lend`. No read is made
    /// when no bytes are left: a read of 0 bytes is an EOF.
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
    /// `handle_eof`: the peer has finished sending.
    Eof,
    /// `handle_reset`: the transport is gone.
    Reset,
    /// `poll_transmit_limited(now, max)` this many times (0: until empty).
    TransmitLimited { max: u16, pieces: u8 },
    /// A vectored write of everything `transmit_chunks_limited(dst, max)`
    /// gives, then `advance_transmit`.
    WriteLimited { max: u16 },
    /// A message arrives compressed (RSV1 on its first frame), with the
    /// peer's compressor (the agreed window and context takeover; a fresh
    /// 15-bit one when deflate was not agreed) at `level % 10`: a text (the
    /// bytes made valid UTF-8) or binary message of the bytes repeated as
    /// for `Send`, its compressed bytes cut into `1 + frames % 4` frames,
    /// each arriving in two reads cut at `split`.
    Deflated {
        text: bool,
        len: u16,
        times: u8,
        level: u8,
        frames: u8,
        split: u16,
    },
}

/// How much a step may change the output queue (once closed, it must be empty).
enum Growth {
    /// Exactly this many bytes more (a command's frame, or 0).
    Exactly(usize),
    /// Bytes arrived: exactly the pongs and the echo the events call for,
    /// plus a protocol error's close frame if one was found while open.
    Peer,
    /// Timers fired: the idle timer's close frame if it fired, and a
    /// keepalive ping if that fired (or none, when control frames wait).
    Timer { ping: bool, idle: bool },
    /// This many bytes were written out.
    Written(usize),
    /// The opening handshake (and, for a server, its 101 response): not checked.
    Start,
}

/// Who queued the close frame that ended the open state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    /// We did (`close`, or the idle timer).
    Ours,
    /// The peer's close, echoed with its code.
    Echo(Option<u16>),
    /// A protocol error of the peer; the code sent.
    Failure(Option<u16>),
}

/// The reason `Event::Closed` must carry, as far as the model knows it.
#[derive(Debug, Clone, PartialEq)]
enum Why {
    /// Exactly this one.
    Is(CloseReason),
    /// A protocol error of the peer (the model does not decode frames, so
    /// not which one): any `CloseReason::Protocol`.
    Protocol,
}

impl Why {
    fn check(&self, reason: &CloseReason) {
        match self {
            Why::Is(expected) => assert_eq!(reason, expected, "the reason of Event::Closed"),
            Why::Protocol => assert!(
                matches!(reason, CloseReason::Protocol(_)),
                "Event::Closed({reason:?}) after a protocol error"
            ),
        }
    }
}

/// proto's phase once open, as the model predicts it.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Open,
    /// Our close frame is queued; the peer's data is still delivered.
    CloseSent,
    /// Nothing more is delivered; the output is written, then the end (or,
    /// for a client after a clean close and before the peer's EOF, a wait
    /// for that EOF).
    Draining {
        why: Why,
        await_eof: bool,
    },
    AwaitingEof {
        why: Why,
    },
    Closed {
        why: Why,
    },
}

impl Phase {
    fn state(&self) -> State {
        match self {
            Phase::Open => State::Open,
            Phase::CloseSent | Phase::Draining { .. } | Phase::AwaitingEof { .. } => State::Closing,
            Phase::Closed { .. } => State::Closed,
        }
    }

    /// Whether frames are still decoded and delivered.
    fn delivers(&self) -> bool {
        matches!(self, Phase::Open | Phase::CloseSent)
    }
}

/// The model's deadlines (the handshake's is gone once open).
#[derive(Debug, Clone, Copy, Default)]
struct Deadlines {
    close: Option<Instant>,
    keepalive: Option<Instant>,
    pong: Option<Instant>,
    idle: Option<Instant>,
}

impl Deadlines {
    fn all(&self) -> [(Timer, Option<Instant>); 4] {
        // proto's order, which breaks ties between deadlines due at once.
        [
            (Timer::Close, self.close),
            (Timer::Keepalive, self.keepalive),
            (Timer::Pong, self.pong),
            (Timer::Idle, self.idle),
        ]
    }

    fn next(&self) -> Option<Instant> {
        self.all().into_iter().filter_map(|(_, at)| at).min()
    }

    /// Removes and returns the earliest deadline due at `now`.
    fn expired(&mut self, now: Instant) -> Option<Timer> {
        let mut due: Option<(Timer, Instant)> = None;
        for (timer, at) in self.all() {
            if let Some(at) = at.filter(|at| *at <= now) {
                if due.is_none_or(|(_, earliest)| at < earliest) {
                    due = Some((timer, at));
                }
            }
        }
        let (timer, _) = due?;
        match timer {
            Timer::Close => self.close = None,
            Timer::Keepalive => self.keepalive = None,
            Timer::Pong => self.pong = None,
            _ => self.idle = None,
        }
        Some(timer)
    }
}

/// What a well-formed frame of the script must be delivered as.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// A whole message (or, streaming, fragments that add up to it).
    Data(MessageKind, Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<CloseFrame>),
    /// A protocol error, failing the open connection with one of these codes.
    Fail(Vec<u16>),
}

/// What the events of one step delivered.
#[derive(Debug, Default)]
struct Delivered {
    kind: Option<MessageKind>,
    data: Vec<u8>,
    /// A message was completed.
    complete: bool,
    pings: Vec<Vec<u8>>,
    pongs: Vec<Vec<u8>>,
    /// The peer's close frame, if one was received.
    close: Option<Option<CloseFrame>>,
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
    /// Bytes of pongs that the pings received in this step queue.
    pongs_owed: usize,
    /// Bytes of the echo of the peer's close received in this step.
    echo_owed: usize,
    /// Bytes read since events were last polled (decoding waits for the polls).
    unpolled: usize,
    /// What the events of this step delivered.
    delivered: Delivered,
    /// A protocol error was found in this step.
    failed: bool,
    closing: Option<Closing>,
    closed: bool,
    /// The model.
    phase: Phase,
    deadlines: Deadlines,
    /// The peer has finished sending.
    peer_eof: bool,
    /// Bytes handed to the connection so far, the handshake's included.
    read_total: u64,
    /// `received_consumed()` when last seen.
    consumed: u64,
    /// Everything read since the handshake was well-formed frames that the
    /// model built, so the next well-formed frame is decoded as it is.
    rx_clean: bool,
    /// What the frame read in this step must be delivered as.
    expect: Option<Expect>,
    /// The length of the request a server under test received.
    request_len: usize,
    /// The permessage-deflate agreement, if any.
    deflate: Option<Deflate>,
    /// The connection's compressor, predicted.
    deflater: Option<Deflater>,
    /// The connection's decompressor, while `rx_clean`.
    inflater: Option<Inflater>,
    /// The peer's compressor (`Op::Deflated`) while it keeps its context.
    peer: Option<Compress>,
    /// The peer's window, and whether it resets after every message.
    peer_window: u8,
    peer_reset: bool,
}

impl<'a> Driver<'a> {
    /// A server that received [`REQUEST`] (and `input.eager` tape bytes in
    /// the same read) and accepted it.
    ///
    /// With `input.deflate`, the request offers permessage-deflate (with
    /// `client_max_window_bits`, and the server's window and the context
    /// takeovers asked for), the server asks for the client's window, and
    /// the agreement must be the one asked for.
    pub fn server(input: &Input<'a>) -> Self {
        let mut config = input.limits.config();
        let mut request = REQUEST.to_vec();
        if let Some(params) = &input.deflate {
            params.configure(&mut config);
            config.deflate.remote_max_window_bits = 9 + params.client_bits % 7;
            let mut offer = String::from("permessage-deflate; client_max_window_bits");
            if params.server_no_context_takeover {
                offer.push_str("; server_no_context_takeover");
            }
            if params.client_no_context_takeover {
                offer.push_str("; client_no_context_takeover");
            }
            offer.push_str(&format!(
                "; server_max_window_bits={}",
                params.server_bits()
            ));
            request.truncate(request.len() - 2);
            request
                .extend_from_slice(format!("Sec-WebSocket-Extensions: {offer}\r\n\r\n").as_bytes());
        }
        let conn = Connection::server(config.clone(), Instant::now()).expect("config");
        let mut driver = Driver::new(conn, config, input.tape, Wire::new(Role::Server, true));
        driver.request_len = request.len();
        let mut read = request;
        read.extend_from_slice(driver.take(input.eager.into()));
        driver.start(&read);
        driver.conn.handle_read(driver.now, &read);
        let event = driver.conn.poll_event();
        assert!(matches!(event, Some(Event::Request(_))), "{event:?}");
        let accepted = driver.conn.accept(driver.now, Accept::default());
        assert_eq!(accepted, Ok(()));
        driver.agreed(input.deflate.as_ref().map(|params| {
            (
                params.server_no_context_takeover,
                params.client_no_context_takeover,
                params.server_bits(),
                9 + params.client_bits % 7,
            )
        }));
        driver.after(Phase::Open, 0, Growth::Start);
        driver
    }

    /// A client that sent its request and received a valid 101 response for
    /// its key (and `input.eager` tape bytes in the same read).
    ///
    /// With `input.deflate`, the client offers plain permessage-deflate (and
    /// `client_no_context_takeover` as asked), and the response agrees to it
    /// with the parameters asked for, which the client must adopt.
    pub fn client(input: &Input<'a>) -> Self {
        let mut config = input.limits.config();
        let mut extension = String::new();
        if let Some(params) = &input.deflate {
            params.configure(&mut config);
            config.deflate.local_no_context_takeover = params.client_no_context_takeover;
            extension.push_str("Sec-WebSocket-Extensions: permessage-deflate");
            if params.server_no_context_takeover {
                extension.push_str("; server_no_context_takeover");
            }
            if params.client_no_context_takeover {
                extension.push_str("; client_no_context_takeover");
            }
            extension.push_str(&format!(
                "; server_max_window_bits={}; client_max_window_bits={}\r\n",
                params.server_bits(),
                8 + params.client_bits % 8
            ));
        }
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
             Connection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n{extension}\r\n",
            accept_key(key.as_bytes())
        )
        .into_bytes();
        read.extend_from_slice(driver.take(input.eager.into()));
        driver.start(&read);
        driver.conn.handle_read(driver.now, &read);
        let event = driver.conn.poll_event();
        assert!(matches!(event, Some(Event::Connected(_))), "{event:?}");
        driver.agreed(input.deflate.as_ref().map(|params| {
            (
                params.server_no_context_takeover,
                params.client_no_context_takeover,
                params.server_bits(),
                8 + params.client_bits % 8,
            )
        }));
        driver.after(Phase::Open, 0, Growth::Start);
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
            echo_owed: 0,
            unpolled: 0,
            delivered: Delivered::default(),
            failed: false,
            closing: None,
            closed: false,
            phase: Phase::Open,
            deadlines: Deadlines::default(),
            peer_eof: false,
            read_total: 0,
            consumed: 0,
            rx_clean: true,
            expect: None,
            request_len: REQUEST.len(),
            deflate: None,
            deflater: None,
            inflater: None,
            peer: None,
            peer_window: 15,
            peer_reset: true,
        }
    }

    /// The agreement must be `expected` (server and client no context
    /// takeover, server and client window bits); then the model compresses
    /// and inflates as agreed.
    fn agreed(&mut self, expected: Option<(bool, bool, u8, u8)>) {
        let agreed = self.conn.deflate();
        let got = agreed.map(|d| {
            (
                d.server_no_context_takeover,
                d.client_no_context_takeover,
                d.server_max_window_bits,
                d.client_max_window_bits,
            )
        });
        assert_eq!(got, expected, "the permessage-deflate agreement");
        let Some((server_reset, client_reset, server_bits, client_bits)) = got else {
            return;
        };
        let (local_reset, local_bits, remote_reset, remote_bits) = match self.role {
            Role::Server => (server_reset, server_bits, client_reset, client_bits),
            Role::Client => (client_reset, client_bits, server_reset, server_bits),
        };
        self.deflater = Some(Deflater::new(
            self.config.deflate.level,
            (local_bits >= 9).then_some(local_bits),
            local_reset,
            self.config.deflate.threshold,
        ));
        self.wire =
            Wire::new(self.role, self.role == Role::Server).with_deflate(local_bits, local_reset);
        self.inflater = Some(Inflater::new(remote_bits, remote_reset));
        // zlib has no 8-bit window: a 9-bit one inflates the same.
        self.peer_window = remote_bits.max(9);
        self.peer_reset = remote_reset;
        self.deflate = agreed;
    }

    /// The model of the opening: `read` is the handshake's only read, and
    /// the connection opens at `now`.
    fn start(&mut self, read: &[u8]) {
        let head = match self.role {
            Role::Server => self.request_len,
            Role::Client => {
                read.windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .expect("head")
                    + 4
            }
        };
        self.rx_clean = read.len() == head;
        self.read_total = read.len() as u64;
        self.touch();
    }

    /// Runs every operation, then the peer's EOF and a write of everything
    /// queued: `Event::Closed` must have come, once.
    pub fn run(mut self, ops: &[Op]) {
        for op in ops {
            self.step(op);
        }
        self.step(&Op::Eof);
        self.step(&Op::Transmit { pieces: 0 });
        assert!(
            self.closed,
            "no Event::Closed once the EOF came and the output was written"
        );
    }

    fn step(&mut self, op: &Op) {
        let was = self.phase.clone();
        let before = self.conn.buffered_outgoing();
        let growth = self.apply(op, before);
        self.after(was, before, growth);
    }

    /// Carries out `op`, moves the model, and says how `op` may change the
    /// output queue.
    fn apply(&mut self, op: &Op, before: usize) -> Growth {
        let now = self.now;
        let repeat = |times: u8| 1 + usize::from(times % 64);
        match *op {
            Op::Read { len, lend } => {
                let bytes = self.take(len.into());
                self.rx_clean &= bytes.is_empty();
                self.read(bytes, lend);
                Growth::Peer
            }
            Op::Frame {
                head,
                masked,
                len,
                split,
            } => {
                let payload = self.take(len.into());
                let expect = if head & 0x70 == 0 {
                    self.well_formed(head, masked, payload)
                } else if self.rx_clean {
                    self.compressed(&[(head, payload)], masked)
                } else {
                    None
                };
                self.expect_frame(expect);
                let frame = encode_frame(head, masked, payload);
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
            Op::Transmit { pieces } => self.poll_transmit(usize::MAX, pieces),
            Op::TransmitLimited { max, pieces } => self.poll_transmit(max.into(), pieces),
            Op::Write { len } => self.write(len.into(), before),
            Op::WriteLimited { max } => self.write_limited(max.into(), before),
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
                self.peer_eof = true;
                match self.phase.clone() {
                    Phase::Open | Phase::CloseSent => {
                        self.drain(Why::Is(CloseReason::Eof), false);
                    }
                    Phase::Draining { why, .. } => {
                        self.phase = Phase::Draining {
                            why,
                            await_eof: false,
                        };
                    }
                    Phase::AwaitingEof { why } => self.end(why),
                    Phase::Closed { .. } => {}
                }
                self.finish_if_drained();
                Growth::Exactly(0)
            }
            Op::Deflated {
                text,
                len,
                times,
                level,
                frames,
                split,
            } => {
                let bytes = self.take(len.into()).repeat(repeat(times));
                self.deflated(text, &bytes, level, frames, split);
                Growth::Peer
            }
            Op::Reset => {
                self.conn.handle_reset();
                match self.phase.clone() {
                    Phase::Open | Phase::CloseSent => self.end(Why::Is(CloseReason::Eof)),
                    Phase::Draining { why, .. } | Phase::AwaitingEof { why } => self.end(why),
                    Phase::Closed { .. } => {}
                }
                Growth::Exactly(0)
            }
        }
    }

    /// Bytes arrive, through `handle_read` or, when `lend`, through
    /// `receive_buffer` + `handle_received`.
    fn read(&mut self, bytes: &[u8], lend: bool) {
        if bytes.is_empty() {
            return;
        }
        if self.phase == Phase::Open {
            self.touch();
        }
        if lend {
            self.conn.receive_buffer().extend_from_slice(bytes);
            self.conn.handle_received(self.now);
        } else {
            self.conn.handle_read(self.now, bytes);
        }
        self.read_total += bytes.len() as u64;
        self.unpolled += bytes.len();
        let bound = self.max_incoming() + self.unpolled;
        let incoming = self.conn.buffered_incoming();
        assert!(
            incoming <= bound,
            "{incoming} bytes buffered, bound {bound}"
        );
        self.check_consumed();
    }

    /// What a frame the script builds must be delivered as, when it is
    /// well-formed (a whole text, binary or control frame within the
    /// limits, masked as it must be) and so must be delivered unchanged.
    fn well_formed(&self, head: u8, masked: bool, payload: &[u8]) -> Option<Expect> {
        if masked != (self.role == Role::Server) || payload.len() > self.config.max_frame_size {
            return None;
        }
        let data = payload.len() <= self.config.max_message_size;
        let control = payload.len() <= MAX_CONTROL_PAYLOAD;
        match head {
            0x81 if data && std::str::from_utf8(payload).is_ok() => {
                Some(Expect::Data(MessageKind::Text, payload.to_vec()))
            }
            0x82 if data => Some(Expect::Data(MessageKind::Binary, payload.to_vec())),
            0x89 if control => Some(Expect::Ping(payload.to_vec())),
            0x8A if control => Some(Expect::Pong(payload.to_vec())),
            0x88 if control && payload.is_empty() => Some(Expect::Close(None)),
            0x88 if control && payload.len() >= 2 => {
                let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
                let reason = std::str::from_utf8(&payload[2..]).ok()?;
                code.is_valid_on_wire()
                    .then(|| Expect::Close(Some(CloseFrame::new(code, reason.to_owned()))))
            }
            _ => None,
        }
    }

    /// Sets what the frames of this step must come out as, on a clean
    /// stream: delivered while the connection delivers; a failure while
    /// open (the close frame says its code). Anything else, or a failure,
    /// leaves the stream unclean.
    fn expect_frame(&mut self, expect: Option<Expect>) {
        let fail = matches!(expect, Some(Expect::Fail(_)));
        let due = if fail {
            self.phase == Phase::Open
        } else {
            self.phase.delivers()
        };
        if self.rx_clean && due {
            self.expect = expect.clone();
        }
        self.rx_clean &= expect.is_some() && !fail;
    }

    /// What frames with RSV bits (the first frame's `head` and all the
    /// payloads; only the first may set RSV) must come out as, on a clean
    /// stream, masked when `masked`; moves the model's inflater on. `None`
    /// when the frames leave a message unfinished.
    ///
    /// RSV bits other than RSV1 alone on a text or binary frame, and RSV1
    /// without an agreement, fail with 1002 (so do reserved opcodes and
    /// fragmented or long control frames, which `FrameHeader::decode`
    /// refuses first, and a wrong mask, checked after the RSV bits). Then
    /// each frame's compressed payload must fit `max_frame_size`, and the
    /// compressed payloads `max_message_size` (1009 from the header); its
    /// inflated output must fit what is left of `max_message_size` and
    /// `max_frame_size` (1009), inflate (1007), and for text be valid UTF-8
    /// as it comes (1007). A text past a limit that shows invalid UTF-8
    /// before it may fail either way, depending on the reads.
    fn compressed(&mut self, frames: &[(u8, &[u8])], masked: bool) -> Option<Expect> {
        let fail = |codes: &[u16]| Some(Expect::Fail(codes.to_vec()));
        let (head, _) = frames[0];
        let kind = match head & 0x0f {
            0x1 => MessageKind::Text,
            0x2 => MessageKind::Binary,
            _ => return fail(&[1002]),
        };
        let Some(inflater) = self.inflater.as_mut().filter(|_| head & 0x70 == 0x40) else {
            return fail(&[1002]);
        };
        if masked != (self.role == Role::Server) {
            return fail(&[1002]);
        }
        let (max_frame, max_message) = (self.config.max_frame_size, self.config.max_message_size);
        let text = kind == MessageKind::Text;
        let mut on_wire = 0;
        let mut message = Vec::new();
        for &(head, payload) in frames {
            on_wire += payload.len();
            if payload.len() > max_frame || on_wire > max_message {
                return fail(&[TOO_LARGE]);
            }
            let end = head & 0x80 != 0;
            let limit = (max_message - message.len()).min(max_frame);
            match inflater.inflate(payload, end, limit) {
                Ok(output) => message.extend_from_slice(&output),
                Err(failed) if failed.code == TOO_LARGE && text => {
                    let shown = failed.output.len().min(limit);
                    message.extend_from_slice(&failed.output[..shown]);
                    if utf8_prefix(&message, false) {
                        return fail(&[TOO_LARGE]);
                    }
                    return fail(&[CORRUPT, TOO_LARGE]);
                }
                Err(failed) => return fail(&[failed.code]),
            }
            if text && !utf8_prefix(&message, end) {
                return fail(&[CORRUPT]);
            }
            if end {
                return Some(Expect::Data(kind, message));
            }
        }
        None
    }

    /// `Op::Deflated`: the peer compresses a message and sends it in frames.
    fn deflated(&mut self, text: bool, bytes: &[u8], level: u8, frames: u8, split: u16) {
        let (_, plain) = message(text, bytes);
        let window = self.peer_window;
        let fresh =
            || Compress::new_with_window_bits(Compression::new((level % 10).into()), false, window);
        // An empty message right after another flush compresses to nothing
        // at all, which inflates (with the tail) to the empty message.
        let compressed = if self.deflate.is_some() && !self.peer_reset {
            deflate_message(self.peer.get_or_insert_with(fresh), &plain.payload)
        } else {
            deflate_message(&mut fresh(), &plain.payload)
        }
        .unwrap_or_default();
        let count = 1 + usize::from(frames % 4);
        let opcode = if text { 0x1 } else { 0x2 };
        let cuts: Vec<(u8, &[u8])> = (0..count)
            .map(|i| {
                let (start, end) = (
                    i * compressed.len() / count,
                    (i + 1) * compressed.len() / count,
                );
                let head = if i == 0 { 0x40 | opcode } else { 0 };
                let fin = if i + 1 == count { 0x80 } else { 0 };
                (head | fin, &compressed[start..end])
            })
            .collect();
        let masked = self.role == Role::Server;
        let expect = if self.rx_clean {
            self.compressed(&cuts, masked)
        } else {
            None
        };
        self.expect_frame(expect);
        for (head, payload) in cuts {
            let frame = encode_frame(head, masked, payload);
            let (first, second) = frame.split_at(usize::from(split) % (frame.len() + 1));
            self.read(first, false);
            self.read(second, false);
        }
    }

    fn send(&mut self, text: bool, bytes: &[u8], before: usize) -> Growth {
        let (message, frame) = message(text, bytes);
        let expected = self.may_send().and_then(|()| match self.sending {
            Some(_) => Err(SendError::MessageInProgress),
            None => self.capacity(before, self.frame_len(frame.payload.len())),
        });
        let result = self.conn.send(self.now, &message);
        self.sent(result, expected, frame, true, true)
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
        self.sent(result, expected, data(opcode, fin, bytes), true, false)
    }

    fn send_prepared(&mut self, text: bool, bytes: &[u8], before: usize) -> Growth {
        let (message, frame) = message(text, bytes);
        let prepared = PreparedMessage::new(&message).expect("a data message");
        let expected = self.may_send().and_then(|()| match self.role {
            Role::Client => Err(SendError::ClientCannotSendPrepared),
            Role::Server => match self.sending {
                Some(_) => Err(SendError::MessageInProgress),
                None => self.capacity(before, prepared.frame().len()),
            },
        });
        let result = self.conn.send_prepared(self.now, &prepared);
        self.sent(result, expected, frame, true, true)
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
        self.sent(result, expected, data(opcode, true, payload), false, false)
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
        if result.is_ok() {
            self.close_sent();
        }
        self.sent(
            result,
            expected,
            data(OpCode::Close, true, &payload),
            true,
            false,
        )
    }

    /// `poll_transmit_limited(now, max)` (`poll_transmit` for `usize::MAX`),
    /// `pieces` times (0: until empty).
    fn poll_transmit(&mut self, max: usize, pieces: u8) -> Growth {
        let pieces = if pieces == 0 {
            usize::MAX
        } else {
            pieces.into()
        };
        let mut written = 0;
        for _ in 0..pieces {
            let piece = if max == usize::MAX {
                self.conn.poll_transmit(self.now)
            } else {
                self.conn.poll_transmit_limited(self.now, max)
            };
            let Some(bytes) = piece else {
                assert!(
                    max == 0 || self.conn.buffered_outgoing() == 0,
                    "poll_transmit_limited({max}) gave nothing with {} bytes queued",
                    self.conn.buffered_outgoing()
                );
                break;
            };
            assert!(!bytes.is_empty(), "poll_transmit returned an empty piece");
            assert!(
                bytes.len() <= max,
                "a piece of {} bytes for {max}",
                bytes.len()
            );
            written += bytes.len();
            self.transmitted(&bytes);
        }
        self.wrote(written);
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
        self.wrote(bytes.len());
        Growth::Written(bytes.len())
    }

    /// A vectored write of everything `transmit_chunks_limited` gives for
    /// `max`: the first `max` bytes of the queue.
    fn write_limited(&mut self, max: usize, before: usize) -> Growth {
        let queued = self.queued();
        let mut slices = [IoSlice::new(&[]); 64];
        let filled = self.conn.transmit_chunks_limited(&mut slices, max);
        assert!(
            slices[..filled].iter().all(|s| !s.is_empty()),
            "an empty slice"
        );
        let bytes: Vec<u8> = slices[..filled]
            .iter()
            .flat_map(|s| s.iter())
            .copied()
            .collect();
        assert!(bytes.len() <= max, "{} bytes for {max}", bytes.len());
        if filled < slices.len() {
            assert_eq!(bytes.len(), before.min(max), "limited chunks fall short");
        }
        assert!(
            queued.starts_with(&bytes),
            "limited chunks are not the front of the queue"
        );
        self.conn.advance_transmit(self.now, bytes.len());
        self.transmitted(&bytes);
        self.wrote(bytes.len());
        Growth::Written(bytes.len())
    }

    fn timeout(&mut self) -> Growth {
        self.conn.handle_timeout(self.now);
        let (mut ping, mut idle) = (false, false);
        while let Some(timer) = self.deadlines.expired(self.now) {
            match timer {
                Timer::Close => {
                    let why = match &self.phase {
                        Phase::Draining { why, .. } | Phase::AwaitingEof { why } => why.clone(),
                        _ => Why::Is(CloseReason::Timeout(Timer::Close)),
                    };
                    self.end(why);
                }
                Timer::Pong => self.end(Why::Is(CloseReason::Timeout(Timer::Pong))),
                Timer::Keepalive => {
                    assert_eq!(self.phase, Phase::Open, "keepalive outside the open phase");
                    ping = true;
                    self.deadlines.pong = self.now.checked_add(self.config.keepalive_timeout);
                }
                _ => {
                    assert_eq!(self.phase, Phase::Open, "idle timer outside the open phase");
                    idle = true;
                    let (code, reason) = IDLE_CLOSE;
                    let payload = close_payload(Some(code), reason);
                    self.expected.push_back(data(OpCode::Close, true, &payload));
                    self.close_sent();
                }
            }
        }
        self.finish_if_drained();
        let next = self.conn.poll_timeout();
        assert!(
            next.is_none_or(|at| at > self.now),
            "a deadline is still due after handle_timeout"
        );
        Growth::Timer { ping, idle }
    }

    // ----- the model's lifecycle -----

    /// Bytes arrived while open: the keepalive and idle clocks restart.
    fn touch(&mut self) {
        if let Some(interval) = self.config.keepalive_interval {
            self.deadlines.keepalive = self.now.checked_add(interval);
            self.deadlines.pong = None;
        }
        if let Some(timeout) = self.config.idle_timeout {
            self.deadlines.idle = self.now.checked_add(timeout);
        }
    }

    /// The close timer, counted from now (unchanged when there is none).
    fn arm_close_timer(&mut self) {
        if let Some(timeout) = self.config.close_timeout {
            self.deadlines.close = self.now.checked_add(timeout);
        }
    }

    /// Our close frame was queued: only the close timer runs from now on.
    fn close_sent(&mut self) {
        assert_eq!(self.phase, Phase::Open);
        self.phase = Phase::CloseSent;
        self.closing = Some(Closing::Ours);
        self.deadlines = Deadlines::default();
        self.arm_close_timer();
    }

    /// Delivery stops; the output is written, then the connection ends
    /// with `why` (or, `await_eof`, waits for the peer's EOF).
    fn drain(&mut self, why: Why, await_eof: bool) {
        self.phase = Phase::Draining { why, await_eof };
        self.deadlines = Deadlines::default();
        self.arm_close_timer();
        self.finish_if_drained();
    }

    fn finish_if_drained(&mut self) {
        let Phase::Draining { why, await_eof } = &self.phase else {
            return;
        };
        if self.conn.buffered_outgoing() > 0 {
            return;
        }
        if *await_eof && !self.peer_eof {
            self.phase = Phase::AwaitingEof { why: why.clone() };
        } else {
            self.end(why.clone());
        }
    }

    fn end(&mut self, why: Why) {
        self.phase = Phase::Closed { why };
        self.deadlines = Deadlines::default();
    }

    /// `n` bytes were written: while closing or draining, the close timer
    /// counts from now.
    fn wrote(&mut self, n: usize) {
        if n > 0 && matches!(self.phase, Phase::CloseSent | Phase::Draining { .. }) {
            self.arm_close_timer();
        }
        self.finish_if_drained();
    }

    /// What the model expects proto to say about reading.
    fn wants_read(&self) -> bool {
        match &self.phase {
            Phase::Open | Phase::CloseSent | Phase::AwaitingEof { .. } => !self.peer_eof,
            Phase::Draining { await_eof, .. } => *await_eof && !self.peer_eof,
            Phase::Closed { .. } => false,
        }
    }

    /// A protocol error shows by its effects: an open connection leaves the
    /// open state (with a close frame for it, checked in `after`), one that
    /// sent its close stops wanting input, without an event either way.
    fn infer_failure(&mut self) {
        let failed = match self.phase {
            Phase::Open => self.conn.state() != State::Open,
            Phase::CloseSent => !self.conn.wants_read(),
            _ => false,
        };
        if failed {
            if self.phase == Phase::Open {
                let code = self
                    .queued_close()
                    .expect("left the open state without queueing a close frame");
                self.closing = Some(Closing::Failure(code));
            }
            self.failed = true;
            self.drain(Why::Protocol, false);
        }
    }

    // ----- the checks -----

    /// Checks the connection after a step that started in `was` with
    /// `before` bytes queued.
    fn after(&mut self, was: Phase, before: usize, growth: Growth) {
        self.pongs_owed = 0;
        self.echo_owed = 0;
        self.failed = false;
        self.delivered = Delivered::default();
        while let Some(event) = self.conn.poll_event() {
            self.event(event);
        }
        self.unpolled = 0;
        if matches!(growth, Growth::Peer | Growth::Start) {
            self.infer_failure();
        }
        self.check_expectation();

        let ended = matches!(self.phase, Phase::Closed { .. });
        assert_eq!(
            self.conn.state(),
            self.phase.state(),
            "model {:?}",
            self.phase
        );
        assert_eq!(
            self.conn.wants_read(),
            self.wants_read(),
            "wants_read in {:?}",
            self.phase
        );
        assert_eq!(self.closed, ended, "Event::Closed vs the model");
        assert!(!self.conn.poll_shutdown(), "shutdown wanted by a WebSocket");
        assert_eq!(
            self.conn.poll_timeout(),
            self.deadlines.next(),
            "the next deadline in {:?}: {:?} (now {:?})",
            self.phase,
            self.deadlines,
            self.now
        );
        self.check_consumed();

        let after = self.conn.buffered_outgoing();
        assert_eq!(self.conn.wants_write(), after > 0);
        if ended {
            assert_eq!(after, 0, "output left once closed");
            assert_eq!(self.conn.buffered_incoming(), 0, "input left once closed");
        } else {
            self.check_growth(before, after, growth);
        }

        let incoming = self.conn.buffered_incoming();
        let bound = self.max_incoming();
        assert!(
            incoming <= bound,
            "{incoming} bytes buffered, bound {bound}"
        );

        if was == Phase::Open && self.phase != Phase::Open && !ended {
            let queued = self.queued_close();
            match self.closing {
                Some(Closing::Echo(code)) => {
                    assert_eq!(queued, Some(code), "the echo of the peer's close")
                }
                Some(Closing::Failure(_) | Closing::Ours) => {}
                None => assert_eq!(queued, None, "a close frame queued after the EOF"),
            }
        }
    }

    fn check_growth(&self, before: usize, after: usize, growth: Growth) {
        match growth {
            Growth::Exactly(n) => assert_eq!(after, before + n, "queue after a command"),
            Growth::Peer => {
                let owed = before + self.pongs_owed + self.echo_owed;
                if self.failed
                    && self
                        .closing
                        .is_some_and(|c| matches!(c, Closing::Failure(_)))
                {
                    let min = owed + frame_len(self.role, 2);
                    let max = owed + frame_len(self.role, MAX_CONTROL_PAYLOAD);
                    assert!(
                        (min..=max).contains(&after),
                        "a protocol error queued {} bytes (before {before}, pongs {})",
                        after.saturating_sub(before),
                        self.pongs_owed
                    );
                } else {
                    assert_eq!(
                        after,
                        owed,
                        "input queued {} bytes (before {before}, pongs {}, echo {})",
                        after as isize - before as isize,
                        self.pongs_owed,
                        self.echo_owed
                    );
                }
            }
            Growth::Timer { ping, idle } => {
                let (code, reason) = IDLE_CLOSE;
                let close = close_payload(Some(code), reason).len();
                let base = before + if idle { frame_len(self.role, close) } else { 0 };
                let with_ping = base + frame_len(self.role, 0);
                assert!(
                    after == base || (ping && after == with_ping),
                    "timers queued {} bytes (ping {ping}, idle {idle})",
                    after as isize - before as isize
                );
            }
            Growth::Written(n) => assert_eq!(after, before - n, "queue after a write"),
            Growth::Start => {}
        }
    }

    /// `received_consumed()` never decreases, counts no more than was read,
    /// misses at most what is buffered, and counts everything once nothing
    /// more will be decoded.
    fn check_consumed(&mut self) {
        let consumed = self.conn.received_consumed();
        assert!(
            consumed >= self.consumed,
            "received_consumed went from {} to {consumed}",
            self.consumed
        );
        assert!(
            consumed <= self.read_total,
            "received_consumed {consumed} of {} bytes read",
            self.read_total
        );
        let buffered = self.conn.buffered_incoming() as u64;
        assert!(
            consumed + buffered >= self.read_total,
            "received_consumed {consumed} + {buffered} buffered < {} read",
            self.read_total
        );
        if !self.phase.delivers() && self.unpolled == 0 {
            assert_eq!(
                consumed, self.read_total,
                "bytes left unconsumed in {:?}",
                self.phase
            );
        }
        self.consumed = consumed;
    }

    /// The frame of this step was delivered as it was built.
    fn check_expectation(&mut self) {
        let Some(expect) = self.expect.take() else {
            return;
        };
        let delivered = &self.delivered;
        match expect {
            Expect::Data(kind, bytes) => {
                assert_eq!(delivered.kind, Some(kind), "{delivered:?}");
                assert_eq!(delivered.data, bytes, "the payload delivered");
                assert!(delivered.complete, "the message was not completed");
            }
            // Too many pongs owed fails the connection instead.
            Expect::Ping(_) if self.failed => {}
            Expect::Ping(payload) => assert_eq!(delivered.pings, [payload]),
            Expect::Pong(payload) => assert_eq!(delivered.pongs, [payload]),
            Expect::Close(frame) => assert_eq!(delivered.close, Some(frame)),
            Expect::Fail(codes) => {
                assert!(self.failed, "no failure, {codes:?} expected: {delivered:?}");
                match self.closing {
                    Some(Closing::Failure(Some(code))) => {
                        assert!(codes.contains(&code), "failed with {code}, not {codes:?}")
                    }
                    other => panic!("{other:?} for a failure with {codes:?}"),
                }
            }
        }
    }

    fn event(&mut self, event: Event) {
        assert!(!self.closed, "event after Event::Closed: {event:?}");
        let delivery = matches!(event, Event::Message(_) | Event::Fragment(_));
        assert!(
            !delivery || self.phase.delivers(),
            "{event:?} delivered in {:?}",
            self.phase
        );
        let max = self.config.max_message_size;
        match event {
            Event::Message(Message::Text(text)) => {
                assert!(!self.config.streaming, "whole message while streaming");
                assert!(text.len() <= max, "message of {} bytes", text.len());
                let _ = text.as_str();
                self.delivered(MessageKind::Text, text.as_bytes(), true);
            }
            Event::Message(Message::Binary(bytes)) => {
                assert!(!self.config.streaming, "whole message while streaming");
                assert!(bytes.len() <= max, "message of {} bytes", bytes.len());
                self.delivered(MessageKind::Binary, &bytes, true);
            }
            Event::Message(Message::Ping(payload)) => {
                assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
                // Answered while open only: nothing is sent after our close.
                if self.config.auto_pong && self.phase == Phase::Open {
                    self.pongs_owed += frame_len(self.role, payload.len());
                }
                self.delivered.pings.push(payload.to_vec());
            }
            Event::Message(Message::Pong(payload)) => {
                assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
                if self.phase == Phase::Open {
                    self.deadlines.pong = None;
                }
                self.delivered.pongs.push(payload.to_vec());
            }
            Event::Message(Message::Close(frame)) => {
                if let Some(frame) = &frame {
                    assert!(frame.code.is_valid_on_wire());
                    assert!(frame.reason.len() <= CloseFrame::MAX_REASON_LEN);
                }
                if self.phase == Phase::Open {
                    let code = frame.as_ref().map(|f| f.code.0);
                    self.echo_owed = frame_len(self.role, if code.is_some() { 2 } else { 0 });
                    self.closing = Some(Closing::Echo(code));
                }
                self.delivered.close = Some(frame.clone());
                // A client waits for the server to end the transport.
                let await_eof = self.role == Role::Client;
                self.drain(Why::Is(CloseReason::Normal(frame)), await_eof);
            }
            Event::Fragment(fragment) => self.fragment(fragment),
            Event::Closed(reason) => {
                self.closed = true;
                assert!(
                    self.conn.is_closed(),
                    "Event::Closed before the state is Closed"
                );
                assert_eq!(self.conn.buffered_outgoing(), 0);
                // Bytes read after the end in this same step are dropped by
                // the next poll; `after` checks that none is left.
                match &self.phase {
                    Phase::Closed { why } => why.check(&reason),
                    // A protocol error after our close, with nothing left to write.
                    Phase::CloseSent if matches!(reason, CloseReason::Protocol(_)) => {
                        self.failed = true;
                        self.end(Why::Protocol);
                    }
                    phase => panic!("Event::Closed({reason:?}) in {phase:?}"),
                }
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

    fn delivered(&mut self, kind: MessageKind, bytes: &[u8], complete: bool) {
        let delivered = &mut self.delivered;
        delivered.kind = Some(kind);
        delivered.data.extend_from_slice(bytes);
        delivered.complete |= complete;
    }

    fn fragment(&mut self, fragment: Fragment) {
        assert!(self.config.streaming, "fragment while not streaming");
        self.delivered(fragment.kind, &fragment.data, fragment.fin);
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
    /// A `whole` message is compressed as the model's compressor says.
    fn sent(
        &mut self,
        result: Result<(), SendError>,
        expected: Result<(), SendError>,
        mut frame: Frame,
        in_order: bool,
        whole: bool,
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
        let mut len = frame_len(self.role, frame.payload.len());
        let deflater = self.deflater.as_mut().filter(|_| whole);
        if let Some(compressed) = deflater.and_then(|d| d.compress(&frame.payload)) {
            frame.compressed = true;
            len = frame_len(self.role, compressed.len());
        }
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
                    Some(Closing::Echo(_) | Closing::Failure(_)) => {
                        assert!(self.expected.is_empty(), "the close overtook data");
                    }
                    None => panic!("close frame sent with no reason to close"),
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

    /// The close frame queued (`Some(None)` for one without a code), if
    /// any; the queue must end at a frame boundary.
    fn queued_close(&self) -> Option<Option<u16>> {
        let mut wire = self.wire.clone();
        wire.push(&self.queued());
        assert!(wire.at_boundary(), "the queue ends inside a frame");
        wire.close
    }

    /// What may stay buffered from the peer once every event is polled.
    fn max_incoming(&self) -> usize {
        self.config.max_message_size + self.config.max_frame_size.max(MAX_HEADER_LEN)
    }

    fn may_send(&self) -> Result<(), SendError> {
        match self.phase {
            Phase::Open => Ok(()),
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
        compressed: false,
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
