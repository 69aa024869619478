//! wss:// over loopback: echo, certificate refusals with their typed
//! errors, IP-address URLs, timeouts through TLS (handshake, idle),
//! close_notify, a TLS error mid-connection, and the split halves of a TLS
//! connection writing large messages both ways at once. Certificates come
//! from `rusty_socket_test_support::tls`, made at test time.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use rusty_socket_std::rustls::{ClientConfig, ServerConnection};
use rusty_socket_std::tls::{self, TlsStream};
use rusty_socket_std::{
    accept, connect, connect_tls, ClientRequest, CloseCode, CloseReason, Config, Error,
    MaybeTlsStream, Message, Timer, TlsError, Transport, WebSocket,
};
use rusty_socket_test_support::tls::{CertKey, TestPki};
use support::within;

const LIMIT: Duration = Duration::from_secs(30);

type ServerWs = WebSocket<TlsStream<ServerConnection>>;
type ClientWs = WebSocket<MaybeTlsStream<TcpStream>>;

/// A wss:// server with `cert` on an ephemeral port: each connection on its
/// own thread, TLS within 5 s, then the WebSocket, then `handler`.
fn tls_server(cert: &CertKey, handler: impl Fn(ServerWs) + Send + Sync + 'static) -> SocketAddr {
    let config =
        tls::server_config_from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(handler);
    thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { return };
            let (config, handler) = (config.clone(), handler.clone());
            thread::spawn(move || {
                let Ok(stream) = tls::accept(tcp, config, Duration::from_secs(5)) else {
                    return;
                };
                if let Ok(ws) = accept(stream) {
                    handler(ws);
                }
            });
        }
    });
    addr
}

fn echo(mut ws: ServerWs) {
    while let Ok(Some(message)) = ws.recv() {
        if let Message::Text(_) | Message::Binary(_) = message {
            if ws.send(message).is_err() {
                return;
            }
        }
    }
}

fn trusting(pki: &TestPki) -> Arc<ClientConfig> {
    tls::client_config_with_ca_pem(pki.ca_pem.as_bytes()).unwrap()
}

fn connect_to(url: &str, tls: Arc<ClientConfig>) -> Result<ClientWs, Error> {
    Ok(connect_tls(ClientRequest::new(url).unwrap(), Config::default(), tls)?.0)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(31).wrapping_add(seed as u32) as u8)
        .collect()
}

/// Closes and receives until the closing handshake completes.
fn close_and_finish(ws: &mut ClientWs) -> Vec<Message> {
    ws.close(CloseCode::NORMAL, "done").unwrap();
    let mut received = Vec::new();
    while let Some(message) = ws.recv().unwrap() {
        received.push(message);
    }
    received
}

#[test]
fn wss_echo_by_name_and_by_ip_address() {
    within(LIMIT, || {
        let pki = TestPki::new();
        let addr = tls_server(&pki.localhost, echo);
        for url in [
            format!("wss://localhost:{}/echo", addr.port()),
            format!("wss://{addr}/echo"),
        ] {
            let mut ws = connect_to(&url, trusting(&pki)).unwrap();
            assert!(ws.get_ref().is_tls(), "{url}");
            ws.send(Message::text("hello over TLS")).unwrap();
            assert_eq!(ws.recv().unwrap(), Some(Message::text("hello over TLS")));
            // Many TLS records each way.
            let big = Message::binary(pattern(3 << 20, 3));
            ws.send(big.clone()).unwrap();
            assert_eq!(ws.recv().unwrap(), Some(big));
            let received = close_and_finish(&mut ws);
            assert!(
                matches!(received.last(), Some(Message::Close(Some(f))) if f.code == CloseCode::NORMAL),
                "{received:?}"
            );
        }
    });
}

#[test]
fn certificates_are_checked_with_typed_errors() {
    within(LIMIT, || {
        let pki = TestPki::new();
        for (cert, case) in [
            (&pki.other_name, "name"),
            (&pki.untrusted, "issuer"),
            (&pki.expired, "expired"),
        ] {
            let addr = tls_server(cert, echo);
            let url = format!("wss://localhost:{}/", addr.port());
            let error = connect_to(&url, trusting(&pki)).map(|_| ()).unwrap_err();
            match (case, &error) {
                ("name", Error::Tls(TlsError::NameMismatch { host })) => {
                    assert_eq!(host, "localhost")
                }
                ("issuer", Error::Tls(TlsError::UnknownIssuer)) => {}
                ("expired", Error::Tls(TlsError::Expired)) => {}
                _ => panic!("{case}: got {error:?}"),
            }
            assert!(error.to_string().starts_with("TLS: "), "{error}");
        }
        // By IP address: checked against the certificate's IP addresses.
        let addr = tls_server(&pki.other_name, echo);
        let error = connect_to(&format!("wss://{addr}/"), trusting(&pki))
            .map(|_| ())
            .unwrap_err();
        assert!(
            matches!(&error, Error::Tls(TlsError::NameMismatch { host }) if host == "127.0.0.1"),
            "{error:?}"
        );
        // connect() uses the bundled roots, which do not know the test CA.
        let addr = tls_server(&pki.localhost, echo);
        let error = connect(&format!("wss://localhost:{}/", addr.port()))
            .map(|_| ())
            .unwrap_err();
        assert!(
            matches!(error, Error::Tls(TlsError::UnknownIssuer)),
            "{error:?}"
        );
    });
}

