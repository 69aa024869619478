//! The mio loop serving wss:// to real clients over loopback: the Tokio
//! adapter's `connect_tls` trusting the test CA, its `connect_on` over a
//! tokio-rustls stream where the test needs to shape the socket, and raw
//! sockets for the misbehaving clients. Every wait is bounded.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusty_socket_embed_example::{Config, ConnectionId, End, Error, Handler, Server, Stopper};
use rusty_socket_proto::{CloseCode, CloseReason, Message, Timer};
use rusty_socket_test_support::tls::TestPki;
use rusty_socket_tokio::rustls::pki_types::ServerName;
use rusty_socket_tokio::rustls::{ClientConfig, ClientConnection};
use rusty_socket_tokio::{connect_on, connect_tls, tls, ClientRequest, MaybeTlsStream, WebSocket};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// The longest any single wait in these tests may take.
const WAIT: Duration = Duration::from_secs(10);

/// Echoes text and binary messages, counts them, and reports every end.
struct Echo {
    handled: Arc<AtomicUsize>,
    ends: mpsc::Sender<(ConnectionId, End)>,
}

impl Handler for Echo {
    fn message(&mut self, _: ConnectionId, message: Message) -> Option<Message> {
        self.handled.fetch_add(1, Ordering::Relaxed);
        matches!(message, Message::Text(_) | Message::Binary(_)).then_some(message)
    }

    fn ended(&mut self, id: ConnectionId, end: End) {
        let _ = self.ends.send((id, end));
    }
}

/// The server running on its own thread, and the test's view of it.
struct Running {
    addr: SocketAddr,
    pki: TestPki,
    handled: Arc<AtomicUsize>,
    ends: mpsc::Receiver<(ConnectionId, End)>,
    stopper: Stopper,
    thread: JoinHandle<Result<Echo, Error>>,
}

impl Running {
    fn start(config: Config) -> Running {
        let pki = TestPki::new();
        let tls = rusty_socket_tls::server_config_from_pem(
            pki.localhost.cert_pem.as_bytes(),
            pki.localhost.key_pem.as_bytes(),
        )
        .unwrap();
        let handled = Arc::new(AtomicUsize::new(0));
        let (tx, ends) = mpsc::channel();
        let echo = Echo {
            handled: Arc::clone(&handled),
            ends: tx,
        };
        let server = Server::bind("127.0.0.1:0".parse().unwrap(), tls, config, echo).unwrap();
        let addr = server.local_addr().unwrap();
        let stopper = server.stopper();
        let thread = std::thread::spawn(move || server.run());
        Running {
            addr,
            pki,
            handled,
            ends,
            stopper,
            thread,
        }
    }

    /// The next connection to end, and why.
    fn next_end(&self) -> (ConnectionId, End) {
        self.ends
            .recv_timeout(WAIT)
            .expect("a connection ended in time")
    }

    /// Stops the loop, which must still be running: no connection's
    /// trouble may have taken it down.
    fn stop(self) {
        assert!(!self.thread.is_finished(), "the loop stopped by itself");
        self.stopper.stop().unwrap();
        self.thread
            .join()
            .unwrap()
            .expect("the loop ran until stopped");
    }

    /// A client config trusting the test CA.
    fn client_tls(&self) -> Arc<ClientConfig> {
        tls::client_config_with_ca_pem(self.pki.ca_pem.as_bytes()).unwrap()
    }

    fn request(&self) -> ClientRequest {
        ClientRequest::new(&format!("wss://localhost:{}/", self.addr.port())).unwrap()
    }

    /// A client with proto's default config (permessage-deflate offered).
    async fn client(&self) -> WebSocket<MaybeTlsStream<TcpStream>> {
        let config = rusty_socket_tokio::Config::default();
        let connecting = connect_tls(self.request(), config, self.client_tls());
        let (ws, _) = tokio::time::timeout(WAIT, connecting)
            .await
            .expect("connected in time")
            .unwrap();
        ws
    }

    /// A TLS stream to the server over a socket of the test's own.
    async fn tls_on(&self, tcp: TcpStream) -> TlsStream<TcpStream> {
        let name = ServerName::try_from("localhost").unwrap();
        let connecting = TlsConnector::from(self.client_tls()).connect(name, tcp);
        tokio::time::timeout(WAIT, connecting)
            .await
            .expect("TLS handshake in time")
            .unwrap()
    }

