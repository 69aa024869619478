//! The chat server over TLS (`--tls-cert`, `--tls-key`) as a real process:
//! wss:// clients of both adapters chat and the page is served over https;
//! plain HTTP, garbage, a ClientHello trickled one byte a second and a
//! flood of half-open TLS handshakes are each refused or dropped on time,
//! with a log line, while an honest wss:// client keeps chatting. Both
//! runtimes; certificates made at test time (test-support's `TestPki`).

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{
    client_tls, http_get, next_message, refused_status_std, refused_status_tokio, std_tls_client,
    tokio_client, tokio_tls_client, Server, RUNTIMES, TIMEOUT,
};
use rusty_socket_std::rustls::pki_types::ServerName;
use rusty_socket_std::rustls::{ClientConfig, ClientConnection};
use rusty_socket_std::MaybeTlsStream;
use rusty_socket_test_support::tls::TestPki;
use rusty_socket_tokio::{CloseCode, CloseFrame, Message};
use tokio::task::block_in_place;

/// A blocking wss:// client.
type StdTlsClient = rusty_socket_std::WebSocket<MaybeTlsStream<TcpStream>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_clients_of_both_adapters_chat_and_the_page_is_served_over_https() {
    let pki = TestPki::new();
    let tls = client_tls(&pki);
    for runtime in RUNTIMES {
        let mut server = Server::start_tls(&pki, &["--runtime", runtime]);
        let listening = format!("listening on https://{}", server.addr);
        assert!(server.wait_for_log(&[&listening]), "{runtime}");
        let page = block_in_place(|| server.get("/"));
        assert_eq!(page.status, 200, "{runtime}: {}", page.head);
        assert!(page.body.contains("<title>rusty_socket chat</title>"));

        let url = server.url();
        // What a browser showing the page sends: its https origin.
        let origin = server.origin();
        let mut web = tokio_tls_client(&url, Some(&origin), &tls)
            .await
            .unwrap_or_else(|e| panic!("{runtime}: wss:// from the page's origin: {e}"));
        let mut cli = block_in_place(|| std_tls_client(&url, None, &tls))
            .unwrap_or_else(|e| panic!("{runtime}: wss:// from the std adapter: {e}"));
        block_in_place(|| server.wait_for_clients(2));

        web.send(Message::text("over TLS from Tokio"))
            .await
            .expect("send");
        assert_eq!(
            next_message(&mut web).await,
            Message::text("over TLS from Tokio")
        );
        block_in_place(|| {
            assert_eq!(
                cli.recv().expect("recv"),
                Some(Message::text("over TLS from Tokio"))
            );
            chat_std(&mut cli, "over TLS from std");
        });
        assert_eq!(
            next_message(&mut web).await,
            Message::text("over TLS from std")
        );

        // The origin check still holds over TLS.
        let foreign = tokio_tls_client(&url, Some("https://evil.example"), &tls)
            .await
            .expect_err("a foreign origin is refused");
        assert_eq!(refused_status_tokio(&foreign), Some(403), "{foreign}");

        web.close(CloseCode::NORMAL, "bye").await.expect("close");
        while let Ok(Some(_)) = web.recv().await {}
        assert!(server.wait_for_log(&["disconnected", "code=1000", "reason=\"bye\""]));
        // A shutdown closes the other with 1001 over TLS too, and the
        // closing handshake completes (no wait for --shutdown-timeout).
        block_in_place(|| server.wait_for_clients(1));
        let closing = thread::spawn(move || (cli.recv(), cli.recv()));
        let started = Instant::now();
        let status = block_in_place(|| server.terminate());
        assert!(status.success(), "{runtime}: {status}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{runtime}: the shutdown waited {:?}",
            started.elapsed()
        );
        let (close, end) = closing.join().expect("no panic");
        let going_away = CloseFrame::new(CloseCode::GOING_AWAY, "server shutting down");
        assert_eq!(
            close.expect("recv"),
            Some(Message::Close(Some(going_away))),
            "{runtime}"
        );
        assert!(matches!(end, Ok(None)), "{runtime}: {end:?}");
        assert!(server.wait_for_log(&["every connection closed; bye"]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_on_the_tls_port_gets_400_and_a_log_line() {
    let pki = TestPki::new();
    let tls = client_tls(&pki);
    for runtime in RUNTIMES {
        let server = Server::start_tls(&pki, &["--runtime", runtime]);
        let mut honest = block_in_place(|| std_tls_client(&server.url(), None, &tls))
            .expect("the honest wss:// client");
        // In the chat (it joins after its handshake), so that it hears itself.
        block_in_place(|| server.wait_for_clients(1));

        // A browser sent to http:// is told, in plain HTTP, to use https.
        let plain = block_in_place(|| http_get(server.addr, "/", &[]));
        assert_eq!(plain.status, 400, "{runtime}: {}", plain.head);
        assert!(plain.body.contains("use https://"), "{}", plain.body);
        // A ws:// handshake is answered the same.
        let ws = tokio_client(&format!("ws://{}/", server.addr), None)
            .await
            .expect_err("ws:// on the TLS port");
        assert_eq!(refused_status_tokio(&ws), Some(400), "{runtime}: {ws}");
        assert!(server.wait_for_log(&["refused: plain HTTP on the TLS port (400, use https://)"]));

        block_in_place(|| {
            chat_std(&mut honest, &format!("{runtime}: still chatting"));
            assert_eq!(server.clients(), 1);
        });
    }
}

#[test]
fn garbage_on_the_tls_port_is_refused_at_once_with_a_log_line() {
    let pki = TestPki::new();
    let tls = client_tls(&pki);
    // A handshake record holding a ClientHello of four bytes: rustls cannot
    // decode it.
    let bad_hello = [
        0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0x00, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef,
    ];
    for runtime in RUNTIMES {
        // The default handshake timeout (10 s): a refusal must come sooner.
        let server = Server::start_tls(&pki, &["--runtime", runtime]);
        let mut honest = std_tls_client(&server.url(), None, &tls).expect("honest client");
        server.wait_for_clients(1);

        let waited = refused_after(server.addr, &[0x00, 0xff, 0x13, 0x37]);
        assert!(waited < Duration::from_secs(2), "{runtime}: {waited:?}");
        assert!(server.wait_for_log(&["refused: not a TLS handshake (first byte 0x00)"]));

        let waited = refused_after(server.addr, &bad_hello);
        assert!(waited < Duration::from_secs(2), "{runtime}: {waited:?}");
        assert!(server.wait_for_log(&["refused: TLS handshake failed"]));

        chat_std(&mut honest, &format!("{runtime}: unaffected"));
        assert_eq!(server.clients(), 1);
    }
}

/// The server's handshake timeout in the slow tests.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// How late after the timeout a drop may be seen (the server's timer, a
/// loaded machine).
const SLACK: Duration = Duration::from_millis(1500);
/// Slow connections at once.
const SLOW: usize = 10;

#[test]
fn a_tls_slowloris_is_dropped_at_the_handshake_timeout() {
    let pki = TestPki::new();
    let tls = client_tls(&pki);
    let hello = client_hello(&tls);
    for runtime in RUNTIMES {
        let server = Server::start_tls(&pki, &["--runtime", runtime, "--handshake-timeout", "2s"]);
        let mut honest = std_tls_client(&server.url(), None, &tls).expect("honest client");
        server.wait_for_clients(1);
        let slow: Vec<_> = (0..SLOW)
            .map(|_| {
                let (addr, hello) = (server.addr, hello.clone());
                thread::spawn(move || trickle(addr, &hello))
            })
            .collect();
        // The honest client chats all along.
        let mut said = 0;
        while !slow.iter().all(|t| t.is_finished()) {
            chat_std(&mut honest, &format!("{runtime}: line {said}"));
            said += 1;
            thread::sleep(Duration::from_millis(200));
        }
        for trickled in slow {
            let Trickled {
                dropped_after,
                sent,
                received,
            } = trickled.join().expect("a slow connection");
            assert!(
                dropped_after >= HANDSHAKE_TIMEOUT - Duration::from_millis(100)
                    && dropped_after < HANDSHAKE_TIMEOUT + SLACK,
                "{runtime}: dropped after {dropped_after:?}"
            );
            assert!(
                sent < hello.len(),
                "{runtime}: the ClientHello went through"
            );
            assert_eq!(received, 0, "{runtime}: a slow ClientHello was answered");
        }
        assert!(
            said >= 5,
            "{runtime}: the honest client said only {said} lines"
        );
        assert!(server.wait_for_log(&["refused: TLS handshake timed out"]));
        chat_std(&mut honest, &format!("{runtime}: after the attack"));
    }
}

#[test]
fn a_flood_of_half_open_tls_handshakes_is_dropped_on_time() {
    const FLOOD: usize = 40;
    const MAX: usize = 4;
    let pki = TestPki::new();
    let tls = client_tls(&pki);
    let hello = client_hello(&tls);
    for runtime in RUNTIMES {
        let max = MAX.to_string();
        let server = Server::start_tls(
            &pki,
            &[
                "--runtime",
                runtime,
                "--handshake-timeout",
                "1s",
                "--max-connections",
                &max,
            ],
        );
        let url = server.url();
        let mut first = std_tls_client(&url, None, &tls).expect("honest client");
        server.wait_for_clients(1);
        // Ten times --max-connections, each stopping halfway through its
        // ClientHello.
        let flood: Vec<(TcpStream, Instant)> = (0..FLOOD)
            .map(|_| {
                let mut half_open = TcpStream::connect(server.addr).expect("connect");
                half_open
                    .write_all(&hello[..hello.len() / 2])
                    .expect("half a ClientHello");
                (half_open, Instant::now())
            })
            .collect();
        // Handshakes in progress hold no place among --max-connections: a
        // wss:// client still gets in, and both chat.
        let mut second = std_tls_client(&url, None, &tls).expect("a client during the flood");
        server.wait_for_clients(2);
        let line = format!("{runtime}: first, during the flood");
        chat_std(&mut first, &line);
        assert_eq!(second.recv().expect("recv"), Some(Message::text(line)));
        let line = format!("{runtime}: second, during the flood");
        chat_std(&mut second, &line);
        assert_eq!(first.recv().expect("recv"), Some(Message::text(line)));
        for (mut half_open, started) in flood {
            half_open.set_read_timeout(Some(TIMEOUT)).expect("timeout");
            let mut buf = [0; 64];
            let read = half_open.read(&mut buf);
            let after = started.elapsed();
            assert!(
                matches!(read, Ok(0))
                    || matches!(&read, Err(e) if e.kind() == io::ErrorKind::ConnectionReset),
                "{runtime}: a half-open handshake got {read:?}"
            );
            assert!(
                after >= Duration::from_millis(900) && after < Duration::from_secs(1) + SLACK,
                "{runtime}: a half-open handshake was dropped after {after:?}"
            );
        }
        assert!(server.wait_for_log(&["refused: TLS handshake timed out"]));
        chat_std(&mut first, &format!("{runtime}: first, after the flood"));
        assert_eq!(server.clients(), 2, "{runtime}");

        // Each wss:// client counts against --max-connections.
        let mut more: Vec<StdTlsClient> = (2..MAX)
            .map(|_| std_tls_client(&url, None, &tls).expect("a place left"))
            .collect();
        let refused = std_tls_client(&url, None, &tls).expect_err("every place is taken");
        assert_eq!(
            refused_status_std(&refused),
            Some(503),
            "{runtime}: {refused}"
        );
        server.wait_for_clients(MAX as u64);
        for ws in &mut more {
            let _ = ws.close(CloseCode::NORMAL, "");
        }
    }
}

/// Sends `line` and reads it back (the chat broadcasts to the sender too).
fn chat_std(ws: &mut StdTlsClient, line: &str) {
    ws.send(Message::text(line)).expect("send");
    assert_eq!(ws.recv().expect("recv"), Some(Message::text(line)));
}

/// The ClientHello a rustls client opens with, as bytes on the wire.
fn client_hello(tls: &Arc<ClientConfig>) -> Vec<u8> {
    let name = ServerName::try_from("localhost").expect("a DNS name");
    let mut connection = ClientConnection::new(Arc::clone(tls), name).expect("a TLS client");
    let mut hello = Vec::new();
    connection
        .write_tls(&mut hello)
        .expect("write the ClientHello");
    assert!(hello.len() > 100, "a ClientHello of {} bytes", hello.len());
    hello
}

/// Sends `bytes` and measures how long until the server ends the
/// connection (it may answer first: a TLS alert).
fn refused_after(addr: SocketAddr, bytes: &[u8]) -> Duration {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
    let started = Instant::now();
    stream.write_all(bytes).expect("send");
    let mut buf = [0; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return started.elapsed(),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return started.elapsed(),
            Err(e) => panic!("the server did not end the connection: {e}"),
        }
    }
}

/// What a connection trickling a ClientHello saw.
struct Trickled {
    /// From the connect to the server ending the connection.
    dropped_after: Duration,
    /// Bytes of the ClientHello sent by then.
    sent: usize,
    /// Bytes the server sent back (none: it never got a whole ClientHello).
    received: usize,
}

/// Sends `hello` one byte a second until the server ends the connection.
fn trickle(addr: SocketAddr, hello: &[u8]) -> Trickled {
    let mut stream = TcpStream::connect(addr).expect("connect");
    let started = Instant::now();
    // The wait between two bytes is a read: it sees the end at once.
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let mut sent = 0;
    let mut received = 0;
    let mut buf = [0; 256];
    for byte in hello {
        if stream.write_all(&[*byte]).is_err() {
            break;
        }
        sent += 1;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
        assert!(started.elapsed() < TIMEOUT, "never dropped");
    }
    Trickled {
        dropped_after: started.elapsed(),
        sent,
        received,
    }
}
