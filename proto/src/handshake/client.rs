//! Client side: building the upgrade request, validating the server's response.

use std::fmt::Write as _;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bytes::{BufMut, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};

use super::fields::{check_not_reserved, check_protocol, CLIENT_RESERVED};
use super::{
    accept_key, check_parsed, check_upgrade_headers, complete_head, extension, header_map,
};
use crate::config::Config;
use crate::error::{HandshakeError, HeaderError, RejectedResponse, UrlError};
use crate::frame::Decoded;

/// What a client asks for: the URL to open, subprotocols to offer, extra headers.
///
/// Every value is checked by the call that brings it in, so a finished
/// request always encodes to a well-formed head: no caller string can add a
/// header line of its own.
///
/// ```
/// use rusty_socket_proto::ClientRequest;
///
/// let request = ClientRequest::new("ws://example.com:8080/chat?room=1")?
///     .protocol("chat.v2")?
///     .header(http::header::ORIGIN, http::HeaderValue::from_static("https://example.com"))?;
/// assert_eq!((request.host(), request.port(), request.is_tls()), ("example.com", 8080, false));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientRequest {
    uri: Uri,
    host: String,
    port: u16,
    tls: bool,
    protocols: Vec<String>,
    headers: HeaderMap,
}

impl ClientRequest {
    /// A request for a `ws://` or `wss://` URL.
    pub fn new(url: &str) -> Result<Self, UrlError> {
        let uri: Uri = url.parse().map_err(|_| UrlError::Invalid(url.to_owned()))?;
        let tls = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("ws") => false,
            Some(s) if s.eq_ignore_ascii_case("wss") => true,
            other => return Err(UrlError::UnsupportedScheme(other.unwrap_or("").to_owned())),
        };
        let authority = uri.authority().ok_or(UrlError::MissingHost)?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err(UrlError::MissingHost);
        }
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(ClientRequest {
            host: host.to_owned(),
            port,
            tls,
            uri,
            protocols: Vec::new(),
            headers: HeaderMap::new(),
        })
    }

    /// Offers a subprotocol (`Sec-WebSocket-Protocol`), in order of preference.
    ///
    /// Fails with [`HeaderError::InvalidProtocol`] unless `protocol` is an
    /// RFC 7230 token (RFC 6455 section 4.1), as the header requires.
    pub fn protocol(mut self, protocol: impl Into<String>) -> Result<Self, HeaderError> {
        let protocol = protocol.into();
        check_protocol(&protocol)?;
        self.protocols.push(protocol);
        Ok(self)
    }

    /// Adds a header to the request (`Origin`, `Authorization`, cookies...).
    ///
    /// Fails with [`HeaderError::Reserved`] for a header the handshake
    /// writes itself: `Host`, `Upgrade`, `Connection`, `Sec-WebSocket-Key`,
    /// `Sec-WebSocket-Version`, `Sec-WebSocket-Protocol` (see
    /// [`protocol`](Self::protocol)), `Sec-WebSocket-Extensions` (extensions
    /// are negotiated by the connection) and the body framing headers.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Result<Self, HeaderError> {
        check_not_reserved(&name, CLIENT_RESERVED)?;
        self.headers.append(name, value);
        Ok(self)
    }

    /// The host to connect to (without the brackets of an IPv6 literal).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port to connect to: the URL's, or 80 for `ws://` and 443 for `wss://`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the URL is `wss://`, so the transport must be TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The URL.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// Writes the request head with `key` as `Sec-WebSocket-Key` and
    /// `extensions` (made by the connection from its config; empty for none)
    /// as `Sec-WebSocket-Extensions`, and returns what the response must
    /// then carry.
    pub(crate) fn encode(
        &self,
        key: [u8; 16],
        extensions: String,
        out: &mut BytesMut,
    ) -> PendingResponse {
        let key = BASE64.encode(key);
        let path = self.uri.path_and_query().map_or("/", |p| p.as_str());
        let default_port = if self.tls { 443 } else { 80 };
        let mut head = String::with_capacity(256);
        // Writing to a String cannot fail.
        let _ = write!(head, "GET {path} HTTP/1.1\r\nHost: ");
        if self.host.contains(':') {
            let _ = write!(head, "[{}]", self.host);
        } else {
            head.push_str(&self.host);
        }
        if self.port != default_port {
            let _ = write!(head, ":{}", self.port);
        }
        let _ = write!(
            head,
            "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        );
        if !self.protocols.is_empty() {
            let _ = write!(
                head,
                "Sec-WebSocket-Protocol: {}\r\n",
                self.protocols.join(", ")
            );
        }
        if !extensions.is_empty() {
            let _ = write!(head, "Sec-WebSocket-Extensions: {extensions}\r\n");
        }
        out.extend_from_slice(head.as_bytes());
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.put_slice(b"\r\n");
        self.pending(Some(accept_key(key.as_bytes())), extensions)
    }

    /// The extended CONNECT (RFC 8441 section 4) that asks an HTTP/2
    /// server for a WebSocket on a new stream, offering `extensions` as
    /// [`encode`](Self::encode) does, and what the response must carry.
    /// The `:protocol` pseudo-header (`websocket`) is the HTTP/2 client's
    /// to add: `http::Request` has no place for it.
    pub(crate) fn extended_connect(
        &self,
        extensions: String,
    ) -> (http::Request<()>, PendingResponse) {
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(if self.tls {
            http::uri::Scheme::HTTPS
        } else {
            http::uri::Scheme::HTTP
        });
        parts.authority = self.uri.authority().cloned();
        parts.path_and_query = Some(
            self.uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
        );
        let mut request = http::Request::new(());
        *request.method_mut() = http::Method::CONNECT;
        *request.version_mut() = http::Version::HTTP_2;
        // The parts of a URL that parsed, with a scheme: valid.
        *request.uri_mut() = Uri::from_parts(parts).unwrap_or_else(|_| self.uri.clone());
        let headers = request.headers_mut();
        headers.insert("sec-websocket-version", HeaderValue::from_static("13"));
        // Tokens (checked by `protocol`) and our own offer: valid values.
        let offers = [
            ("sec-websocket-protocol", self.protocols.join(", ")),
            ("sec-websocket-extensions", extensions.clone()),
        ];
        for (name, offer) in offers {
            match HeaderValue::try_from(offer) {
                Ok(value) if !value.is_empty() => {
                    headers.insert(name, value);
                }
                _ => {}
            }
        }
        for (name, value) in &self.headers {
            headers.append(name, value.clone());
        }
        (request, self.pending(None, extensions))
    }

    /// What the response to this request must carry: `accept` is the
    /// `Sec-WebSocket-Accept` of an HTTP/1.1 upgrade, `None` over HTTP/2.
    fn pending(&self, accept: Option<String>, extensions: String) -> PendingResponse {
        #[cfg(not(feature = "deflate"))]
        let _ = extensions;
        PendingResponse {
            accept,
            protocols: self.protocols.clone(),
            #[cfg(feature = "deflate")]
            extensions,
            scanned: 0,
        }
    }
}

