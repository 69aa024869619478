//! 2,000 clients at once on the Tokio runtime, each receiving broadcasts;
//! prints how long one broadcast takes to reach them all.

mod common;

use std::time::Instant;

use common::{tokio_client, Server, TIMEOUT};
use rusty_socket_tokio::{CloseCode, Message};
use tokio::sync::mpsc;

const CLIENTS: usize = 2000;
const ROUNDS: usize = 5;
/// Handshakes in flight at once while connecting.
const BATCH: usize = 100;

#[test]
fn two_thousand_clients_receive_every_broadcast() {
    // One descriptor per client here, plus the runtime's and the pipes.
    let needed = CLIENTS as u64 + 256;
    match rlimit::increase_nofile_limit(needed) {
        Ok(limit) if limit >= needed => {}
        Ok(limit) => {
            eprintln!(
                "SKIPPED: the open-file limit is {limit} and cannot be raised to {needed} \
                 (raise the hard limit: ulimit -Hn)"
            );
            return;
        }
        Err(e) => {
            eprintln!("SKIPPED: cannot read or raise the open-file limit: {e}");
            return;
        }
    }
    let server = Server::start(&[]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(broadcast_to_all(&server));
}

async fn broadcast_to_all(server: &Server) {
    let url = server.url();
    let started = Instant::now();
    let mut clients = Vec::with_capacity(CLIENTS);
    while clients.len() < CLIENTS {
        let batch: Vec<_> = (clients.len()..CLIENTS.min(clients.len() + BATCH))
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { tokio_client(&url, None).await })
            })
            .collect();
        for connecting in batch {
            clients.push(connecting.await.expect("no panic").expect("connect"));
        }
    }
    let counted =
        tokio::task::block_in_place(|| common::wait_until(|| server.clients() == CLIENTS as u64));
    assert!(counted, "the server counts {CLIENTS} clients");
    let connected = started.elapsed();

    // Every client receives in its own task and reports when each message came.
    let (arrived, mut arrivals) = mpsc::unbounded_channel();
    let mut sender = None;
    let mut receivers = Vec::with_capacity(CLIENTS);
    for (index, ws) in clients.into_iter().enumerate() {
        let (write, mut read) = ws.split();
        if index == 0 {
            sender = Some(write);
        }
        let arrived = arrived.clone();
        receivers.push(tokio::spawn(async move {
            for round in 0..ROUNDS {
                let message = tokio::time::timeout(TIMEOUT, read.recv()).await;
                let Ok(Ok(Some(Message::Text(text)))) = message else {
                    panic!("client {index}: no broadcast {round}: {message:?}");
                };
                assert_eq!(text.as_str(), format!("broadcast {round}"));
                let _ = arrived.send((round, Instant::now()));
            }
            read
        }));
    }
    drop(arrived);
    let Some(mut sender) = sender else {
        panic!("no clients");
    };

    let mut latencies = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let sent = Instant::now();
        sender
            .send(Message::text(format!("broadcast {round}")))
            .await
            .expect("send");
        let mut last = sent;
        for _ in 0..CLIENTS {
            let (arrival_round, at) = tokio::time::timeout(TIMEOUT, arrivals.recv())
                .await
                .expect("every client receives within the timeout")
                .expect("receivers alive");
            assert_eq!(arrival_round, round, "one broadcast at a time");
            last = last.max(at);
        }
        latencies.push(last - sent);
    }
    let mut halves = Vec::with_capacity(CLIENTS);
    for receiver in receivers {
        halves.push(receiver.await.expect("no panic"));
    }
    let mut sorted = latencies.clone();
    sorted.sort();
    eprintln!(
        "{CLIENTS} clients connected in {connected:.2?}; one broadcast reached all of them in \
         {:.2?} (median of {ROUNDS}; min {:.2?}, max {:.2?}; server and clients on this machine, \
         {} build)",
        sorted[ROUNDS / 2],
        sorted[0],
        sorted[ROUNDS - 1],
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    );
    assert!(
        server.wait_for_log(&["connected", &format!("clients={CLIENTS}")]),
        "the log counts the clients"
    );
    // Leave quickly: a close frame each, no waiting for the answers.
    sender
        .close(CloseCode::NORMAL, "")
        .await
        .expect("close the sender");
    drop(halves);
}
