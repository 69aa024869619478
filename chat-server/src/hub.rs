//! The hub: who is connected, and the fan-out of every broadcast.
//!
//! A broadcast is encoded once ([`PreparedMessage`]: one `Bytes` holding the
//! whole frame) and the same reference-counted message is pushed onto each
//! client's queue: no copy or re-encoding per recipient, only the queue
//! entry. Each client's queue lives in its [`Mailbox`], bounded by *bytes*
//! with an atomic counter ([`Mailbox::queued`]): the hub adds a frame's
//! length when it queues it, the client's writer subtracts it once the
//! frame is written to the socket. A broadcast that would take a client
//! past the bound is not queued for it; that client is removed and told to
//! close with 1008. So a slow or stalled client costs at most the bound,
//! and nobody waits for it: queuing never blocks.
//!
//! Broadcasts are serialised by the hub's lock, so every client receives
//! the messages in the same order (and each sender's in the order sent).
//!
//! The queue is a `VecDeque` under a mutex, which holds no memory while it
//! is empty (a channel would keep a block of slots for every idle client):
//! a Tokio writer waits on the mailbox's `Notify`, a writer thread of the
//! std runtime on its `Condvar`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

use rusty_socket_proto::http::Version;
use rusty_socket_proto::{CloseCode, CloseFrame, Message, PreparedMessage, Utf8Bytes};
use tokio::sync::Notify;
use tracing::warn;

use crate::relay::{Outbox, RelayStats};

/// Why the server ends a connection, set once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Send this close frame, then complete the closing handshake.
    Close(CloseFrame),
    /// The connection is over already (the peer closed or went away): the
    /// writer just stops.
    Quit,
}

/// One client's queue, shared by the hub and the client's writer.
#[derive(Debug, Default)]
pub struct Mailbox {
    /// Broadcasts waiting for the writer.
    queue: Mutex<VecDeque<Arc<PreparedMessage>>>,
    /// Bytes queued for this client and not yet written to its socket.
    queued: AtomicUsize,
    stop: OnceLock<Stop>,
    /// Wakes a Tokio writer: a message was queued, or `stop` was set.
    wake: Notify,
    /// Wakes a writer thread (std runtime), for the same reasons.
    ready: Condvar,
}

/// A queue that grew past this many entries (a client that fell behind
/// for a while) gives its memory back once it is empty.
const KEEP_CAPACITY: usize = 16;

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Arc<PreparedMessage>>> {
        // Every operation on the queue is a single push or pop.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks the writer to end the connection; the first reason wins.
    pub fn stop(&self, stop: Stop) {
        let _ = self.stop.set(stop);
        self.wake.notify_waiters();
        // Taken so that a writer thread between its check of `stop` and its
        // wait cannot miss the wake-up.
        drop(self.lock());
        self.ready.notify_all();
    }

    /// The reason the connection is ending, once there is one.
    pub fn stop_reason(&self) -> Option<&Stop> {
        self.stop.get()
    }

    /// Waits until [`stop`](Self::stop) is called (Tokio writers).
    pub async fn stopped(&self) {
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            // Registered before the check: a `stop` in between still wakes us.
            notified.as_mut().enable();
            if self.stop.get().is_some() {
                return;
            }
            notified.await;
        }
    }

    /// The next broadcast to write, or `None` once the connection is to
    /// stop (Tokio writers).
    pub async fn next(&self) -> Option<Arc<PreparedMessage>> {
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.stop.get().is_some() {
                return None;
            }
            if let Some(message) = self.pop(&mut self.lock()) {
                return Some(message);
            }
            notified.await;
        }
    }

    /// The next broadcast to write, or `None` once the connection is to
    /// stop (writer threads: blocks until then).
    pub fn next_blocking(&self) -> Option<Arc<PreparedMessage>> {
        let mut queue = self.lock();
        loop {
            if self.stop.get().is_some() {
                return None;
            }
            if let Some(message) = self.pop(&mut queue) {
                return Some(message);
            }
            queue = self
                .ready
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn pop(&self, queue: &mut VecDeque<Arc<PreparedMessage>>) -> Option<Arc<PreparedMessage>> {
        let message = queue.pop_front();
        if queue.is_empty() && queue.capacity() > KEEP_CAPACITY {
            *queue = VecDeque::new();
        }
        message
    }

    /// The hub queues a broadcast of `len` bytes.
    fn push(&self, message: Arc<PreparedMessage>, len: usize) {
        self.queued.fetch_add(len, Ordering::AcqRel);
        self.lock().push_back(message);
        // One writer per mailbox: waking one is waking it.
        self.wake.notify_one();
        self.ready.notify_one();
    }

    /// The writer wrote a frame of `len` bytes out.
    pub fn written(&self, len: usize) {
        self.queued.fetch_sub(len, Ordering::AcqRel);
    }

    /// Bytes queued and not yet written.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }
}

/// The hub's side of one client.
#[derive(Debug)]
struct Member {
    peer: SocketAddr,
    mailbox: Arc<Mailbox>,
}

#[derive(Debug, Default)]
struct Registry {
    members: HashMap<u64, Member>,
    /// Set by [`Hub::shutdown`]: nobody joins any more.
    closing: bool,
}

/// A snapshot for `GET /stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Chat clients connected.
    pub clients: usize,
    /// Bytes queued for them and not yet written, in total.
    pub queued_bytes: usize,
    /// The most bytes ever queued for one client (never above the bound).
    pub max_client_queued_bytes: usize,
    /// `--max-queued-bytes`.
    pub queue_limit: usize,
    /// Clients closed with 1008 for falling behind, since the start.
    pub dropped_slow: u64,
    /// Clients that came in over HTTP/1.1 (an `Upgrade`), since the start.
    pub joined_http1: u64,
    /// Clients that came in over HTTP/2 (an extended CONNECT, RFC 8441),
    /// since the start.
    pub joined_h2: u64,
    /// The Redis relay, with `--redis`.
    pub redis: Option<RelayStats>,
}