/// The server's answer to a client's upgrade request.
#[derive(Debug, Clone)]
pub struct Response {
    inner: http::Response<()>,
    protocol: Option<String>,
    #[cfg(feature = "deflate")]
    deflate: Option<crate::deflate::Deflate>,
}

impl Response {
    /// The status: 101 Switching Protocols, or a 2xx over HTTP/2 (RFC 8441).
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// The response's headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The subprotocol the server chose, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The permessage-deflate parameters the server agreed to, if it
    /// accepted compression.
    #[cfg(feature = "deflate")]
    pub fn deflate(&self) -> Option<crate::deflate::Deflate> {
        self.deflate
    }

    /// The response as an `http::Response`.
    pub fn as_http(&self) -> &http::Response<()> {
        &self.inner
    }
}

/// What a client waits for after sending its request.
#[derive(Debug, Clone)]
pub(crate) struct PendingResponse {
    /// The `Sec-WebSocket-Accept` expected; `None` for an HTTP/2 extended
    /// CONNECT, which has no key.
    accept: Option<String>,
    protocols: Vec<String>,
    /// The `Sec-WebSocket-Extensions` offered (empty for none).
    #[cfg(feature = "deflate")]
    extensions: String,
    scanned: usize,
}

/// Parses and validates the server's response head from the start of `buf`.
pub(crate) fn parse_response(
    buf: &[u8],
    pending: &mut PendingResponse,
    config: &Config,
) -> Result<Decoded<Response>, HandshakeError> {
    let Some(end) = complete_head(buf, &mut pending.scanned, config.max_handshake_size)? else {
        return Ok(Decoded::Partial);
    };
    let mut headers = vec![httparse::EMPTY_HEADER; config.max_headers];
    let mut parsed = httparse::Response::new(&mut headers);
    check_parsed(parsed.parse(&buf[..end]), config.max_headers)?;
    let status = parsed
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or(HandshakeError::Malformed("invalid status code"))?;
    let headers = header_map(parsed.headers)?;
    Ok(Decoded::Complete(
        check_response(status, headers, pending, config)?,
        end,
    ))
}

