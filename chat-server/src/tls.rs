//! The TLS port's front door, shared by both runtimes: what the first byte
//! of a connection says, the answer to plain HTTP, and the log lines.
//!
//! Before the TLS handshake each runtime peeks at the first byte (without
//! taking it off the socket). A TLS connection starts with a handshake
//! record (content type 22). A browser sent to `http://` on this port
//! starts with an HTTP method in capitals instead: rustls would only call
//! that a corrupt record, so the server answers it in plain HTTP with a
//! `400` that says to use https (as Go's net/http does), and logs it. Any
//! other first byte is refused without a word. Either way only that
//! connection is affected, and the whole front door (peek, TLS handshake,
//! then the HTTP request) runs within the one `--handshake-timeout`
//! deadline, so a client trickling a ClientHello is cut off like one
//! trickling an HTTP request.

use std::net::SocketAddr;

use tracing::{debug, info};

/// The TLS record content type of a handshake message (RFC 8446 section
/// 5.1): the first byte of every ClientHello.
const HANDSHAKE_RECORD: u8 = 22;

/// How much of a plain HTTP request is read before answering it: enough
/// for a browser's request head, so that closing the socket right after
/// the answer does not reset it (unread data turns a close into a reset,
/// which could destroy the answer in flight).
pub const PLAIN_REQUEST_READ: usize = 8 << 10;

/// What the first byte of a connection on the TLS port says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// A TLS handshake record: go on with the TLS handshake.
    Tls,
    /// An HTTP method (`GET`, `POST`...): a client that should use https.
    PlainHttp,
    /// Anything else.
    Garbage(u8),
}

impl Opening {
    /// Classifies the first byte a client sent.
    pub fn of(first: u8) -> Opening {
        match first {
            HANDSHAKE_RECORD => Opening::Tls,
            b'A'..=b'Z' => Opening::PlainHttp,
            other => Opening::Garbage(other),
        }
    }
}

/// The answer to plain HTTP on the TLS port, sent in plain text.
pub fn plain_http_answer() -> &'static [u8] {
    concat!(
        "HTTP/1.1 400 Bad Request\r\n",
        "Content-Type: text/plain; charset=utf-8\r\n",
        "Content-Length: 74\r\n",
        "Connection: close\r\n",
        "\r\n",
        "This chat server speaks TLS on this port: use https:// (or wss://) here.\r\n",
    )
    .as_bytes()
}

/// Why a connection on the TLS port never reached its HTTP request.
#[derive(Debug)]
pub enum Refused {
    /// It sent plain HTTP; it was answered with [`plain_http_answer`].
    PlainHttp,
    /// Its first byte cannot start a TLS connection.
    Garbage(u8),
    /// The deadline passed before the TLS handshake completed.
    TimedOut,
    /// It connected and left without sending anything (a port probe).
    Silent,
    /// The TLS handshake failed (a bad record, an alert, no common cipher
    /// suite, an I/O error): rustls' words, the same from both runtimes.
    Handshake(String),
}

impl Refused {
    /// The log line, one per refused connection. A probe that sends
    /// nothing is only worth a debug line, as on the plain HTTP port.
    pub fn log(&self, peer: SocketAddr) {
        match self {
            Refused::PlainHttp => {
                info!(%peer, "refused: plain HTTP on the TLS port (400, use https://)")
            }
            Refused::Garbage(byte) => {
                info!(%peer, "refused: not a TLS handshake (first byte {byte:#04x})")
            }
            Refused::TimedOut => info!(%peer, "refused: TLS handshake timed out"),
            Refused::Silent => debug!(%peer, "closed before the TLS handshake"),
            Refused::Handshake(e) => info!(%peer, "refused: TLS handshake failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_byte_tells_tls_from_http() {
        assert_eq!(Opening::of(0x16), Opening::Tls);
        for method in ["GET", "POST", "HEAD", "OPTIONS", "PRI"] {
            assert_eq!(Opening::of(method.as_bytes()[0]), Opening::PlainHttp);
        }
        assert_eq!(Opening::of(0x17), Opening::Garbage(0x17));
        assert_eq!(Opening::of(b'g'), Opening::Garbage(b'g'));
        assert_eq!(Opening::of(0), Opening::Garbage(0));
    }

    #[test]
    fn the_plain_http_answer_is_well_formed() {
        let answer = std::str::from_utf8(plain_http_answer()).expect("ASCII");
        let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
        assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
        let length = head
            .lines()
            .find_map(|line| line.strip_prefix("Content-Length: "))
            .and_then(|n| n.parse::<usize>().ok())
            .expect("Content-Length");
        assert_eq!(length, body.len());
        assert!(body.contains("https://"));
    }
}
