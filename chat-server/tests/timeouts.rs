//! The timeout flags reach proto: a handshake that never comes is cut
//! off, a client is pinged, and one that stays silent is closed. Both
//! runtimes.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{next_message, tokio_client, Server, RUNTIMES, TIMEOUT};
use rusty_socket_tokio::{CloseCode, Message};

#[test]
fn a_connection_that_never_sends_its_request_is_cut_off() {
    for runtime in RUNTIMES {
        let server = Server::start(&["--runtime", runtime, "--handshake-timeout", "300ms"]);
        let mut silent = TcpStream::connect(server.addr).expect("connect");
        silent.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        let started = Instant::now();
        let mut buf = [0; 512];
        // The server ends the connection (possibly with a 4xx response first).
        loop {
            match silent.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
            "{runtime}: cut off after {waited:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_pinged_and_a_silent_one_is_closed() {
    for runtime in RUNTIMES {
        let server = Server::start(&[
            "--runtime",
            runtime,
            "--ping-interval",
            "200ms",
            "--idle-timeout",
            "off",
        ]);
        let mut ws = tokio_client(&server.url(), None).await.expect("connect");
        // Our client answers the ping by itself.
        assert!(
            matches!(next_message(&mut ws).await, Message::Ping(_)),
            "{runtime}"
        );
        assert!(
            matches!(next_message(&mut ws).await, Message::Ping(_)),
            "{runtime}"
        );
        ws.close(CloseCode::NORMAL, "").await.expect("close");
        // Finish the closing handshake.
        while let Ok(Some(_)) = ws.recv().await {}

        let server = Server::start(&[
            "--runtime",
            runtime,
            "--ping-interval",
            "off",
            "--idle-timeout",
            "300ms",
        ]);
        let mut ws = tokio_client(&server.url(), None).await.expect("connect");
        let started = Instant::now();
        match next_message(&mut ws).await {
            Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::GOING_AWAY),
            other => panic!("{runtime}: expected the idle close, got {other:?}"),
        }
        assert!(started.elapsed() >= Duration::from_millis(250), "{runtime}");
    }
}