#[test]
fn configs_need_no_process_default_provider() {
    within(LIMIT, || {
        use rusty_socket_std::rustls::crypto::CryptoProvider;
        // Nothing in this test binary installs one.
        assert!(CryptoProvider::get_default().is_none());
        let pki = TestPki::new();
        tls::default_client_config().unwrap();
        let addr = tls_server(&pki.localhost, echo);
        let mut ws =
            connect_to(&format!("wss://localhost:{}/", addr.port()), trusting(&pki)).unwrap();
        ws.send(Message::text("hi")).unwrap();
        assert_eq!(ws.recv().unwrap(), Some(Message::text("hi")));
        close_and_finish(&mut ws);
        // rustls' `builder()` would have installed ring as the default.
        assert!(CryptoProvider::get_default().is_none());
    });
}

#[test]
fn handshake_timeouts_bound_the_tls_handshake() {
    within(LIMIT, || {
        let pki = TestPki::new();
        // Client side: a server that accepts TCP and never says a word.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut config = Config::default();
        config.handshake_timeout = Some(Duration::from_millis(300));
        let request = ClientRequest::new(&format!("wss://localhost:{port}/")).unwrap();
        let start = Instant::now();
        let error = connect_tls(request, config, trusting(&pki))
            .map(|_| ())
            .unwrap_err();
        assert!(error.is_timeout(), "{error:?}");
        assert!(start.elapsed() < Duration::from_secs(3));
        drop(listener);

        // Server side: a client that sends a ClientHello-like trickle, one
        // byte every 100 ms; each byte would restart a per-read timeout.
        let config = tls::server_config_from_pem(
            pki.localhost.cert_pem.as_bytes(),
            pki.localhost.key_pem.as_bytes(),
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut slow = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let trickle = thread::spawn(move || {
            for byte in [0x16u8, 0x03, 0x01, 0x02, 0x00, 0x01]
                .iter()
                .cycle()
                .take(40)
            {
                if slow.write_all(&[*byte]).is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(100));
            }
        });
        let (tcp, _) = listener.accept().unwrap();
        let start = Instant::now();
        let error = tls::accept(tcp, config, Duration::from_millis(500))
            .map(|_| ())
            .unwrap_err();
        assert!(error.is_timeout(), "{error:?}");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
        let _ = trickle.join();
    });
}

