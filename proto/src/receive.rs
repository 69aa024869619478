//! The receive path: bytes from the peer, through the frame decoder,
//! unmasking and UTF-8 validation, to messages, fragments and control frames.
//!
//! ```text
//! receive buffer --header--> frame checks (RSV, mask, opcode order, limits)
//!                --payload-> unmask in place --> UTF-8 (text) --> message / fragment / control
//! ```
//!
//! This file knows the framing rules of RFC 6455 section 5; what a control
//! frame *means* for the connection (answering a ping, echoing a close) is
//! the lifecycle's business, in `connection.rs`. An extension that transforms
//! payloads (permessage-deflate) is one more step between unmasking and the
//! UTF-8 check, with the message limit applied to its output.

use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};

use crate::buffer_hold::BufferHold;
use crate::config::Config;
use crate::connection::Role;
#[cfg(feature = "deflate")]
use crate::deflate::{Decompressor, InflateError};

/// The most inflated bytes one streamed fragment carries.
#[cfg(feature = "deflate")]
const STREAM_PIECE: usize = 64 << 10;
use crate::error::ProtocolError;
use crate::event::{Fragment, Message, MessageKind};
use crate::frame::{apply_mask, Decoded, FrameHeader, OpCode};
use crate::text::{Utf8Bytes, STR_MAX};
use crate::utf8::Utf8Validator;

/// How much a read should be able to bring in at least.
const READ_CHUNK: usize = 16 << 10;

/// The most a single read is offered while a large frame arrives.
const READ_CHUNK_LARGE: usize = 1 << 20;

/// Payloads up to this size are copied out of the receive buffer into an
/// allocation of their own, so that an application that keeps a small
/// message does not keep the whole receive buffer alive with it (a 20-byte
/// chat line would otherwise pin 16 KiB, or more than 1 MiB after a large
/// frame). Larger payloads are sliced from the buffer without a copy.
const COPY_OUT_MAX: usize = 4096;

/// What one step of decoding produced.
#[derive(Debug)]
pub(crate) enum Received {
    /// A whole text or binary message.
    Message(Message),
    /// A piece of a text or binary message (`Config::streaming`).
    Fragment(Fragment),
    /// A complete control frame: its opcode and payload.
    Control(OpCode, Bytes),
}

/// The frame whose payload is arriving.
#[derive(Debug, Clone, Copy)]
struct InFrame {
    header: FrameHeader,
    /// Payload bytes unmasked (and validated) so far.
    processed: u64,
    /// Processed payload bytes still at the front of the receive buffer.
    held: usize,
    /// Bytes this frame inflated to so far (compressed messages).
    #[cfg(feature = "deflate")]
    inflated: usize,
    /// Inflating paused with output still to come (streaming).
    #[cfg(feature = "deflate")]
    paused: bool,
}

impl InFrame {
    /// Whether the frame still has work once its payload has arrived:
    /// compressed input, or output, that a paused inflate left for later.
    fn unfinished(&self) -> bool {
        #[cfg(feature = "deflate")]
        return self.held > 0 || self.paused;
        #[cfg(not(feature = "deflate"))]
        false
    }
}

/// The message whose frames are arriving.
#[derive(Debug)]
struct InMessage {
    kind: MessageKind,
    /// Payload bytes so far, across frames.
    len: u64,
    /// The pieces of a fragmented binary message (unused when streaming, or
    /// for a message that fits in one frame, which is sliced from the
    /// receive buffer).
    assembled: BytesMut,
    /// A text collected as it is validated, piece by piece, into its
    /// `str`-typed form: one UTF-8 pass and one copy, where validating in
    /// the buffer and building a `str` at the end would take two passes.
    /// Every uncompressed text that is not streamed takes this way, except
    /// a single frame over [`STR_MAX`], which is sliced from the receive
    /// buffer without a copy instead.
    text: Option<String>,
    /// Whether a fragment of it was delivered (streaming).
    started: bool,
    /// Compressed (RSV1 on its first frame): its payload is inflated as it
    /// arrives, into `inflated`, and only then validated and limited.
    compressed: bool,
    /// The inflated payload so far (compressed messages, not streaming).
    #[cfg(feature = "deflate")]
    inflated: Vec<u8>,
    /// Bytes inflated so far, across frames.
    #[cfg(feature = "deflate")]
    inflated_len: usize,
}

