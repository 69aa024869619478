//! The send path: messages from the application to encoded frames in the
//! outgoing queue.
//!
//! ```text
//! message --checks (kind order, UTF-8, control length, capacity)--> header (RSV, mask) --> queue
//! ```
//!
//! Every check runs before anything is queued, so a refused send changes
//! nothing and the caller still holds its message (sends take it by
//! reference). Whether the connection may send at all (its phase) is the
//! lifecycle's decision, in `connection.rs`. An extension that transforms
//! payloads (permessage-deflate) sets its RSV bit in [`Sender::header`].

use bytes::Bytes;
use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha12Rng;

use crate::close::CloseFrame;
#[cfg(feature = "deflate")]
use crate::deflate::Compressor;
use crate::error::SendError;
use crate::event::MessageKind;
use crate::frame::{FrameHeader, OpCode, MAX_CONTROL_PAYLOAD};
use crate::outgoing::Outgoing;
use crate::prepared::PreparedMessage;
use crate::text::Utf8Bytes;
use crate::utf8::Utf8Validator;

/// The send side of a connection: the outgoing queue, the masking key
/// generator, and the fragmented message being sent.
#[derive(Debug)]
pub(crate) struct Sender {
    pub(crate) out: Outgoing,
    /// Makes the masking keys: clients only (a server never masks), and
    /// boxed, so that a server connection stays small.
    rng: Option<Box<ChaCha12Rng>>,
    /// The kind of the fragmented message being sent, and its UTF-8 state.
    sending: Option<(MessageKind, Utf8Validator)>,
    /// `Config::max_outgoing_buffer`.
    limit: usize,
    /// Compresses whole messages once permessage-deflate was agreed. Boxed,
    /// like the inflater: a connection without it carries 8 bytes, not 48.
    #[cfg(feature = "deflate")]
    deflater: Option<Box<Compressor>>,
}

/// The RSV1 bit, which marks a compressed message (RFC 7692 section 6).
#[cfg(feature = "deflate")]
const RSV1: u8 = 0b100;

impl Sender {
    pub(crate) fn new(rng: Option<Box<ChaCha12Rng>>, limit: usize) -> Self {
        Sender {
            out: Outgoing::default(),
            rng,
            sending: None,
            limit,
            #[cfg(feature = "deflate")]
            deflater: None,
        }
    }

    /// Turns on compression of whole messages, after the opening handshake
    /// agreed permessage-deflate.
    #[cfg(feature = "deflate")]
    pub(crate) fn set_deflater(&mut self, deflater: Compressor) {
        self.deflater = Some(Box::new(deflater));
    }

    /// Frees the compressor if it holds no context between messages.
    pub(crate) fn release(&mut self) {
        self.out.release();
        #[cfg(feature = "deflate")]
        if let Some(deflater) = &mut self.deflater {
            deflater.release();
        }
    }

