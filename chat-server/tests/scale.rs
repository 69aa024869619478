//! 2,000 clients at once on the Tokio runtime, each receiving broadcasts;
//! then 3,000 on three nodes joined through a real Redis (a scaled-down
//! `bench/scale.sh`). Prints how long one broadcast takes to reach them all.

mod common;

use std::time::Instant;

use common::redis::RedisServer;
use common::{tokio_client, Server, TIMEOUT};
use rusty_socket_tokio::{CloseCode, Message};
use tokio::sync::mpsc;

const CLIENTS: usize = 2000;
const ROUNDS: usize = 5;
/// Handshakes in flight at once while connecting.
const BATCH: usize = 100;

#[test]
fn two_thousand_clients_receive_every_broadcast() {
    if !raise_open_file_limit(CLIENTS) {
        return;
    }
    let server = Server::start(&[]);
    run(broadcast_to_all(&[&server], CLIENTS));
}

#[test]
fn three_thousand_clients_on_three_nodes_over_redis_receive_every_broadcast() {
    const TOTAL: usize = 3000;
    if !raise_open_file_limit(TOTAL) {
        return;
    }
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let nodes: Vec<Server> = (0..3)
        .map(|_| Server::start(&["--redis", &redis.url()]))
        .collect();
    for node in &nodes {
        assert!(common::wait_until(
            || node.stats()["redis"]["connected"] == true
        ));
    }
    let nodes: Vec<&Server> = nodes.iter().collect();
    run(broadcast_to_all(&nodes, TOTAL));
}

/// Raises this process's open-file limit for `clients` connections, or
/// says why the test is skipped.
fn raise_open_file_limit(clients: usize) -> bool {
    // One descriptor per client here, plus the runtime's and the pipes; the
    // tests of this file run at the same time.
    let needed = (clients as u64 + 256).max(8192);
    match rlimit::increase_nofile_limit(needed) {
        Ok(limit) if limit >= needed => true,
        Ok(limit) => {
            eprintln!(
                "SKIPPED: the open-file limit is {limit} and cannot be raised to {needed} \
                 (raise the hard limit: ulimit -Hn)"
            );
            false
        }
        Err(e) => {
            eprintln!("SKIPPED: cannot read or raise the open-file limit: {e}");
            false
        }
    }
}

fn run(test: impl std::future::Future<Output = ()>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(test);
}

/// Connects `total` clients, spread over `servers` in turn, and times
/// broadcasts from the first client to all of them.
async fn broadcast_to_all(servers: &[&Server], total: usize) {
    let urls: Vec<String> = servers.iter().map(|server| server.url()).collect();
    let started = Instant::now();
    let mut clients = Vec::with_capacity(total);
    while clients.len() < total {
        let batch: Vec<_> = (clients.len()..total.min(clients.len() + BATCH))
            .map(|i| {
                let url = urls[i % urls.len()].clone();
                tokio::spawn(async move { tokio_client(&url, None).await })
            })
            .collect();
        for connecting in batch {
            clients.push(connecting.await.expect("no panic").expect("connect"));
        }
    }
    for (n, server) in servers.iter().enumerate() {
        let expected = (total + servers.len() - 1 - n) / servers.len();
        let counted = tokio::task::block_in_place(|| {
            common::wait_until(|| server.clients() == expected as u64)
        });
        assert!(counted, "node {n} counts {expected} clients");
    }
    let connected = started.elapsed();

    // Every client receives in its own task and reports when each message came.
    let (arrived, mut arrivals) = mpsc::unbounded_channel();
    let mut sender = None;
    let mut receivers = Vec::with_capacity(total);
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
        for _ in 0..total {
            let (arrival_round, at) = tokio::time::timeout(TIMEOUT, arrivals.recv())
                .await
                .expect("every client receives within the timeout")
                .expect("receivers alive");
            assert_eq!(arrival_round, round, "one broadcast at a time");
            last = last.max(at);
        }
        latencies.push(last - sent);
    }
    let mut halves = Vec::with_capacity(total);
    for receiver in receivers {
        halves.push(receiver.await.expect("no panic"));
    }
    let mut sorted = latencies.clone();
    sorted.sort();
    eprintln!(
        "{total} clients on {} node(s) connected in {connected:.2?}; one broadcast reached all \
         of them in \
         {:.2?} (median of {ROUNDS}; min {:.2?}, max {:.2?}; server and clients on this machine, \
         {} build)",
        servers.len(),
        sorted[ROUNDS / 2],
        sorted[0],
        sorted[ROUNDS - 1],
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    );
    let first = servers[0];
    let expected = total.div_ceil(servers.len());
    assert!(
        first.wait_for_log(&["connected", &format!("clients={expected}")]),
        "the log counts the clients"
    );
    // Leave quickly: a close frame each, no waiting for the answers.
    sender
        .close(CloseCode::NORMAL, "")
        .await
        .expect("close the sender");
    drop(halves);
}
