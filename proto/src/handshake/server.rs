//! Server side: parsing the upgrade request, answering it.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, Version};

use super::fields::{check_headers, check_not_reserved, check_protocol, is_token};
use super::fields::{ACCEPT_RESERVED, REJECT_RESERVED};
use super::{accept_key, check_upgrade_headers, complete_head, has_token, header_map};
use super::{check_parsed, header_tokens};
use crate::config::Config;
use crate::error::{AcceptError, HandshakeError, HeaderError};
use crate::frame::Decoded;

/// A client's request to open a WebSocket, handed to the server application
/// in [`Event::Request`](crate::Event::Request) to accept or reject.
///
/// A plain HTTP `GET` (no `Upgrade` header) is reported too, with
/// [`is_websocket`](Self::is_websocket) false, so that a server can answer it
/// with a page through [`Connection::reject`](crate::Connection::reject).
#[derive(Debug, Clone)]
pub struct Request {
    inner: http::Request<()>,
    opening: Opening,
    protocols: Vec<String>,
    extensions: Vec<String>,
}

/// How the request asks for a WebSocket, which decides how it is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Opening {
    /// A plain HTTP GET: no WebSocket.
    Plain,
    /// An HTTP/1.1 upgrade with its `Sec-WebSocket-Key`: answered with a 101.
    Upgrade { key: String },
    /// An HTTP/2 extended CONNECT (RFC 8441): answered with a 200, and the
    /// stream ends with END_STREAM rather than a TCP close.
    ExtendedConnect,
}

impl Request {
    /// The request method: GET, or CONNECT for an HTTP/2 extended CONNECT.
    pub fn method(&self) -> &Method {
        self.inner.method()
    }

    /// The request target.
    pub fn uri(&self) -> &Uri {
        self.inner.uri()
    }

    /// The path of the request target.
    pub fn path(&self) -> &str {
        self.inner.uri().path()
    }

    /// The request's headers.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// A header's value, if present and valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner.headers().get(name)?.to_str().ok()
    }

    /// The `Origin` header that browsers send: check it to stop cross-site
    /// WebSocket hijacking (RFC 6455 section 10.2).
    pub fn origin(&self) -> Option<&str> {
        self.header("origin")
    }

    /// The subprotocols the client offers, in its order of preference
    /// (elements that are not RFC 7230 tokens are left out: they could not
    /// be chosen).
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// The extensions the client offers, each with its parameters.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// Whether this is a WebSocket upgrade (false for a plain HTTP GET).
    pub fn is_websocket(&self) -> bool {
        self.opening != Opening::Plain
    }

    /// Whether the request came as an HTTP/2 extended CONNECT (RFC 8441),
    /// to be answered with a 200 on its stream.
    pub fn is_extended_connect(&self) -> bool {
        self.opening == Opening::ExtendedConnect
    }

    /// The request as an `http::Request`.
    pub fn as_http(&self) -> &http::Request<()> {
        &self.inner
    }
}

/// How a server accepts a request: the subprotocol it picks and any headers
/// to add (cookies, for instance).
///
/// Checked by [`Connection::accept`](crate::Connection::accept), which
/// refuses it with an [`AcceptError`] (and changes nothing) when the
/// subprotocol was not offered or is not a token, when a header is one the
/// handshake writes itself, or when a header is `Sec-WebSocket-Extensions`.
#[derive(Debug, Clone, Default)]
pub struct Accept {
    /// The subprotocol to speak; must be one the client offered.
    pub protocol: Option<String>,
    /// Extra response headers. Not `Upgrade`, `Connection`,
    /// `Sec-WebSocket-Accept`, `Sec-WebSocket-Protocol` (set
    /// [`protocol`](Self::protocol) instead), `Sec-WebSocket-Extensions`
    /// (extensions are negotiated by the connection itself),
    /// `Content-Length` or `Transfer-Encoding`.
    pub headers: HeaderMap,
}

impl Accept {
    /// Accepts with the given subprotocol.
    pub fn with_protocol(protocol: impl Into<String>) -> Self {
        Accept {
            protocol: Some(protocol.into()),
            headers: HeaderMap::new(),
        }
    }

