//! The opening handshake over HTTP/1.1, as a phase of the connection that
//! comes before the frames.
//!
//! It reads its head from the connection's receive buffer and leaves every
//! byte after the head's blank line there, so the first frames are decoded in
//! the same call. A connection whose stream was opened some other way (an
//! upgrade done by hyper, an HTTP/2 extended CONNECT per RFC 8441) never
//! enters this phase: [`Connection::upgraded`](crate::Connection::upgraded)
//! starts it open, and nothing in the frame or close machine depends on how
//! the stream was opened.

use bytes::BytesMut;
use http::HeaderMap;

use crate::config::Config;
use crate::error::{AcceptError, HandshakeError};
use crate::frame::Decoded;
use crate::handshake::extension::Agreed;
use crate::handshake::{
    check_reject, parse_request, parse_response, reject_response, Accept, ClientRequest,
    PendingResponse, Reject, Request, RequestParser, Response,
};
use crate::receive::Receiver;

/// Where the opening handshake stands.
#[derive(Debug)]
pub(crate) enum Opening {
    /// Client: the request is queued; bytes from the server are the response head.
    Response(PendingResponse),
    /// Server: bytes from the client are the request head.
    Request(RequestParser),
    /// Server: the application holds the request and decides.
    Decision(Box<Request>),
}

/// What reading the handshake's input produced.
#[derive(Debug)]
pub(crate) enum Progress {
    /// The head is not complete yet (or the application has to decide).
    Waiting,
    /// Client: the server accepted the upgrade.
    Connected(Box<Response>),
    /// Server: a complete request, now awaiting the application's decision.
    Request(Box<Request>),
    /// The head was invalid.
    Failed(HandshakeError),
}

impl Opening {
    /// A client's handshake: writes the request head with `key` into
    /// `head`, offering the extensions `config` enables.
    pub(crate) fn client(
        request: &ClientRequest,
        key: [u8; 16],
        config: &Config,
        head: &mut BytesMut,
    ) -> Self {
        #[cfg(feature = "deflate")]
        let extensions = crate::deflate::offer(&config.deflate);
        #[cfg(not(feature = "deflate"))]
        let extensions = {
            let _ = config;
            String::new()
        };
        Opening::Response(request.encode(key, extensions, head))
    }

    /// A server's handshake, waiting for the request.
    pub(crate) fn server() -> Self {
        Opening::Request(RequestParser::default())
    }

    /// Reads the head from the front of `rx`, consuming it once complete.
    pub(crate) fn read(&mut self, rx: &mut Receiver, config: &Config) -> Progress {
        match self {
            Opening::Response(pending) => match parse_response(rx.buffer(), pending, config) {
                Ok(Decoded::Partial) => Progress::Waiting,
                Ok(Decoded::Complete(response, len)) => {
                    rx.advance(len);
                    Progress::Connected(Box::new(response))
                }
                Err(error) => Progress::Failed(error),
            },
            Opening::Request(parser) => match parse_request(rx.buffer(), parser, config) {
                Ok(Decoded::Partial) => Progress::Waiting,
                Ok(Decoded::Complete(request, len)) => {
                    rx.advance(len);
                    let request = Box::new(request);
                    *self = Opening::Decision(request.clone());
                    Progress::Request(request)
                }
                Err(error) => Progress::Failed(error),
            },
            Opening::Decision(_) => Progress::Waiting,
        }
    }

    /// Server: writes the 101 response that accepts the pending request,
    /// answering the client's extension offers as `config` allows, and
    /// returns the extensions agreed.
    pub(crate) fn accept(
        &self,
        accept: &Accept,
        config: &Config,
        head: &mut BytesMut,
    ) -> Result<Agreed, AcceptError> {
        let Opening::Decision(request) = self else {
            return Err(AcceptError::NoPendingRequest);
        };
        let (agreed, answer) = negotiate(request, config);
        accept.encode(request, &answer, head)?;
        Ok(agreed)
    }

    /// Server: writes the response that refuses the pending request.
    pub(crate) fn reject(&self, reject: &Reject, head: &mut BytesMut) -> Result<(), AcceptError> {
        if !matches!(self, Opening::Decision(_)) {
            return Err(AcceptError::NoPendingRequest);
        }
        check_reject(reject)?;
        reject_response(reject.status_code(), reject.headers(), reject.body(), head);
        Ok(())
    }

    /// Server: writes the answer to an invalid request: its status, with
    /// the error as the body.
    pub(crate) fn refuse(error: &HandshakeError, head: &mut BytesMut) {
        reject_response(
            error.status(),
            &HeaderMap::new(),
            error.to_string().as_bytes(),
            head,
        );
    }
}

/// Server: the extensions to agree to for `request`, as `config` allows,
/// with the `Sec-WebSocket-Extensions` answer (empty for none).
fn negotiate(request: &Request, config: &Config) -> (Agreed, String) {
    #[cfg(feature = "deflate")]
    {
        match crate::deflate::accept(&config.deflate, request.extensions()) {
            Some((deflate, answer)) => (
                Agreed {
                    deflate: Some(deflate),
                },
                answer,
            ),
            None => (Agreed::default(), String::new()),
        }
    }
    #[cfg(not(feature = "deflate"))]
    {
        let _ = (request, config);
        (Agreed {}, String::new())
    }
}

/// Server: accepts a request that another HTTP server parsed and will
/// answer: the same negotiation as [`Opening::accept`], with the 101 as an
/// `http::Response` instead of bytes.
pub(crate) fn accept_upgraded(
    request: &Request,
    accept: &Accept,
    config: &Config,
) -> Result<(Agreed, http::Response<()>), AcceptError> {
    let (agreed, answer) = negotiate(request, config);
    let response = accept.to_http(request, &answer)?;
    Ok((agreed, response))
}
