//! Errors, split by who is at fault (the model is rustls'):
//!
//! - [`ProtocolError`] and [`HandshakeError`]: the peer broke a rule. Each maps
//!   to the close code (or HTTP status) the connection answers with; such
//!   errors are sticky: the connection ends.
//! - [`SendError`], [`AcceptError`] and [`ConfigError`]: the caller asked for
//!   something the connection cannot do now; nothing changed, and the
//!   connection carries on.
//! - [`CloseReason`]: why a connection ended, reported exactly once.

use std::fmt;

use http::{HeaderMap, HeaderName, StatusCode};

use crate::close::{CloseCode, CloseFrame};
use crate::timer::Timer;

/// The peer broke a framing rule of RFC 6455 (section 5 and 7).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A frame used an opcode that RFC 6455 reserves (0x3-0x7, 0xB-0xF).
    ReservedOpcode(u8),
    /// RSV bits were set that no negotiated extension defines (section 5.2).
    ReservedBits(u8),
    /// A control frame had FIN clear: "Control frames MUST NOT be fragmented."
    FragmentedControlFrame,
    /// A control frame's payload was over 125 bytes (section 5.5).
    ControlFrameTooLong(u64),
    /// A 64-bit payload length had its most significant bit set (section 5.2).
    LengthOverflow,
    /// A client sent an unmasked frame: "The server MUST close the connection
    /// upon receiving a frame that is not masked" (section 5.1).
    UnmaskedFrame,
    /// A server sent a masked frame: "A client MUST close a connection if it
    /// detects a masked frame" (section 5.1).
    MaskedFrame,
    /// A continuation frame arrived with no fragmented message in progress.
    UnexpectedContinuation,
    /// A new text or binary frame arrived while a fragmented message was
    /// still in progress (section 5.4).
    ExpectedContinuation,
    /// A frame's declared payload is larger than `Config::max_frame_size`.
    FrameTooLarge {
        /// The length the frame header declared.
        len: u64,
        /// The configured limit.
        max: usize,
    },
    /// A message would grow past `Config::max_message_size`.
    MessageTooLarge {
        /// The message's length including the frame that crossed the limit.
        len: u64,
        /// The configured limit.
        max: usize,
    },
    /// A text message or a close reason was not valid UTF-8 (section 8.1).
    InvalidUtf8,
    /// A close frame had a one-byte payload, too short for a status code.
    ClosePayloadTooShort,
    /// A close frame carried a code that may not be used on the wire (section 7.4).
    InvalidCloseCode(u16),
    /// A compressed message (permessage-deflate) held data that does not
    /// inflate.
    InvalidCompressedData,
    /// The peer keeps sending pings but does not read the pongs we owe it,
    /// so our queue of control frames is full.
    PeerNotReading,
}

