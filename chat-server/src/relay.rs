//! Nodes joined over Redis pub/sub (`--redis URL`), as Socket.IO's Redis
//! adapter and Phoenix PubSub join theirs.
//!
//! Every text a client says is broadcast to the node's own clients at once
//! and handed to the [`Outbox`], a bounded queue that the publisher drains
//! into one Redis channel. Every node subscribes to that channel and
//! broadcasts what the *other* nodes published to its own clients. So:
//!
//! - **Exactly once.** A node delivers its own clients' messages locally and
//!   skips them when Redis echoes them back (each message carries its
//!   node's id), so nobody hears a message twice.
//! - **Per-sender order.** A node publishes in the order its clients spoke,
//!   over one connection, with a sequence number; Redis keeps that order,
//!   and a receiver drops a number it has seen (a publish retried after a
//!   lost reply), so each sender's messages arrive in order everywhere. Two
//!   senders on different nodes may be heard in different orders on
//!   different nodes.
//! - **Nothing lost uncounted.** Local chat never waits for Redis. While
//!   Redis is down, messages wait in the outbox (`--redis-queue`, default
//!   10,000) and are published after the reconnect; past that bound they
//!   are *dropped* (counted, logged). Redis pub/sub keeps nothing for a
//!   subscriber that is away, so a node that was disconnected sees a gap
//!   in another node's sequence numbers when it comes back and counts those
//!   messages as *missed*. `/stats` reports both.
//! - **Faults heal by themselves.** Both connections (publish, subscribe)
//!   reconnect with a capped exponential backoff (100 ms to 5 s); a node
//!   that starts while Redis is unreachable serves its own clients and
//!   joins the others once Redis answers.
//!
//! The relay runs on a thread of its own with a small Tokio runtime, the
//! same for both server runtimes: clients hand it messages without blocking
//! (`try_send`), and it hands remote messages to the hub, which never blocks
//! either.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use futures_util::StreamExt;
use rusty_socket_proto::Utf8Bytes;
use tokio::sync::mpsc::{self, error::TrySendError};
use tracing::{info, warn};

use crate::hub::Hub;

/// What `--redis`, `--redis-channel` and `--redis-queue` say.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// The parsed `--redis` URL.
    pub client: redis::Client,
    pub channel: String,
    /// Messages the outbox holds while Redis is down or slow.
    pub queue: usize,
    /// The largest text relayed to the clients (`--max-message-size`).
    pub max_message_size: usize,
}

/// First delay before reconnecting; doubled after each failure.
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// The most time between two attempts to reach Redis.
const MAX_RETRY: Duration = Duration::from_secs(5);
/// How long a connection attempt may take (an unreachable host).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Marks a message published by a node: `rsck1 NODE SEQ\nTEXT`.
const MAGIC: &str = "rsck1";

/// The relay's counters, shared by the outbox, the relay thread and
/// `/stats`.
#[derive(Debug, Default)]
struct Counters {
    publishing: AtomicBool,
    subscribed: AtomicBool,
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    missed: AtomicU64,
    invalid: AtomicU64,
    /// Messages in the outbox, or in the publisher's hands.
    queued: AtomicUsize,
}

/// A snapshot of the relay for `/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayStats {
    /// Both the publishing and the subscribed connection are up.
    pub connected: bool,
    /// Messages of this node's clients published to Redis.
    pub published: u64,
    /// Messages of other nodes (or other publishers) delivered here.
    pub received: u64,
    /// Messages of this node's clients not relayed: the outbox was full.
    pub dropped: u64,
    /// Messages of other nodes published while this node was not
    /// subscribed (gaps in their sequence numbers).
    pub missed: u64,
    /// Payloads on the channel that could not be delivered (not UTF-8, or
    /// larger than `--max-message-size`).
    pub invalid: u64,
    /// Messages waiting to be published.
    pub queued: usize,
    /// `--redis-queue`.
    pub queue_limit: usize,
}

/// The hub's way to Redis: a bounded queue that never blocks a client.
#[derive(Debug)]
pub struct Outbox {
    tx: mpsc::Sender<Utf8Bytes>,
    counters: Arc<Counters>,
    limit: usize,
}