impl InMessage {
    /// Payload bytes held: assembled fragments, or inflated output.
    fn buffered(&self) -> usize {
        #[cfg(feature = "deflate")]
        return self.assembled.len() + self.collected() + self.inflated.len();
        #[cfg(not(feature = "deflate"))]
        (self.assembled.len() + self.collected())
    }

    /// Bytes of a text collected so far.
    fn collected(&self) -> usize {
        self.text.as_ref().map_or(0, String::len)
    }
}

/// The receive side of a connection: the buffer the transport reads into,
/// and the frame and message being decoded from it.
#[derive(Debug, Default)]
pub(crate) struct Receiver {
    buf: BytesMut,
    frame: Option<InFrame>,
    message: Option<InMessage>,
    utf8: Utf8Validator,
    /// Received bytes taken out of `buf` so far (see `Connection::received_consumed`).
    consumed: u64,
    /// Keeps `buf` between large frames.
    hold: BufferHold,
    /// Inflates compressed messages, once permessage-deflate was agreed.
    #[cfg(feature = "deflate")]
    inflater: Option<Box<Decompressor>>,
}

impl Receiver {
    /// The bytes received and not yet decoded.
    pub(crate) fn buffer(&self) -> &[u8] {
        &self.buf
    }

    /// Appends received bytes.
    pub(crate) fn extend(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Removes `n` decoded bytes from the front of the buffer (a handshake head).
    pub(crate) fn advance(&mut self, n: usize) {
        self.buf.advance(n);
        self.consumed += n as u64;
    }

    /// Drops every byte received and not decoded.
    pub(crate) fn discard(&mut self) -> usize {
        let n = self.buf.len();
        self.advance(n);
        n
    }

    /// The buffer, with room reserved for one read: a whole read chunk, or
    /// while a large frame arrives as much of its payload as is still
    /// missing (up to 1 MiB), so that it comes in few reads.
    pub(crate) fn buffer_mut(&mut self) -> &mut BytesMut {
        let wanted = match self.frame {
            Some(frame) => (frame.header.payload_len - frame.processed)
                .min(READ_CHUNK_LARGE as u64)
                .max(READ_CHUNK as u64) as usize,
            None => READ_CHUNK,
        };
        self.buf.reserve(wanted);
        &mut self.buf
    }

    /// Bytes held: undecoded input and the fragments of a message being assembled.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len() + self.message.as_ref().map_or(0, InMessage::buffered)
    }

    /// Turns on inflating of compressed messages (RSV1), after the opening
    /// handshake agreed permessage-deflate.
    #[cfg(feature = "deflate")]
    pub(crate) fn set_inflater(&mut self, inflater: Decompressor) {
        self.inflater = Some(Box::new(inflater));
    }

    /// Whether the frame may set RSV1: the first frame of a data message,
    /// once permessage-deflate was agreed (RFC 7692 section 6).
    fn may_compress(&self, opcode: OpCode) -> bool {
        #[cfg(feature = "deflate")]
        if self.inflater.is_some() {
            return matches!(opcode, OpCode::Text | OpCode::Binary);
        }
        let _ = opcode;
        false
    }