    /// A WebSocket client over a socket of the test's own.
    async fn client_on(
        &self,
        tcp: TcpStream,
        config: rusty_socket_tokio::Config,
    ) -> WebSocket<TlsStream<TcpStream>> {
        let stream = self.tls_on(tcp).await;
        let (ws, _) = tokio::time::timeout(WAIT, connect_on(stream, self.request(), config))
            .await
            .expect("handshake in time")
            .unwrap();
        ws
    }
}

/// The client's rustls connection under either kind of stream.
trait ClientTls: AsyncRead + AsyncWrite + Unpin {
    fn rustls(&mut self) -> &mut ClientConnection;
}

impl ClientTls for TlsStream<TcpStream> {
    fn rustls(&mut self) -> &mut ClientConnection {
        self.get_mut().1
    }
}

impl ClientTls for MaybeTlsStream<TcpStream> {
    fn rustls(&mut self) -> &mut ClientConnection {
        match self {
            MaybeTlsStream::Rustls(tls) => tls.get_mut().1,
            _ => panic!("a wss:// URL gives a TLS stream"),
        }
    }
}

async fn recv<S: ClientTls>(ws: &mut WebSocket<S>) -> Message {
    tokio::time::timeout(WAIT, ws.recv())
        .await
        .expect("a message in time")
        .unwrap()
        .expect("a message, not the end")
}

/// Bytes that deflate cannot shrink much (so that a large message stays
/// large on the wire), from a small xorshift generator.
fn noise(len: usize, mut state: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Closes the client's side cleanly and checks that the server answered
/// the close frame and then ended TLS with close_notify.
async fn close_and_check_close_notify<S: ClientTls>(mut ws: WebSocket<S>) {
    ws.close(CloseCode::NORMAL, "bye").await.unwrap();
    match recv(&mut ws).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::NORMAL),
        other => panic!("expected the close echoed, got {other:?}"),
    }
    let end = tokio::time::timeout(WAIT, ws.recv())
        .await
        .expect("the end in time");
    assert!(matches!(end, Ok(None)), "clean end, got {end:?}");
    let mut tls = ws.into_inner();
    // rustls's reader says Ok(0) only if the peer sent close_notify; a bare
    // TCP FIN gives UnexpectedEof.
    let read = tls.rustls().reader().read(&mut [0; 1]);
    assert!(matches!(read, Ok(0)), "close_notify seen, got {read:?}");
}

#[tokio::test]
async fn echoes_text_binary_large_and_compressed_messages_then_closes_with_close_notify() {
    let server = Running::start(Config::default());
    let mut ws = server.client().await;
    assert!(ws.deflate().is_some(), "permessage-deflate was agreed");

    let large = noise(6 << 20, 0x9e37_79b9_7f4a_7c15);
    let compressible = "the same words again and again. ".repeat(32 << 10);
    let messages = [
        Message::text("hello over wss"),
        Message::binary(vec![0u8, 1, 2, 254, 255]),
        Message::binary(large),
        Message::text(compressible),
        Message::text("après le gros message"),
    ];
    for message in &messages {
        ws.send(message.clone()).await.unwrap();
    }
    for message in &messages {
        assert!(recv(&mut ws).await == *message, "echoed unchanged");
    }

    ws.ping(b"are you there").await.unwrap();
    assert_eq!(recv(&mut ws).await, Message::Pong("are you there".into()));

    close_and_check_close_notify(ws).await;
    match server.next_end() {
        (_, End::WebSocket(CloseReason::Normal(Some(frame)))) => {
            assert_eq!(frame.code, CloseCode::NORMAL);
            assert_eq!(frame.reason, "bye");
        }
        (id, end) => panic!("{id} ended with {end}"),
    }
    server.stop();
}

