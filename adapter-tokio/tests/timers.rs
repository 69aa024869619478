//! Proto's timers driven by Tokio's clock: keepalive pings, the pong
//! deadline, the close timeout and the handshake timeout. Real, short
//! intervals over loopback.

mod common;

use std::time::{Duration, Instant};

use common::{server, within};
use rusty_socket_tokio::{
    accept_with, connect, connect_with, from_raw, Accept, ClientRequest, CloseCode, CloseReason,
    Config, Error, Message, Role, Timer,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

#[tokio::test]
async fn keepalive_pings_go_out_at_the_configured_interval() {
    within(async {
        let interval = Duration::from_millis(200);
        let mut config = Config::default();
        config.keepalive_interval = Some(interval);
        config.keepalive_timeout = Duration::from_secs(5);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let url = server(config, move |mut ws| {
            let tx = tx.clone();
            async move {
                // Only receives: the stream side drives the keepalive timer.
                let mut pongs = 0;
                let end = loop {
                    match ws.next().await {
                        Some(Ok(Message::Pong(_))) => pongs += 1,
                        Some(Ok(_)) => {}
                        Some(Err(e)) => break Err(e),
                        None => break Ok(()),
                    }
                };
                tx.send((pongs, end)).unwrap();
            }
        })
        .await;
        let mut ws = connect(&url).await.unwrap().0;
        let start = Instant::now();
        let mut pings = Vec::new();
        while pings.len() < 4 {
            match ws.recv().await.unwrap() {
                Some(Message::Ping(payload)) => {
                    assert!(payload.is_empty());
                    pings.push(start.elapsed());
                }
                other => panic!("expected keepalive pings, got {other:?}"),
            }
        }
        // Each ping comes one interval after the last thing the server
        // received (our pong answers the previous ping).
        let mut last = Duration::ZERO;
        for at in &pings {
            let gap = *at - last;
            assert!(
                gap >= interval - Duration::from_millis(20),
                "pings at {pings:?}: a gap of {gap:?} is shorter than the interval"
            );
            assert!(
                gap < interval * 10,
                "pings at {pings:?}: a gap of {gap:?} is far longer than the interval"
            );
            last = *at;
        }
        // Our pongs kept the server's connection alive until our close.
        common::close_and_finish(&mut ws, CloseCode::NORMAL, "").await;
        let (pongs, end) = rx.recv().await.unwrap();
        assert!(pongs >= 4, "the server saw {pongs} pongs");
        assert!(end.is_ok(), "the server saw {end:?}");
    })
    .await;
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_is_dropped_after_the_keepalive_timeout() {
    within(async {
        let mut config = Config::default();
        config.keepalive_interval = Some(Duration::from_millis(100));
        config.keepalive_timeout = Duration::from_millis(200);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let url = server(config, move |mut ws| {
            let tx = tx.clone();
            async move {
                let start = Instant::now();
                let result = loop {
                    match ws.next().await {
                        Some(Ok(_)) => {}
                        Some(Err(e)) => break Err(e),
                        None => break Ok(()),
                    }
                };
                tx.send((result, start.elapsed())).unwrap();
            }
        })
        .await;
        // A client that is never polled: it never reads the ping, never pongs.
        let _silent = connect(&url).await.unwrap().0;
        let (result, elapsed) = rx.recv().await.unwrap();
        assert!(
            matches!(
                result,
                Err(Error::Closed(CloseReason::Timeout(Timer::Pong)))
            ),
            "{result:?}"
        );
        // 100 ms to the ping, 200 ms for the pong, from the open (a moment before `start`).
        assert!(
            elapsed >= Duration::from_millis(290),
            "dropped after {elapsed:?}"
        );
        assert!(
            elapsed < Duration::from_secs(5),
            "dropped after {elapsed:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_peer_that_never_answers_the_close_is_dropped_after_the_close_timeout() {
    within(async {
        let close_timeout = Duration::from_millis(300);
        let mut config = Config::default();
        config.close_timeout = Some(close_timeout);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let url = server(config, move |mut ws| {
            let tx = tx.clone();
            async move {
                let start = Instant::now();
                ws.close(CloseCode::NORMAL, "bye").await.unwrap();
                // Receiving runs the close timer.
                let result = ws.recv().await;
                tx.send((result, start.elapsed())).unwrap();
            }
        })
        .await;
        // A client that is not polled until the server gave up.
        let mut ws = connect(&url).await.unwrap().0;
        let (result, elapsed) = rx.recv().await.unwrap();
        assert!(
            matches!(
                result,
                Err(Error::Closed(CloseReason::Timeout(Timer::Close)))
            ),
            "{result:?}"
        );
        assert!(elapsed >= close_timeout, "dropped after {elapsed:?}");
        assert!(
            elapsed < Duration::from_secs(5),
            "dropped after {elapsed:?}"
        );
        // The client finds the close frame, then the end of the transport.
        assert!(matches!(ws.next().await, Some(Ok(Message::Close(_)))));
        let mut rest = Vec::new();
        while let Some(item) = ws.next().await {
            rest.push(item);
        }
        assert!(rest.iter().all(|item| item.is_err()), "{rest:?}");
    })
    .await;
}

#[tokio::test]
async fn a_client_that_sends_nothing_is_dropped_after_the_handshake_timeout() {
    within(async {
        let handshake_timeout = Duration::from_millis(300);
        let (listener, addr) = common::listener().await;
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut config = Config::default();
            config.handshake_timeout = Some(handshake_timeout);
            let start = Instant::now();
            let result = accept_with(stream, config, |_| Ok(Accept::default())).await;
            (result.map(|_| ()), start.elapsed())
        });
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (result, elapsed) = server.await.unwrap();
        assert!(
            matches!(
                result,
                Err(Error::Closed(CloseReason::Timeout(Timer::Handshake)))
            ),
            "{result:?}"
        );
        assert!(elapsed >= handshake_timeout, "dropped after {elapsed:?}");
        assert!(
            elapsed < Duration::from_secs(5),
            "dropped after {elapsed:?}"
        );
        // The silent client sees the end of the transport.
        let mut buf = [0; 16];
        let n = client.read(&mut buf).await.unwrap_or(0);
        assert_eq!(n, 0);
    })
    .await;
}

#[tokio::test]
async fn connecting_to_a_server_that_never_answers_is_bounded_by_the_handshake_timeout() {
    within(async {
        // A listener that never accepts, its accept queue filled: Linux then
        // drops the SYNs of further connects, which hang in SYN_SENT.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(1).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut queued = Vec::new();
        let filled = loop {
            assert!(queued.len() < 16, "the accept queue never filled up");
            let attempt = tokio::net::TcpStream::connect(addr);
            match tokio::time::timeout(Duration::from_millis(200), attempt).await {
                Ok(stream) => queued.push(stream.unwrap()),
                Err(_) => break true,
            }
        };
        assert!(filled);

        let request = ClientRequest::new(&format!("ws://{addr}/")).unwrap();
        let mut config = Config::default();
        config.handshake_timeout = Some(Duration::from_millis(300));
        let start = Instant::now();
        let result = connect_with(request, config).await.map(|_| ());
        let elapsed = start.elapsed();
        let Err(Error::Io(e)) = &result else {
            panic!("expected a timeout while connecting, got {result:?}");
        };
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}");
        assert!(
            elapsed < Duration::from_secs(2),
            "gave up after {elapsed:?}"
        );
        drop(listener);
    })
    .await;
}

/// The same keepalive over an in-memory pipe, with Tokio's clock paused:
/// the bytes on the wire, at the exact instants.
#[tokio::test(start_paused = true)]
async fn keepalive_pings_on_the_wire_with_a_paused_clock() {
    let (server_io, mut wire) = tokio::io::duplex(4096);
    let mut config = Config::default();
    config.keepalive_interval = Some(Duration::from_secs(30));
    config.keepalive_timeout = Duration::from_secs(10);
    let start = tokio::time::Instant::now();
    let mut ws = from_raw(server_io, Role::Server, config).unwrap();
    let server = tokio::spawn(async move {
        loop {
            match ws.next().await {
                Some(Ok(_)) => {}
                end => return (end, start.elapsed()),
            }
        }
    });
    let close_to = |expected: u64| {
        let elapsed = start.elapsed();
        let expected = Duration::from_secs(expected);
        assert!(
            elapsed >= expected && elapsed < expected + Duration::from_millis(10),
            "at {elapsed:?}, expected {expected:?}"
        );
    };
    // An empty, unmasked ping from the server, one interval after the start.
    let mut frame = [0; 2];
    wire.read_exact(&mut frame).await.unwrap();
    assert_eq!(frame, [0x89, 0x00]);
    close_to(30);
    // A masked, empty pong from the "client" restarts the interval.
    wire.write_all(&[0x8A, 0x80, 1, 2, 3, 4]).await.unwrap();
    wire.read_exact(&mut frame).await.unwrap();
    assert_eq!(frame, [0x89, 0x00]);
    close_to(60);
    // Unanswered: dropped when the pong deadline passes.
    let (end, elapsed) = server.await.unwrap();
    assert!(
        matches!(
            end,
            Some(Err(Error::Closed(CloseReason::Timeout(Timer::Pong))))
        ),
        "{end:?}"
    );
    assert!(elapsed >= Duration::from_secs(70) && elapsed < Duration::from_millis(70_010));
    let mut rest = Vec::new();
    wire.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "{rest:?}");
}
