//! A client that never reads while others chat: the others receive every
//! message, the stalled client is closed with 1008, and the bytes queued
//! for it never pass --max-queued-bytes. Both runtimes, over plain TCP and
//! over TLS (where the std runtime's short write timeouts go through the
//! adapter's TLS stream).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{next_message, Server, RUNTIMES, TIMEOUT};
use futures_util::StreamExt;
use rusty_socket_test_support::tls::TestPki;
use rusty_socket_tokio::{CloseCode, Message};

const BOUND: u64 = 256 << 10;
const MESSAGE_LEN: usize = 32 << 10;
/// Enough to fill the stalled client's socket buffers many times over.
const MAX_MESSAGES: usize = 4000;
/// Sent after the stalled client was dropped: the others still get them.
const AFTER_DROP: usize = 20;
/// Messages the sender lets the others be behind, as people chatting are:
/// a flood faster than the readers read would make them slow consumers too.
const WINDOW: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_is_closed_with_1008_and_the_others_carry_on() {
    for runtime in RUNTIMES {
        stalled_on(runtime, None).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_wss_client_is_closed_with_1008_and_the_others_carry_on() {
    let pki = TestPki::new();
    for runtime in RUNTIMES {
        stalled_on(runtime, Some(&pki)).await;
    }
}

/// Over TLS with the certificate of `pki` if given.
async fn stalled_on(runtime: &str, pki: Option<&TestPki>) {
    let bound = BOUND.to_string();
    let args = [
        "--runtime",
        runtime,
        "--max-queued-bytes",
        &bound,
        "--max-message-size",
        "64KiB",
    ];
    let (server, runtime) = match pki {
        Some(pki) => (Server::start_tls(pki, &args), format!("{runtime} over TLS")),
        None => (Server::start(&args), runtime.to_owned()),
    };
    // Never polled until the end: its socket is never read.
    let mut stalled = server.tokio_client().await.expect("connect");
    let (mut sender, sender_read) = server.tokio_client().await.expect("connect").split();
    let listener = server.tokio_client().await.expect("connect");
    tokio::task::block_in_place(|| server.wait_for_clients(3));

    // Watches /stats while the others chat.
    let done = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicBool::new(false));
    let worst_total = Arc::new(AtomicU64::new(0));
    let monitor = {
        let (done, dropped, worst_total) = (done.clone(), dropped.clone(), worst_total.clone());
        let probe = server.stats_probe();
        thread::spawn(move || {
            let deadline = Instant::now() + TIMEOUT * 3;
            while !done.load(Ordering::Acquire) && Instant::now() < deadline {
                let stats = probe();
                let clients = stats["clients"].as_u64().unwrap_or(0);
                let queued = stats["queued_bytes"].as_u64().unwrap_or(0);
                assert!(
                    queued <= clients * BOUND,
                    "{queued} bytes queued for {clients} clients, over the bound"
                );
                worst_total.fetch_max(queued, Ordering::Relaxed);
                if stats["dropped_slow"].as_u64() == Some(1) {
                    dropped.store(true, Ordering::Release);
                }
                thread::sleep(Duration::from_millis(10));
            }
        })
    };

    // The receivers check that they get every message, in order.
    type Messages = Box<
        dyn futures_util::Stream<Item = Result<Message, rusty_socket_tokio::Error>> + Send + Unpin,
    >;
    let receive = |mut stream: Messages, progress: Arc<AtomicUsize>| {
        tokio::spawn(async move {
            let mut next = 0usize;
            loop {
                let message = match tokio::time::timeout(TIMEOUT, stream.next()).await {
                    Ok(Some(Ok(message))) => message,
                    other => panic!("receiver stopped after {next} messages: {other:?}"),
                };
                let Message::Text(text) = message else {
                    continue;
                };
                if text.as_str() == "end" {
                    return next;
                }
                let index: usize = text[..8].parse().expect("an index");
                assert_eq!(index, next, "every message once, in order");
                next += 1;
                progress.store(next, Ordering::Release);
            }
        })
    };
    let progress = [Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))];
    let sender_receives = receive(Box::new(sender_read), progress[0].clone());
    let listener_receives = receive(Box::new(listener), progress[1].clone());

    let mut sent = 0;
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut after_drop = None;
    while sent < MAX_MESSAGES && after_drop.is_none_or(|n| sent < n + AFTER_DROP) {
        let deadline = Instant::now() + TIMEOUT;
        while progress
            .iter()
            .any(|p| p.load(Ordering::Acquire) + WINDOW <= sent)
        {
            assert!(
                Instant::now() < deadline,
                "{runtime}: the others stopped receiving"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Random letters: compression (on by default) must not shrink the
        // stalled client's backlog below the bound.
        let text = format!("{sent:08}{}", noise(&mut seed, MESSAGE_LEN - 8));
        tokio::time::timeout(TIMEOUT, sender.send(Message::text(text)))
            .await
            .expect("sending does not wait for the stalled client")
            .expect("send");
        sent += 1;
        if after_drop.is_none() && dropped.load(Ordering::Acquire) {
            after_drop = Some(sent);
        }
    }
    assert!(
        after_drop.is_some(),
        "{runtime}: {sent} messages and the stalled client is still connected"
    );
    sender.send(Message::text("end")).await.expect("send");
    for receiver in [sender_receives, listener_receives] {
        let got = tokio::time::timeout(TIMEOUT, receiver)
            .await
            .expect("receivers finish")
            .expect("no panic");
        assert_eq!(got, sent, "{runtime}: the others got every message");
    }

    // The stalled client wakes up: what was queued for it, then 1008.
    let mut backlog = 0;
    let frame = loop {
        match next_message(&mut stalled).await {
            Message::Close(frame) => break frame,
            _ => backlog += 1,
        }
    };
    // It completes the closing handshake, as a client does (over TLS, a
    // Tokio client that stopped polling right after the close frame was
    // seen to leave its echo unsent, failing the log check below).
    let finish = async { while let Ok(Some(_)) = stalled.recv().await {} };
    tokio::time::timeout(TIMEOUT, finish)
        .await
        .expect("the closing handshake completes");
    let frame = frame.expect("a close frame with a code");
    assert_eq!(frame.code, CloseCode::POLICY_VIOLATION, "{runtime}");
    assert!(frame.reason.contains("too slow"), "{}", frame.reason);
    assert!(backlog < sent, "{runtime}: it was dropped before the end");

    done.store(true, Ordering::Release);
    monitor.join().expect("the bound held");
    let stats = server.stats();
    let peak = stats["max_client_queued_bytes"]
        .as_u64()
        .unwrap_or(u64::MAX);
    assert!(
        peak <= BOUND,
        "{runtime}: one client had {peak} bytes queued"
    );
    assert!(
        peak > BOUND - 2 * MESSAGE_LEN as u64,
        "{runtime}: the stalled client's queue did fill up ({peak})"
    );
    assert!(server.wait_for_log(&["refused: client too slow"]));
    assert!(server.wait_for_log(&["disconnected", "code=1008", "closed_by=server"]));
    eprintln!(
        "{runtime}: stalled client dropped after {} of {sent} messages ({backlog} reached it); \
         peak queue {peak} bytes (bound {BOUND}), peak total {} bytes",
        after_drop.unwrap_or(0),
        worst_total.load(Ordering::Relaxed)
    );
}

/// `len` letters that do not compress: a xorshift generator's output.
fn noise(state: &mut u64, len: usize) -> String {
    (0..len)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            char::from(b'a' + (*state % 26) as u8)
        })
        .collect()
}
