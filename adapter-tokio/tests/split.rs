//! Owned halves used from two tasks.

mod common;

use std::time::Duration;

use common::{echo_server, server, within};
use futures_util::{SinkExt, StreamExt};
use rusty_socket_tokio::{connect, Bytes, CloseCode, Config, Message, State};
use tokio::sync::mpsc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_halves_send_and_receive_from_two_tasks() {
    within(async {
        const COUNT: usize = 2000;
        let url = echo_server(Config::default()).await;
        let ws = connect(&url).await.unwrap().0;
        let (mut write, mut read) = ws.split();
        let (all_tx, all_rx) = tokio::sync::oneshot::channel();
        let mut all_tx = Some(all_tx);
        let reader = tokio::spawn(async move {
            let mut texts = 0;
            let mut binaries = 0;
            loop {
                match read.recv().await.unwrap() {
                    Some(Message::Text(text)) => {
                        assert_eq!(text.as_str(), format!("message {texts}"));
                        texts += 1;
                    }
                    Some(Message::Binary(data)) => {
                        assert_eq!(data.len(), binaries % 5000);
                        binaries += 1;
                        if binaries == COUNT {
                            all_tx.take().unwrap().send(()).unwrap();
                        }
                    }
                    // The echo of our close, then the end.
                    Some(Message::Close(frame)) => {
                        assert_eq!(frame.unwrap().code, CloseCode(4000));
                    }
                    Some(other) => panic!("unexpected {other:?}"),
                    None => break,
                }
            }
            (read, texts, binaries)
        });
        let writer = tokio::spawn(async move {
            for i in 0..COUNT {
                write
                    .send(Message::text(format!("message {i}")))
                    .await
                    .unwrap();
                // Through the Sink too, batched.
                write
                    .feed(Message::binary(vec![1u8; i % 5000]))
                    .await
                    .unwrap();
                if i % 16 == 0 {
                    SinkExt::flush(&mut write).await.unwrap();
                }
            }
            SinkExt::flush(&mut write).await.unwrap();
            // Close once every echo is in: once our close is sent, proto
            // drops the data frames that still arrive.
            all_rx.await.unwrap();
            write.close(CloseCode(4000), "writer done").await.unwrap();
            write
        });
        let write = writer.await.unwrap();
        let (read, texts, binaries) = reader.await.unwrap();
        assert_eq!((texts, binaries), (COUNT, COUNT));
        assert!(read.is_pair_of(&write));
        let ws = read.reunite(write).unwrap();
        assert_eq!(ws.state(), State::Closed);
    })
    .await;
}

/// A wake empties the driver's waker slots, so a half that waits again
/// must register again, every time; and a half moved to another task must
/// register that task's waker, not keep the last one. A driver that skipped
/// either registration would never wake the reader here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_that_waits_again_or_moves_to_another_task_is_woken_every_time() {
    within(async {
        const ROUNDS: usize = 40;
        let url = echo_server(Config::default()).await;
        let (mut write, mut read) = connect(&url).await.unwrap().0.split();
        // A reader in a new task each round, waiting before the message is sent.
        for round in 0..ROUNDS {
            let reader = tokio::spawn(async move {
                let message = read.recv().await.unwrap();
                (read, message)
            });
            tokio::time::sleep(Duration::from_millis(2)).await;
            let text = format!("round {round}");
            write.send(Message::text(text.clone())).await.unwrap();
            let (back, message) = reader.await.unwrap();
            read = back;
            assert_eq!(message, Some(Message::text(text)));
        }
        // One reader task that goes back to waiting after every message.
        let reader = tokio::spawn(async move {
            for round in 0..ROUNDS {
                let message = read.recv().await.unwrap();
                assert_eq!(message, Some(Message::text(format!("again {round}"))));
            }
        });
        for round in 0..ROUNDS {
            tokio::time::sleep(Duration::from_millis(2)).await;
            write
                .send(Message::text(format!("again {round}")))
                .await
                .unwrap();
        }
        reader.await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_half_answers_pings_while_the_write_half_is_idle() {
    within(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let url = server(Config::default(), move |mut ws| {
            let tx = tx.clone();
            async move {
                for i in 0..50u8 {
                    ws.send(Message::Ping(Bytes::from(vec![i]))).await.unwrap();
                }
                while let Some(message) = ws.recv().await.unwrap() {
                    tx.send(message).unwrap();
                }
            }
        })
        .await;
        let (write, read) = connect(&url).await.unwrap().0.split();
        let reader = tokio::spawn(async move {
            // futures' StreamExt works on the half as on any Stream.
            read.take(50).collect::<Vec<_>>().await
        });
        let pings = reader.await.unwrap();
        assert_eq!(pings.len(), 50);
        for i in 0..50u8 {
            assert_eq!(rx.recv().await, Some(Message::Pong(Bytes::from(vec![i]))));
        }
        drop(write);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn futures_split_of_the_whole_websocket_works_too() {
    within(async {
        let url = echo_server(Config::default()).await;
        let ws = connect(&url).await.unwrap().0;
        let (mut sink, mut stream) = StreamExt::split(ws);
        let writer = tokio::spawn(async move {
            for i in 0..500u32 {
                sink.send(Message::binary(i.to_be_bytes().to_vec()))
                    .await
                    .unwrap();
            }
            sink
        });
        for i in 0..500u32 {
            let message = stream.next().await.unwrap().unwrap();
            assert_eq!(message, Message::binary(i.to_be_bytes().to_vec()));
        }
        let sink = writer.await.unwrap();
        let mut ws = stream.reunite(sink).unwrap();
        common::close_and_finish(&mut ws, CloseCode::NORMAL, "").await;
    })
    .await;
}
