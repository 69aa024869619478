//! The decision on each request, shared by both runtimes: the adapters'
//! `accept_with` callback.
//!
//! Plain HTTP gets the page, the stats or a 404. A WebSocket upgrade must
//! be for `/`, come from an accepted origin, and find a free place among
//! `--max-connections`, while the server is not shutting down.

use std::net::SocketAddr;
use std::sync::Arc;

use rusty_socket_proto::http::header::RETRY_AFTER;
use rusty_socket_proto::http::{HeaderValue, StatusCode};
use rusty_socket_proto::{Accept, Reject, Request};
use tracing::{debug, info, warn};

use crate::hub::{Hub, Slot};
use crate::origin::OriginPolicy;
use crate::page::{self, Served};

/// What the callback decided: the answer for the adapter, and for an
/// accepted upgrade the place it holds.
pub struct Decision {
    pub answer: Result<Accept, Reject>,
    pub slot: Option<Slot>,
}

/// Decides on one request from `peer`, and logs every refusal.
pub fn decide(
    request: &Request,
    peer: SocketAddr,
    hub: &Arc<Hub>,
    origins: &OriginPolicy,
) -> Decision {
    let refuse = |status: StatusCode, body: &'static str| Decision {
        answer: Err(Reject::with_body(status, body)),
        slot: None,
    };
    if !request.is_websocket() {
        let (response, served) = page::answer(request, || hub.stats());
        match served {
            Served::Page | Served::Stats => debug!(%peer, path = request.path(), "served"),
            Served::NotFound => {
                info!(%peer, path = request.path(), "refused: no such page (404)")
            }
        }
        return Decision {
            answer: Err(response),
            slot: None,
        };
    }
    if request.path() != "/" {
        info!(%peer, path = request.path(), "refused: WebSocket on an unknown path (404)");
        return refuse(StatusCode::NOT_FOUND, "The chat's WebSocket is at /.\n");
    }
    if let Err(why) = origins.check(request.origin(), host(request)) {
        warn!(%peer, "refused: {why} (403)");
        return refuse(
            StatusCode::FORBIDDEN,
            "This page's origin may not use this chat server (see --allow-origin).\n",
        );
    }
    if hub.is_closing() {
        info!(%peer, "refused: shutting down (503)");
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "The server is shutting down.\n",
        );
    }
    let Some(slot) = hub.reserve() else {
        warn!(%peer, "refused: --max-connections reached (503)");
        return Decision {
            answer: Err(try_again_later(
                "Too many clients connected; try again later.\n",
            )),
            slot: None,
        };
    };
    Decision {
        answer: Ok(Accept::default()),
        slot: Some(slot),
    }
}

/// The host the client asked for: the `Host` header over HTTP/1.1, the
/// `:authority` pseudo-header (the URI's authority) over HTTP/2, which has
/// no `Host` header.
fn host(request: &Request) -> Option<&str> {
    request.header("host").or_else(|| {
        request
            .uri()
            .authority()
            .map(|authority| authority.as_str())
    })
}

/// A `503` for a server that cannot take a client now but soon may.
pub fn try_again_later(body: &'static str) -> Reject {
    Reject::with_body(StatusCode::SERVICE_UNAVAILABLE, body)
        .header(RETRY_AFTER, HeaderValue::from_static("5"))
        .expect("Retry-After is not a reserved header")
}

#[cfg(test)]
mod tests {
    use rusty_socket_proto::http;

    use super::*;

    fn request(uri: &str, host: Option<&str>) -> Request {
        let mut request = http::Request::get(uri);
        if let Some(host) = host {
            request = request.header("host", host);
        }
        Request::from_http(&request.body(()).expect("a request")).expect("a plain GET")
    }

    #[test]
    fn the_host_is_the_host_header_or_the_authority() {
        // HTTP/1.1: the Host header, whatever the request target.
        assert_eq!(
            host(&request("/", Some("chat.example:8443"))),
            Some("chat.example:8443")
        );
        // HTTP/2: no Host header, the :authority pseudo-header instead.
        let h2 = request("https://chat.example:8443/", None);
        assert_eq!(host(&h2), Some("chat.example:8443"));
        assert_eq!(host(&request("/", None)), None);
    }
}
