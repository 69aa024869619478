//! Close codes on the wire, both directions: which the connection sends and
//! accepts, and which it answers with 1002.

mod support;

use rusty_socket_proto::{CloseCode, CloseFrame, CloseReason, Message, SendError};
use support::{closed, Pair};

/// Closes an open pair from the server with `code` and returns what each
/// side reported as the end of the connection.
fn close_with(code: u16) -> (Option<CloseReason>, Option<CloseReason>) {
    let mut pair = Pair::open();
    let frame = CloseFrame::new(CloseCode(code), "bye");
    pair.server.close(pair.now, Some(frame)).unwrap();
    pair.pump();
    pair.client.handle_eof(pair.now);
    pair.server.handle_eof(pair.now);
    pair.pump();
    (
        closed(&pair.client_events).cloned(),
        closed(&pair.server_events).cloned(),
    )
}

#[test]
fn iana_codes_1012_1013_1014_are_sent_received_and_echoed() {
    for code in [
        CloseCode::SERVICE_RESTART,
        CloseCode::TRY_AGAIN_LATER,
        CloseCode::BAD_GATEWAY,
    ] {
        let (client, server) = close_with(code.0);
        // The client received a valid close: a clean ending with the code,
        // not a protocol error answered with 1002.
        assert_eq!(
            client,
            Some(CloseReason::Normal(Some(CloseFrame::new(code, "bye")))),
            "{code}"
        );
        // The server got its code echoed back.
        assert_eq!(
            server,
            Some(CloseReason::Normal(Some(CloseFrame::new(code, "")))),
            "{code}"
        );
    }
}

#[test]
fn reserved_and_unassigned_codes_are_refused_when_sent() {
    for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000] {
        let mut pair = Pair::open();
        let frame = CloseFrame::new(CloseCode(code), "");
        assert_eq!(
            pair.client.close(pair.now, Some(frame)),
            Err(SendError::InvalidCloseCode(code)),
            "{code}"
        );
        // Nothing changed: the connection still talks.
        pair.client
            .send(pair.now, &Message::text("still open"))
            .unwrap();
    }
}