impl Outbox {
    /// Queues `text` for the other nodes; when the queue is full (Redis
    /// down for long, or slower than the clients), counts it as dropped.
    pub fn publish(&self, text: &Utf8Bytes) {
        match self.tx.try_send(text.clone()) {
            Ok(()) => {
                self.counters.queued.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_) | TrySendError::Closed(_)) => {
                let dropped = self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                // The first drop of a run, then every thousandth.
                if dropped == 1 || dropped.is_multiple_of(1000) {
                    warn!(
                        dropped,
                        queue = self.limit,
                        "redis: the publish queue is full, message not relayed to the other nodes"
                    );
                }
            }
        }
    }

    pub fn stats(&self) -> RelayStats {
        let c = &self.counters;
        RelayStats {
            connected: c.publishing.load(Ordering::Relaxed) && c.subscribed.load(Ordering::Relaxed),
            published: c.published.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            missed: c.missed.load(Ordering::Relaxed),
            invalid: c.invalid.load(Ordering::Relaxed),
            queued: c.queued.load(Ordering::Relaxed),
            queue_limit: self.limit,
        }
    }
}

/// The relay before it runs: the outbox's other end, waiting for the hub.
#[derive(Debug)]
pub struct Relay {
    settings: RelaySettings,
    rx: mpsc::Receiver<Utf8Bytes>,
    counters: Arc<Counters>,
}

/// The outbox for the hub, and the relay to [`start`](Relay::start) once
/// the hub exists.
pub fn outbox(settings: RelaySettings) -> (Outbox, Relay) {
    let (tx, rx) = mpsc::channel(settings.queue.max(1));
    let counters = Arc::new(Counters::default());
    let outbox = Outbox {
        tx,
        counters: Arc::clone(&counters),
        limit: settings.queue,
    };
    (
        outbox,
        Relay {
            settings,
            rx,
            counters,
        },
    )
}

impl Relay {
    /// Runs the publisher and the subscriber on a thread of their own, for
    /// the life of the process.
    pub fn start(self, hub: Arc<Hub>) -> Result<(), String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the Redis relay's runtime: {e}"))?;
        let node = node_id()?;
        info!(
            node = %format_args!("{node:016x}"),
            channel = %self.settings.channel,
            "redis: relaying through {}",
            self.settings.client.get_connection_info().addr()
        );
        thread::Builder::new()
            .name("redis-relay".into())
            .spawn(move || {
                let Relay {
                    settings,
                    rx,
                    counters,
                } = self;
                let settings = Arc::new(settings);
                runtime.block_on(async move {
                    let publisher = publish(Arc::clone(&settings), rx, node, Arc::clone(&counters));
                    let subscriber = subscribe(settings, hub, node, counters);
                    tokio::join!(publisher, subscriber);
                });
            })
            .map(drop)
            .map_err(|e| format!("cannot start the Redis relay's thread: {e}"))
    }
}

/// This node's id on the channel: random, so a restarted node is a new one.
fn node_id() -> Result<u64, String> {
    let seed = rusty_socket_proto::random_seed()
        .map_err(|e| format!("cannot draw the node's id from the OS: {e}"))?;
    let mut id = [0; 8];
    id.copy_from_slice(&seed[..8]);
    Ok(u64::from_le_bytes(id))
}

/// The delays between attempts to reach Redis.
#[derive(Debug)]
struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(FIRST_RETRY)
    }

    /// Waits the current delay, and doubles it up to the cap.
    async fn wait(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(MAX_RETRY);
    }

    fn delay(&self) -> Duration {
        self.0
    }
}

/// Runs one attempt to reach Redis, bounded by [`CONNECT_TIMEOUT`]; on
/// failure logs `cannot WHAT` and waits the backoff's delay.
async fn attempt<T>(
    what: &str,
    attempt: impl Future<Output = redis::RedisResult<T>>,
    backoff: &mut Backoff,
) -> Option<T> {
    let why = match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(Ok(done)) => return Some(done),
        Ok(Err(e)) => e.to_string(),
        Err(_) => format!("no answer within {CONNECT_TIMEOUT:?}"),
    };
    warn!(retry_in = ?backoff.delay(), "redis: cannot {what}: {why}");
    backoff.wait().await;
    None
}

