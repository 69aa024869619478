//! Negotiating permessage-deflate (RFC 7692 sections 5 and 7.1): the
//! client's offer, the server's choice among offers, and the client's check
//! of the server's answer. Pure functions over header text; no I/O.
//!
//! The header's grammar is RFC 6455 section 9.1's:
//!
//! ```text
//! extension       = extension-token *( ";" extension-param )
//! extension-param = token [ "=" (token | quoted-string) ]
//! ```
//!
//! where a quoted-string value must, once unescaped, be a token; so
//! `client_max_window_bits="10"` means `client_max_window_bits=10`. The
//! handshake splits the header fields on commas (across every
//! `Sec-WebSocket-Extensions` field) and hands us one element per
//! extension; window values are digits, so no valid element holds a comma.
//!
//! Names are compared ignoring ASCII case, as the handshake compares
//! extension names; a parameter repeated in another case is a duplicate.

use std::fmt::Write as _;

use super::params::{Deflate, DeflateConfig, MAX_WINDOW_BITS};
use crate::error::HandshakeError;

/// The extension's registered name (RFC 7692 section 7).
const NAME: &str = "permessage-deflate";

/// The four parameters of RFC 7692 section 7.1.
const SERVER_NO_CONTEXT_TAKEOVER: &str = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER: &str = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS: &str = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS: &str = "client_max_window_bits";

// Why a server's answer fails the connection: the `reason` of
// `HandshakeError::InvalidExtension`.
const UNKNOWN_PARAMETER: &str = "unknown parameter";
const REPEATED_PARAMETER: &str = "repeated parameter";
const INVALID_VALUE: &str = "invalid parameter value";
const ACCEPTED_TWICE: &str = "permessage-deflate accepted more than once";
const CLIENT_WINDOW_WITHOUT_VALUE: &str = "client_max_window_bits without a value";
const CLIENT_WINDOW_NOT_OFFERED: &str = "client_max_window_bits answers an offer without it";
const SERVER_WINDOW_TOO_LARGE: &str = "server_max_window_bits larger than offered";
const SERVER_WINDOW_IGNORED: &str = "server_max_window_bits offered but not accepted";
const SERVER_TAKEOVER_IGNORED: &str = "server_no_context_takeover offered but not accepted";

/// One permessage-deflate offer or answer, its parameters checked for
/// syntax, names, repeats and value ranges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    /// `server_max_window_bits=N`; the parameter always has a value.
    server_max_window_bits: Option<u8>,
    /// `client_max_window_bits`: absent, present without a value
    /// (`Some(None)`, allowed in an offer only), or with one.
    client_max_window_bits: Option<Option<u8>>,
}

/// The `Sec-WebSocket-Extensions` value a client sends to offer
/// permessage-deflate; empty (send no header) when `config.enabled` is
/// false.
///
/// The offer always carries `client_max_window_bits`: with our window when
/// it is under 15, bare otherwise, to say that we accept a limit from the
/// server (without it a server may not send one, RFC 7692 section 7.1.2.2).
/// What we ask of the server (`server_no_context_takeover`,
/// `server_max_window_bits`) goes in a first offer, followed by a plain one
/// with our own parameters only: a server that cannot honour the first
/// declines it and can still accept the second, and the connection is then
/// compressed, with our decompressor keeping the larger window.
#[cfg_attr(not(test), allow(dead_code))] // Called by the client handshake.
pub(crate) fn offer(config: &DeflateConfig) -> String {
    if !config.enabled {
        return String::new();
    }
    let mut ours = String::new();
    if config.local_no_context_takeover {
        let _ = write!(ours, "; {CLIENT_NO_CONTEXT_TAKEOVER}");
    }
    let _ = write!(ours, "; {CLIENT_MAX_WINDOW_BITS}");
    if config.local_max_window_bits < MAX_WINDOW_BITS {
        let _ = write!(ours, "={}", config.local_max_window_bits);
    }
    let mut theirs = String::new();
    if config.remote_no_context_takeover {
        let _ = write!(theirs, "; {SERVER_NO_CONTEXT_TAKEOVER}");
    }
    if config.remote_max_window_bits < MAX_WINDOW_BITS {
        let _ = write!(
            theirs,
            "; {SERVER_MAX_WINDOW_BITS}={}",
            config.remote_max_window_bits
        );
    }
    if theirs.is_empty() {
        format!("{NAME}{ours}")
    } else {
        format!("{NAME}{theirs}{ours}, {NAME}{ours}")
    }
}

/// A server's choice among a client's offers: the agreement and the
/// `Sec-WebSocket-Extensions` value to answer with, or `None` to decline
/// them all (the handshake goes on without compression: a server never fails
/// it over an offer).
///
/// `offers` holds one extension per element, in the client's order of
/// preference; the first permessage-deflate offer we can honour wins. RFC
/// 7692 section 7: "A server MUST decline an extension negotiation offer for
/// this extension if any of the following conditions are met: The
/// negotiation offer contains an extension parameter not defined for use in
/// an offer. [...] an extension parameter with an invalid value. [...]
/// multiple extension parameters with the same name." We can honour every
/// well-formed offer: a window the client asks us to keep smaller than zlib
/// can compress with (8 bits) is agreed, and the codec then sends every
/// message uncompressed.
#[cfg_attr(not(test), allow(dead_code))] // Called by the server handshake.
pub(crate) fn accept(config: &DeflateConfig, offers: &[String]) -> Option<(Deflate, String)> {
    if !config.enabled {
        return None;
    }
    offers
        .iter()
        .filter_map(|element| {
            let (name, params) = split_element(element);
            name.eq_ignore_ascii_case(NAME).then_some(params)
        })
        .find_map(|params| parse_params(params).ok())
        .map(|offer| answer(config, &offer))
}

