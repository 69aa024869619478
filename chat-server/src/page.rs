//! Answers to plain HTTP requests: the chat page, the stats, and 404.
//!
//! Proto reports a plain `GET` as a request that is not a WebSocket
//! upgrade; the answer goes back through a [`Reject`], a complete HTTP
//! response after which the connection ends (`Connection: close`). That is
//! all the HTTP this server speaks, which is all the page needs.

use rusty_socket_proto::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use rusty_socket_proto::http::{HeaderValue, StatusCode};
use rusty_socket_proto::{Reject, Request};

use crate::hub::Stats;

/// The chat page: one self-contained file (inline style and script, no
/// external resources), so it works offline and from any address the
/// server is reached at. It connects back to the host that served it.
pub const PAGE: &str = include_str!("page.html");

/// What a plain HTTP request was answered with, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    Page,
    Stats,
    NotFound,
}

/// The response to a plain HTTP `GET`: `/` is the page, `/stats` the
/// numbers as JSON, anything else 404.
pub fn answer(request: &Request, stats: impl FnOnce() -> Stats) -> (Reject, Served) {
    let no_store = HeaderValue::from_static("no-store");
    match request.path() {
        "/" => {
            let page = Reject::with_body(StatusCode::OK, PAGE)
                .header(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                )
                .and_then(|page| page.header(CACHE_CONTROL, no_store))
                .expect("Content-Type and Cache-Control are not reserved headers");
            (page, Served::Page)
        }
        "/stats" => {
            let json = Reject::with_body(StatusCode::OK, stats_json(&stats()))
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .and_then(|json| json.header(CACHE_CONTROL, no_store))
                .expect("Content-Type and Cache-Control are not reserved headers");
            (json, Served::Stats)
        }
        _ => {
            let missing = Reject::with_body(
                StatusCode::NOT_FOUND,
                "Not found. The chat page is at /, its WebSocket at / too.\n",
            )
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            )
            .expect("Content-Type is not a reserved header");
            (missing, Served::NotFound)
        }
    }
}

/// `{"clients":N,"queued_bytes":M,...}`: numbers only, so no JSON library.
/// With `--redis`, a `"redis":{...}` object follows.
fn stats_json(stats: &Stats) -> String {
    let redis = match &stats.redis {
        Some(r) => format!(
            ",\"redis\":{{\"connected\":{},\"published\":{},\"received\":{},\
             \"dropped\":{},\"missed\":{},\"invalid\":{},\"queued\":{},\"queue_limit\":{}}}",
            r.connected,
            r.published,
            r.received,
            r.dropped,
            r.missed,
            r.invalid,
            r.queued,
            r.queue_limit
        ),
        None => String::new(),
    };
    format!(
        "{{\"clients\":{},\"queued_bytes\":{},\"max_client_queued_bytes\":{},\
         \"queue_limit\":{},\"dropped_slow\":{},\"joined_http1\":{},\"joined_h2\":{}{redis}}}\n",
        stats.clients,
        stats.queued_bytes,
        stats.max_client_queued_bytes,
        stats.queue_limit,
        stats.dropped_slow,
        stats.joined_http1,
        stats.joined_h2
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::RelayStats;

    #[test]
    fn the_page_is_self_contained() {
        for external in [
            "src=",
            "href=\"http",
            "http://",
            "https://",
            "@import",
            "url(",
        ] {
            assert!(!PAGE.contains(external), "the page references {external}");
        }
        assert!(PAGE.contains("location.host"));
    }

    #[test]
    fn stats_are_json() {
        let mut stats = Stats {
            clients: 3,
            queued_bytes: 42,
            max_client_queued_bytes: 7,
            queue_limit: 1024,
            dropped_slow: 1,
            joined_http1: 4,
            joined_h2: 5,
            redis: None,
        };
        assert_eq!(
            stats_json(&stats),
            "{\"clients\":3,\"queued_bytes\":42,\"max_client_queued_bytes\":7,\
             \"queue_limit\":1024,\"dropped_slow\":1,\"joined_http1\":4,\"joined_h2\":5}\n"
        );
        stats.redis = Some(RelayStats {
            connected: true,
            published: 10,
            received: 20,
            dropped: 1,
            missed: 2,
            invalid: 0,
            queued: 3,
            queue_limit: 100,
        });
        assert!(stats_json(&stats).ends_with(
            ",\"joined_h2\":5,\"redis\":{\"connected\":true,\"published\":10,\"received\":20,\
             \"dropped\":1,\"missed\":2,\"invalid\":0,\"queued\":3,\"queue_limit\":100}}\n"
        ));
    }
}