/// Drains the outbox into the channel, in order, one connection at a time;
/// a message whose publish failed is published again after the reconnect
/// (with the same sequence number, so that nobody delivers it twice).
async fn publish(
    settings: Arc<RelaySettings>,
    mut rx: mpsc::Receiver<Utf8Bytes>,
    node: u64,
    counters: Arc<Counters>,
) {
    let mut backoff = Backoff::new();
    let mut seq = 0u64;
    let mut in_hand: Option<(u64, Utf8Bytes)> = None;
    loop {
        let connecting = settings.client.get_multiplexed_async_connection();
        let Some(mut connection) = attempt("connect to publish", connecting, &mut backoff).await
        else {
            continue;
        };
        info!("redis: connected for publishing");
        counters.publishing.store(true, Ordering::Relaxed);
        backoff = Backoff::new();
        loop {
            let (number, text) = match in_hand.take() {
                Some(message) => message,
                None => match rx.recv().await {
                    Some(text) => {
                        seq += 1;
                        (seq, text)
                    }
                    // The hub is gone: the server is exiting.
                    None => return,
                },
            };
            let payload = envelope(node, number, &text);
            let published = redis::cmd("PUBLISH")
                .arg(&settings.channel)
                .arg(payload)
                .query_async::<i64>(&mut connection)
                .await;
            match published {
                Ok(_) => {
                    counters.published.fetch_add(1, Ordering::Relaxed);
                    counters.queued.fetch_sub(1, Ordering::Relaxed);
                }
                Err(e) => {
                    counters.publishing.store(false, Ordering::Relaxed);
                    warn!(
                        queued = counters.queued.load(Ordering::Relaxed),
                        "redis: publishing failed, reconnecting: {e}"
                    );
                    in_hand = Some((number, text));
                    break;
                }
            }
        }
        backoff.wait().await;
    }
}