    /// Checks that this answer can accept `request`.
    fn check(&self, request: &Request) -> Result<(), AcceptError> {
        if !request.is_websocket() {
            return Err(AcceptError::NotWebSocket);
        }
        if let Some(protocol) = &self.protocol {
            check_protocol(protocol)?;
            if !request.protocols.contains(protocol) {
                return Err(AcceptError::ProtocolNotOffered(protocol.clone()));
            }
        }
        if self
            .headers
            .contains_key(http::header::SEC_WEBSOCKET_EXTENSIONS)
        {
            return Err(AcceptError::ExtensionHeader);
        }
        check_headers(&self.headers, ACCEPT_RESERVED)?;
        Ok(())
    }

    /// The response as an `http::Response`, for another HTTP server to
    /// send, with `extensions` as in [`encode`](Self::encode): a 101 with
    /// `Sec-WebSocket-Accept` for an HTTP/1.1 upgrade, a 200 for an HTTP/2
    /// extended CONNECT, which has no key (RFC 8441 section 5).
    pub(crate) fn to_http(
        &self,
        request: &Request,
        extensions: &str,
    ) -> Result<http::Response<()>, AcceptError> {
        self.check(request)?;
        let mut response = http::Response::new(());
        let headers = response.headers_mut();
        if let Opening::Upgrade { key } = &request.opening {
            headers.insert("upgrade", HeaderValue::from_static("websocket"));
            headers.insert("connection", HeaderValue::from_static("Upgrade"));
            // Base64 is always a valid header value: this cannot fail.
            let accept = HeaderValue::try_from(accept_key(key.as_bytes()))
                .map_err(|_| AcceptError::NotWebSocket)?;
            headers.insert("sec-websocket-accept", accept);
            *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        }
        let headers = response.headers_mut();
        if let Some(protocol) = &self.protocol {
            // Checked to be a token, hence a valid value.
            let value = HeaderValue::try_from(protocol.as_str())
                .map_err(|_| HeaderError::InvalidProtocol(protocol.clone()))?;
            headers.insert("sec-websocket-protocol", value);
        }
        if !extensions.is_empty() {
            // Our own answer, tokens and parameters: this cannot fail.
            let value =
                HeaderValue::try_from(extensions).map_err(|_| AcceptError::ExtensionHeader)?;
            headers.insert("sec-websocket-extensions", value);
        }
        for (name, value) in &self.headers {
            headers.append(name, value.clone());
        }
        Ok(response)
    }