/// The agreement and the answer for one acceptable offer.
fn answer(config: &DeflateConfig, offer: &Params) -> (Deflate, String) {
    let agreed = Deflate {
        // RFC 7692 section 7.1.1.1: "A server accepts an extension
        // negotiation offer that includes the "server_no_context_takeover"
        // extension parameter by including the "server_no_context_takeover"
        // extension parameter in the corresponding extension negotiation
        // response"; and it "MAY include" it when not offered.
        server_no_context_takeover: offer.server_no_context_takeover
            || config.local_no_context_takeover,
        // Section 7.1.1.2: "A server MAY include the
        // "client_no_context_takeover" extension parameter in an extension
        // negotiation response." When the client offered it (a promise), we
        // echo it, which the same section allows ("use the parameter [...]
        // by including [it] in the corresponding extension negotiation
        // response"): the agreement then says what the client will do.
        client_no_context_takeover: offer.client_no_context_takeover
            || config.remote_no_context_takeover,
        // Section 7.1.2.1: a server accepts an offer with this parameter "by
        // including the "server_max_window_bits" extension parameter in the
        // extension negotiation response to send back to the client with the
        // same or smaller value as the offer", and "MAY include" it when not
        // offered: we announce a window smaller than 15.
        server_max_window_bits: offer
            .server_max_window_bits
            .map_or(config.local_max_window_bits, |bits| {
                bits.min(config.local_max_window_bits)
            }),
        // Section 7.1.2.2: "If a received extension negotiation offer doesn't
        // have the "client_max_window_bits" extension parameter, the
        // corresponding extension negotiation response to the offer MUST NOT
        // include the "client_max_window_bits" extension parameter." So a
        // client that did not offer it keeps its 32 KiB window, whatever we
        // would like; with it, the smaller of its hint and our wish.
        client_max_window_bits: match offer.client_max_window_bits {
            None => MAX_WINDOW_BITS,
            Some(hint) => hint
                .unwrap_or(MAX_WINDOW_BITS)
                .min(config.remote_max_window_bits),
        },
    };
    let mut response = String::from(NAME);
    if agreed.server_no_context_takeover {
        let _ = write!(response, "; {SERVER_NO_CONTEXT_TAKEOVER}");
    }
    if agreed.client_no_context_takeover {
        let _ = write!(response, "; {CLIENT_NO_CONTEXT_TAKEOVER}");
    }
    // An offered window is always answered, even at 15: leaving it out
    // would decline that offer (section 7.1.2.1, above).
    if offer.server_max_window_bits.is_some() || agreed.server_max_window_bits < MAX_WINDOW_BITS {
        let _ = write!(
            response,
            "; {SERVER_MAX_WINDOW_BITS}={}",
            agreed.server_max_window_bits
        );
    }
    if agreed.client_max_window_bits < MAX_WINDOW_BITS {
        let _ = write!(
            response,
            "; {CLIENT_MAX_WINDOW_BITS}={}",
            agreed.client_max_window_bits
        );
    }
    (agreed, response)
}

/// A client's check of the server's `Sec-WebSocket-Extensions` elements
/// against `offered`, the value [`offer`] produced for `config`: the
/// agreement, `None` when the server accepted no extension, or the error
/// that fails the connection.
///
/// - An extension other than permessage-deflate is
///   [`HandshakeError::UnsupportedExtension`]; permessage-deflate when we
///   offered none is [`HandshakeError::UnofferedExtension`] (RFC 6455
///   section 4.1, client step 5).
/// - RFC 7692 section 5: "A client that received a response accepting more
///   than one PMCE extension negotiation offer MUST _Fail the WebSocket
///   Connection_."
/// - Section 7: "A client MUST _Fail the WebSocket Connection_ if the peer
///   server accepted an extension negotiation offer for this extension with
///   an extension negotiation response meeting any of the following
///   conditions: The negotiation response contains an extension parameter
///   not defined for use in a response. [...] an extension parameter with an
///   invalid value. [...] multiple extension parameters with the same name.
///   The client does not support the configuration that the response
///   represents." The answer must be a valid answer to one of our offers
///   (see `answer_to` for what that means, parameter by parameter).
pub(crate) fn check_response(
    config: &DeflateConfig,
    offered: &str,
    response: &[String],
) -> Result<Option<Deflate>, HandshakeError> {
    let offers: Vec<Params> = if config.enabled {
        offered
            .split(',')
            .filter_map(|element| {
                let (name, params) = split_element(element);
                name.eq_ignore_ascii_case(NAME).then_some(params)
            })
            .filter_map(|params| parse_params(params).ok())
            .collect()
    } else {
        Vec::new()
    };
    let mut agreed = None;
    for element in response.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        let (name, params) = split_element(element);
        if !name.eq_ignore_ascii_case(NAME) {
            return Err(HandshakeError::UnsupportedExtension(name.to_owned()));
        }
        if offers.is_empty() {
            return Err(HandshakeError::UnofferedExtension(name.to_owned()));
        }
        let invalid = |reason| HandshakeError::InvalidExtension {
            extension: element.to_owned(),
            reason,
        };
        if agreed.is_some() {
            return Err(invalid(ACCEPTED_TWICE));
        }
        let answer = parse_params(params).map_err(invalid)?;
        // Section 7.1.2.2: in a response, client_max_window_bits "has a
        // decimal integer value without leading zeroes between 8 to 15".
        if answer.client_max_window_bits == Some(None) {
            return Err(invalid(CLIENT_WINDOW_WITHOUT_VALUE));
        }
        let mut first_error = None;
        let found = offers
            .iter()
            .find_map(|offer| match answer_to(offer, &answer) {
                Ok(deflate) => Some(deflate),
                Err(reason) => {
                    first_error.get_or_insert(reason);
                    None
                }
            });
        match found {
            Some(deflate) => agreed = Some(deflate),
            None => return Err(invalid(first_error.unwrap_or(INVALID_VALUE))),
        }
    }
    Ok(agreed)
}