    /// Bytes of memory held by the receive buffer.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    pub(crate) fn consumed(&self) -> u64 {
        self.consumed
    }

    /// New bytes were read into the buffer at `now`.
    pub(crate) fn received(&mut self, now: Instant) {
        self.hold.read(now, self.buf.capacity() > READ_CHUNK);
    }

    /// Frees the receive buffer if it holds nothing, unless it grew for
    /// large frames and was read into lately (see `buffer_hold`); and an
    /// inflater that holds no context between messages if no message is in
    /// progress.
    pub(crate) fn release(&mut self, now: Instant) {
        if !self.hold.keep(now) {
            self.release_buffer();
        }
        #[cfg(feature = "deflate")]
        if let (Some(inflater), None) = (&mut self.inflater, &self.message) {
            inflater.release();
        }
    }

    /// When a kept receive buffer is to be freed.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.hold.deadline()
    }

    /// Frees a kept receive buffer whose time is up at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.hold.expired(now) {
            self.release_buffer();
        }
    }

    fn release_buffer(&mut self) {
        if self.buf.is_empty() {
            self.buf = BytesMut::new();
        }
    }

    /// Drops the buffer and everything in progress: nothing more will be decoded.
    pub(crate) fn clear(&mut self) {
        self.consumed += self.buf.len() as u64;
        self.buf = BytesMut::new();
        self.hold = BufferHold::default();
        self.frame = None;
        self.message = None;
    }

    /// Decodes the next complete message, fragment or control frame from the
    /// buffer: `Ok(None)` when more input is needed.
    pub(crate) fn next(
        &mut self,
        role: Role,
        config: &Config,
    ) -> Result<Option<Received>, ProtocolError> {
        if self.frame.is_none() && self.message.is_none() && !config.streaming {
            if let Some(message) = self.whole_small_message(role, config)? {
                return Ok(Some(Received::Message(message)));
            }
        }
        loop {
            let mut frame = match self.frame.take() {
                Some(frame) => frame,
                None => match FrameHeader::decode(&self.buf)? {
                    Decoded::Partial => return Ok(None),
                    Decoded::Complete(header, len) => {
                        self.start_frame(&header, role, config)?;
                        self.advance(len);
                        InFrame {
                            header,
                            processed: 0,
                            held: 0,
                            #[cfg(feature = "deflate")]
                            inflated: 0,
                            #[cfg(feature = "deflate")]
                            paused: false,
                        }
                    }
                },
            };
            self.process_payload(&mut frame)?;
            let complete = frame.processed == frame.header.payload_len;
            if frame.header.opcode.is_control() {
                if !complete {
                    self.frame = Some(frame);
                    return Ok(None);
                }
                let payload = self.take(frame.held);
                return Ok(Some(Received::Control(frame.header.opcode, payload)));
            }
            let compressed = self.message.as_ref().is_some_and(|m| m.compressed);
            let received = if compressed {
                self.read_compressed(&mut frame, complete, config)?
            } else {
                self.read_data(&mut frame, complete, config.streaming)?
            };
            // A frame stays while its payload arrives, and while compressed
            // input of it waits to be inflated.
            if !complete || frame.unfinished() {
                self.frame = Some(frame);
            }
            if received.is_some() || !complete {
                return Ok(received);
            }
        }
    }

    /// The common case in one step: a small text or binary message in a
    /// single uncompressed frame that is whole in the buffer. It follows the
    /// same rules as the general path below (the property tests compare the
    /// two over every split of the input) without its per-frame state: one
    /// UTF-8 pass instead of two for a text, and header and payload leave the
    /// buffer together. `Ok(None)` leaves the frame to the general path.
    fn whole_small_message(
        &mut self,
        role: Role,
        config: &Config,
    ) -> Result<Option<Message>, ProtocolError> {
        let Decoded::Complete(header, head_len) = FrameHeader::decode(&self.buf)? else {
            return Ok(None);
        };
        if !header.fin
            || header.rsv != 0
            || !matches!(header.opcode, OpCode::Text | OpCode::Binary)
            || header.payload_len > COPY_OUT_MAX as u64
        {
            return Ok(None);
        }
        let end = head_len + header.payload_len as usize;
        if self.buf.len() < end {
            return Ok(None);
        }
        check_frame(&header, role, config)?;
        check_message_len(header.payload_len, config)?;
        let payload = &mut self.buf[head_len..end];
        if let Some(key) = header.mask {
            apply_mask(payload, key, 0);
        }
        let message = if header.opcode == OpCode::Text {
            let text =
                simdutf8::basic::from_utf8(payload).map_err(|_| ProtocolError::InvalidUtf8)?;
            Message::Text(Utf8Bytes::from(text))
        } else {
            Message::Binary(Bytes::copy_from_slice(payload))
        };
        self.advance(end);
        Ok(Some(message))
    }

    /// Unmasks (and for text, validates) the payload bytes of `frame` that
    /// arrived since the last call.
    fn process_payload(&mut self, frame: &mut InFrame) -> Result<(), ProtocolError> {
        let remaining = frame.header.payload_len - frame.processed;
        let fresh =
            (self.buf.len() - frame.held).min(usize::try_from(remaining).unwrap_or(usize::MAX));
        if fresh == 0 {
            return Ok(());
        }
        let piece = &mut self.buf[frame.held..frame.held + fresh];
        if let Some(key) = frame.header.mask {
            apply_mask(piece, key, frame.processed as usize);
        }
        frame.processed += fresh as u64;
        let message = self
            .message
            .as_mut()
            .filter(|_| !frame.header.opcode.is_control());
        match message {
            // A collected text leaves the buffer as soon as it is validated
            // (so none of it is ever held).
            Some(InMessage {
                text: Some(text), ..
            }) => {
                debug_assert_eq!(frame.held, 0);
                self.utf8
                    .feed_into(piece, text)
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
                self.advance(fresh);
                return Ok(());
            }
            // A streamed text, or a long one that will be sliced from the
            // buffer: validated in place. (Compressed text is validated once
            // inflated, in `read_compressed`.)
            Some(message) if message.kind == MessageKind::Text && !message.compressed => {
                self.utf8
                    .feed(piece)
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            _ => {}
        }
        frame.held += fresh;
        Ok(())
    }

    /// Checks a frame's header against the connection's rules and starts a
    /// message where one begins.
    fn start_frame(
        &mut self,
        header: &FrameHeader,
        role: Role,
        config: &Config,
    ) -> Result<(), ProtocolError> {
        const RSV1: u8 = 0b100;
        let compressed = header.rsv & RSV1 != 0;
        if header.rsv & !RSV1 != 0 || (compressed && !self.may_compress(header.opcode)) {
            return Err(ProtocolError::ReservedBits(header.rsv));
        }
        check_frame(header, role, config)?;
        let kind = match header.opcode {
            OpCode::Text => MessageKind::Text,
            OpCode::Binary => MessageKind::Binary,
            OpCode::Continuation => {
                let message = self
                    .message
                    .as_ref()
                    .ok_or(ProtocolError::UnexpectedContinuation)?;
                return check_message_len(message.len + header.payload_len, config);
            }
            OpCode::Close | OpCode::Ping | OpCode::Pong => return Ok(()),
        };
        if self.message.is_some() {
            return Err(ProtocolError::ExpectedContinuation);
        }
        check_message_len(header.payload_len, config)?;
        let collect = kind == MessageKind::Text
            && !compressed
            && !config.streaming
            && (!header.fin || header.payload_len <= STR_MAX as u64);
        self.message = Some(InMessage {
            kind,
            len: 0,
            assembled: BytesMut::new(),
            text: collect
                .then(|| String::with_capacity((header.payload_len as usize).min(STR_MAX))),
            started: false,
            compressed,
            #[cfg(feature = "deflate")]
            inflated: Vec::new(),
            #[cfg(feature = "deflate")]
            inflated_len: 0,
        });
        Ok(())
    }

    /// Moves the processed part of a data frame's payload on: into a
    /// fragment (streaming), into the message being assembled (a fragmented
    /// message), or, for a message in a single frame, into a message once
    /// complete.
    fn read_data(
        &mut self,
        frame: &mut InFrame,
        complete: bool,
        streaming: bool,
    ) -> Result<Option<Received>, ProtocolError> {
        let Some(message) = self.message.as_mut() else {
            return Ok(None);
        };
        let last = complete && frame.header.fin;
        if last && message.kind == MessageKind::Text {
            self.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        // Whether the message has frames before or after this one.
        let fragmented = !frame.header.fin || message.len > 0;
        if complete {
            message.len += frame.header.payload_len;
        }
        let kind = message.kind;
        if streaming {
            if frame.held == 0 && !last {
                return Ok(None);
            }
            let first = !message.started;
            message.started = true;
            if last {
                self.message = None;
            }
            let data = self.take(std::mem::take(&mut frame.held));
            return Ok(Some(Received::Fragment(Fragment {
                kind,
                data,
                first,
                fin: last,
            })));
        }
        if let Some(text) = message.text.as_mut() {
            if !last {
                return Ok(None);
            }
            let text = Utf8Bytes::from(std::mem::take(text));
            self.message = None;
            return Ok(Some(Received::Message(Message::Text(text))));
        }
        let payload = if fragmented {
            let held = std::mem::take(&mut frame.held);
            message.assembled.extend_from_slice(&self.buf[..held]);
            let assembled = last.then(|| std::mem::take(&mut message.assembled).freeze());
            self.advance(held);
            assembled
        } else if complete {
            Some(self.take(std::mem::take(&mut frame.held)))
        } else {
            None
        };
        if !last {
            return Ok(None);
        }
        self.message = None;
        Ok(payload.map(|payload| {
            Received::Message(match kind {
                MessageKind::Text => Message::Text(Utf8Bytes::from_validated(payload)),
                MessageKind::Binary => Message::Binary(payload),
            })
        }))
    }

    /// Inflates the arrived part of a compressed data frame: the output is
    /// limited to what `max_message_size` and `max_frame_size` leave, as it
    /// is produced (a few KiB that would inflate to gigabytes stop at the
    /// limit), and validated as UTF-8 for text as it comes, so that an
    /// invalid byte fails the message at once.
    #[cfg(feature = "deflate")]
    fn read_compressed(
        &mut self,
        frame: &mut InFrame,
        complete: bool,
        config: &Config,
    ) -> Result<Option<Received>, ProtocolError> {
        let (Some(message), Some(inflater)) = (self.message.as_mut(), self.inflater.as_mut())
        else {
            return Ok(None);
        };
        let ends_message = complete && frame.header.fin;
        let mut out = if config.streaming {
            Vec::new()
        } else {
            std::mem::take(&mut message.inflated)
        };
        let start = out.len();
        let room = (config.max_message_size - message.inflated_len)
            .min(config.max_frame_size - frame.inflated);
        // A streaming reader gets pieces of bounded size, however much one
        // read inflates to; the rest of the input waits for the next poll.
        let pause_at = if config.streaming {
            STREAM_PIECE
        } else {
            usize::MAX
        };
        let result = inflater.inflate(
            &self.buf[..frame.held],
            ends_message,
            &mut out,
            pause_at,
            start + room,
        );
        let produced = out.len() - start;
        message.inflated_len += produced;
        frame.inflated += produced;
        // Output past the limit fails the message first, however the input
        // was split. Otherwise what was inflated before corrupt data came
        // before it in the message: its UTF-8 is checked first, so that the
        // verdict does not depend on how the input was split into reads.
        if let Err(InflateError::TooLarge) = result {
            return Err(ProtocolError::MessageTooLarge {
                len: message.inflated_len as u64 + 1,
                max: config.max_message_size.min(config.max_frame_size),
            });
        }
        if message.kind == MessageKind::Text {
            self.utf8
                .feed(&out[start..])
                .map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        let step = result.map_err(|_| ProtocolError::InvalidCompressedData)?;
        frame.held -= step.consumed;
        frame.paused = !step.done;
        let last = ends_message && step.done;
        if last && message.kind == MessageKind::Text {
            self.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        if complete && step.done {
            message.len += frame.header.payload_len;
        }
        let kind = message.kind;
        let received = if config.streaming {
            let first = !message.started;
            (produced > 0 || last).then(|| {
                message.started = true;
                Received::Fragment(Fragment {
                    kind,
                    data: Bytes::from(out),
                    first,
                    fin: last,
                })
            })
        } else if last {
            let payload = Bytes::from(out);
            Some(Received::Message(match kind {
                MessageKind::Text => Message::Text(Utf8Bytes::from_validated(payload)),
                MessageKind::Binary => Message::Binary(payload),
            }))
        } else {
            message.inflated = out;
            None
        };
        if last {
            self.message = None;
        }
        self.advance(step.consumed);
        Ok(received)
    }

    /// Without the `deflate` feature no message is compressed.
    #[cfg(not(feature = "deflate"))]
    fn read_compressed(
        &mut self,
        _frame: &mut InFrame,
        _complete: bool,
        _config: &Config,
    ) -> Result<Option<Received>, ProtocolError> {
        Ok(None)
    }

    /// Takes `n` decoded bytes off the front of the buffer as a payload:
    /// copied when small, sliced without a copy when large.
    fn take(&mut self, n: usize) -> Bytes {
        self.consumed += n as u64;
        if n <= COPY_OUT_MAX {
            let payload = Bytes::copy_from_slice(&self.buf[..n]);
            self.buf.advance(n);
            payload
        } else {
            self.buf.split_to(n).freeze()
        }
    }
}

/// The rules every frame follows whatever it carries: masked by a client
/// only (RFC 6455 section 5.1), and within the configured frame size.
fn check_frame(header: &FrameHeader, role: Role, config: &Config) -> Result<(), ProtocolError> {
    match (role, header.mask) {
        (Role::Server, None) => return Err(ProtocolError::UnmaskedFrame),
        (Role::Client, Some(_)) => return Err(ProtocolError::MaskedFrame),
        _ => {}
    }
    if header.payload_len > config.max_frame_size as u64 {
        return Err(ProtocolError::FrameTooLarge {
            len: header.payload_len,
            max: config.max_frame_size,
        });
    }
    Ok(())
}

fn check_message_len(len: u64, config: &Config) -> Result<(), ProtocolError> {
    if len > config.max_message_size as u64 {
        return Err(ProtocolError::MessageTooLarge {
            len,
            max: config.max_message_size,
        });
    }
    Ok(())
}
