//! Attack 7, connection flood: the chat server runs with
//! `--max-connections 16`; the honest client and 15 raw clients hold every
//! place, then 200 more WebSocket handshakes arrive, 50 at a time. Each
//! must get 503 (with `Retry-After`) at once, the client count must never
//! pass 16, the clients already in must be unaffected, and a place freed
//! must be taken again.

#![cfg(target_os = "linux")]

mod common;

use std::thread;
use std::time::{Duration, Instant};

use common::{report, serial, upgrade_request, Honest, Raw, Server, TIMEOUT};
use rusty_socket_test_support::wait_until;

const MAX_CONNECTIONS: usize = 16;
const FLOOD: usize = 200;
const WAVE: usize = 50;

#[test]
fn a_connection_flood_past_max_connections_gets_503_and_spares_the_clients_in() {
    let _serial = serial();
    connection_flood(&[], 4 << 10);
}

#[test]
fn a_connection_flood_past_max_connections_gets_503_from_the_std_runtime() {
    let _serial = serial();
    // A handshake in progress costs a thread and a 64 KiB read buffer on
    // the std runtime: a wave of 50 shows (measured: +4.3 to +5.1 MiB).
    connection_flood(&["--runtime", "std"], 10 << 10);
}

/// `max_growth_kib`: the most the server's resident memory may grow.
fn connection_flood(args: &[&str], max_growth_kib: u64) {
    let max = MAX_CONNECTIONS.to_string();
    let mut server = Server::chat(&[args, &["--max-connections", &max]].concat());
    let kind = server.name();
    let addr = server.addr;
    let honest = Honest::start(&server.url(), "honest");
    let mut holders: Vec<Raw> = (1..MAX_CONNECTIONS).map(|_| Raw::open(addr)).collect();
    assert!(
        wait_until(TIMEOUT, || server.stat("clients") == MAX_CONNECTIONS as u64),
        "the chat server does not count {MAX_CONNECTIONS} clients: {}",
        server.stats()
    );

    let watch = server.watch();
    let request = upgrade_request(addr);
    let mut refusals: Vec<Duration> = Vec::with_capacity(FLOOD);
    let mut most_clients = 0;
    for _ in 0..FLOOD / WAVE {
        let mut wave: Vec<(Raw, Instant)> = (0..WAVE)
            .map(|_| {
                let mut raw = Raw::connect(addr).expect("connect");
                raw.send(request.as_bytes())
                    .expect("send the upgrade request");
                (raw, Instant::now())
            })
            .collect();
        for (raw, sent) in &mut wave {
            let head = raw.read_head().expect("an answer to the upgrade request");
            refusals.push(sent.elapsed());
            assert_eq!(
                head.status, 503,
                "a handshake past the limit got {}",
                head.text
            );
            assert!(
                head.text.to_ascii_lowercase().contains("retry-after: 5"),
                "no Retry-After: {}",
                head.text
            );
        }
        for (raw, _) in &mut wave {
            assert!(raw.expect_eof(), "a refused connection stays open");
        }
        most_clients = most_clients.max(server.stat("clients"));
    }
    assert_eq!(
        most_clients, MAX_CONNECTIONS as u64,
        "clients past the limit"
    );

    // The clients already in are unaffected.
    for (i, holder) in holders.iter_mut().enumerate() {
        holder.converse(&format!("holder {i} is still here"));
    }
    // A place freed is taken again; the next one is refused again.
    holders.truncate(MAX_CONNECTIONS - 1 - 3);
    assert!(
        wait_until(TIMEOUT, || server.stat("clients")
            == (MAX_CONNECTIONS - 3) as u64),
        "places were not freed: {}",
        server.stats()
    );
    for _ in 0..3 {
        holders.push(Raw::open(addr));
    }
    let mut late = Raw::connect(addr).expect("connect");
    let sent = Instant::now();
    late.send(request.as_bytes()).expect("send");
    assert_eq!(late.read_head().expect("an answer").status, 503);
    let single = sent.elapsed();

    let served = honest.stop();
    thread::sleep(Duration::from_millis(100));
    let watched = watch.finish();
    server.assert_running();
    served.assert_served(&format!("connection flood on {kind}"));
    watched.assert_growth_below(max_growth_kib, &format!("connection flood on {kind}"));
    refusals.sort();
    let median = refusals[refusals.len() / 2];
    let slowest = *refusals.last().expect("refusals");
    assert!(slowest < Duration::from_secs(2), "a 503 took {slowest:?}");
    report(format_args!(
        "connection flood {kind} (--max-connections {MAX_CONNECTIONS}, all taken): \
         {FLOOD} handshakes in waves of {WAVE} at once all got 503 + Retry-After: 5, median \
         {:.1} ms, slowest {:.1} ms after the request; a single one {:.1} ms; /stats clients \
         after each wave: {most_clients}; the {} clients in still chat; 3 places freed were \
         taken again, the next handshake got 503; {watched}; {served}",
        median.as_secs_f64() * 1e3,
        slowest.as_secs_f64() * 1e3,
        single.as_secs_f64() * 1e3,
        MAX_CONNECTIONS,
    ));
}
