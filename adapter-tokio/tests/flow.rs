//! Flow control: a peer that stops reading makes the sink wait instead of
//! buffering; a receive cancelled by `select!` loses nothing.

mod common;

use std::time::Duration;

use common::{pattern, server, within};
use rusty_socket_tokio::{connect_on, Bytes, ClientRequest, CloseCode, Config, Message};
use tokio::net::TcpSocket;
use tokio::sync::{mpsc, oneshot};

#[tokio::test]
async fn a_peer_that_stops_reading_makes_the_sink_wait_within_the_buffer_limit() {
    within(async {
        const LIMIT: usize = 64 << 10;
        const MESSAGE: usize = 16 << 10;
        const MAX_MESSAGES: usize = 4096; // 64 MiB: far more than the socket buffers hold
        let mut config = Config::default();
        config.max_outgoing_buffer = LIMIT;
        // The payload compresses to nothing: this is about the bytes the
        // socket does not take.
        config.deflate.enabled = false;
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let go_rx = std::sync::Mutex::new(Some(go_rx));
        let (report_tx, mut report_rx) = mpsc::unbounded_channel();
        let url = server(config, move |mut ws| {
            let go = go_rx.lock().unwrap().take().unwrap();
            let report = report_tx.clone();
            async move {
                let message = Message::Binary(Bytes::from(vec![7u8; MESSAGE]));
                let mut sent = 0;
                let mut max_buffered = 0;
                let mut blocked = false;
                while sent < MAX_MESSAGES {
                    // `feed`: poll_ready, then queue; the sink only writes
                    // when it must make room.
                    let fed =
                        tokio::time::timeout(Duration::from_millis(300), ws.feed(message.clone()))
                            .await;
                    max_buffered = max_buffered.max(ws.buffered_outgoing());
                    match fed {
                        Ok(result) => {
                            result.unwrap();
                            sent += 1;
                        }
                        Err(_) => {
                            blocked = true;
                            break;
                        }
                    }
                }
                report.send((blocked, sent, max_buffered)).unwrap();
                // Once the peer reads again, the sink moves on.
                go.await.unwrap();
                ws.send(message.clone()).await.unwrap();
                ws.send(Message::text("done")).await.unwrap();
                let _ = ws.close(CloseCode::NORMAL, "").await;
                // Finish the closing handshake.
                while let Ok(Some(_)) = ws.recv().await {}
            }
        })
        .await;
        // A client with a small receive buffer that does not read for now.
        let request = ClientRequest::new(&url).unwrap();
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let addr = url.trim_start_matches("ws://").parse().unwrap();
        let stream = socket.connect(addr).await.unwrap();
        let (mut ws, _) = connect_on(stream, request, Config::default())
            .await
            .unwrap();

        let (blocked, sent, max_buffered) = report_rx.recv().await.unwrap();
        assert!(
            blocked,
            "the sink never waited: {sent} messages went into a peer that does not read"
        );
        assert!(
            max_buffered <= LIMIT,
            "proto buffered {max_buffered} bytes, over the limit of {LIMIT}"
        );
        go_tx.send(()).unwrap();
        let mut received = 0;
        loop {
            match ws.recv().await.unwrap() {
                Some(Message::Binary(data)) => {
                    assert_eq!(data.len(), MESSAGE);
                    received += 1;
                }
                Some(Message::Text(text)) if text == "done" => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        // Every message the sink took was delivered, plus the one sent after.
        assert_eq!(received, sent + 1);
    })
    .await;
}

#[tokio::test]
async fn receiving_is_cancel_safe() {
    within(async {
        // Messages of all sizes, large ones arriving over many reads, so
        // that receives are cancelled in the middle of messages.
        let sizes: Vec<usize> = (0..120)
            .map(|i| match i % 4 {
                0 => 1,
                1 => 1000,
                2 => 70_000,
                _ => 400_000,
            })
            .collect();
        let expected: Vec<Message> = sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| Message::binary(pattern(size, i as u8)))
            .collect();
        let to_send = expected.clone();
        let url = server(Config::default(), move |mut ws| {
            let to_send = to_send.clone();
            async move {
                for (i, message) in to_send.into_iter().enumerate() {
                    ws.send(message).await.unwrap();
                    if i % 8 == 0 {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
                let _ = ws.close(CloseCode::NORMAL, "").await;
                // Finish the closing handshake.
                while let Ok(Some(_)) = ws.recv().await {}
            }
        })
        .await;
        let mut ws = rusty_socket_tokio::connect(&url).await.unwrap().0;
        let mut received = Vec::new();
        let mut cancelled = 0;
        while received.len() < expected.len() {
            tokio::select! {
                message = ws.next() => received.push(message.unwrap().unwrap()),
                _ = tokio::time::sleep(Duration::from_micros(100)) => cancelled += 1,
            }
        }
        assert!(cancelled > 0, "no receive was ever cancelled");
        assert_eq!(received.len(), expected.len());
        for (i, (got, want)) in received.iter().zip(&expected).enumerate() {
            assert!(got == want, "message {i} differs");
        }
        assert!(matches!(ws.next().await, Some(Ok(Message::Close(_)))));
        assert!(ws.next().await.is_none());
    })
    .await;
}
