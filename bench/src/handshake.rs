//! Connecting, and the client side of the opening handshake, kept minimal.

use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::stream::{self, Stream};
use crate::target::Target;
use crate::Error;

/// RFC 6455 section 1.3: the GUID appended to the key before hashing.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A response header block larger than this is treated as an error.
const MAX_RESPONSE: usize = 16 * 1024;

/// Connects (TCP, then TLS for a `wss://` target) and completes the opening
/// handshake. Returns the stream and any
/// bytes the server sent after its response (already the first frames).
///
/// `nonce` only has to differ between connections: the key proves nothing
/// here, but servers may reject a malformed one, so it is 16 bytes in base64.
///
/// No extension is offered, and a server that answers one anyway is an
/// error: without an offer every frame must be plain RFC 6455.
pub async fn open(target: &Target, nonce: u64) -> Result<(Stream, Vec<u8>), Error> {
    let (stream, leftover, _) = open_with(target, nonce, None).await?;
    Ok((stream, leftover))
}

/// Like [`open`], offering `extensions` (a `Sec-WebSocket-Extensions` value)
/// if given; also returns the server's `Sec-WebSocket-Extensions` answer.
pub async fn open_with(
    target: &Target,
    nonce: u64,
    extensions: Option<&str>,
) -> Result<(Stream, Vec<u8>, Option<String>), Error> {
    let mut stream = stream::connect(target).await?;
    let (leftover, answer) = handshake(&mut stream, target, nonce, extensions).await?;
    Ok((stream, leftover, answer))
}

/// Sends the upgrade request and checks the `101` response and its accept key.
async fn handshake(
    stream: &mut Stream,
    target: &Target,
    nonce: u64,
    extensions: Option<&str>,
) -> Result<(Vec<u8>, Option<String>), Error> {
    let mut raw_key = [0u8; 16];
    raw_key[..8].copy_from_slice(&nonce.to_le_bytes());
    raw_key[8..].copy_from_slice(&(!nonce).rotate_left(17).to_le_bytes());
    let key = base64::engine::general_purpose::STANDARD.encode(raw_key);
    let offer = extensions
        .map(|value| format!("Sec-WebSocket-Extensions: {value}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n",
        target.path, target.authority
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(Error::io("sending the upgrade request"))?;
    stream
        .flush()
        .await
        .map_err(Error::io("sending the upgrade request"))?;

    let mut buf = Vec::with_capacity(1024);
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&buf) {
            Ok(httparse::Status::Complete(end)) => {
                let answer = check_response(&response, &key)?;
                if extensions.is_none() {
                    if let Some(answer) = answer {
                        return Err(Error::Handshake(format!(
                            "server answered Sec-WebSocket-Extensions: {answer} to a request offering none"
                        )));
                    }
                }
                return Ok((buf.split_off(end), answer));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_RESPONSE => {}
            Ok(httparse::Status::Partial) => {
                return Err(Error::Handshake(format!(
                    "response headers longer than {MAX_RESPONSE} bytes"
                )))
            }
            Err(e) => return Err(Error::Handshake(format!("unparsable response: {e}"))),
        }
        let n = stream
            .read_buf(&mut buf)
            .await
            .map_err(Error::io("reading the upgrade response"))?;
        if n == 0 {
            return Err(Error::Handshake(
                "server closed the connection before answering".into(),
            ));
        }
    }
}

/// Checks the status, `Upgrade` and `Sec-WebSocket-Accept` of a response;
/// returns its `Sec-WebSocket-Extensions` (all of them, comma-joined).
fn check_response(
    response: &httparse::Response<'_, '_>,
    key: &str,
) -> Result<Option<String>, Error> {
    if response.code != Some(101) {
        return Err(Error::Handshake(format!(
            "expected status 101, got {} {}",
            response.code.unwrap_or(0),
            response.reason.unwrap_or("")
        )));
    }
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
    };
    if !header("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
        return Err(Error::Handshake(
            "response lacks `Upgrade: websocket`".into(),
        ));
    }
    let expected = accept_key(key);
    let extensions: Vec<String> = response
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("sec-websocket-extensions"))
        .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    let extensions = (!extensions.is_empty()).then(|| extensions.join(", "));
    match header("sec-websocket-accept") {
        Some(accept) if accept == expected => Ok(extensions),
        Some(accept) => Err(Error::Handshake(format!(
            "Sec-WebSocket-Accept is {accept:?}, expected {expected:?}"
        ))),
        None => Err(Error::Handshake(
            "response lacks Sec-WebSocket-Accept".into(),
        )),
    }
}

/// The `Sec-WebSocket-Accept` value a server must answer to `key`.
fn accept_key(key: &str) -> String {
    let mut sha1 = sha1_smol::Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha1.digest().bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_accept_key() {
        // RFC 6455 section 1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }
}
