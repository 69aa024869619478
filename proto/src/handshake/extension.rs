//! Which extensions (RFC 6455 section 9) a connection can speak.
//!
//! This is the one place that decides whether an extension offered by a
//! client or answered by a server is usable: the client checks the server's
//! `Sec-WebSocket-Extensions` here, and the server never lets the
//! application write that header, since a connection that agreed to an
//! extension it does not implement would fail at its first frame with RSV
//! bits set. The one extension implemented is permessage-deflate (RFC 7692,
//! cargo feature `deflate`), negotiated in `crate::deflate`; the answer to
//! it is accepted only when this client offered it.

use http::HeaderMap;

use super::header_tokens;
#[cfg(feature = "deflate")]
use crate::deflate::{self, Deflate, DeflateConfig};
use crate::error::HandshakeError;

/// The names of the extensions this crate implements.
#[cfg(feature = "deflate")]
const SUPPORTED: &[&str] = &["permessage-deflate"];
#[cfg(not(feature = "deflate"))]
const SUPPORTED: &[&str] = &[];

/// What a client offered in its `Sec-WebSocket-Extensions`, to check the
/// server's answer against.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Offered<'a> {
    /// The deflate config and the offer `deflate::offer` made from it.
    #[cfg(feature = "deflate")]
    pub(crate) deflate: Option<(&'a DeflateConfig, &'a str)>,
    #[cfg(not(feature = "deflate"))]
    _offers: std::marker::PhantomData<&'a ()>,
}

/// The extensions a server's 101 response agreed to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Agreed {
    /// The permessage-deflate parameters, when it was accepted.
    #[cfg(feature = "deflate")]
    pub(crate) deflate: Option<Deflate>,
}

/// Checks the extensions a server's 101 response accepted. Every one must be
/// implemented here and offered by this client: RFC 6455 section 4.1
/// requires the client to fail the connection otherwise.
pub(crate) fn check_answer(
    headers: &HeaderMap,
    offered: Offered<'_>,
) -> Result<Agreed, HandshakeError> {
    let mut elements = Vec::new();
    for element in header_tokens(headers, "sec-websocket-extensions") {
        // An element is a name followed by `;`-separated parameters.
        let name = element.split(';').next().unwrap_or("").trim();
        if !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(name)) {
            return Err(HandshakeError::UnsupportedExtension(name.to_owned()));
        }
        elements.push(element.to_owned());
    }
    #[cfg(feature = "deflate")]
    {
        let disabled = DeflateConfig {
            enabled: false,
            ..DeflateConfig::default()
        };
        let (config, offer) = offered.deflate.unwrap_or((&disabled, ""));
        let deflate = deflate::check_response(config, offer, &elements)?;
        Ok(Agreed { deflate })
    }
    #[cfg(not(feature = "deflate"))]
    {
        let _ = offered;
        debug_assert!(elements.is_empty(), "no extension is supported");
        Ok(Agreed {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check for a client that offered nothing.
    fn check_response(headers: &HeaderMap) -> Result<(), HandshakeError> {
        check_answer(headers, Offered::default()).map(|_| ())
    }

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
        #[cfg(not(feature = "deflate"))]
        assert_eq!(
            check_response(&headers(&["permessage-deflate; client_max_window_bits=10"])),
            Err(HandshakeError::UnsupportedExtension(
                "permessage-deflate".into()
            ))
        );
        #[cfg(feature = "deflate")]
        assert_eq!(
            check_response(&headers(&["permessage-deflate; client_max_window_bits=10"])),
            Err(HandshakeError::UnofferedExtension(
                "permessage-deflate".into()
            ))
        );
        assert_eq!(
            check_response(&headers(&["", "x-foo, permessage-deflate"])),
            Err(HandshakeError::UnsupportedExtension("x-foo".into()))
        );
    }

    #[cfg(feature = "deflate")]
    #[test]
    fn permessage_deflate_is_accepted_when_offered() {
        let config = DeflateConfig::default();
        let offer = deflate::offer(&config);
        let offered = Offered {
            deflate: Some((&config, &offer)),
        };
        let agreed = check_answer(
            &headers(&["permessage-deflate; server_no_context_takeover"]),
            offered,
        )
        .unwrap();
        let deflate = agreed.deflate.unwrap();
        assert!(deflate.server_no_context_takeover);
        assert!(deflate.client_no_context_takeover);
        assert_eq!(
            check_answer(&HeaderMap::new(), offered),
            Ok(Agreed::default())
        );
        // Another extension stays unsupported, even next to ours.
        assert_eq!(
            check_answer(&headers(&["permessage-deflate", "x-foo"]), offered),
            Err(HandshakeError::UnsupportedExtension("x-foo".into()))
        );
        // An invalid answer fails the handshake.
        assert!(matches!(
            check_answer(&headers(&["permessage-deflate; mux"]), offered),
            Err(HandshakeError::InvalidExtension { .. })
        ));
    }

    #[cfg(feature = "deflate")]
    #[test]
    fn permessage_deflate_is_refused_when_disabled() {
        let config = DeflateConfig {
            enabled: false,
            ..DeflateConfig::default()
        };
        let offer = deflate::offer(&config);
        assert_eq!(offer, "");
        let offered = Offered {
            deflate: Some((&config, &offer)),
        };
        assert_eq!(
            check_answer(&headers(&["permessage-deflate"]), offered),
            Err(HandshakeError::UnofferedExtension(
                "permessage-deflate".into()
            ))
        );
    }
}