    /// The encoded size of a frame this side sends with `payload_len` bytes.
    fn frame_len(&self, payload_len: usize) -> usize {
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Binary,
            mask: self.rng.is_some().then_some([0; 4]),
            payload_len: payload_len as u64,
        };
        header.encoded_len() + payload_len
    }

    /// A frame is refused when it would push a non-empty queue past the
    /// limit (an empty queue takes any one frame, so that a message larger
    /// than the limit can still be sent).
    fn check_capacity(&self, frame_len: usize) -> Result<(), SendError> {
        let buffered = self.out.len();
        if buffered > 0 && buffered + frame_len > self.limit {
            return Err(SendError::Full {
                buffered,
                limit: self.limit,
            });
        }
        Ok(())
    }

    /// Whether a whole data message of `payload_len` bytes can be queued now.
    pub(crate) fn check_data(&self, payload_len: usize) -> Result<(), SendError> {
        if self.sending.is_some() {
            return Err(SendError::MessageInProgress);
        }
        self.check_capacity(self.frame_len(payload_len))
    }

    /// Whether a control frame with `payload_len` bytes can be queued now.
    pub(crate) fn check_control(&self, payload_len: usize) -> Result<(), SendError> {
        if payload_len > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlPayloadTooLong(payload_len));
        }
        self.check_capacity(self.frame_len(payload_len))
    }

    /// Whether `frame` can be sent as our close frame. A close is never
    /// refused for lack of room: a connection must always be able to end,
    /// and nothing follows it.
    pub(crate) fn check_close(&self, frame: Option<&CloseFrame>) -> Result<(), SendError> {
        if let Some(frame) = frame {
            if !frame.code.is_valid_on_wire() {
                return Err(SendError::InvalidCloseCode(frame.code.0));
            }
            if frame.reason.len() > CloseFrame::MAX_REASON_LEN {
                return Err(SendError::ControlPayloadTooLong(frame.reason.len() + 2));
            }
        }
        Ok(())
    }

    /// Queues a whole text message, after [`check_data`](Self::check_data).
    pub(crate) fn queue_text(&mut self, text: &Utf8Bytes) {
        self.queue_message(OpCode::Text, text.as_bytes(), || text.shared_bytes());
    }

    /// Queues a whole binary message, after [`check_data`](Self::check_data).
    pub(crate) fn queue_binary(&mut self, data: &Bytes) {
        self.queue_message(OpCode::Binary, data, || data.clone());
    }

    /// Queues a whole message: compressed (RSV1 set) when permessage-deflate
    /// was agreed and compressing pays, else as it is.
    fn queue_message(&mut self, opcode: OpCode, payload: &[u8], share: impl FnOnce() -> Bytes) {
        #[cfg(feature = "deflate")]
        if let Some(compressed) = self.deflater.as_mut().and_then(|d| d.compress(payload)) {
            let mut header = frame_header(self.rng.as_deref_mut(), opcode, true, compressed.len());
            header.rsv = RSV1;
            self.out
                .push_data(header, compressed, || Bytes::copy_from_slice(compressed));
            return;
        }
        let header = self.header(opcode, true, payload.len());
        self.out.push_data(header, payload, share);
    }

    /// Queues one fragment of a message: the first fragment gives the kind,
    /// `fin` ends the message. Text is validated across the fragments.
    pub(crate) fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &Bytes,
        fin: bool,
    ) -> Result<(), SendError> {
        let opcode = match &self.sending {
            Some((sending, _)) if *sending != kind => return Err(SendError::MessageInProgress),
            Some(_) => OpCode::Continuation,
            None => match kind {
                MessageKind::Text => OpCode::Text,
                MessageKind::Binary => OpCode::Binary,
            },
        };
        self.check_capacity(self.frame_len(data.len()))?;
        // Validate on a copy: a refused fragment leaves the message in
        // progress and its UTF-8 state as they were.
        let mut validator = match &self.sending {
            Some((_, validator)) => validator.clone(),
            None => Utf8Validator::new(),
        };
        if kind == MessageKind::Text {
            let valid =
                validator
                    .feed(data)
                    .and_then(|()| if fin { validator.finish() } else { Ok(()) });
            if valid.is_err() {
                return Err(SendError::InvalidUtf8);
            }
        }
        self.queue_data(opcode, fin, data);
        self.sending = if fin { None } else { Some((kind, validator)) };
        Ok(())
    }

    /// Queues a frame encoded once for many connections, by reference.
    pub(crate) fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), SendError> {
        if self.rng.is_some() {
            return Err(SendError::ClientCannotSendPrepared);
        }
        if self.sending.is_some() {
            return Err(SendError::MessageInProgress);
        }
        self.check_capacity(message.frame().len())?;
        #[cfg(feature = "deflate")]
        if let Some(deflater) = &mut self.deflater {
            if deflater.wants(message.payload().len()) {
                let compressed = match deflater.shareable_window() {
                    Some(window) => {
                        message.compressed_frame(window, || compress_frame(deflater, message))
                    }
                    None => compress_frame(deflater, message),
                };
                if let Some(frame) = compressed {
                    self.out.push_encoded(frame);
                    return Ok(());
                }
            }
        }
        self.out.push_encoded(message.frame().clone());
        Ok(())
    }

    /// The header of a frame this side sends: masked with a fresh key by a client.
    fn header(&mut self, opcode: OpCode, fin: bool, len: usize) -> FrameHeader {
        frame_header(self.rng.as_deref_mut(), opcode, fin, len)
    }

    /// Queues a data frame (or a close, which must follow the data) in order.
    pub(crate) fn queue_data(&mut self, opcode: OpCode, fin: bool, payload: &Bytes) {
        let header = self.header(opcode, fin, payload.len());
        self.out.push_data(header, payload, || payload.clone());
    }

    /// Queues a control frame ahead of data that has not started to go out.
    pub(crate) fn queue_control(&mut self, opcode: OpCode, payload: &[u8]) {
        let header = self.header(opcode, true, payload.len());
        self.out.push_control(header, payload);
    }

    /// The encoded size of a control frame with `payload_len` bytes.
    pub(crate) fn control_frame_len(&self, payload_len: usize) -> usize {
        self.frame_len(payload_len)
    }
}

/// The header of a frame: masked with a fresh key from `rng` (clients only).
fn frame_header(
    rng: Option<&mut ChaCha12Rng>,
    opcode: OpCode,
    fin: bool,
    len: usize,
) -> FrameHeader {
    FrameHeader {
        fin,
        rsv: 0,
        opcode,
        mask: rng.map(|rng| rng.next_u32().to_ne_bytes()),
        payload_len: len as u64,
    }
}

/// A server frame (unmasked) of `message`'s payload compressed by
/// `deflater`, or `None` to send it uncompressed.
#[cfg(feature = "deflate")]
fn compress_frame(deflater: &mut Compressor, message: &PreparedMessage) -> Option<Bytes> {
    let compressed = deflater.compress(message.payload())?;
    let header = FrameHeader {
        fin: true,
        rsv: RSV1,
        opcode: message.opcode(),
        mask: None,
        payload_len: compressed.len() as u64,
    };
    let mut frame = bytes::BytesMut::with_capacity(header.encoded_len() + compressed.len());
    crate::frame::write_frame(&mut frame, header, compressed);
    Some(frame.freeze())
}