/// What `answer` agrees to if it answers `offer`, or why it cannot.
fn answer_to(offer: &Params, answer: &Params) -> Result<Deflate, &'static str> {
    // Section 7.1.2.2: "If a received extension negotiation offer doesn't
    // have the "client_max_window_bits" extension parameter, the
    // corresponding extension negotiation response to the offer MUST NOT
    // include the "client_max_window_bits" extension parameter."
    if answer.client_max_window_bits.is_some() && offer.client_max_window_bits.is_none() {
        return Err(CLIENT_WINDOW_NOT_OFFERED);
    }
    // Section 7.1.1.1: a server accepts an offer with
    // server_no_context_takeover "by including" it; an answer without it
    // accepts some other offer. (An answer may include it unasked.)
    if offer.server_no_context_takeover && !answer.server_no_context_takeover {
        return Err(SERVER_TAKEOVER_IGNORED);
    }
    // Section 7.1.2.1: a server accepts an offer with server_max_window_bits
    // "by including the "server_max_window_bits" extension parameter in the
    // extension negotiation response to send back to the client with the
    // same or smaller value as the offer". (It may include it unasked.)
    match (offer.server_max_window_bits, answer.server_max_window_bits) {
        (Some(offered), Some(answered)) if answered > offered => {
            return Err(SERVER_WINDOW_TOO_LARGE)
        }
        (Some(_), None) => return Err(SERVER_WINDOW_IGNORED),
        _ => {}
    }
    Ok(Deflate {
        server_no_context_takeover: answer.server_no_context_takeover,
        // Section 7.1.1.2: offering it is a promise "that even if the server
        // doesn't include the "client_no_context_takeover" extension
        // parameter in the corresponding extension negotiation response to
        // the offer, the client is not going to use context takeover".
        client_no_context_takeover: answer.client_no_context_takeover
            || offer.client_no_context_takeover,
        server_max_window_bits: answer.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS),
        // Section 7.1.2.2: an offered value is a promise that "even if the
        // server doesn't include the "client_max_window_bits" extension
        // parameter in the corresponding extension negotiation response with
        // a value greater than the one in the extension negotiation offer or
        // if the server doesn't include the extension parameter at all, the
        // client is not going to use an LZ77 sliding window size greater than
        // the size specified by the value in the extension negotiation
        // offer". So a larger answer is no error: we keep the smaller.
        client_max_window_bits: answer
            .client_max_window_bits
            .flatten()
            .unwrap_or(MAX_WINDOW_BITS)
            .min(
                offer
                    .client_max_window_bits
                    .flatten()
                    .unwrap_or(MAX_WINDOW_BITS),
            ),
    })
}

/// Splits `name; p1; p2=v` into the trimmed name and the raw parameters.
fn split_element(element: &str) -> (&str, std::str::Split<'_, char>) {
    let mut parts = element.split(';');
    let name = parts.next().unwrap_or("").trim();
    (name, parts)
}

/// Reads the parameters of one offer or answer.
fn parse_params<'a>(params: impl Iterator<Item = &'a str>) -> Result<Params, &'static str> {
    let mut parsed = Params::default();
    let mut seen = [false; 4];
    for param in params {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim(), Some(unquote(value.trim())?)),
            None => (param.trim(), None),
        };
        let index = [
            SERVER_NO_CONTEXT_TAKEOVER,
            CLIENT_NO_CONTEXT_TAKEOVER,
            SERVER_MAX_WINDOW_BITS,
            CLIENT_MAX_WINDOW_BITS,
        ]
        .iter()
        .position(|known| known.eq_ignore_ascii_case(name))
        .ok_or(UNKNOWN_PARAMETER)?;
        if std::mem::replace(&mut seen[index], true) {
            return Err(REPEATED_PARAMETER);
        }
        match (index, value) {
            // Sections 7.1.1.1 and 7.1.1.2: "This extension parameter has no
            // value."
            (0, None) => parsed.server_no_context_takeover = true,
            (1, None) => parsed.client_no_context_takeover = true,
            // Section 7.1.2.1: a value in an offer and in a response.
            (2, Some(value)) => parsed.server_max_window_bits = Some(window_bits(&value)?),
            // Section 7.1.2.2: "no value or a decimal integer value" in an
            // offer; `check_response` requires the value in an answer.
            (3, None) => parsed.client_max_window_bits = Some(None),
            (3, Some(value)) => parsed.client_max_window_bits = Some(Some(window_bits(&value)?)),
            _ => return Err(INVALID_VALUE),
        }
    }
    Ok(parsed)
}

