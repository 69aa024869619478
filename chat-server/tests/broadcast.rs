//! Every text message reaches every client once, in one order; binary and
//! oversized messages are refused with their close codes. Both runtimes,
//! with clients of both adapters.

mod common;

use std::collections::HashMap;
use std::thread;

use common::{next_message, std_client, tokio_client, Server, RUNTIMES, TIMEOUT};
use rusty_socket_tokio::{CloseCode, Message};
use tokio::sync::oneshot;

const TOKIO_CLIENTS: usize = 3;
const STD_CLIENTS: usize = 2;
const PER_CLIENT: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_reaches_every_client_once_in_order() {
    for runtime in RUNTIMES {
        broadcast_on(runtime).await;
    }
}

async fn broadcast_on(runtime: &str) {
    let server = Server::start(&["--runtime", runtime]);
    let url = server.url();
    let clients = TOKIO_CLIENTS + STD_CLIENTS;
    let expected = clients * PER_CLIENT;

    // Everyone connects, plus one client that will vanish without a close.
    let mut tokio_ws = Vec::new();
    for _ in 0..TOKIO_CLIENTS {
        tokio_ws.push(tokio_client(&url, None).await.expect("connect"));
    }
    let mut std_ws = Vec::new();
    for _ in 0..STD_CLIENTS {
        std_ws.push(std_client(&url, None).expect("connect"));
    }
    let mut abrupt = tokio_client(&url, None).await.expect("connect");
    tokio::task::block_in_place(|| server.wait_for_clients(clients as u64 + 1));

    // It says something, then its TCP connection just ends.
    abrupt
        .send(Message::text("abrupt: bye"))
        .await
        .expect("send");
    drop(abrupt);
    tokio::task::block_in_place(|| server.wait_for_clients(clients as u64));
    assert!(
        server.wait_for_log(&["disconnected", "code=1006"]),
        "the abrupt end is logged as 1006"
    );

    // The others chat: each sends its messages, then reads everyone's.
    let mut received = Vec::new();
    for (index, mut ws) in tokio_ws.into_iter().enumerate() {
        received.push(tokio::spawn(async move {
            let mut seen = vec![text_of(next_message(&mut ws).await)];
            for n in 0..PER_CLIENT {
                let text = format!("tokio{index}: {n}");
                ws.send(Message::text(text)).await.expect("send");
            }
            while seen.len() < expected + 1 {
                seen.push(text_of(next_message(&mut ws).await));
            }
            ws.close(CloseCode::NORMAL, "done").await.expect("close");
            // Finish the closing handshake.
            while let Ok(Some(_)) = ws.recv().await {}
            seen
        }));
    }
    let mut std_received = Vec::new();
    for (index, mut ws) in std_ws.into_iter().enumerate() {
        let (done, result) = oneshot::channel();
        thread::spawn(move || {
            let mut seen = Vec::new();
            let recv = |ws: &mut rusty_socket_std::WebSocket<
                rusty_socket_std::MaybeTlsStream<std::net::TcpStream>,
            >| match ws.recv() {
                Ok(Some(rusty_socket_std::Message::Text(text))) => text.to_string(),
                other => panic!("expected a text message, got {other:?}"),
            };
            seen.push(recv(&mut ws));
            for n in 0..PER_CLIENT {
                let text = format!("std{index}: {n}");
                ws.send(rusty_socket_std::Message::text(text))
                    .expect("send");
            }
            while seen.len() < expected + 1 {
                seen.push(recv(&mut ws));
            }
            ws.close(1000, "done").expect("close");
            // Finish the closing handshake.
            while let Ok(Some(_)) = ws.recv() {}
            let _ = done.send(seen);
        });
        std_received.push(result);
    }
    let mut sequences = Vec::new();
    for task in received {
        let seen = tokio::time::timeout(TIMEOUT, task)
            .await
            .expect("a tokio client finishes")
            .expect("no panic");
        sequences.push(seen);
    }
    for result in std_received {
        let seen = tokio::time::timeout(TIMEOUT, result)
            .await
            .expect("a std client finishes")
            .expect("no panic");
        sequences.push(seen);
    }

    for seen in &sequences {
        assert_eq!(
            seen[0], "abrupt: bye",
            "{runtime}: the vanished client's word"
        );
        let mut next_from: HashMap<&str, usize> = HashMap::new();
        for text in &seen[1..] {
            let (sender, n) = text.split_once(": ").expect("sender: n");
            let expected_n = next_from.entry(sender).or_default();
            assert_eq!(
                n.parse::<usize>().ok(),
                Some(*expected_n),
                "{runtime}: {sender}'s messages arrive once and in order"
            );
            *expected_n += 1;
        }
        assert_eq!(next_from.len(), clients, "{runtime}: every sender heard");
        assert!(next_from.values().all(|&n| n == PER_CLIENT));
    }
    // The hub serialises broadcasts: everyone sees the same conversation.
    assert!(
        sequences.windows(2).all(|w| w[0] == w[1]),
        "{runtime}: one order for everyone"
    );
    tokio::task::block_in_place(|| server.wait_for_clients(0));
    assert!(server.wait_for_log(&["disconnected", "code=1000", "closed_by=client"]));
    eprintln!("{runtime}: {clients} clients each received {expected} messages in one order");
}

fn text_of(message: Message) -> String {
    match message {
        Message::Text(text) => text.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_is_refused_with_1003_and_oversize_with_1009() {
    for runtime in RUNTIMES {
        let server = Server::start(&["--runtime", runtime, "--max-message-size", "1KiB"]);
        let url = server.url();
        let mut bystander = tokio_client(&url, None).await.expect("connect");

        let mut binary = tokio_client(&url, None).await.expect("connect");
        binary
            .send(Message::binary(vec![1, 2, 3]))
            .await
            .expect("send");
        assert_close(&mut binary, CloseCode::UNSUPPORTED_DATA, runtime).await;

        let mut big = tokio_client(&url, None).await.expect("connect");
        big.send(Message::text("x".repeat(1025)))
            .await
            .expect("send");
        assert_close(&mut big, CloseCode::MESSAGE_TOO_BIG, runtime).await;

        // A message of exactly the limit is fine, and nobody else was hurt.
        let most = "y".repeat(1024);
        bystander
            .send(Message::text(most.clone()))
            .await
            .expect("send");
        assert_eq!(text_of(next_message(&mut bystander).await), most);
        assert!(server.wait_for_log(&["refused: binary message"]));
    }
}

async fn assert_close(
    ws: &mut rusty_socket_tokio::WebSocket<
        rusty_socket_tokio::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    code: CloseCode,
    runtime: &str,
) {
    match next_message(ws).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, code, "{runtime}"),
        other => panic!("{runtime}: expected a close with {code}, got {other:?}"),
    }
}
