//! Nodes joined over a real Redis (`--redis`): every client on every node
//! hears every message exactly once and each sender's messages in order;
//! Redis down at start, killed and restarted mid-chat, a node killed, and
//! the publish queue's bound, with nothing lost uncounted.

mod common;

use std::net::TcpStream;

use common::redis::{self, RedisServer};
use common::{std_client, wait_until, Server};
use rusty_socket_std::{MaybeTlsStream, Message, WebSocket};
use serde_json::Value;

type Client = WebSocket<MaybeTlsStream<TcpStream>>;

/// A node of the chat joined through `url`, on `runtime`.
fn node(url: &str, runtime: &str, extra: &[&str]) -> Server {
    let args = [&["--redis", url, "--runtime", runtime][..], extra].concat();
    Server::start(&args)
}

fn redis_stats(server: &Server) -> Value {
    server.stats()["redis"].clone()
}

/// Waits until the node is both publishing and subscribed.
fn wait_connected(server: &Server) {
    assert!(
        wait_until(|| redis_stats(server)["connected"] == true),
        "the node did not connect to Redis: {}\n{}",
        server.stats(),
        server.logs()
    );
}

fn client(server: &Server) -> Client {
    std_client(&server.url(), None).expect("a chat client")
}

fn say(client: &mut Client, text: &str) {
    client.send(Message::text(text)).expect("send");
}

fn hear(client: &mut Client) -> String {
    match client.recv() {
        Ok(Some(Message::Text(text))) => text.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

#[test]
fn every_client_on_every_node_hears_every_message_once_in_each_senders_order() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    // Both runtimes take part.
    let nodes = [
        node(&redis.url(), "tokio", &[]),
        node(&redis.url(), "std", &[]),
        node(&redis.url(), "tokio", &[]),
    ];
    nodes.iter().for_each(wait_connected);
    let mut clients: Vec<(usize, Client)> = Vec::new();
    for (n, server) in nodes.iter().enumerate() {
        for _ in 0..2 {
            clients.push((n, client(server)));
        }
        server.wait_for_clients(2);
    }
    const MESSAGES: usize = 25;
    for j in 0..MESSAGES {
        for (c, (_, client)) in clients.iter_mut().enumerate() {
            say(client, &format!("{c} {j}"));
        }
    }
    let senders = clients.len();
    for (c, (n, client)) in clients.iter_mut().enumerate() {
        let mut next = vec![0; senders];
        for _ in 0..senders * MESSAGES {
            let heard = hear(client);
            let (sender, j) = heard.split_once(' ').expect("`SENDER J`");
            let (sender, j): (usize, usize) = (sender.parse().unwrap(), j.parse().unwrap());
            assert_eq!(
                j, next[sender],
                "client {c} on node {n}: sender {sender}'s messages out of order or repeated"
            );
            next[sender] += 1;
        }
        assert!(next.iter().all(|&heard| heard == MESSAGES), "{next:?}");
    }
    // A last word from everyone: after it, nobody hears anything else (a
    // second copy of an earlier message would come through Redis before
    // the words published after it).
    for (c, (_, client)) in clients.iter_mut().enumerate() {
        say(client, &format!("done {c}"));
    }
    for (_, client) in clients.iter_mut() {
        let mut done: Vec<String> = (0..senders).map(|_| hear(client)).collect();
        done.sort();
        let expected: Vec<String> = (0..senders).map(|c| format!("done {c}")).collect();
        assert_eq!(done, expected);
    }
    for server in &nodes {
        let stats = redis_stats(server);
        // Each node's two clients, and the four of the others; the last
        // words included.
        assert_eq!(stats["published"], 2 * (MESSAGES + 1), "{stats}");
        assert_eq!(stats["received"], 4 * (MESSAGES + 1), "{stats}");
        assert_eq!(stats["dropped"], 0, "{stats}");
        assert_eq!(stats["missed"], 0, "{stats}");
    }
}

#[test]
fn redis_restarted_mid_chat_local_chat_goes_on_and_nothing_is_lost_uncounted() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis.url(), "tokio", &[]);
    let b = node(&redis.url(), "std", &[]);
    wait_connected(&a);
    wait_connected(&b);
    let (mut a1, mut a2) = (client(&a), client(&a));
    a.wait_for_clients(2);
    let mut b1 = client(&b);
    b.wait_for_clients(1);
    say(&mut a1, "before");
    for listener in [&mut a1, &mut a2, &mut b1] {
        assert_eq!(hear(listener), "before");
    }

    redis.kill();
    assert!(wait_until(|| redis_stats(&a)["connected"] == false));
    const DURING: usize = 5;
    for i in 0..DURING {
        say(&mut a1, &format!("during {i}"));
    }
    // Local chat never waits for Redis.
    for i in 0..DURING {
        assert_eq!(hear(&mut a2), format!("during {i}"));
        assert_eq!(hear(&mut a1), format!("during {i}"));
    }
    assert!(a.wait_for_log(&["redis: subscription lost"]));

    redis.restart();
    wait_connected(&a);
    wait_connected(&b);
    // The outage's messages were kept and published after the reconnect.
    assert!(wait_until(|| redis_stats(&a)["queued"] == 0));
    assert_eq!(redis_stats(&a)["published"], 1 + DURING);
    assert_eq!(redis_stats(&a)["dropped"], 0);
    say(&mut a1, "after");
    // b1 hears those that reached B after it resubscribed (the last ones,
    // in order), then "after"; B counts the others as missed.
    let mut heard = Vec::new();
    loop {
        let text = hear(&mut b1);
        if text == "after" {
            break;
        }
        let i: usize = text
            .strip_prefix("during ")
            .and_then(|i| i.parse().ok())
            .unwrap_or_else(|| panic!("unexpected {text:?}"));
        heard.push(i);
    }
    let missed = redis_stats(&b)["missed"].as_u64().expect("a number") as usize;
    assert_eq!(
        heard.len() + missed,
        DURING,
        "heard {heard:?}, missed {missed}"
    );
    assert!(heard.iter().copied().eq(missed..DURING), "heard {heard:?}");
    // And the other way.
    say(&mut b1, "from b");
    assert_eq!(hear(&mut b1), "from b");
    for listener in [&mut a1, &mut a2] {
        assert_eq!(hear(listener), "after");
        assert_eq!(hear(listener), "from b");
    }
}

