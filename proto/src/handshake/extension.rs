//! Which extensions (RFC 6455 section 9) a connection can speak.
//!
//! This is the one place that decides whether an extension offered by a
//! client or answered by a server is usable: the client checks the server's
//! `Sec-WebSocket-Extensions` here, and the server never lets the
//! application write that header, since a connection that agreed to an
//! extension it does not implement would fail at its first frame with RSV
//! bits set. The crate implements no extension yet; permessage-deflate
//! (RFC 7692) will be configured through `Config`, offered and answered from
//! here, and its parameters handed to the receive and send paths.

use http::HeaderMap;

use super::header_tokens;
use crate::error::HandshakeError;

/// The names of the extensions this crate implements (none yet).
const SUPPORTED: &[&str] = &[];

/// Checks the extensions a server's 101 response accepted. Every one must be
/// implemented here (and, once one is, offered by this client): RFC 6455
/// section 4.1 requires the client to fail the connection otherwise.
pub(super) fn check_response(headers: &HeaderMap) -> Result<(), HandshakeError> {
    for element in header_tokens(headers, "sec-websocket-extensions") {
        // An element is a name followed by `;`-separated parameters.
        let name = element.split(';').next().unwrap_or("").trim();
        if !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(name)) {
            return Err(HandshakeError::UnsupportedExtension(name.to_owned()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append("sec-websocket-extensions", value.parse().unwrap());
        }
        map
    }

    #[test]
    fn no_extension_is_fine() {
        assert_eq!(check_response(&HeaderMap::new()), Ok(()));
        assert_eq!(check_response(&headers(&[" , "])), Ok(()));
    }

    #[test]
    fn any_named_extension_is_unsupported() {
        assert_eq!(
            check_response(&headers(&["permessage-deflate; client_max_window_bits=10"])),
            Err(HandshakeError::UnsupportedExtension(
                "permessage-deflate".into()
            ))
        );
        assert_eq!(
            check_response(&headers(&["", "x-foo, permessage-deflate"])),
            Err(HandshakeError::UnsupportedExtension("x-foo".into()))
        );
    }
}