#[tokio::test]
async fn serves_several_clients_at_once() {
    const CLIENTS: usize = 8;
    const MESSAGES: usize = 50;
    let server = Running::start(Config::default());
    let mut tasks = tokio::task::JoinSet::new();
    // Every client connects first, so that all are open together.
    for client in 0..CLIENTS {
        let ws = server.client().await;
        tasks.spawn(async move {
            let mut ws = ws;
            for i in 0..MESSAGES {
                let text = format!("client {client} message {i}");
                ws.send(Message::text(text.clone())).await.unwrap();
                if i % 2 == 1 {
                    let binary = noise(10_000 + i, (client * MESSAGES + i + 1) as u64);
                    ws.send(Message::binary(binary.clone())).await.unwrap();
                    assert_eq!(recv(&mut ws).await, Message::text(text));
                    assert_eq!(recv(&mut ws).await, Message::binary(binary));
                } else {
                    assert_eq!(recv(&mut ws).await, Message::text(text));
                }
            }
            close_and_check_close_notify(ws).await;
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let mut ids = Vec::new();
    for _ in 0..CLIENTS {
        let (id, end) = server.next_end();
        assert!(
            matches!(end, End::WebSocket(CloseReason::Normal(_))),
            "{id}: {end}"
        );
        ids.push(id);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), CLIENTS, "one end per connection");
    server.stop();
}

#[tokio::test]
async fn proto_timers_run_on_the_poll_timeout_keepalive_ping() {
    let mut config = Config::default();
    config.websocket.keepalive_interval = Some(Duration::from_millis(200));
    let server = Running::start(config);
    let mut ws = server.client().await;
    let started = Instant::now();
    // Idle: only proto's keepalive timer, woken by the loop, makes this ping.
    assert_eq!(recv(&mut ws).await, Message::Ping(Default::default()));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(3),
        "pinged after {waited:?}"
    );
    close_and_check_close_notify(ws).await;
    server.stop();
}

#[test]
fn a_stalled_tls_handshake_is_dropped_at_the_handshake_timeout() {
    let timeout = Duration::from_millis(400);
    let mut config = Config::default();
    config.websocket.handshake_timeout = Some(timeout);
    let server = Running::start(config);
    let mut socket = std::net::TcpStream::connect(server.addr).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    let started = Instant::now();
    // The first bytes of a TLS record header, and then nothing.
    socket.write_all(&[0x16, 0x03, 0x01]).unwrap();
    let mut buf = [0; 256];
    loop {
        match socket.read(&mut buf) {
            Ok(0) => break,
            // An alert (the TLS close), before the end.
            Ok(_) => {}
            Err(e) => panic!("expected the server to end the connection, got {e}"),
        }
    }
    let waited = started.elapsed();
    assert!(
        waited >= timeout - Duration::from_millis(50) && waited < timeout * 10,
        "dropped after {waited:?}"
    );
    drop(socket);
    match server.next_end() {
        (_, End::WebSocket(CloseReason::Timeout(Timer::Handshake))) => {}
        (id, end) => panic!("{id} ended with {end}"),
    }
    server.stop();
}

#[tokio::test]
async fn garbage_instead_of_a_client_hello_drops_only_that_connection() {
    let server = Running::start(Config::default());
    let mut honest = server.client().await;
    honest.send(Message::text("before")).await.unwrap();
    assert_eq!(recv(&mut honest).await, Message::text("before"));

    // Plain HTTP to the TLS port.
    let mut garbage = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, garbage.read_to_end(&mut answer))
        .await
        .expect("the server ends the connection in time")
        .unwrap();
    // A TLS alert record (content type 21), not an HTTP answer.
    assert_eq!(answer.first(), Some(&21), "got {answer:?}");
    drop(garbage);
    match server.next_end() {
        (_, End::Tls(_)) => {}
        (id, end) => panic!("{id} ended with {end}"),
    }

    honest.send(Message::text("after")).await.unwrap();
    assert_eq!(recv(&mut honest).await, Message::text("after"));
    close_and_check_close_notify(honest).await;
    server.stop();
}

#[tokio::test]
async fn plain_http_over_tls_is_answered_426_then_the_tls_stream_ends_cleanly() {
    let mut config = Config::default();
    // Without the TLS and TCP shutdown after the answer, the stream would
    // end only when proto's lingering gives up, at this timeout.
    config.websocket.close_timeout = Some(WAIT * 3);
    let server = Running::start(config);
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let mut tls = server.tls_on(tcp).await;
    let started = Instant::now();
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    // Ends with Ok only if the server sent close_notify (tokio-rustls
    // reports a bare FIN as UnexpectedEof).
    tokio::time::timeout(WAIT, tls.read_to_end(&mut answer))
        .await
        .expect("the answer in time")
        .expect("the TLS stream ended with close_notify");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 426 "), "got {answer:?}");
    // Right after the answer, not at proto's close timeout.
    assert!(started.elapsed() < WAIT / 2);
    drop(tls);
    match server.next_end() {
        (_, End::WebSocket(CloseReason::Rejected(status))) => assert_eq!(status, 426),
        (id, end) => panic!("{id} ended with {end}"),
    }
    server.stop();
}