#[test]
fn a_node_killed_leaves_the_others_chatting() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis.url(), "tokio", &[]);
    let b = node(&redis.url(), "tokio", &[]);
    let c = node(&redis.url(), "std", &[]);
    [&a, &b, &c].into_iter().for_each(wait_connected);
    let (mut on_a, mut on_b, mut on_c) = (client(&a), client(&b), client(&c));
    [&a, &b, &c].into_iter().for_each(|n| n.wait_for_clients(1));
    say(&mut on_c, "c was here");
    for listener in [&mut on_a, &mut on_b, &mut on_c] {
        assert_eq!(hear(listener), "c was here");
    }
    drop(c);
    assert!(on_c.recv().is_err(), "the killed node's client sees it go");
    say(&mut on_a, "still here?");
    assert_eq!(hear(&mut on_a), "still here?");
    assert_eq!(hear(&mut on_b), "still here?");
    say(&mut on_b, "yes");
    assert_eq!(hear(&mut on_b), "yes");
    assert_eq!(hear(&mut on_a), "yes");
}

#[test]
fn a_node_started_before_redis_serves_its_clients_and_joins_later() {
    if !RedisServer::installed() {
        return;
    }
    let port = RedisServer::reserve_port();
    let a = node(&redis::url(port), "tokio", &[]);
    assert!(a.wait_for_log(&["redis: cannot connect to publish"]));
    assert!(a.wait_for_log(&["redis: cannot subscribe"]));
    let (mut a1, mut a2) = (client(&a), client(&a));
    a.wait_for_clients(2);
    say(&mut a1, "nobody else yet");
    assert_eq!(hear(&mut a2), "nobody else yet");
    assert_eq!(hear(&mut a1), "nobody else yet");
    assert_eq!(redis_stats(&a)["connected"], false);

    let redis = RedisServer::start_on(port).expect("installed");
    wait_connected(&a);
    // What was said while Redis was away is published once it is back.
    assert!(wait_until(|| redis_stats(&a)["published"] == 1));
    let b = node(&redis.url(), "std", &[]);
    wait_connected(&b);
    let mut b1 = client(&b);
    b.wait_for_clients(1);
    say(&mut b1, "hello a");
    for listener in [&mut a1, &mut a2, &mut b1] {
        assert_eq!(hear(listener), "hello a");
    }
}

#[test]
fn past_the_publish_queue_messages_are_counted_as_dropped_and_local_chat_goes_on() {
    if !RedisServer::installed() {
        return;
    }
    let port = RedisServer::reserve_port();
    let a = node(&redis::url(port), "tokio", &["--redis-queue", "3"]);
    let mut a1 = client(&a);
    a.wait_for_clients(1);
    for i in 0..10 {
        say(&mut a1, &format!("{i}"));
    }
    for i in 0..10 {
        assert_eq!(hear(&mut a1), format!("{i}"));
    }
    let stats = redis_stats(&a);
    assert_eq!(stats["queued"], 3, "{stats}");
    assert_eq!(stats["dropped"], 7, "{stats}");
    assert!(a.wait_for_log(&["redis: the publish queue is full", "dropped=1"]));

    // Once Redis answers, the queue is published.
    let _redis = RedisServer::start_on(port).expect("installed");
    wait_connected(&a);
    assert!(wait_until(|| redis_stats(&a)["published"] == 3));
    assert_eq!(redis_stats(&a)["queued"], 0);
}
