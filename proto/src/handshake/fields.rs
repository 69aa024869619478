//! What the caller may put into a handshake head.
//!
//! Every string that reaches a head passes through here or through the
//! constructors of `http::HeaderName` and `http::HeaderValue`, which refuse
//! names that are not tokens and values with CR, LF, NUL or other control
//! bytes. So no caller input can end a header line early and start another.

use http::header::{
    CONNECTION, CONTENT_LENGTH, HOST, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS,
    SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap, HeaderName};

use crate::error::HeaderError;

/// Headers a client request writes itself; `Sec-WebSocket-Protocol` comes
/// from [`ClientRequest::protocol`](super::ClientRequest::protocol) and
/// `Sec-WebSocket-Extensions` from the connection's own negotiation.
pub(super) const CLIENT_RESERVED: &[HeaderName] = &[
    HOST,
    UPGRADE,
    CONNECTION,
    SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_VERSION,
    SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_EXTENSIONS,
    CONTENT_LENGTH,
    TRANSFER_ENCODING,
];

/// Headers a 101 response writes itself (`Sec-WebSocket-Extensions` has its
/// own error, see [`AcceptError::ExtensionHeader`](crate::AcceptError::ExtensionHeader)).
/// A 1xx response carries no body, so no framing headers either (RFC 9110
/// section 8.6).
pub(super) const ACCEPT_RESERVED: &[HeaderName] = &[
    UPGRADE,
    CONNECTION,
    SEC_WEBSOCKET_ACCEPT,
    SEC_WEBSOCKET_PROTOCOL,
    CONTENT_LENGTH,
    TRANSFER_ENCODING,
];

/// Headers a refusal writes itself: its body's length, and `Connection: close`.
pub(super) const REJECT_RESERVED: &[HeaderName] = &[CONTENT_LENGTH, TRANSFER_ENCODING, CONNECTION];

/// Whether `text` is an RFC 7230 token (section 3.2.6): one or more visible
/// ASCII characters, none of them a delimiter.
pub(super) fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// Checks a subprotocol name: `Sec-WebSocket-Protocol` lists tokens
/// (RFC 6455 section 4.1, item 10 of the client's requirements).
pub(super) fn check_protocol(protocol: &str) -> Result<(), HeaderError> {
    if is_token(protocol) {
        Ok(())
    } else {
        Err(HeaderError::InvalidProtocol(protocol.to_owned()))
    }
}

/// Checks that `name` is not among the headers the handshake writes itself.
pub(super) fn check_not_reserved(
    name: &HeaderName,
    reserved: &[HeaderName],
) -> Result<(), HeaderError> {
    if reserved.contains(name) {
        Err(HeaderError::Reserved(name.clone()))
    } else {
        Ok(())
    }
}

/// Checks every name of `headers` with [`check_not_reserved`].
pub(super) fn check_headers(
    headers: &HeaderMap,
    reserved: &[HeaderName],
) -> Result<(), HeaderError> {
    headers
        .keys()
        .try_for_each(|name| check_not_reserved(name, reserved))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        for token in ["chat", "v1.chat+json", "a!#$%&'*+-.^_`|~Z9"] {
            assert!(is_token(token), "{token}");
        }
        for not in [
            "", "a b", "a,b", "a;b", "a\r\nb", "a\0", "(a)", "a/b", "\"a\"", "é", "a\t",
        ] {
            assert!(!is_token(not), "{not:?}");
        }
    }
}
