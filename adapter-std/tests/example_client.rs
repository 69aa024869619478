//! Runs `examples/client.rs` (the code a newcomer copies) against an echo
//! server of this crate, in-process: it must get its echo, see the server's
//! close frame, and end with a completed closing handshake on both sides.

#[allow(dead_code)] // its `main`
#[path = "../examples/client.rs"]
mod client;

use std::net::TcpListener;
use std::thread;

use rusty_socket_std::{accept, CloseCode, CloseFrame, Message};

#[test]
fn the_client_example_gets_its_echo_and_closes_cleanly() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let server = thread::spawn(move || {
        let mut ws = accept(listener.accept().unwrap().0).unwrap();
        let mut seen = Vec::new();
        while let Some(message) = ws.recv()? {
            if let Message::Text(_) | Message::Binary(_) = message {
                ws.send(message.clone())?;
            }
            seen.push(message);
        }
        Ok::<_, rusty_socket_std::Error>(seen)
    });
    let received = client::run(&url).unwrap();
    // The server's close frame echoes our code (proto echoes no reason).
    let echo = Some(CloseFrame::new(CloseCode::NORMAL, ""));
    assert_eq!(
        received,
        [
            Message::text("hello from rusty-socket-std"),
            Message::Close(echo),
        ]
    );
    let bye = Some(CloseFrame::new(CloseCode::NORMAL, "done"));
    let seen = server.join().unwrap().unwrap();
    assert_eq!(
        seen,
        [
            Message::text("hello from rusty-socket-std"),
            Message::Close(bye)
        ]
    );
}
