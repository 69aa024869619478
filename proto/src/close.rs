//! Close codes (RFC 6455 section 7.4) and the close frame's payload.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::ProtocolError;
use crate::text::Utf8Bytes;

/// A close status code (RFC 6455 section 7.4).
///
/// The named constants are the codes RFC 6455 defines and the three that IANA's
/// "WebSocket Close Code Number Registry" added later (1012-1014); any other
/// value in 3000-4999 is valid too (registered by libraries and frameworks, or
/// private).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: "normal closure, meaning that the purpose for which the connection
    /// was established has been fulfilled."
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: "an endpoint is going away, such as a server going down or a
    /// browser having navigated away from a page."
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: "an endpoint is terminating the connection due to a protocol error."
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: "an endpoint is terminating the connection because it has received
    /// a type of data it cannot accept" (e.g. binary data where only text is expected).
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: reserved; "no status code was actually present". Never sent.
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: reserved; the connection closed without a close frame. Never sent.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: "data within a message that was not consistent with the type of
    /// the message (e.g., non-UTF-8 data within a text message)."
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: "a message that violates its policy" (generic code when no other fits).
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: "a message that is too big for it to process."
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: sent by a client when "it has expected the server to negotiate one
    /// or more extension, but the server didn't return them."
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server "encountered an unexpected condition that prevented it
    /// from fulfilling the request."
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012, Service Restart (IANA registry): the server is restarting; a
    /// client may reconnect, preferably after a randomised delay.
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013, Try Again Later (IANA registry): the server is overloaded or
    /// otherwise temporarily unable to serve; a client may retry later.
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014, Bad Gateway (IANA registry): a server acting as a gateway or
    /// proxy received an invalid response from the upstream server, like
    /// HTTP's 502.
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);

    /// Whether this code may appear in a close frame on the wire.
    ///
    /// 1000-1003 and 1007-1011 (RFC 6455) and 1012-1014 (registered with IANA
    /// since) are defined for use in frames, 3000-4999 are for libraries,
    /// frameworks and applications. Everything else, including the reserved
    /// 1004-1006 and 1015 and the unassigned rest of 1000-2999, is a protocol
    /// error when received (RFC 6455 section 7.4.1 and 7.4.2) and refused
    /// when sent.
    pub fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloseCode({})", self.0)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

/// The status code and reason carried by a close frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// Why the connection is closing.
    pub code: CloseCode,
    /// A human-readable reason, at most 123 bytes of UTF-8. May be empty.
    pub reason: Utf8Bytes,
}

impl CloseFrame {
    /// The longest reason that fits a close frame: 125 bytes minus the code.
    pub const MAX_REASON_LEN: usize = 123;

    /// A close frame with a code and a reason.
    pub fn new(code: CloseCode, reason: impl Into<Utf8Bytes>) -> Self {
        CloseFrame {
            code,
            reason: reason.into(),
        }
    }

    /// Parses a received close frame's (unmasked, complete) payload: empty, or
    /// a valid code followed by a UTF-8 reason.
    pub(crate) fn parse(payload: Bytes) -> Result<Option<CloseFrame>, ProtocolError> {
        match payload.len() {
            0 => Ok(None),
            1 => Err(ProtocolError::ClosePayloadTooShort),
            _ => {
                let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
                if !code.is_valid_on_wire() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let reason = Utf8Bytes::try_from(payload.slice(2..))
                    .map_err(|_| ProtocolError::InvalidUtf8)?;
                Ok(Some(CloseFrame { code, reason }))
            }
        }
    }

    /// Encodes the payload of a close frame carrying `frame` (empty for `None`).
    pub(crate) fn encode(frame: Option<&CloseFrame>) -> Bytes {
        let Some(frame) = frame else {
            return Bytes::new();
        };
        let mut payload = BytesMut::with_capacity(2 + frame.reason.len());
        payload.put_u16(frame.code.0);
        payload.extend_from_slice(frame.reason.as_bytes());
        payload.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_classes() {
        let valid = [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
            4000, 4999,
        ];
        let invalid = [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ];
        for code in valid {
            assert!(CloseCode(code).is_valid_on_wire(), "{code}");
        }
        for code in invalid {
            assert!(!CloseCode(code).is_valid_on_wire(), "{code}");
        }
    }

    #[test]
    fn iana_registered_codes_1012_to_1014_are_valid_on_wire() {
        for code in [
            CloseCode::SERVICE_RESTART,
            CloseCode::TRY_AGAIN_LATER,
            CloseCode::BAD_GATEWAY,
        ] {
            assert!(code.is_valid_on_wire(), "{code}");
            let frame = CloseFrame::new(code, "later");
            let parsed = CloseFrame::parse(CloseFrame::encode(Some(&frame)));
            assert_eq!(parsed, Ok(Some(frame)));
        }
        assert!(!CloseCode(1015).is_valid_on_wire());
    }

    #[test]
    fn payload_round_trip() {
        let frame = CloseFrame::new(CloseCode(4321), "bye ✓");
        let payload = CloseFrame::encode(Some(&frame));
        assert_eq!(CloseFrame::parse(payload), Ok(Some(frame)));
        assert_eq!(CloseFrame::parse(CloseFrame::encode(None)), Ok(None));
    }

    #[test]
    fn malformed_payloads() {
        assert_eq!(
            CloseFrame::parse(Bytes::from_static(&[0x03])),
            Err(ProtocolError::ClosePayloadTooShort)
        );
        assert_eq!(
            CloseFrame::parse(Bytes::from_static(&[0x03, 0xED])),
            Err(ProtocolError::InvalidCloseCode(1005))
        );
        assert_eq!(
            CloseFrame::parse(Bytes::from_static(&[0x03, 0xE8, 0xff])),
            Err(ProtocolError::InvalidUtf8)
        );
    }
}