    /// Writes the 101 response, with `extensions` (the connection's answer to
    /// the client's offers; empty for none) as `Sec-WebSocket-Extensions`.
    pub(crate) fn encode(
        &self,
        request: &Request,
        extensions: &str,
        out: &mut BytesMut,
    ) -> Result<(), AcceptError> {
        self.check(request)?;
        // Requests read from bytes are HTTP/1.1 upgrades.
        let Opening::Upgrade { key } = &request.opening else {
            return Err(AcceptError::NotWebSocket);
        };
        out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n");
        out.extend_from_slice(b"Connection: Upgrade\r\nSec-WebSocket-Accept: ");
        out.extend_from_slice(accept_key(key.as_bytes()).as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(protocol) = &self.protocol {
            out.extend_from_slice(b"Sec-WebSocket-Protocol: ");
            out.extend_from_slice(protocol.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !extensions.is_empty() {
            out.extend_from_slice(b"Sec-WebSocket-Extensions: ");
            out.extend_from_slice(extensions.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        write_headers(&self.headers, out);
        out.extend_from_slice(b"\r\n");
        Ok(())
    }
}

/// How a server refuses a request (or answers a plain HTTP request): a
/// complete HTTP response, after which the connection ends.
///
/// Small on purpose (the header map is boxed), since it travels in the `Err`
/// of accept callbacks.
#[derive(Debug, Clone)]
pub struct Reject {
    status: StatusCode,
    headers: Box<HeaderMap>,
    body: Bytes,
}

impl Reject {
    /// A response with `status`, no extra headers, and the status's reason as
    /// body (none for 204 and 304, which have no body).
    pub fn status(status: StatusCode) -> Self {
        let body = if has_no_body(status) {
            Bytes::new()
        } else {
            Bytes::from_static(status.canonical_reason().unwrap_or("").as_bytes())
        };
        Reject::with_body(status, body)
    }

    /// A response with `status` and `body`.
    pub fn with_body(status: StatusCode, body: impl Into<Bytes>) -> Self {
        Reject {
            status,
            headers: Box::default(),
            body: body.into(),
        }
    }

    /// Adds a header.
    ///
    /// `Content-Length` and `Connection: close` are always written by the
    /// connection, so those (and `Transfer-Encoding`) fail with
    /// [`HeaderError::Reserved`].
    pub fn header(
        mut self,
        name: http::HeaderName,
        value: HeaderValue,
    ) -> Result<Self, HeaderError> {
        check_not_reserved(&name, REJECT_RESERVED)?;
        self.headers.append(name, value);
        Ok(self)
    }

    /// The response status.
    pub fn status_code(&self) -> StatusCode {
        self.status
    }

    /// The extra response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The response body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The refusal as an `http::Response`, for another HTTP server (hyper,
    /// axum...) to send: the status, the headers, the body, and what the
    /// status implies (a 426 names the version this server speaks, RFC
    /// 6455 section 4.4; a 405 says `Allow: GET`), as a
    /// [`Connection`](crate::Connection) writes it. The server frames the
    /// body and decides whether the HTTP connection stays open, so neither
    /// `Content-Length` nor `Connection: close` is set here.
    ///
    /// Fails like [`Connection::reject`](crate::Connection::reject) for a
    /// response that cannot end the exchange (a 1xx status, a body on a 204).
    pub fn to_http(&self) -> Result<http::Response<Bytes>, AcceptError> {
        check_reject(self)?;
        let mut response = http::Response::new(self.body.clone());
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        if let Some((_, name, value)) = implied_header(self.status, &self.headers) {
            headers.insert(name, HeaderValue::from_static(value));
        }
        for (name, value) in self.headers.iter() {
            headers.append(name, value.clone());
        }
        Ok(response)
    }
}

/// The header a refusal's status calls for, unless the application set it:
/// a 426 names the version this server speaks (RFC 6455 section 4.4), a 405
/// the method it allows (RFC 9110 section 15.5.6). The name comes as
/// written on the wire and as a `HeaderName`.
fn implied_header(
    status: StatusCode,
    headers: &HeaderMap,
) -> Option<(&'static str, http::HeaderName, &'static str)> {
    let (wire, name, value) = match status {
        StatusCode::UPGRADE_REQUIRED => (
            "Sec-WebSocket-Version",
            http::header::SEC_WEBSOCKET_VERSION,
            "13",
        ),
        StatusCode::METHOD_NOT_ALLOWED => ("Allow", http::header::ALLOW, "GET"),
        _ => return None,
    };
    (!headers.contains_key(&name)).then_some((wire, name, value))
}

/// Where the scan for the end of a request head stopped.
#[derive(Debug, Default)]
pub(crate) struct RequestParser {
    scanned: usize,
}

/// Parses and validates a request head from the start of `buf`.
///
/// A malformed or invalid request is an error to be answered with its
/// [`HandshakeError::status`]; a well-formed GET without `Upgrade` is returned
/// as a plain HTTP request.
pub(crate) fn parse_request(
    buf: &[u8],
    state: &mut RequestParser,
    config: &Config,
) -> Result<Decoded<Request>, HandshakeError> {
    let Some(end) = complete_head(buf, &mut state.scanned, config.max_handshake_size)? else {
        return Ok(Decoded::Partial);
    };
    let mut headers = vec![httparse::EMPTY_HEADER; config.max_headers];
    let mut parsed = httparse::Request::new(&mut headers);
    check_parsed(parsed.parse(&buf[..end]), config.max_headers)?;
    let method = Method::from_bytes(parsed.method.unwrap_or("").as_bytes())
        .map_err(|_| HandshakeError::Malformed("invalid method"))?;
    let uri: Uri = parsed
        .path
        .unwrap_or("")
        .parse()
        .map_err(|_| HandshakeError::Malformed("invalid request target"))?;
    let version = match parsed.version {
        Some(1) => Version::HTTP_11,
        _ => Version::HTTP_10,
    };
    let headers = header_map(parsed.headers)?;
    let mut inner = http::Request::new(());
    *inner.method_mut() = method;
    *inner.uri_mut() = uri;
    *inner.version_mut() = version;
    *inner.headers_mut() = headers;
    Ok(Decoded::Complete(Request::classify(inner)?, end))
}

impl Request {
    /// Reads a request that another HTTP server (hyper, axum...) has
    /// parsed, with the same rules as a [`Connection`](crate::Connection)
    /// reading its own: an upgrade must follow RFC 6455 section 4.2.1 (the
    /// error says which status to answer: 400, 405, 426...), a GET without
    /// `Upgrade` is a plain HTTP request ([`is_websocket`](Self::is_websocket)
    /// false), and any other method is refused with 405.
    ///
    /// Accept it with
    /// [`Connection::accept_upgraded`](crate::Connection::accept_upgraded),
    /// or answer it with [`Reject::to_http`].
    pub fn from_http<B>(request: &http::Request<B>) -> Result<Request, HandshakeError> {
        Request::classify(copy_head(request))
    }

    /// Reads an HTTP/2 extended CONNECT (RFC 8441 section 4) that an HTTP/2
    /// server (hyper with `enable_connect_protocol`) has parsed, with
    /// `protocol` its `:protocol` pseudo-header (hyper keeps it apart from
    /// the headers, in the request's `hyper::ext::Protocol` extension).
    ///
    /// The rules are RFC 6455's, as RFC 8441 section 5 adapts them: the
    /// method is CONNECT (otherwise 405), `:protocol` is `websocket`
    /// (otherwise 400), `Sec-WebSocket-Version` is 13 (otherwise 426 naming
    /// 13); there is no `Sec-WebSocket-Key`, no `Upgrade`, no `Connection`.
    /// Accepting it with
    /// [`Connection::accept_upgraded`](crate::Connection::accept_upgraded)
    /// gives a `200` to send on the stream, and a connection that ends the
    /// stream with END_STREAM after the closing handshake, as a TCP close
    /// would end a connection.
    pub fn from_extended_connect<B>(
        request: &http::Request<B>,
        protocol: &str,
    ) -> Result<Request, HandshakeError> {
        if request.method() != Method::CONNECT {
            return Err(HandshakeError::MethodNotAllowed(
                request.method().to_string(),
            ));
        }
        if !protocol.eq_ignore_ascii_case("websocket") {
            return Err(HandshakeError::UnsupportedProtocol(protocol.to_owned()));
        }
        check_version(request.headers())?;
        Request::with_opening(copy_head(request), Opening::ExtendedConnect)
    }

    /// Tells an upgrade (validated) from a plain GET, and lists the offers.
    fn classify(inner: http::Request<()>) -> Result<Request, HandshakeError> {
        let opening = if inner.headers().contains_key("upgrade") {
            Opening::Upgrade {
                key: validate_upgrade(&inner)?,
            }
        } else if inner.method() != Method::GET {
            return Err(HandshakeError::MethodNotAllowed(inner.method().to_string()));
        } else {
            Opening::Plain
        };
        Request::with_opening(inner, opening)
    }

    /// Lists the offers of a request whose opening is known.
    fn with_opening(inner: http::Request<()>, opening: Opening) -> Result<Request, HandshakeError> {
        let headers = inner.headers();
        // Subprotocols are tokens (RFC 6455 section 4.1); an element that is
        // not one cannot be chosen, so it is not listed.
        let protocols = header_tokens(headers, "sec-websocket-protocol")
            .filter(|protocol| is_token(protocol))
            .map(String::from)
            .collect();
        let extensions = header_tokens(headers, "sec-websocket-extensions")
            .map(String::from)
            .collect();
        Ok(Request {
            inner,
            opening,
            protocols,
            extensions,
        })
    }
}

/// The method, target, version and headers of `request`, without its body.
fn copy_head<B>(request: &http::Request<B>) -> http::Request<()> {
    let mut inner = http::Request::new(());
    *inner.method_mut() = request.method().clone();
    *inner.uri_mut() = request.uri().clone();
    *inner.version_mut() = request.version();
    *inner.headers_mut() = request.headers().clone();
    inner
}

/// Checks that the client speaks version 13 (RFC 6455 section 4.2.1, item 6).
fn check_version(headers: &HeaderMap) -> Result<(), HandshakeError> {
    match headers.get("sec-websocket-version") {
        Some(v) if v.as_bytes().trim_ascii() == b"13" => Ok(()),
        other => {
            let received = other.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            Err(HandshakeError::UnsupportedVersion(received))
        }
    }
}

/// Checks every rule of RFC 6455 section 4.2.1 and returns the client's key.
fn validate_upgrade<B>(request: &http::Request<B>) -> Result<String, HandshakeError> {
    if request.method() != Method::GET {
        return Err(HandshakeError::MethodNotAllowed(
            request.method().to_string(),
        ));
    }
    if request.version() < Version::HTTP_11 {
        return Err(HandshakeError::HttpVersion);
    }
    let headers = request.headers();
    // HTTP/2 and later carry the host in the URI's authority instead.
    if request.version() == Version::HTTP_11 && !headers.contains_key("host") {
        return Err(HandshakeError::MissingHost);
    }
    check_upgrade_headers(headers)?;
    check_version(headers)?;
    let key = headers
        .get("sec-websocket-key")
        .and_then(|k| k.to_str().ok())
        .map(str::trim)
        .ok_or(HandshakeError::InvalidKey)?;
    match BASE64.decode(key) {
        Ok(decoded) if decoded.len() == 16 => Ok(key.to_owned()),
        _ => Err(HandshakeError::InvalidKey),
    }
}

/// Validates an upgrade request that another HTTP server (hyper, axum...) has
/// parsed, and builds the 101 response it should send before handing the
/// upgraded stream to [`Connection::upgraded`](crate::Connection::upgraded).
///
/// `protocol` is the subprotocol to pick, which must be among those offered.
pub fn upgrade_response<B>(
    request: &http::Request<B>,
    protocol: Option<&str>,
) -> Result<http::Response<()>, HandshakeError> {
    let key = validate_upgrade(request)?;
    let mut response = http::Response::new(());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert("upgrade", HeaderValue::from_static("websocket"));
    headers.insert("connection", HeaderValue::from_static("Upgrade"));
    let accept = HeaderValue::from_str(&accept_key(key.as_bytes()))
        .map_err(|_| HandshakeError::InvalidKey)?;
    headers.insert("sec-websocket-accept", accept);
    if let Some(protocol) = protocol {
        let offered = has_token(request.headers(), "sec-websocket-protocol", protocol);
        let value = HeaderValue::from_str(protocol).ok().filter(|_| offered);
        let value = value.ok_or_else(|| HandshakeError::UnofferedProtocol(protocol.to_owned()))?;
        headers.insert("sec-websocket-protocol", value);
    }
    Ok(response)
}

/// Whether responses with `status` have no body: 204 and 304 (RFC 9110
/// section 6.4.1), whose framing ends with the head.
pub(crate) fn has_no_body(status: StatusCode) -> bool {
    status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED
}

/// Checks that a refusal is a final response that can carry its body.
pub(crate) fn check_reject(reject: &Reject) -> Result<(), AcceptError> {
    let status = reject.status_code();
    if status.is_informational() {
        return Err(AcceptError::InvalidRejectStatus(status));
    }
    if has_no_body(status) && !reject.body().is_empty() {
        return Err(AcceptError::BodyNotAllowed(status));
    }
    Ok(())
}

/// Writes a complete non-101 response: the status line, the headers, a
/// `Content-Length` (except for 204 and 304, which have no body and must not
/// announce one), `Connection: close`, and the body. A 426 always names the
/// version this server speaks (RFC 6455 section 4.4).
pub(crate) fn reject_response(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    out: &mut BytesMut,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.extend_from_slice(b" ");
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some((name, _, value)) = implied_header(status, headers) {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    write_headers(headers, out);
    if !has_no_body(status) {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(body);
}

fn write_headers(headers: &HeaderMap, out: &mut BytesMut) {
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}
