//! Many simultaneous connections on one server.

mod common;

use std::sync::Arc;

use common::{echo_server, within};
use futures_util::SinkExt;
use rusty_socket_tokio::{connect, CloseCode, Config, Message};
use tokio::sync::Barrier;

const CONNECTIONS: usize = 1000;
const MESSAGES: usize = 100;

/// The soft limit on open files, on Linux.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line.split_whitespace().nth(3)?;
    if soft == "unlimited" {
        return Some(u64::MAX);
    }
    soft.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_simultaneous_connections_exchange_a_hundred_messages_each() {
    // Both ends live in this process: two descriptors per connection.
    let needed = 2 * CONNECTIONS as u64 + 64;
    if let Some(limit) = open_files_limit() {
        if limit < needed {
            eprintln!(
                "skipped: the open files limit is {limit}, this test needs {needed} (raise `ulimit -n`)"
            );
            return;
        }
    }
    within(async {
        let url = echo_server(Config::default()).await;
        let barrier = Arc::new(Barrier::new(CONNECTIONS));
        let mut clients = Vec::with_capacity(CONNECTIONS);
        for client in 0..CONNECTIONS {
            let url = url.clone();
            let barrier = barrier.clone();
            clients.push(tokio::spawn(async move {
                let mut ws = connect(&url).await.unwrap().0;
                // All connections are open at once before any message moves.
                barrier.wait().await;
                for round in 0..10 {
                    for i in 0..MESSAGES / 10 {
                        let n = round * 10 + i;
                        ws.feed(Message::text(format!("{client}:{n}")))
                            .await
                            .unwrap();
                    }
                    SinkExt::flush(&mut ws).await.unwrap();
                    for i in 0..MESSAGES / 10 {
                        let n = round * 10 + i;
                        let message = ws.recv().await.unwrap().unwrap();
                        assert_eq!(message, Message::text(format!("{client}:{n}")));
                    }
                }
                common::close_and_finish(&mut ws, CloseCode::NORMAL, "").await;
                MESSAGES
            }));
        }
        let mut total = 0;
        for client in clients {
            total += client.await.unwrap();
        }
        assert_eq!(total, CONNECTIONS * MESSAGES);
    })
    .await;
}