/// Validates the server's answer: a 101 with the upgrade headers and the
/// accept value for an HTTP/1.1 upgrade, a 2xx for an HTTP/2 extended
/// CONNECT (RFC 8441 section 5), then the same subprotocol and extension
/// checks for both.
pub(crate) fn check_response(
    status: StatusCode,
    headers: HeaderMap,
    pending: &PendingResponse,
    config: &Config,
) -> Result<Response, HandshakeError> {
    let accepted = match pending.accept {
        Some(_) => status == StatusCode::SWITCHING_PROTOCOLS,
        None => status.is_success(),
    };
    if !accepted {
        return Err(HandshakeError::Status(Box::new(RejectedResponse {
            status,
            headers,
        })));
    }
    if let Some(expected) = &pending.accept {
        check_upgrade_headers(&headers)?;
        let accept = headers
            .get("sec-websocket-accept")
            .map(HeaderValue::as_bytes);
        if accept != Some(expected.as_bytes()) {
            return Err(HandshakeError::AcceptMismatch);
        }
    }
    let protocol = match headers.get("sec-websocket-protocol") {
        None => None,
        Some(value) => {
            let chosen = value.to_str().unwrap_or("").trim();
            if !pending.protocols.iter().any(|p| p == chosen) {
                return Err(HandshakeError::UnofferedProtocol(chosen.to_owned()));
            }
            Some(chosen.to_owned())
        }
    };
    #[cfg(feature = "deflate")]
    let offered = extension::Offered {
        deflate: (!pending.extensions.is_empty())
            .then_some((&config.deflate, pending.extensions.as_str())),
    };
    #[cfg(not(feature = "deflate"))]
    let offered = {
        let _ = config;
        extension::Offered::default()
    };
    let agreed = extension::check_answer(&headers, offered)?;
    let mut inner = http::Response::new(());
    *inner.status_mut() = status;
    *inner.headers_mut() = headers;
    #[cfg(not(feature = "deflate"))]
    let _ = agreed;
    Ok(Response {
        inner,
        protocol,
        #[cfg(feature = "deflate")]
        deflate: agreed.deflate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_text(request: &ClientRequest) -> (String, PendingResponse) {
        let mut out = BytesMut::new();
        let pending = request.encode(*b"the sample nonce", String::new(), &mut out);
        (String::from_utf8(out.to_vec()).unwrap(), pending)
    }

    #[test]
    fn request_matches_rfc_6455_section_1_2() {
        let request = ClientRequest::new("ws://server.example.com/chat")
            .unwrap()
            .protocol("chat")
            .unwrap()
            .protocol("superchat")
            .unwrap()
            .header(
                http::header::ORIGIN,
                HeaderValue::from_static("http://example.com"),
            )
            .unwrap();
        let (text, pending) = request_text(&request);
        assert_eq!(
            text,
            "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
             origin: http://example.com\r\n\r\n"
        );
        assert_eq!(
            pending.accept.as_deref(),
            Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
    }

    #[test]
    fn host_header_carries_a_non_default_port_and_the_query() {
        let request = ClientRequest::new("wss://[::1]:9443/a/b?x=1&y").unwrap();
        assert_eq!(
            (request.host(), request.port(), request.is_tls()),
            ("::1", 9443, true)
        );
        let (text, _) = request_text(&request);
        assert!(
            text.starts_with("GET /a/b?x=1&y HTTP/1.1\r\nHost: [::1]:9443\r\n"),
            "{text}"
        );
        let (text, _) = request_text(&ClientRequest::new("wss://h:443").unwrap());
        assert!(text.starts_with("GET / HTTP/1.1\r\nHost: h\r\n"), "{text}");
    }

    #[test]
    fn bad_urls_are_refused() {
        assert_eq!(
            ClientRequest::new("http://a/").unwrap_err(),
            UrlError::UnsupportedScheme("http".into())
        );
        assert_eq!(
            ClientRequest::new("/path").unwrap_err(),
            UrlError::UnsupportedScheme("".into())
        );
        assert!(matches!(
            ClientRequest::new("ws://a b/"),
            Err(UrlError::Invalid(_))
        ));
    }
}
