//! The opening handshake (RFC 6455 section 4): what both sides share.
//!
//! Heads are found by scanning for the blank line that ends them, resuming
//! where the last scan stopped, and parsed by httparse only once complete, so
//! a head trickled in one byte at a time costs no more than one sent whole.

mod client;
pub(crate) mod extension;
mod fields;
mod server;

pub(crate) use client::{check_response, parse_response, PendingResponse};
pub use client::{ClientRequest, Response};
pub(crate) use server::{check_reject, parse_request, reject_response, RequestParser};
pub use server::{upgrade_response, Accept, Reject, Request};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use http::HeaderMap;

use crate::error::HandshakeError;

/// The GUID of RFC 6455 section 1.3, appended to the key before hashing.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key` (RFC 6455 section 1.3):
/// base64 of the SHA-1 of the key followed by the protocol's GUID.
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = sha1_smol::Sha1::new();
    sha1.update(key);
    sha1.update(GUID.as_bytes());
    BASE64.encode(sha1.digest().bytes())
}

/// Finds the end of an HTTP head (just past its blank line) in `buf`,
/// resuming the scan at `*scanned` and remembering where it stopped.
fn find_head_end(buf: &[u8], scanned: &mut usize) -> Option<usize> {
    let start = scanned.saturating_sub(2);
    let found = buf[start..]
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .find_map(|(i, _)| {
            let at = start + i + 1;
            match buf.get(at..) {
                Some([b'\n', ..]) => Some(at + 1),
                Some([b'\r', b'\n', ..]) => Some(at + 2),
                _ => None,
            }
        });
    if found.is_none() {
        *scanned = buf.len();
    }
    found
}

/// Locates a complete head within the handshake limits: `Ok(None)` while more
/// bytes are needed, the head's length once it is complete.
fn complete_head(
    buf: &[u8],
    scanned: &mut usize,
    max_size: usize,
) -> Result<Option<usize>, HandshakeError> {
    match find_head_end(buf, scanned) {
        Some(end) if end <= max_size => Ok(Some(end)),
        None if buf.len() <= max_size => Ok(None),
        _ => Err(HandshakeError::TooLarge { max: max_size }),
    }
}

/// Checks httparse's verdict on a head already known to be complete.
fn check_parsed(result: httparse::Result<usize>, max_headers: usize) -> Result<(), HandshakeError> {
    match result {
        Ok(httparse::Status::Complete(_)) => Ok(()),
        Ok(httparse::Status::Partial) => Err(HandshakeError::Malformed("incomplete head")),
        Err(e) => Err(parse_error(e, max_headers)),
    }
}

/// Maps an httparse error to ours.
fn parse_error(error: httparse::Error, max_headers: usize) -> HandshakeError {
    HandshakeError::Malformed(match error {
        httparse::Error::TooManyHeaders => {
            return HandshakeError::TooManyHeaders { max: max_headers }
        }
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status line",
        httparse::Error::Token => "invalid token in request line",
        httparse::Error::Version => "invalid HTTP version",
    })
}

/// Copies httparse's headers into an `http::HeaderMap`.
fn header_map(headers: &[httparse::Header<'_>]) -> Result<HeaderMap, HandshakeError> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for header in headers {
        let name = http::HeaderName::from_bytes(header.name.as_bytes())
            .map_err(|_| HandshakeError::Malformed("invalid header name"))?;
        let value = http::HeaderValue::from_bytes(header.value)
            .map_err(|_| HandshakeError::Malformed("invalid header value"))?;
        map.append(name, value);
    }
    Ok(map)
}

/// The comma-separated tokens of every `name` header, trimmed, empty ones skipped.
fn header_tokens<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

/// Whether a `name` header lists `token` (compared case-insensitively).
fn has_token(headers: &HeaderMap, name: &str, token: &str) -> bool {
    header_tokens(headers, name).any(|t| t.eq_ignore_ascii_case(token))
}

/// Checks the `Upgrade: websocket` and `Connection: Upgrade` pair.
fn check_upgrade_headers(headers: &HeaderMap) -> Result<(), HandshakeError> {
    if !has_token(headers, "upgrade", "websocket") {
        return Err(HandshakeError::MissingUpgrade);
    }
    if !has_token(headers, "connection", "upgrade") {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6455_section_1_3_accept_key() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn head_end_is_found_however_the_bytes_arrive() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest";
        let end = head.len() - 4;
        let mut scanned = 0;
        assert_eq!(find_head_end(head, &mut scanned), Some(end));
        for split in 0..end {
            let mut scanned = 0;
            assert_eq!(
                find_head_end(&head[..split], &mut scanned),
                None,
                "split {split}"
            );
            assert_eq!(
                find_head_end(head, &mut scanned),
                Some(end),
                "split {split}"
            );
        }
        let mut scanned = 0;
        assert_eq!(
            find_head_end(b"GET / HTTP/1.1\nHost: a\n\nx", &mut scanned),
            Some(24)
        );
    }

    #[test]
    fn token_lists_are_case_insensitive_and_comma_separated() {
        let mut headers = HeaderMap::new();
        headers.append("connection", "keep-alive, UPGRADE".parse().unwrap());
        headers.append("upgrade", "h2c".parse().unwrap());
        headers.append("upgrade", "WebSocket".parse().unwrap());
        assert_eq!(check_upgrade_headers(&headers), Ok(()));
        headers.remove("connection");
        assert_eq!(
            check_upgrade_headers(&headers),
            Err(HandshakeError::MissingConnectionUpgrade)
        );
    }
}