/// A parameter value as a token: a quoted-string loses its quotes and
/// escapes (RFC 6455 section 9.1: "When using the quoted-string syntax
/// variant, the value after quoted-string unescaping MUST conform to the
/// 'token' ABNF.").
fn unquote(value: &str) -> Result<String, &'static str> {
    let Some(inner) = value
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    else {
        return if value.contains('"') {
            Err(INVALID_VALUE)
        } else {
            Ok(value.to_owned())
        };
    };
    let mut unescaped = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => unescaped.push(chars.next().ok_or(INVALID_VALUE)?),
            '"' => return Err(INVALID_VALUE),
            c => unescaped.push(c),
        }
    }
    Ok(unescaped)
}

/// A window size: RFC 7692 section 7.1.2.1 and 7.1.2.2, "a decimal integer
/// value without leading zeroes between 8 to 15, inclusive".
fn window_bits(value: &str) -> Result<u8, &'static str> {
    match value {
        "8" => Ok(8),
        "9" => Ok(9),
        "10" => Ok(10),
        "11" => Ok(11),
        "12" => Ok(12),
        "13" => Ok(13),
        "14" => Ok(14),
        "15" => Ok(15),
        _ => Err(INVALID_VALUE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    /// The default config with changes.
    fn config(change: impl FnOnce(&mut DeflateConfig)) -> DeflateConfig {
        let mut config = DeflateConfig::default();
        change(&mut config);
        config
    }

    /// A server or client that asks nothing of the peer and promises
    /// nothing: the RFC's defaults.
    fn plain() -> DeflateConfig {
        config(|c| {
            c.local_no_context_takeover = false;
            c.remote_no_context_takeover = false;
        })
    }

    /// Header field values split into elements, as the handshake does.
    fn elements(fields: &[&str]) -> Vec<String> {
        fields
            .iter()
            .flat_map(|field| field.split(','))
            .map(|element| element.trim().to_owned())
            .filter(|element| !element.is_empty())
            .collect()
    }

    fn deflate(server_nct: bool, client_nct: bool, server_bits: u8, client_bits: u8) -> Deflate {
        Deflate {
            server_no_context_takeover: server_nct,
            client_no_context_takeover: client_nct,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        }
    }

    fn invalid(extension: &str, reason: &'static str) -> HandshakeError {
        HandshakeError::InvalidExtension {
            extension: extension.to_owned(),
            reason,
        }
    }

    #[test]
    fn offers() {
        let cases: &[(&str, DeflateConfig, &str)] = &[
            ("disabled: no offer", config(|c| c.enabled = false), ""),
            (
                "plain",
                plain(),
                "permessage-deflate; client_max_window_bits",
            ),
            (
                "defaults: the request first, then a plain fallback",
                DeflateConfig::default(),
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 client_max_window_bits, \
                 permessage-deflate; client_no_context_takeover; client_max_window_bits",
            ),
            (
                "our own parameters only: no fallback",
                config(|c| {
                    c.remote_no_context_takeover = false;
                    c.local_max_window_bits = 10;
                }),
                "permessage-deflate; client_no_context_takeover; client_max_window_bits=10",
            ),
            (
                "a window asked of the server",
                config(|c| {
                    c.local_no_context_takeover = false;
                    c.remote_no_context_takeover = false;
                    c.remote_max_window_bits = 9;
                }),
                "permessage-deflate; server_max_window_bits=9; client_max_window_bits, \
                 permessage-deflate; client_max_window_bits",
            ),
            (
                "everything",
                config(|c| {
                    c.local_max_window_bits = 14;
                    c.remote_max_window_bits = 12;
                }),
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=12; \
                 client_no_context_takeover; client_max_window_bits=14, \
                 permessage-deflate; client_no_context_takeover; client_max_window_bits=14",
            ),
        ];
        for (name, config, expected) in cases {
            assert_eq!(offer(config), *expected, "{name}");
        }
    }

    /// Server side: the offers in, the answer and agreement out (or `None`:
    /// every offer declined).
    #[test]
    fn server_table() {
        let small = |local: u8, remote: u8| {
            config(|c| {
                c.local_no_context_takeover = false;
                c.remote_no_context_takeover = false;
                c.local_max_window_bits = local;
                c.remote_max_window_bits = remote;
            })
        };
        type Case = (
            &'static str,
            DeflateConfig,
            &'static [&'static str],
            Option<(&'static str, Deflate)>,
        );
        let cases: Vec<Case> = vec![
            (
                "bare offer, plain server",
                plain(),
                &["permessage-deflate"],
                Some(("permessage-deflate", deflate(false, false, 15, 15))),
            ),
            (
                "bare offer, default server: both no_context_takeover",
                DeflateConfig::default(),
                &["permessage-deflate"],
                Some((
                    "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                    deflate(true, true, 15, 15),
                )),
            ),
            (
                "a browser's offer",
                plain(),
                &["permessage-deflate; client_max_window_bits"],
                Some(("permessage-deflate", deflate(false, false, 15, 15))),
            ),
            (
                "server_no_context_takeover offered: accepted by including it",
                plain(),
                &["permessage-deflate; server_no_context_takeover"],
                Some((
                    "permessage-deflate; server_no_context_takeover",
                    deflate(true, false, 15, 15),
                )),
            ),
            (
                "client_no_context_takeover offered: echoed",
                plain(),
                &["permessage-deflate; client_no_context_takeover"],
                Some((
                    "permessage-deflate; client_no_context_takeover",
                    deflate(false, true, 15, 15),
                )),
            ),
            (
                "server_max_window_bits=10 offered",
                plain(),
                &["permessage-deflate; server_max_window_bits=10"],
                Some((
                    "permessage-deflate; server_max_window_bits=10",
                    deflate(false, false, 10, 15),
                )),
            ),
            (
                "server_max_window_bits=12 offered, our window 10: the smaller",
                small(10, 15),
                &["permessage-deflate; server_max_window_bits=12"],
                Some((
                    "permessage-deflate; server_max_window_bits=10",
                    deflate(false, false, 10, 15),
                )),
            ),
            (
                "server_max_window_bits=15 offered: answered, not left out",
                plain(),
                &["permessage-deflate; server_max_window_bits=15"],
                Some((
                    "permessage-deflate; server_max_window_bits=15",
                    deflate(false, false, 15, 15),
                )),
            ),
            (
                "server_max_window_bits=9 offered",
                plain(),
                &["permessage-deflate; server_max_window_bits=9"],
                Some((
                    "permessage-deflate; server_max_window_bits=9",
                    deflate(false, false, 9, 15),
                )),
            ),
            (
                "server_max_window_bits=8 agreed (we then never compress)",
                plain(),
                &["permessage-deflate; server_max_window_bits=8"],
                Some((
                    "permessage-deflate; server_max_window_bits=8",
                    deflate(false, false, 8, 15),
                )),
            ),
            (
                "server_max_window_bits not offered, our window 11: announced",
                small(11, 15),
                &["permessage-deflate"],
                Some((
                    "permessage-deflate; server_max_window_bits=11",
                    deflate(false, false, 11, 15),
                )),
            ),
            (
                "client_max_window_bits offered bare, our wish 10",
                small(15, 10),
                &["permessage-deflate; client_max_window_bits"],
                Some((
                    "permessage-deflate; client_max_window_bits=10",
                    deflate(false, false, 15, 10),
                )),
            ),
            (
                "client_max_window_bits=12 offered, our wish 10",
                small(15, 10),
                &["permessage-deflate; client_max_window_bits=12"],
                Some((
                    "permessage-deflate; client_max_window_bits=10",
                    deflate(false, false, 15, 10),
                )),
            ),
            (
                "client_max_window_bits=9 offered, our wish 12: the client's hint",
                small(15, 12),
                &["permessage-deflate; client_max_window_bits=9"],
                Some((
                    "permessage-deflate; client_max_window_bits=9",
                    deflate(false, false, 15, 9),
                )),
            ),
            (
                "client_max_window_bits=8 offered",
                plain(),
                &["permessage-deflate; client_max_window_bits=8"],
                Some((
                    "permessage-deflate; client_max_window_bits=8",
                    deflate(false, false, 15, 8),
                )),
            ),
            (
                "client_max_window_bits not offered: never answered (7.1.2.2)",
                small(15, 10),
                &["permessage-deflate"],
                Some(("permessage-deflate", deflate(false, false, 15, 15))),
            ),
            (
                "quoted values",
                plain(),
                &[r#"permessage-deflate; server_max_window_bits="9"; client_max_window_bits="10""#],
                Some((
                    "permessage-deflate; server_max_window_bits=9; client_max_window_bits=10",
                    deflate(false, false, 9, 10),
                )),
            ),
            (
                "quoted value with an escape",
                plain(),
                &[r#"permessage-deflate; client_max_window_bits="1\1""#],
                Some((
                    "permessage-deflate; client_max_window_bits=11",
                    deflate(false, false, 15, 11),
                )),
            ),
            (
                "whitespace around separators",
                plain(),
                &["permessage-deflate ;server_max_window_bits = 10 ;  client_no_context_takeover "],
                Some((
                    "permessage-deflate; client_no_context_takeover; server_max_window_bits=10",
                    deflate(false, true, 10, 15),
                )),
            ),
            (
                "names in any case",
                plain(),
                &["PerMessage-Deflate; Server_No_Context_Takeover"],
                Some((
                    "permessage-deflate; server_no_context_takeover",
                    deflate(true, false, 15, 15),
                )),
            ),
            (
                "all four parameters",
                DeflateConfig::default(),
                &["permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                   server_max_window_bits=10; client_max_window_bits=11"],
                Some((
                    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                     server_max_window_bits=10; client_max_window_bits=11",
                    deflate(true, true, 10, 11),
                )),
            ),
            (
                "unknown parameter: declined",
                plain(),
                &["permessage-deflate; x_max_window_bits=10"],
                None,
            ),
            (
                "repeated parameter: declined",
                plain(),
                &["permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
                None,
            ),
            (
                "repeated parameter, with and without a value: declined",
                plain(),
                &["permessage-deflate; client_max_window_bits; client_max_window_bits=10"],
                None,
            ),
            (
                "repeated parameter in another case: declined",
                plain(),
                &["permessage-deflate; client_no_context_takeover; CLIENT_NO_CONTEXT_TAKEOVER"],
                None,
            ),
            (
                "value on client_no_context_takeover: declined",
                plain(),
                &["permessage-deflate; client_no_context_takeover=1"],
                None,
            ),
            (
                "quoted value on server_no_context_takeover: declined",
                plain(),
                &[r#"permessage-deflate; server_no_context_takeover="""#],
                None,
            ),
            (
                "server_max_window_bits without a value: declined",
                plain(),
                &["permessage-deflate; server_max_window_bits"],
                None,
            ),
            (
                "unterminated quoted value: declined",
                plain(),
                &[r#"permessage-deflate; client_max_window_bits="10"#],
                None,
            ),
            (
                "empty parameter: declined",
                plain(),
                &["permessage-deflate; ; client_max_window_bits"],
                None,
            ),
            (
                "the first offer declined, the second taken",
                plain(),
                &["permessage-deflate; server_max_window_bits=7, \
                   permessage-deflate; client_max_window_bits"],
                Some(("permessage-deflate", deflate(false, false, 15, 15))),
            ),
            (
                "offers across header fields, other extensions skipped",
                plain(),
                &[
                    "x-webkit-deflate-frame, permessage-deflate; foo",
                    "permessage-deflate; client_max_window_bits=16",
                    "permessage-deflate; server_no_context_takeover",
                ],
                Some((
                    "permessage-deflate; server_no_context_takeover",
                    deflate(true, false, 15, 15),
                )),
            ),
            (
                "the first acceptable offer wins over later ones",
                plain(),
                &["permessage-deflate; server_max_window_bits=10, permessage-deflate"],
                Some((
                    "permessage-deflate; server_max_window_bits=10",
                    deflate(false, false, 10, 15),
                )),
            ),
            (
                "only other extensions",
                DeflateConfig::default(),
                &["x-foo; bar=1, deflate-frame"],
                None,
            ),
            ("no offer at all", DeflateConfig::default(), &[], None),
            (
                "disabled: every offer declined",
                config(|c| c.enabled = false),
                &["permessage-deflate", "permessage-deflate; client_max_window_bits"],
                None,
            ),
        ];
        for (name, config, fields, expected) in cases {
            let got = accept(&config, &elements(fields));
            let expected = expected.map(|(response, deflate)| (deflate, response.to_owned()));
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn server_declines_invalid_window_values() {
        for value in [
            "7", "16", "abc", "010", "08", "0", "", "-9", "+9", "9.0", "1 0", r#""""#,
        ] {
            for param in ["server_max_window_bits", "client_max_window_bits"] {
                let offers = elements(&[&format!("permessage-deflate; {param}={value}")]);
                assert_eq!(accept(&plain(), &offers), None, "{param}={value}");
            }
        }
        for value in ["8", "9", "15", r#""8""#, r#""15""#] {
            for param in ["server_max_window_bits", "client_max_window_bits"] {
                let offers = elements(&[&format!("permessage-deflate; {param}={value}")]);
                assert!(accept(&plain(), &offers).is_some(), "{param}={value}");
            }
        }
    }

    /// Client side: the offer we made and the server's answer in, the
    /// agreement or the exact error out.
    #[test]
    fn client_table() {
        let default_offer = offer(&DeflateConfig::default());
        let window_offer = offer(&config(|c| c.remote_max_window_bits = 10));
        type Case = (
            &'static str,
            DeflateConfig,
            String,
            &'static [&'static str],
            Result<Option<Deflate>, HandshakeError>,
        );
        let cases: Vec<Case> =
            vec![
            (
                "no extension accepted",
                DeflateConfig::default(),
                default_offer.clone(),
                &[],
                Ok(None),
            ),
            (
                "an answer to the first offer",
                DeflateConfig::default(),
                default_offer.clone(),
                &["permessage-deflate; server_no_context_takeover; client_no_context_takeover"],
                Ok(Some(deflate(true, true, 15, 15))),
            ),
            (
                "an answer to the fallback; our promise still counts",
                DeflateConfig::default(),
                default_offer.clone(),
                &["permessage-deflate"],
                Ok(Some(deflate(false, true, 15, 15))),
            ),
            (
                "a window asked of the server and granted",
                DeflateConfig::default(),
                window_offer.clone(),
                &["permessage-deflate; server_no_context_takeover; server_max_window_bits=9"],
                Ok(Some(deflate(true, true, 9, 15))),
            ),
            (
                "a larger window than asked: an answer to the fallback",
                DeflateConfig::default(),
                window_offer.clone(),
                &["permessage-deflate; server_max_window_bits=12"],
                Ok(Some(deflate(false, true, 12, 15))),
            ),
            (
                "server_max_window_bits larger than our only offer: fails",
                DeflateConfig::default(),
                "permessage-deflate; server_max_window_bits=10; client_max_window_bits".into(),
                &["permessage-deflate; server_max_window_bits=12"],
                Err(invalid(
                    "permessage-deflate; server_max_window_bits=12",
                    SERVER_WINDOW_TOO_LARGE,
                )),
            ),
            (
                "server_max_window_bits smaller than offered",
                DeflateConfig::default(),
                "permessage-deflate; server_max_window_bits=10".into(),
                &["permessage-deflate; server_max_window_bits=8"],
                Ok(Some(deflate(false, false, 8, 15))),
            ),
            (
                "server_max_window_bits missing from the answer to our only offer: fails",
                DeflateConfig::default(),
                "permessage-deflate; server_max_window_bits=10".into(),
                &["permessage-deflate"],
                Err(invalid("permessage-deflate", SERVER_WINDOW_IGNORED)),
            ),
            (
                "server_no_context_takeover missing from the answer to our only offer: fails",
                DeflateConfig::default(),
                "permessage-deflate; server_no_context_takeover".into(),
                &["permessage-deflate; client_no_context_takeover"],
                Err(invalid(
                    "permessage-deflate; client_no_context_takeover",
                    SERVER_TAKEOVER_IGNORED,
                )),
            ),
            (
                "server_no_context_takeover and server_max_window_bits unasked: fine",
                DeflateConfig::default(),
                "permessage-deflate".into(),
                &["permessage-deflate; server_no_context_takeover; server_max_window_bits=11"],
                Ok(Some(deflate(true, false, 11, 15))),
            ),
            (
                "client_no_context_takeover imposed by the server",
                plain(),
                offer(&plain()),
                &["permessage-deflate; client_no_context_takeover"],
                Ok(Some(deflate(false, true, 15, 15))),
            ),
            (
                "client_max_window_bits imposed on a bare offer",
                plain(),
                offer(&plain()),
                &["permessage-deflate; client_max_window_bits=9"],
                Ok(Some(deflate(false, false, 15, 9))),
            ),
            (
                "client_max_window_bits answering an offer without it: fails (7.1.2.2)",
                DeflateConfig::default(),
                "permessage-deflate; client_no_context_takeover".into(),
                &["permessage-deflate; client_max_window_bits=10"],
                Err(invalid(
                    "permessage-deflate; client_max_window_bits=10",
                    CLIENT_WINDOW_NOT_OFFERED,
                )),
            ),
            (
                "client_max_window_bits without a value in an answer: fails",
                plain(),
                offer(&plain()),
                &["permessage-deflate; client_max_window_bits"],
                Err(invalid(
                    "permessage-deflate; client_max_window_bits",
                    CLIENT_WINDOW_WITHOUT_VALUE,
                )),
            ),
            (
                "client_max_window_bits larger than our hint: we keep ours",
                plain(),
                "permessage-deflate; client_max_window_bits=10".into(),
                &["permessage-deflate; client_max_window_bits=12"],
                Ok(Some(deflate(false, false, 15, 10))),
            ),
            (
                "our hint stands when the server leaves the window out",
                plain(),
                "permessage-deflate; client_max_window_bits=10".into(),
                &["permessage-deflate"],
                Ok(Some(deflate(false, false, 15, 10))),
            ),
            (
                "8-bit windows both ways",
                plain(),
                offer(&plain()),
                &["permessage-deflate; server_max_window_bits=8; client_max_window_bits=8"],
                Ok(Some(deflate(false, false, 8, 8))),
            ),
            (
                "quoted values",
                plain(),
                offer(&plain()),
                &[r#"permessage-deflate; server_max_window_bits="10"; client_max_window_bits="9""#],
                Ok(Some(deflate(false, false, 10, 9))),
            ),
            (
                "unknown parameter: fails",
                plain(),
                offer(&plain()),
                &["permessage-deflate; mux"],
                Err(invalid("permessage-deflate; mux", UNKNOWN_PARAMETER)),
            ),
            (
                "repeated parameter: fails",
                plain(),
                offer(&plain()),
                &["permessage-deflate; server_no_context_takeover; server_no_context_takeover"],
                Err(invalid(
                    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                    REPEATED_PARAMETER,
                )),
            ),
            (
                "value on server_no_context_takeover: fails",
                plain(),
                offer(&plain()),
                &["permessage-deflate; server_no_context_takeover=true"],
                Err(invalid(
                    "permessage-deflate; server_no_context_takeover=true",
                    INVALID_VALUE,
                )),
            ),
            (
                "server_max_window_bits=16: fails",
                plain(),
                offer(&plain()),
                &["permessage-deflate; server_max_window_bits=16"],
                Err(invalid(
                    "permessage-deflate; server_max_window_bits=16",
                    INVALID_VALUE,
                )),
            ),
            (
                "server_max_window_bits=7: fails",
                plain(),
                offer(&plain()),
                &["permessage-deflate; server_max_window_bits=7"],
                Err(invalid(
                    "permessage-deflate; server_max_window_bits=7",
                    INVALID_VALUE,
                )),
            ),
            (
                "client_max_window_bits=abc: fails",
                plain(),
                offer(&plain()),
                &["permessage-deflate; client_max_window_bits=abc"],
                Err(invalid(
                    "permessage-deflate; client_max_window_bits=abc",
                    INVALID_VALUE,
                )),
            ),
            (
                "accepted twice, across header fields: fails (section 5)",
                DeflateConfig::default(),
                default_offer.clone(),
                &["permessage-deflate", "permessage-deflate; server_no_context_takeover"],
                Err(invalid(
                    "permessage-deflate; server_no_context_takeover",
                    ACCEPTED_TWICE,
                )),
            ),
            (
                "another extension: unsupported",
                DeflateConfig::default(),
                default_offer.clone(),
                &["x-foo; bar"],
                Err(HandshakeError::UnsupportedExtension("x-foo".into())),
            ),
            (
                "another extension after ours: unsupported",
                DeflateConfig::default(),
                default_offer.clone(),
                &["permessage-deflate, x-foo"],
                Err(HandshakeError::UnsupportedExtension("x-foo".into())),
            ),
            (
                "deflate disabled: an answer with it is unoffered",
                config(|c| c.enabled = false),
                String::new(),
                &["permessage-deflate"],
                Err(HandshakeError::UnofferedExtension(
                    "permessage-deflate".into(),
                )),
            ),
            (
                "deflate disabled, nothing answered",
                config(|c| c.enabled = false),
                String::new(),
                &[" , "],
                Ok(None),
            ),
        ];
        for (name, config, offered, fields, expected) in cases {
            let got = check_response(&config, &offered, &elements(fields));
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn unquote_follows_the_quoted_string_grammar() {
        assert_eq!(unquote("10"), Ok("10".to_owned()));
        assert_eq!(unquote(r#""10""#), Ok("10".to_owned()));
        assert_eq!(unquote(r#""1\0""#), Ok("10".to_owned()));
        assert_eq!(unquote(r#""\"""#), Ok("\"".to_owned()));
        assert_eq!(unquote(r#""""#), Ok(String::new()));
        for bad in [r#"""#, r#""10"#, r#"10""#, r#""1"0""#, r#""10\""#, r#"1"0"#] {
            assert_eq!(unquote(bad), Err(INVALID_VALUE), "{bad}");
        }
    }

    #[test]
    fn error_messages_name_the_answer() {
        let error = invalid(
            "permessage-deflate; client_max_window_bits=10",
            CLIENT_WINDOW_NOT_OFFERED,
        );
        assert_eq!(
            error.to_string(),
            "server's answer \"permessage-deflate; client_max_window_bits=10\" is invalid: \
             client_max_window_bits answers an offer without it"
        );
    }

    fn any_config() -> impl Strategy<Value = DeflateConfig> {
        (
            any::<bool>(),
            0u32..=9,
            any::<usize>(),
            any::<bool>(),
            any::<bool>(),
            9u8..=15,
            9u8..=15,
        )
            .prop_map(|(enabled, level, threshold, lnct, rnct, lbits, rbits)| {
                config(|c| {
                    c.enabled = enabled;
                    c.level = level;
                    c.threshold = threshold;
                    c.local_no_context_takeover = lnct;
                    c.remote_no_context_takeover = rnct;
                    c.local_max_window_bits = lbits;
                    c.remote_max_window_bits = rbits;
                })
            })
    }

    /// One offer built from any subset of the parameters, valid or not, in
    /// any order, values quoted or not.
    fn any_offer() -> impl Strategy<Value = String> {
        let value = prop_oneof![
            Just(None),
            (7u8..=16).prop_map(|bits| Some(bits.to_string())),
            (8u8..=15).prop_map(|bits| Some(format!("\"{bits}\""))),
            Just(Some("abc".to_owned())),
        ];
        let name = prop_oneof![
            Just(SERVER_NO_CONTEXT_TAKEOVER),
            Just(CLIENT_NO_CONTEXT_TAKEOVER),
            Just(SERVER_MAX_WINDOW_BITS),
            Just(CLIENT_MAX_WINDOW_BITS),
            Just("x_unknown"),
        ];
        prop::collection::vec((name, value), 0..5).prop_map(|params| {
            let mut offer = NAME.to_owned();
            for (name, value) in params {
                match value {
                    None => offer += &format!("; {name}"),
                    Some(value) => offer += &format!("; {name}={value}"),
                }
            }
            offer
        })
    }

    proptest! {
        /// Our client and our server, whatever their configs, agree on the
        /// same parameters, and the agreement respects both configs.
        #[test]
        fn our_client_and_server_agree(client in any_config(), server in any_config()) {
            let offered = offer(&client);
            let accepted = accept(&server, &elements(&[&offered]));
            prop_assert_eq!(accepted.is_some(), client.enabled && server.enabled);
            let (on_server, response) = match accepted {
                Some((deflate, response)) => (Some(deflate), vec![response]),
                None => (None, vec![]),
            };
            let on_client = check_response(&client, &offered, &response);
            prop_assert_eq!(on_client, Ok(on_server));
            if let Some(agreed) = on_server {
                // What each side asked for itself, it got.
                prop_assert!(agreed.client_max_window_bits <= client.local_max_window_bits);
                prop_assert!(agreed.server_max_window_bits <= server.local_max_window_bits);
                prop_assert!(agreed.client_no_context_takeover || !client.local_no_context_takeover);
                prop_assert!(agreed.server_no_context_takeover || !server.local_no_context_takeover);
                // What each asked of the other, our peer granted: our client
                // always offers client_max_window_bits, our server honours
                // the first offer.
                prop_assert!(agreed.server_max_window_bits <= client.remote_max_window_bits);
                prop_assert!(agreed.client_max_window_bits <= server.remote_max_window_bits);
                prop_assert!(agreed.server_no_context_takeover || !client.remote_no_context_takeover);
                prop_assert!(agreed.client_no_context_takeover || !server.remote_no_context_takeover);
            }
        }

        /// Whatever a client offers, our server's answer, read back by a
        /// client that made that offer, gives the same agreement.
        #[test]
        fn any_accepted_offer_reads_back(offered in any_offer(), server in any_config()) {
            if let Some((on_server, response)) = accept(&server, std::slice::from_ref(&offered)) {
                let client = DeflateConfig::default();
                prop_assert_eq!(
                    check_response(&client, &offered, &[response]),
                    Ok(Some(on_server))
                );
            }
        }

        /// Neither side panics on any text.
        #[test]
        fn any_text_is_handled(text in "\\PC*", server in any_config()) {
            let _ = accept(&server, &elements(&[&text]));
            let _ = check_response(&DeflateConfig::default(), &offer(&server), &elements(&[&text]));
        }
    }
}