impl ProtocolError {
    /// The close code this error is answered with.
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8 | ProtocolError::InvalidCompressedData => {
                CloseCode::INVALID_PAYLOAD
            }
            ProtocolError::FrameTooLarge { .. } | ProtocolError::MessageTooLarge { .. } => {
                CloseCode::MESSAGE_TOO_BIG
            }
            ProtocolError::PeerNotReading => CloseCode::POLICY_VIOLATION,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::ReservedOpcode(op) => write!(f, "frame uses reserved opcode {op:#x}"),
            ProtocolError::ReservedBits(rsv) => {
                write!(
                    f,
                    "frame sets reserved bits {rsv:#05b} that no extension negotiated"
                )
            }
            ProtocolError::FragmentedControlFrame => f.write_str("control frame is fragmented"),
            ProtocolError::ControlFrameTooLong(len) => {
                write!(f, "control frame payload of {len} bytes exceeds 125")
            }
            ProtocolError::LengthOverflow => {
                f.write_str("64-bit payload length has its most significant bit set")
            }
            ProtocolError::UnmaskedFrame => f.write_str("client frame is not masked"),
            ProtocolError::MaskedFrame => f.write_str("server frame is masked"),
            ProtocolError::UnexpectedContinuation => {
                f.write_str("continuation frame without a message in progress")
            }
            ProtocolError::ExpectedContinuation => {
                f.write_str("new data frame while a fragmented message is in progress")
            }
            ProtocolError::FrameTooLarge { len, max } => {
                write!(f, "frame of {len} bytes exceeds the limit of {max}")
            }
            ProtocolError::MessageTooLarge { len, max } => {
                write!(f, "message of {len} bytes exceeds the limit of {max}")
            }
            ProtocolError::InvalidUtf8 => f.write_str("text is not valid UTF-8"),
            ProtocolError::ClosePayloadTooShort => f.write_str("close frame payload of 1 byte"),
            ProtocolError::InvalidCloseCode(code) => write!(f, "invalid close code {code}"),
            ProtocolError::InvalidCompressedData => {
                f.write_str("compressed message does not inflate")
            }
            ProtocolError::PeerNotReading => {
                f.write_str("peer does not read: queue of control frames is full")
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

/// The opening handshake failed (RFC 6455 section 4).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The request or response head grew past `Config::max_handshake_size`.
    TooLarge {
        /// The configured limit in bytes.
        max: usize,
    },
    /// The head had more than `Config::max_headers` header fields.
    TooManyHeaders {
        /// The configured limit.
        max: usize,
    },
    /// The head is not valid HTTP/1.1.
    Malformed(&'static str),
    /// Server: the request method was not GET.
    MethodNotAllowed(String),
    /// Server: the request was HTTP/1.0; WebSocket needs HTTP/1.1 or later.
    HttpVersion,
    /// Server: the request had no `Host` header.
    MissingHost,
    /// The `Upgrade` header did not contain the `websocket` token.
    MissingUpgrade,
    /// The `Connection` header did not contain the `Upgrade` token.
    MissingConnectionUpgrade,
    /// Server: `Sec-WebSocket-Version` was missing or not 13 (the text received, if any).
    UnsupportedVersion(Option<String>),
    /// Server: an HTTP/2 extended CONNECT (RFC 8441) for a `:protocol`
    /// other than `websocket`.
    UnsupportedProtocol(String),
    /// Server: `Sec-WebSocket-Key` was missing or did not decode to 16 bytes.
    InvalidKey,
    /// Client: the server answered with a status other than 101 (or, over
    /// HTTP/2, other than 2xx).
    Status(Box<RejectedResponse>),
    /// Client: `Sec-WebSocket-Accept` was missing or did not match the key sent.
    AcceptMismatch,
    /// Client: the server chose a subprotocol the client did not offer.
    UnofferedProtocol(String),
    /// Client: the server accepted an extension the client did not offer.
    UnofferedExtension(String),
    /// Client: the server's `Sec-WebSocket-Extensions` names an extension
    /// (given here by name) that this crate does not implement. RFC 6455
    /// section 4.1: "If the response includes a |Sec-WebSocket-Extensions|
    /// header field and this header field indicates the use of an extension
    /// that was not present in the client's handshake [...], the client MUST
    /// _Fail the WebSocket Connection_."
    UnsupportedExtension(String),
    /// Client: the server accepted an extension we offered, but its answer
    /// breaks the extension's rules: an unknown or repeated parameter, an
    /// invalid value, or a configuration no offer of ours allowed. RFC 7692
    /// section 7: "A client MUST _Fail the WebSocket Connection_ if the peer
    /// server accepted an extension negotiation offer for this extension
    /// with an extension negotiation response meeting any of the following
    /// conditions [...]".
    InvalidExtension {
        /// The extension element as the server sent it (name and parameters).
        extension: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// The status line and headers of a response that refused the upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedResponse {
    /// The response's status code.
    pub status: StatusCode,
    /// The response's headers.
    pub headers: HeaderMap,
}

impl HandshakeError {
    /// The HTTP status a server answers this error with.
    pub fn status(&self) -> StatusCode {
        match self {
            HandshakeError::TooLarge { .. } | HandshakeError::TooManyHeaders { .. } => {
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            }
            HandshakeError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            HandshakeError::UnsupportedVersion(_) => StatusCode::UPGRADE_REQUIRED,
            HandshakeError::Status(response) => response.status,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::TooLarge { max } => write!(f, "handshake head exceeds {max} bytes"),
            HandshakeError::TooManyHeaders { max } => {
                write!(f, "handshake has more than {max} headers")
            }
            HandshakeError::Malformed(what) => write!(f, "malformed HTTP head: {what}"),
            HandshakeError::MethodNotAllowed(method) => {
                write!(f, "method {method} is not allowed, expected GET")
            }
            HandshakeError::HttpVersion => f.write_str("HTTP/1.1 or later is required"),
            HandshakeError::MissingHost => f.write_str("request has no Host header"),
            HandshakeError::MissingUpgrade => f.write_str("missing `Upgrade: websocket` header"),
            HandshakeError::MissingConnectionUpgrade => {
                f.write_str("missing `Connection: Upgrade` header")
            }
            HandshakeError::UnsupportedVersion(Some(v)) => {
                write!(f, "unsupported Sec-WebSocket-Version {v:?}, expected 13")
            }
            HandshakeError::UnsupportedVersion(None) => {
                f.write_str("missing Sec-WebSocket-Version header")
            }
            HandshakeError::UnsupportedProtocol(protocol) => write!(
                f,
                "extended CONNECT for protocol {protocol:?}, expected \"websocket\""
            ),
            HandshakeError::InvalidKey => {
                f.write_str("Sec-WebSocket-Key is missing or not 16 base64-encoded bytes")
            }
            HandshakeError::Status(response) => {
                write!(
                    f,
                    "server refused the upgrade with status {}",
                    response.status
                )
            }
            HandshakeError::AcceptMismatch => {
                f.write_str("Sec-WebSocket-Accept is missing or does not match the key")
            }
            HandshakeError::UnofferedProtocol(p) => {
                write!(f, "server chose subprotocol {p:?}, which was not offered")
            }
            HandshakeError::UnofferedExtension(e) => {
                write!(f, "server accepted extension {e:?}, which was not offered")
            }
            HandshakeError::UnsupportedExtension(e) => {
                write!(f, "server accepted extension {e:?}, which is not supported")
            }
            HandshakeError::InvalidExtension { extension, reason } => {
                write!(f, "server's answer {extension:?} is invalid: {reason}")
            }
        }
    }
}

impl std::error::Error for HandshakeError {}

/// A send, ping, pong or close that the connection cannot carry out now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The opening handshake has not completed yet.
    NotOpen,
    /// A close frame was already sent, or the connection has ended.
    Closed,
    /// The outgoing buffer is full: write out pending bytes, then retry.
    Full {
        /// Bytes waiting to be written.
        buffered: usize,
        /// `Config::max_outgoing_buffer`.
        limit: usize,
    },
    /// A fragmented message is being sent; finish it before starting another.
    MessageInProgress,
    /// A ping, pong or close payload longer than 125 bytes.
    ControlPayloadTooLong(usize),
    /// A close code that may not be sent (see [`CloseCode::is_valid_on_wire`]).
    InvalidCloseCode(u16),
    /// Text fragments that do not form valid UTF-8.
    InvalidUtf8,
    /// A client tried to send a [`PreparedMessage`](crate::PreparedMessage),
    /// which is unmasked.
    ClientCannotSendPrepared,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotOpen => f.write_str("the opening handshake has not completed"),
            SendError::Closed => f.write_str("the connection is closing or closed"),
            SendError::Full { buffered, limit } => {
                write!(f, "outgoing buffer full ({buffered} of {limit} bytes)")
            }
            SendError::MessageInProgress => f.write_str("a fragmented message is in progress"),
            SendError::ControlPayloadTooLong(len) => {
                write!(f, "control payload of {len} bytes exceeds 125")
            }
            SendError::InvalidCloseCode(code) => write!(f, "close code {code} may not be sent"),
            SendError::InvalidUtf8 => f.write_str("text fragments are not valid UTF-8"),
            SendError::ClientCannotSendPrepared => {
                f.write_str("a client cannot send a prepared (unmasked) message")
            }
        }
    }
}

