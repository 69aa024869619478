//! The connect and disconnect log lines, the same for both runtimes.

use std::fmt;
use std::net::SocketAddr;

use rusty_socket_proto::http::Version;
use rusty_socket_proto::{CloseCode, CloseFrame, CloseReason};
use tracing::info;

use crate::hub::{Mailbox, Stop};

/// How a connection ended: the close code of RFC 6455 section 7.1.5 (1005
/// for a close frame without code, 1006 without a closing handshake) and
/// what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub code: CloseCode,
    pub reason: String,
}

impl Ended {
    /// The closing handshake completed; `frame` is the peer's close frame.
    pub fn closed(frame: Option<&CloseFrame>) -> Ended {
        match frame {
            Some(frame) => Ended {
                code: frame.code,
                reason: frame.reason.to_string(),
            },
            None => Ended {
                code: CloseCode::NO_STATUS,
                reason: String::new(),
            },
        }
    }

    /// The connection ended for `reason` (a timeout, the peer vanishing...).
    pub fn from_reason(reason: &CloseReason) -> Ended {
        Ended {
            code: reason.code(),
            reason: reason.to_string(),
        }
    }

    /// The connection ended without a closing handshake.
    pub fn abnormal(what: impl fmt::Display) -> Ended {
        Ended {
            code: CloseCode::ABNORMAL,
            reason: what.to_string(),
        }
    }
}

/// A client joined over HTTP `version`: `http=HTTP/1.1`, or `http=HTTP/2.0`
/// for a WebSocket on an HTTP/2 stream (RFC 8441).
pub fn connected(peer: SocketAddr, clients: usize, version: Version) {
    info!(%peer, clients, http = ?version, "connected");
}

pub fn disconnected(peer: SocketAddr, ended: &Ended, mailbox: &Mailbox, clients: usize) {
    // A client echoes the server's close code without its reason: say it.
    let (by, reason) = match mailbox.stop_reason() {
        Some(Stop::Close(frame)) if frame.code == ended.code => ("server", frame.reason.as_str()),
        Some(Stop::Close(_)) => ("server", ended.reason.as_str()),
        _ => ("client", ended.reason.as_str()),
    };
    info!(
        %peer,
        code = ended.code.0,
        reason,
        closed_by = %by,
        clients,
        "disconnected"
    );
}
