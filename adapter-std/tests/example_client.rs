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
    let received = client::run(&url, None).unwrap();
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

#[test]
fn the_client_example_speaks_wss_with_an_extra_ca() {
    use rusty_socket_std::tls;
    use rusty_socket_test_support::tls::TestPki;

    let pki = TestPki::new();
    let config =
        tls::server_config_from_pem_files(&pki.localhost.cert_path, &pki.localhost.key_path)
            .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("wss://localhost:{}", listener.local_addr().unwrap().port());
    thread::spawn(move || {
        let tcp = listener.accept().unwrap().0;
        let stream = tls::accept(tcp, config, std::time::Duration::from_secs(10)).unwrap();
        let mut ws = accept(stream).unwrap();
        while let Some(message) = ws.recv()? {
            if let Message::Text(_) | Message::Binary(_) = message {
                ws.send(message)?;
            }
        }
        Ok::<_, rusty_socket_std::Error>(())
    });
    let received = client::run(&url, Some(&pki.ca_path)).unwrap();
    assert_eq!(received[0], Message::text("hello from rusty-socket-std"));
    assert!(matches!(received[1], Message::Close(_)));
}