impl std::error::Error for SendError {}

/// `accept` or `reject` was called when it could not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcceptError {
    /// No handshake request is waiting for a decision.
    NoPendingRequest,
    /// The request is plain HTTP, not a WebSocket upgrade: it can only be rejected
    /// (or answered with a page through `reject`).
    NotWebSocket,
    /// The chosen subprotocol was not among those the client offered.
    ProtocolNotOffered(String),
    /// The response would carry a subprotocol that is not an HTTP token, or
    /// a header that the handshake writes itself.
    InvalidHeader(HeaderError),
    /// The response headers set `Sec-WebSocket-Extensions`: extensions are
    /// negotiated by the connection itself (through its `Config`), never by
    /// the application, since frames of an extension the connection does not
    /// speak would fail it.
    ExtensionHeader,
    /// A refusal must be a final response: a 1xx status (101 above all,
    /// which would claim the upgrade happened) cannot end the exchange.
    InvalidRejectStatus(StatusCode),
    /// A 204 or 304 response has no body (RFC 9110 sections 15.3.5 and
    /// 15.4.5), so a refusal with that status cannot carry one.
    BodyNotAllowed(StatusCode),
    /// [`Connection::accept_upgraded`](crate::Connection::accept_upgraded)
    /// was given a [`Config`](crate::Config) that cannot work.
    Config(ConfigError),
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcceptError::NoPendingRequest => f.write_str("no handshake request awaits a decision"),
            AcceptError::NotWebSocket => f.write_str("the request is not a WebSocket upgrade"),
            AcceptError::ProtocolNotOffered(p) => {
                write!(f, "subprotocol {p:?} was not offered by the client")
            }
            AcceptError::InvalidHeader(e) => write!(f, "cannot accept: {e}"),
            AcceptError::ExtensionHeader => f.write_str(
                "Sec-WebSocket-Extensions may not be set by the application: \
                 extensions are negotiated by the connection",
            ),
            AcceptError::InvalidRejectStatus(status) => {
                write!(
                    f,
                    "cannot refuse with {status}: a refusal needs a final status"
                )
            }
            AcceptError::BodyNotAllowed(status) => {
                write!(f, "a {status} response cannot carry a body")
            }
            AcceptError::Config(e) => write!(f, "cannot accept: {e}"),
        }
    }
}