#[test]
fn keepalive_timeouts_still_fire_over_tls() {
    within(LIMIT, || {
        let pki = TestPki::new();
        // A server that completes the handshakes and then neither reads
        // nor writes: our keepalive ping gets no pong.
        let addr = tls_server(&pki.localhost, |ws| {
            thread::sleep(Duration::from_secs(5));
            drop(ws);
        });
        let mut config = Config::default();
        config.keepalive_interval = Some(Duration::from_millis(200));
        config.keepalive_timeout = Duration::from_millis(300);
        let request = ClientRequest::new(&format!("wss://localhost:{}/", addr.port())).unwrap();
        let (mut ws, _) = connect_tls(request, config, trusting(&pki)).unwrap();
        let start = Instant::now();
        let error = ws.recv().unwrap_err();
        assert!(
            matches!(error, Error::Closed(CloseReason::Timeout(Timer::Pong))),
            "{error:?}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    });
}

/// The server's TLS stream, whose `shutdown` only half-closes (close_notify
/// and FIN), so that the test can read what the client sends after the
/// closing handshake.
struct HalfShut(TlsStream<ServerConnection>);

impl Read for HalfShut {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for HalfShut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl Transport for HalfShut {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<bool> {
        self.0.set_read_timeout(timeout)
    }

    fn shutdown(&mut self) -> std::io::Result<()> {
        self.0.shutdown_write()
    }
}

#[test]
fn close_ends_with_close_notify() {
    within(LIMIT, || {
        let pki = TestPki::new();
        let config = tls::server_config_from_pem(
            pki.localhost.cert_pem.as_bytes(),
            pki.localhost.key_pem.as_bytes(),
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // After the closing handshake, the server reads the raw TLS stream
        // to its end: `Ok(0)` only after the client's close_notify, an
        // `UnexpectedEof` error if the client just ended TCP.
        let server = thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            let stream = tls::accept(tcp, config, Duration::from_secs(5)).unwrap();
            let mut ws = accept(HalfShut(stream)).unwrap();
            while let Some(message) = ws.recv().unwrap() {
                if let Message::Text(_) = message {
                    ws.send(message).unwrap();
                }
            }
            let mut stream = ws.into_inner().0;
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            stream.read(&mut [0u8; 64]).map_err(|e| e.kind())
        });
        let mut ws = connect_to(&format!("wss://localhost:{port}/"), trusting(&pki)).unwrap();
        ws.send(Message::text("hi")).unwrap();
        assert_eq!(ws.recv().unwrap(), Some(Message::text("hi")));
        close_and_finish(&mut ws);
        assert_eq!(server.join().unwrap(), Ok(0));
    });
}

#[test]
fn a_tls_error_mid_connection_reaches_the_caller() {
    within(LIMIT, || {
        let pki = TestPki::new();
        let addr = tls_server(&pki.localhost, |mut ws| {
            // Once the connection is open and used: bytes that are no TLS
            // record, straight on the socket, behind rustls' back.
            assert!(ws.recv().unwrap().is_some());
            let mut tcp = ws.get_ref().get_ref();
            tcp.write_all(b"this is not a TLS record").unwrap();
            // Hold the connection open: the client must fail on the bytes,
            // not on an end.
            thread::sleep(Duration::from_secs(5));
            drop(ws);
        });
        let mut ws =
            connect_to(&format!("wss://localhost:{}/", addr.port()), trusting(&pki)).unwrap();
        ws.send(Message::text("hi")).unwrap();
        let error = ws.recv().unwrap_err();
        assert!(matches!(error, Error::Tls(TlsError::Other(_))), "{error:?}");
    });
}

#[test]
fn split_halves_over_tls_send_8_mib_both_ways_at_once() {
    within(LIMIT, || {
        const BIG: usize = 8 << 20;
        let pki = TestPki::new();
        // Each side writes its 8 MiB on one thread while its other thread
        // reads the peer's: with one lock around the TLS state, both
        // writers would block on full sockets and nobody would read.
        fn both_ways<S>(ws: WebSocket<S>, seed: u8) -> Vec<u8>
        where
            S: Transport + rusty_socket_std::TryClone + Send + 'static,
        {
            let (mut writer, mut reader) = ws.split().unwrap();
            let sending = thread::spawn(move || {
                writer.send(Message::binary(pattern(BIG, seed))).unwrap();
                writer
            });
            let Some(Message::Binary(received)) = reader.recv().unwrap() else {
                panic!("expected the peer's binary message");
            };
            let mut writer = sending.join().unwrap();
            writer.close(CloseCode::NORMAL, "done").unwrap();
            while reader.recv().unwrap().is_some() {}
            received.to_vec()
        }
        let (done, server_got) = mpsc::channel();
        let done = std::sync::Mutex::new(done);
        let addr = tls_server(&pki.localhost, move |ws| {
            let got = both_ways(ws, 1);
            let _ = done.lock().unwrap().send(got);
        });
        let mut config = Config::default();
        config.max_message_size = 2 * BIG;
        config.max_frame_size = 2 * BIG;
        let request = ClientRequest::new(&format!("wss://localhost:{}/", addr.port())).unwrap();
        let (ws, _) = connect_tls(request, config, trusting(&pki)).unwrap();
        let client_got = both_ways(ws, 2);
        assert!(client_got == pattern(BIG, 1), "the client got other bytes");
        let server_got = server_got.recv().unwrap();
        assert!(server_got == pattern(BIG, 2), "the server got other bytes");
    });
}

#[test]
fn pem_problems_are_reported_as_such() {
    let pki = TestPki::new();
    let error = tls::server_config_from_pem(b"not pem", pki.localhost.key_pem.as_bytes())
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(error, Error::Tls(TlsError::Pem(_))), "{error:?}");
    let error = tls::client_config_with_ca_file(&pki.dir.join("missing.pem"))
        .map(|_| ())
        .unwrap_err();
    assert!(error.to_string().contains("missing.pem"), "{error}");
    tls::server_config_from_pem_files(&pki.localhost.cert_path, &pki.localhost.key_path).unwrap();
}