/// Everyone connected, and the bounds.
#[derive(Debug)]
pub struct Hub {
    registry: Mutex<Registry>,
    next_id: AtomicU64,
    queue_limit: usize,
    max_clients: usize,
    /// Handshakes accepted and not yet ended (see [`Slot`]).
    slots: AtomicUsize,
    peak_queued: AtomicUsize,
    dropped_slow: AtomicU64,
    /// Clients joined over HTTP/1.1 and over HTTP/2: a browser only uses
    /// HTTP/2 for a WebSocket when everything lines up (ALPN, the server's
    /// SETTINGS), so the server counts which one each client got.
    joined_http1: AtomicU64,
    joined_h2: AtomicU64,
    closing: AtomicBool,
    /// The way to the other nodes, with `--redis`.
    outbox: Option<Outbox>,
}

/// A place among the `--max-connections`, held from the moment a handshake
/// is accepted until its connection ends.
#[derive(Debug)]
pub struct Slot {
    hub: Arc<Hub>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.hub.slots.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connected client's place in the hub. Dropping it leaves the hub.
#[derive(Debug)]
pub struct Membership {
    id: u64,
    hub: Arc<Hub>,
    mailbox: Arc<Mailbox>,
}

impl Membership {
    /// The mailbox, shared with the writer.
    pub fn mailbox(&self) -> &Arc<Mailbox> {
        &self.mailbox
    }

    /// Ends the connection from the server's side with `code` and `reason`.
    pub fn close(&self, code: CloseCode, reason: &str) {
        self.mailbox
            .stop(Stop::Close(CloseFrame::new(code, truncate(reason))));
        self.hub.remove(self.id);
    }

    /// The connection is over: the writer stops, the hub forgets the client.
    pub fn leave(&self) {
        self.mailbox.stop(Stop::Quit);
        self.hub.remove(self.id);
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.leave();
    }
}

/// The server is shutting down: no new client may join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closing;

impl Hub {
    pub fn new(queue_limit: usize, max_clients: usize, outbox: Option<Outbox>) -> Arc<Hub> {
        Arc::new(Hub {
            registry: Mutex::default(),
            next_id: AtomicU64::new(1),
            queue_limit,
            max_clients,
            slots: AtomicUsize::new(0),
            peak_queued: AtomicUsize::new(0),
            dropped_slow: AtomicU64::new(0),
            joined_http1: AtomicU64::new(0),
            joined_h2: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            outbox,
        })
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // A panic while holding the lock leaves the map consistent (every
        // operation on it is a single insert, remove or retain).
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a place for a new connection, or `None` if all
    /// `--max-connections` are taken.
    pub fn reserve(self: &Arc<Self>) -> Option<Slot> {
        self.slots
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
                (taken < self.max_clients).then_some(taken + 1)
            })
            .ok()
            .map(|_| Slot {
                hub: Arc::clone(self),
            })
    }