impl std::error::Error for AcceptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AcceptError::InvalidHeader(e) => Some(e),
            AcceptError::Config(e) => Some(e),
            _ => None,
        }
    }
}

impl From<HeaderError> for AcceptError {
    fn from(error: HeaderError) -> Self {
        AcceptError::InvalidHeader(error)
    }
}

/// A value that cannot go into a handshake head: it would break the HTTP
/// syntax (a CR LF would start a header of the caller's choosing) or clash
/// with a header the handshake writes itself. Returned by the call that
/// brought the value in.
///
/// Header names and values come as `http::HeaderName` and `http::HeaderValue`,
/// whose constructors already refuse what is not a token or holds CR, LF, NUL
/// or another control byte; what is left to check is listed here.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// A subprotocol name that is not an RFC 7230 token (section 3.2.6:
    /// visible ASCII except delimiters), as `Sec-WebSocket-Protocol` requires
    /// (RFC 6455 section 4.1).
    InvalidProtocol(String),
    /// A header that the handshake writes itself (`Host`, `Upgrade`,
    /// `Connection`, the `Sec-WebSocket-*` fields, `Content-Length`...):
    /// a second copy would contradict the first.
    Reserved(HeaderName),
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::InvalidProtocol(p) => {
                write!(f, "subprotocol {p:?} is not an HTTP token")
            }
            HeaderError::Reserved(name) => {
                write!(f, "header {name:?} is written by the handshake itself")
            }
        }
    }
}

impl std::error::Error for HeaderError {}

/// A [`Config`](crate::Config) value that cannot work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The offending field.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid config `{}`: {}", self.field, self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// Why a connection ended; carried by the final [`Event::Closed`](crate::Event::Closed).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The closing handshake completed. Holds the peer's close frame, which
    /// is `None` when it carried no status code.
    Normal(Option<CloseFrame>),
    /// The peer broke a framing rule; a close frame with the error's code was sent.
    Protocol(ProtocolError),
    /// The opening handshake failed (a server answered with the error's status).
    Handshake(HandshakeError),
    /// The server application rejected the request with this status.
    Rejected(StatusCode),
    /// A deadline passed.
    Timeout(Timer),
    /// The transport ended before the closing handshake completed
    /// (what RFC 6455 reports as 1006, abnormal closure).
    Eof,
}

impl CloseReason {
    /// The close code to report for this ending (RFC 6455 section 7.1.5):
    /// the peer's code for a clean close, 1005 for a clean close without a
    /// code, the error's code for a protocol error, and 1006 otherwise.
    pub fn code(&self) -> CloseCode {
        match self {
            CloseReason::Normal(Some(frame)) => frame.code,
            CloseReason::Normal(None) => CloseCode::NO_STATUS,
            CloseReason::Protocol(e) => e.close_code(),
            _ => CloseCode::ABNORMAL,
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Normal(Some(frame)) if frame.reason.is_empty() => {
                write!(f, "closed with code {}", frame.code)
            }
            CloseReason::Normal(Some(frame)) => {
                write!(f, "closed with code {}: {}", frame.code, frame.reason)
            }
            CloseReason::Normal(None) => f.write_str("closed without a status code"),
            CloseReason::Protocol(e) => write!(f, "protocol error: {e}"),
            CloseReason::Handshake(e) => write!(f, "handshake failed: {e}"),
            CloseReason::Rejected(status) => write!(f, "handshake rejected with status {status}"),
            CloseReason::Timeout(timer) => write!(f, "{timer} timed out"),
            CloseReason::Eof => f.write_str("connection ended without a closing handshake"),
        }
    }
}

/// A URL that a client cannot open.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// Not a URL.
    Invalid(String),
    /// The scheme is not `ws` or `wss`.
    UnsupportedScheme(String),
    /// The URL names no host.
    MissingHost,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::Invalid(url) => write!(f, "invalid URL {url:?}"),
            UrlError::UnsupportedScheme(scheme) => {
                write!(f, "unsupported URL scheme {scheme:?}, expected ws or wss")
            }
            UrlError::MissingHost => f.write_str("URL has no host"),
        }
    }
}

impl std::error::Error for UrlError {}