#[tokio::test]
async fn a_client_that_does_not_read_is_not_read_either() {
    const MESSAGES: usize = 160;
    const SIZE: usize = 128 << 10;
    let mut config = Config::default();
    config.max_backlog = 256 << 10;
    // So that proto's own limit cannot be what stops the reading.
    config.websocket.max_outgoing_buffer = 64 << 20;
    let server = Running::start(config);
    let tcp = TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(64 << 10).unwrap();
    let tcp = tcp.connect(server.addr).await.unwrap();
    let mut client_config = rusty_socket_tokio::Config::default();
    client_config.deflate.enabled = false;
    let ws = server.client_on(tcp, client_config).await;
    let (mut writer, mut reader) = ws.split();
    let payload = Message::binary(noise(SIZE, 7));
    let sending = tokio::spawn(async move {
        for _ in 0..MESSAGES {
            writer.send(payload.clone()).await.unwrap();
        }
        writer
    });
    // The client reads nothing for a while: the server's socket buffer,
    // the client's, rustls's and the backlog fill up, then the server
    // stops taking messages.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let handled = server.handled.load(Ordering::Relaxed);
    assert!(
        handled < MESSAGES / 2,
        "{handled} of {MESSAGES} messages handled while the client read nothing"
    );
    // Now it reads, and every echo arrives.
    for _ in 0..MESSAGES {
        match recv_half(&mut reader).await {
            Message::Binary(data) => assert_eq!(data.len(), SIZE),
            other => panic!("expected an echo, got {other:?}"),
        }
    }
    let writer = tokio::time::timeout(WAIT, sending).await.unwrap().unwrap();
    assert_eq!(server.handled.load(Ordering::Relaxed), MESSAGES);
    let ws = reader.reunite(writer).unwrap();
    close_and_check_close_notify(ws).await;
    server.stop();
}

async fn recv_half(reader: &mut rusty_socket_tokio::ReadHalf<TlsStream<TcpStream>>) -> Message {
    tokio::time::timeout(WAIT, reader.recv())
        .await
        .expect("a message in time")
        .unwrap()
        .expect("a message, not the end")
}

#[test]
fn configurations_that_cannot_work_are_refused() {
    let pki = TestPki::new();
    let tls = rusty_socket_tls::server_config_from_pem(
        pki.localhost.cert_pem.as_bytes(),
        pki.localhost.key_pem.as_bytes(),
    )
    .unwrap();
    let bind = |config: Config| {
        let addr = "127.0.0.1:0".parse().unwrap();
        let (ends, _) = mpsc::channel();
        let echo = Echo {
            handled: Arc::default(),
            ends,
        };
        Server::bind(addr, Arc::clone(&tls), config, echo).err()
    };
    let mut streaming = Config::default();
    streaming.websocket.streaming = true;
    assert!(matches!(
        bind(streaming),
        Some(Error::InvalidConfig {
            field: "websocket.streaming",
            ..
        })
    ));
    let mut no_backlog = Config::default();
    no_backlog.max_backlog = 0;
    assert!(matches!(
        bind(no_backlog),
        Some(Error::InvalidConfig {
            field: "max_backlog",
            ..
        })
    ));
    let mut websocket = Config::default();
    websocket.websocket.max_frame_size = 0;
    assert!(matches!(bind(websocket), Some(Error::Config(_))));
    assert!(bind(Config::default()).is_none());
}

#[tokio::test]
async fn replies_refused_by_a_full_queue_wait_and_are_not_lost() {
    const MESSAGES: usize = 200;
    const SIZE: usize = 4000;
    let mut config = Config::default();
    // proto's queue takes one of these replies at a time, and a TLS record
    // carries several messages, so the echo of the second message decoded
    // from one record finds the queue full. The loop's own bound is far
    // away: the full queue is what the loop runs into.
    config.websocket.max_outgoing_buffer = SIZE + SIZE / 2;
    config.max_backlog = 16 << 20;
    let server = Running::start(config);
    let mut client_config = rusty_socket_tokio::Config::default();
    client_config.deflate.enabled = false;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let ws = server.client_on(tcp, client_config).await;
    let (mut writer, mut reader) = ws.split();
    let sending = tokio::spawn(async move {
        // Queued without flushing, so that they leave in large writes.
        for i in 0..MESSAGES {
            writer
                .feed(Message::binary(noise(SIZE, i as u64 + 1)))
                .await
                .unwrap();
        }
        writer.flush().await.unwrap();
        writer
    });
    for i in 0..MESSAGES {
        let expected = Message::binary(noise(SIZE, i as u64 + 1));
        assert!(
            recv_half(&mut reader).await == expected,
            "echo {i} in order"
        );
    }
    let writer = tokio::time::timeout(WAIT, sending).await.unwrap().unwrap();
    close_and_check_close_notify(reader.reunite(writer).unwrap()).await;
    server.stop();
}