    /// Whether [`shutdown`](Self::shutdown) has begun.
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Adds a client that completed its handshake over HTTP `version`; its
    /// writer takes the broadcasts from the membership's mailbox.
    pub fn join(
        self: &Arc<Self>,
        peer: SocketAddr,
        version: Version,
    ) -> Result<Membership, Closing> {
        let mailbox = Arc::new(Mailbox::default());
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut registry = self.registry();
        if registry.closing {
            return Err(Closing);
        }
        let mailbox_for_hub = Arc::clone(&mailbox);
        registry.members.insert(
            id,
            Member {
                peer,
                mailbox: mailbox_for_hub,
            },
        );
        drop(registry);
        let joined = match version {
            Version::HTTP_2 => &self.joined_h2,
            _ => &self.joined_http1,
        };
        joined.fetch_add(1, Ordering::Relaxed);
        let membership = Membership {
            id,
            hub: Arc::clone(self),
            mailbox,
        };
        Ok(membership)
    }

    /// Forgets a client (its writer was told to stop first).
    fn remove(&self, id: u64) {
        let member = self.registry().members.remove(&id);
        drop(member);
    }

    /// Chat clients connected now.
    pub fn clients(&self) -> usize {
        self.registry().members.len()
    }

    /// What a client of this node said: to every client here and, with
    /// `--redis`, to the other nodes (see the relay module).
    pub fn say(&self, text: Utf8Bytes) {
        if let Some(outbox) = &self.outbox {
            outbox.publish(&text);
        }
        self.broadcast(text);
    }

    /// Sends `text` to every client: encoded once, the same bytes queued on
    /// each. Clients whose queue cannot take it are closed with 1008.
    pub fn broadcast(&self, text: Utf8Bytes) {
        let Some(prepared) = PreparedMessage::new(&Message::Text(text)).map(Arc::new) else {
            return;
        };
        let len = prepared.frame().len();
        let limit = self.queue_limit;
        let mut too_slow = Vec::new();
        let mut registry = self.registry();
        registry.members.retain(|_, member| {
            // Only broadcasts add to the counter, and they hold the lock:
            // nothing can grow it between this check and the add.
            let queued = member.mailbox.queued();
            if queued + len > limit {
                too_slow.push((member.peer, Arc::clone(&member.mailbox), queued));
                return false;
            }
            member.mailbox.push(Arc::clone(&prepared), len);
            self.peak_queued.fetch_max(queued + len, Ordering::Relaxed);
            true
        });
        let clients = registry.members.len();
        drop(registry);
        for (peer, mailbox, queued) in too_slow {
            self.dropped_slow.fetch_add(1, Ordering::Relaxed);
            warn!(
                %peer,
                queued,
                limit,
                clients,
                "refused: client too slow, closing it with 1008"
            );
            let reason = format!("too slow: {queued} bytes still queued, the limit is {limit}");
            mailbox.stop(Stop::Close(CloseFrame::new(
                CloseCode::POLICY_VIOLATION,
                truncate(&reason),
            )));
        }
    }

    /// Starts the shutdown: nobody joins any more, and every client is told
    /// to close with 1001 (going away). Returns how many were told.
    pub fn shutdown(&self) -> usize {
        self.closing.store(true, Ordering::Release);
        let members = {
            let mut registry = self.registry();
            registry.closing = true;
            std::mem::take(&mut registry.members)
        };
        let count = members.len();
        for member in members.into_values() {
            member.mailbox.stop(Stop::Close(CloseFrame::new(
                CloseCode::GOING_AWAY,
                "server shutting down",
            )));
        }
        count
    }

    /// The numbers of `GET /stats`.
    pub fn stats(&self) -> Stats {
        let registry = self.registry();
        Stats {
            clients: registry.members.len(),
            queued_bytes: registry.members.values().map(|m| m.mailbox.queued()).sum(),
            max_client_queued_bytes: self.peak_queued.load(Ordering::Relaxed),
            queue_limit: self.queue_limit,
            dropped_slow: self.dropped_slow.load(Ordering::Relaxed),
            joined_http1: self.joined_http1.load(Ordering::Relaxed),
            joined_h2: self.joined_h2.load(Ordering::Relaxed),
            redis: self.outbox.as_ref().map(Outbox::stats),
        }
    }
}

