//! SIGTERM: every client gets 1001 (going away), the server waits for the
//! closing handshakes (at most --shutdown-timeout) and exits 0. Both runtimes.

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{next_message, std_client, tokio_client, Server, RUNTIMES, TIMEOUT};
use rusty_socket_tokio::{CloseCode, Message};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_every_client_with_1001_and_exits_0() {
    for runtime in RUNTIMES {
        let mut server = Server::start(&["--runtime", runtime, "--shutdown-timeout", "5s"]);
        let url = server.url();
        let mut async_client = tokio_client(&url, None).await.expect("connect");
        let mut blocking_client = std_client(&url, None).expect("connect");
        tokio::task::block_in_place(|| server.wait_for_clients(2));
        let blocking = thread::spawn(move || {
            let close = blocking_client.recv();
            // The closing handshake completes.
            let end = blocking_client.recv();
            (close, end)
        });

        let asynchronous = tokio::spawn(async move {
            let close = next_message(&mut async_client).await;
            let end = tokio::time::timeout(TIMEOUT, async_client.recv()).await;
            (close, end.map(|end| end.ok()))
        });

        let started = Instant::now();
        let status = tokio::task::block_in_place(|| {
            let status = server.terminate();
            (status, started.elapsed())
        });
        let (close, end) = asynchronous.await.expect("no panic");
        match close {
            Message::Close(Some(frame)) => {
                assert_eq!(frame.code, CloseCode::GOING_AWAY, "{runtime}");
                assert_eq!(frame.reason.as_str(), "server shutting down");
            }
            other => panic!("{runtime}: expected a close frame, got {other:?}"),
        }
        assert_eq!(end, Ok(Some(None)), "{runtime}: a clean closing handshake");
        let (close, end) = blocking.join().expect("no panic");
        match close {
            Ok(Some(rusty_socket_std::Message::Close(Some(frame)))) => {
                assert_eq!(frame.code, CloseCode::GOING_AWAY, "{runtime}")
            }
            other => panic!("{runtime}: expected a close frame, got {other:?}"),
        }
        assert!(
            matches!(end, Ok(None)),
            "{runtime}: a clean closing handshake, not {end:?}"
        );

        let (status, elapsed) = status;
        assert!(status.success(), "{runtime}: exit status {status}");
        // It waited for the handshakes, not for the deadline.
        assert!(
            elapsed < Duration::from_secs(4),
            "{runtime}: took {elapsed:?}"
        );
        assert!(server.wait_for_log(&["shutting down", "SIGTERM", "clients=2"]));
        assert!(server.wait_for_log(&["every connection closed"]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_answers_does_not_hold_the_shutdown_past_its_deadline() {
    for runtime in RUNTIMES {
        let mut server = Server::start(&["--runtime", runtime, "--shutdown-timeout", "500ms"]);
        // Never polled: it will not answer the close frame.
        let _silent = tokio_client(&server.url(), None).await.expect("connect");
        tokio::task::block_in_place(|| server.wait_for_clients(1));
        let started = Instant::now();
        let status = tokio::task::block_in_place(|| server.terminate());
        assert!(status.success(), "{runtime}: exit status {status}");
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(400) && elapsed < TIMEOUT,
            "{runtime}: took {elapsed:?}"
        );
        assert!(server.wait_for_log(&["shutdown deadline", "passed"]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_ends_the_wait() {
    for runtime in RUNTIMES {
        let mut server = Server::start(&["--runtime", runtime, "--shutdown-timeout", "30s"]);
        let _silent = tokio_client(&server.url(), None).await.expect("connect");
        tokio::task::block_in_place(|| server.wait_for_clients(1));
        let pid = server.pid().to_string();
        let started = Instant::now();
        for signal in ["-TERM", "-INT"] {
            assert!(server.wait_for_log(&["listening on"]));
            let sent = std::process::Command::new("kill")
                .args([signal, &pid])
                .status()
                .expect("run kill");
            assert!(sent.success());
            assert!(server.wait_for_log(&["shutting down"]));
        }
        let status = tokio::task::block_in_place(|| server.wait_exit(TIMEOUT));
        let status = status.expect("exits after the second signal");
        assert!(status.success(), "{runtime}: exit status {status}");
        assert!(started.elapsed() < Duration::from_secs(5), "{runtime}");
        assert!(server.wait_for_log(&["second signal"]));
    }
}