/// Subscribes to the channel and hands the other nodes' messages to the
/// hub, resubscribing whenever the connection is lost.
async fn subscribe(
    settings: Arc<RelaySettings>,
    hub: Arc<Hub>,
    node: u64,
    counters: Arc<Counters>,
) {
    let mut backoff = Backoff::new();
    let mut senders = Senders::default();
    loop {
        let subscribing = async {
            let mut pubsub = settings.client.get_async_pubsub().await?;
            pubsub.subscribe(&settings.channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let Some(mut pubsub) = attempt("subscribe", subscribing, &mut backoff).await else {
            continue;
        };
        info!(channel = %settings.channel, "redis: subscribed");
        counters.subscribed.store(true, Ordering::Relaxed);
        backoff = Backoff::new();
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            match senders.read(message.get_payload_bytes(), node, settings.max_message_size) {
                Delivery::Deliver { text, missed } => {
                    if missed > 0 {
                        counters.missed.fetch_add(missed, Ordering::Relaxed);
                        warn!(missed, "redis: messages of another node were published while this node was not subscribed");
                    }
                    counters.received.fetch_add(1, Ordering::Relaxed);
                    hub.broadcast(text);
                }
                Delivery::Own | Delivery::Duplicate => {}
                Delivery::Invalid(why) => {
                    counters.invalid.fetch_add(1, Ordering::Relaxed);
                    warn!("redis: ignored a message on the channel: {why}");
                }
            }
        }
        counters.subscribed.store(false, Ordering::Relaxed);
        warn!("redis: subscription lost, resubscribing");
        backoff.wait().await;
    }
}

/// A node's message on the wire.
fn envelope(node: u64, seq: u64, text: &str) -> Vec<u8> {
    let mut payload = format!("{MAGIC} {node:016x} {seq}\n").into_bytes();
    payload.extend_from_slice(text.as_bytes());
    payload
}

/// What to do with a message from the channel.
#[derive(Debug, PartialEq, Eq)]
enum Delivery {
    /// Broadcast it; `missed` messages of its node were not seen before it.
    Deliver {
        text: Utf8Bytes,
        missed: u64,
    },
    /// Published by this node: its clients had it already.
    Own,
    /// A sequence number already delivered (a retried publish).
    Duplicate,
    Invalid(&'static str),
}

/// The last sequence number delivered from each node.
#[derive(Debug, Default)]
struct Senders(HashMap<u64, u64>);

impl Senders {
    fn read(&mut self, payload: &[u8], own: u64, max_len: usize) -> Delivery {
        let Ok(payload) = std::str::from_utf8(payload) else {
            return Delivery::Invalid("not UTF-8 text");
        };
        let Some((node, seq, text)) = parse_envelope(payload) else {
            // Published by something else than a node (`redis-cli PUBLISH`,
            // an announcement): delivered as it is.
            return deliver(payload, 0, max_len);
        };
        if node == own {
            return Delivery::Own;
        }
        let last = self.0.get(&node).copied();
        if last.is_some_and(|last| seq <= last) {
            return Delivery::Duplicate;
        }
        let delivery = deliver(text, last.map_or(0, |last| seq - last - 1), max_len);
        if matches!(delivery, Delivery::Deliver { .. }) {
            self.0.insert(node, seq);
        }
        delivery
    }
}

fn deliver(text: &str, missed: u64, max_len: usize) -> Delivery {
    if text.len() > max_len {
        return Delivery::Invalid("larger than --max-message-size");
    }
    Delivery::Deliver {
        text: Utf8Bytes::from(text.to_owned()),
        missed,
    }
}

/// `rsck1 NODE SEQ\nTEXT` into its parts.
fn parse_envelope(payload: &str) -> Option<(u64, u64, &str)> {
    let (head, text) = payload.split_once('\n')?;
    let mut fields = head.split(' ');
    if fields.next()? != MAGIC {
        return None;
    }
    let node = u64::from_str_radix(fields.next()?, 16).ok()?;
    let seq = fields.next()?.parse().ok()?;
    fields.next().is_none().then_some((node, seq, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(delivery: Delivery) -> (String, u64) {
        match delivery {
            Delivery::Deliver { text, missed } => (text.to_string(), missed),
            other => panic!("expected a delivery, got {other:?}"),
        }
    }

    #[test]
    fn an_envelope_reads_back() {
        let payload = envelope(0xabc, 7, "hello\nworld");
        let payload = String::from_utf8(payload).expect("UTF-8");
        assert_eq!(parse_envelope(&payload), Some((0xabc, 7, "hello\nworld")));
        assert_eq!(parse_envelope("hello"), None);
        assert_eq!(parse_envelope("rsck1 zz 1\nx"), None);
    }

    #[test]
    fn own_messages_and_repeats_are_skipped_and_gaps_counted() {
        let mut senders = Senders::default();
        let own = 1;
        let read = |senders: &mut Senders, node, seq, body: &str| {
            senders.read(&envelope(node, seq, body), own, 100)
        };
        assert_eq!(read(&mut senders, own, 1, "mine"), Delivery::Own);
        assert_eq!(text(read(&mut senders, 2, 5, "a")), ("a".into(), 0));
        assert_eq!(text(read(&mut senders, 2, 6, "b")), ("b".into(), 0));
        assert_eq!(read(&mut senders, 2, 6, "b"), Delivery::Duplicate);
        assert_eq!(read(&mut senders, 2, 4, "old"), Delivery::Duplicate);
        assert_eq!(text(read(&mut senders, 2, 9, "c")), ("c".into(), 2));
        assert_eq!(
            text(read(&mut senders, 3, 1, "other node")),
            ("other node".into(), 0)
        );
    }

    #[test]
    fn foreign_payloads_are_delivered_when_they_fit() {
        let mut senders = Senders::default();
        assert_eq!(
            text(senders.read(b"maintenance at noon", 1, 100)),
            ("maintenance at noon".into(), 0)
        );
        assert_eq!(
            senders.read(&[0xff, 0xfe], 1, 100),
            Delivery::Invalid("not UTF-8 text")
        );
        assert_eq!(
            senders.read(&envelope(2, 1, &"x".repeat(101)), 1, 100),
            Delivery::Invalid("larger than --max-message-size")
        );
        // A message too large does not advance its node's sequence.
        assert_eq!(
            text(senders.read(&envelope(2, 1, "ok"), 1, 100)),
            ("ok".into(), 0)
        );
    }
}