/// A close reason cut to the 123 bytes a close frame can carry, at a
/// character boundary.
fn truncate(reason: &str) -> String {
    let mut end = reason.len().min(CloseFrame::MAX_REASON_LEN);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 1))
    }

    fn frame_len(text: &str) -> usize {
        let message = Message::text(text);
        PreparedMessage::new(&message)
            .map(|p| p.frame().len())
            .unwrap_or(0)
    }

    #[test]
    fn one_encoding_is_shared_by_every_queue() {
        let hub = Hub::new(1 << 20, 10, None);
        let a = hub.join(peer(), Version::HTTP_11).expect("open");
        let b = hub.join(peer(), Version::HTTP_11).expect("open");
        hub.broadcast(Utf8Bytes::from("hello"));
        let from_a = a.mailbox.next_blocking();
        let from_b = b.mailbox.next_blocking();
        let (Some(from_a), Some(from_b)) = (from_a, from_b) else {
            panic!("both queues got the message");
        };
        // The very same allocation, not a copy.
        assert_eq!(from_a.frame().as_ptr(), from_b.frame().as_ptr());
        assert_eq!(a.mailbox.queued(), frame_len("hello"));
        assert_eq!(hub.stats().queued_bytes, 2 * frame_len("hello"));
    }

    #[test]
    fn a_client_over_the_bound_is_closed_and_the_rest_carry_on() {
        let len = frame_len("0123456789");
        let hub = Hub::new(3 * len, 10, None);
        let slow = hub.join(peer(), Version::HTTP_11).expect("open");
        let fast = hub.join(peer(), Version::HTTP_11).expect("open");
        for _ in 0..3 {
            hub.broadcast(Utf8Bytes::from("0123456789"));
            fast.mailbox.written(len);
        }
        assert_eq!(slow.mailbox.queued(), 3 * len);
        assert_eq!(hub.clients(), 2);
        hub.broadcast(Utf8Bytes::from("0123456789"));
        assert_eq!(hub.clients(), 1);
        assert_eq!(
            slow.mailbox.queued(),
            3 * len,
            "nothing queued past the bound"
        );
        match slow.mailbox.stop_reason() {
            Some(Stop::Close(frame)) => assert_eq!(frame.code, CloseCode::POLICY_VIOLATION),
            other => panic!("expected a 1008 close, got {other:?}"),
        }
        assert_eq!(fast.mailbox.queued(), len);
        let stats = hub.stats();
        assert_eq!(stats.max_client_queued_bytes, 3 * len);
        assert_eq!(stats.dropped_slow, 1);
    }

    #[test]
    fn slots_bound_the_connections() {
        let hub = Hub::new(1 << 20, 2, None);
        let first = hub.reserve();
        let second = hub.reserve();
        assert!(first.is_some() && second.is_some());
        assert!(hub.reserve().is_none());
        drop(first);
        assert!(hub.reserve().is_some());
    }

    #[test]
    fn shutdown_tells_everyone_and_closes_the_door() {
        let hub = Hub::new(1 << 20, 10, None);
        let member = hub.join(peer(), Version::HTTP_11).expect("open");
        assert_eq!(hub.shutdown(), 1);
        assert!(matches!(
            member.mailbox.stop_reason(),
            Some(Stop::Close(frame)) if frame.code == CloseCode::GOING_AWAY
        ));
        assert!(hub.join(peer(), Version::HTTP_11).is_err());
        assert_eq!(hub.clients(), 0);
    }

    #[test]
    fn clients_are_counted_by_http_version() {
        let hub = Hub::new(1 << 20, 10, None);
        let _h1 = hub.join(peer(), Version::HTTP_11).expect("open");
        let _h2 = hub.join(peer(), Version::HTTP_2).expect("open");
        let _h2_again = hub.join(peer(), Version::HTTP_2).expect("open");
        let stats = hub.stats();
        assert_eq!((stats.joined_http1, stats.joined_h2), (1, 2));
        hub.shutdown();
        assert!(hub.join(peer(), Version::HTTP_2).is_err());
        assert_eq!(hub.stats().joined_h2, 2, "a refused join is not counted");
    }

    #[test]
    fn leaving_removes_the_client() {
        let hub = Hub::new(1 << 20, 10, None);
        let member = hub.join(peer(), Version::HTTP_11).expect("open");
        assert_eq!(hub.clients(), 1);
        drop(member);
        assert_eq!(hub.clients(), 0);
    }

    #[test]
    fn reasons_fit_a_close_frame() {
        let long = "é".repeat(100);
        let cut = truncate(&long);
        assert!(cut.len() <= CloseFrame::MAX_REASON_LEN);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
