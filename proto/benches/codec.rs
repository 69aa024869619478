//! Hot paths of the protocol: decoding a stream of small frames, decoding one
//! large masked text frame (unmask + UTF-8), and encoding, each beside a
//! baseline (a plain memcpy of the same bytes) so that figures from a noisy
//! machine can be read as ratios.

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rusty_socket_proto::{apply_mask, Config, Connection, Event, Message, Role, Utf8Validator};

const MIB: usize = 1 << 20;

fn open(role: Role) -> Connection {
    Connection::upgraded(role, Config::default(), [9; 32], Instant::now()).unwrap()
}

/// The bytes a client writes for `messages`.
fn client_frames(messages: impl IntoIterator<Item = Message>) -> Vec<u8> {
    let mut client = open(Role::Client);
    let now = Instant::now();
    for message in messages {
        client.send(now, &message).unwrap();
    }
    std::iter::from_fn(|| client.poll_transmit(now))
        .flatten()
        .collect()
}

/// Feeds `stream` to `server` in reads of `read_size`, as a socket would, and
/// drains the events.
fn receive(server: &mut Connection, stream: &[u8], read_size: usize) -> usize {
    let now = Instant::now();
    let mut events = 0;
    for read in stream.chunks(read_size) {
        server.receive_buffer().extend_from_slice(read);
        server.handle_received(now);
        while let Some(event) = server.poll_event() {
            events += usize::from(matches!(event, Event::Message(_)));
            black_box(event);
        }
    }
    events
}

fn multibyte_text(len: usize) -> String {
    let mut text = "ünïcødé € 😀 ".repeat(len / 10);
    while text.len() > len {
        text.pop();
    }
    text
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    let small = client_frames((0..1000).map(|_| Message::binary(vec![7u8; 16])));
    group.throughput(Throughput::Elements(1000));
    group.bench_function("1000 masked 16 B frames", |b| {
        let mut server = open(Role::Server);
        b.iter(|| assert_eq!(receive(&mut server, &small, 16 << 10), 1000));
    });

    group.throughput(Throughput::Bytes(MIB as u64));
    let ascii = client_frames([Message::text("a".repeat(MIB))]);
    let utf8 = client_frames([Message::text(multibyte_text(MIB))]);
    let binary = client_frames([Message::binary(vec![0u8; MIB])]);
    for (name, stream) in [
        ("1 MiB masked binary frame", &binary),
        ("1 MiB masked ASCII text frame", &ascii),
        ("1 MiB masked multi-byte text frame", &utf8),
    ] {
        group.bench_function(name, |b| {
            let mut server = open(Role::Server);
            b.iter(|| assert_eq!(receive(&mut server, stream, 256 << 10), 1));
        });
    }
    group.finish();
}

/// The goal of the perf issue: unmask + validate 1 MiB of text at no less
/// than 80% of the speed of copying it.
fn unmask_and_validate(c: &mut Criterion) {
    let mut group = c.benchmark_group("1 MiB");
    group.throughput(Throughput::Bytes(MIB as u64));
    let text = multibyte_text(MIB).into_bytes();
    let mut masked = text.clone();
    apply_mask(&mut masked, [1, 2, 3, 4], 0);
    group.bench_function("memcpy (baseline)", |b| {
        let mut dst = vec![0u8; masked.len()];
        b.iter(|| dst.copy_from_slice(black_box(&masked)));
    });
    group.bench_function("unmask", |b| {
        b.iter_batched_ref(
            || masked.clone(),
            |buf| apply_mask(buf, [1, 2, 3, 4], 0),
            BatchSize::LargeInput,
        );
    });
    // Where a payload sits in a receive buffer: after a 2-byte header, a
    // 64-bit length and the key.
    group.bench_function("unmask, 14 bytes into the buffer", |b| {
        b.iter_batched_ref(
            || [&[0; 14][..], &masked].concat(),
            |buf| apply_mask(&mut buf[14..], [1, 2, 3, 4], 0),
            BatchSize::LargeInput,
        );
    });
    group.bench_function("validate multi-byte UTF-8", |b| {
        b.iter(|| Utf8Validator::new().feed(black_box(&text)).unwrap());
    });
    group.bench_function("unmask + validate multi-byte UTF-8", |b| {
        b.iter_batched_ref(
            || masked.clone(),
            |buf| {
                apply_mask(buf, [1, 2, 3, 4], 0);
                Utf8Validator::new().feed(buf).unwrap();
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    let now = Instant::now();
    let payload = Bytes::from(vec![7u8; 16]);
    group.throughput(Throughput::Elements(1000));
    for role in [Role::Server, Role::Client] {
        group.bench_function(format!("1000 16 B frames, {role:?}"), |b| {
            let mut connection = open(role);
            b.iter(|| {
                for _ in 0..1000 {
                    connection
                        .send(now, &Message::Binary(payload.clone()))
                        .unwrap();
                }
                while let Some(bytes) = connection.poll_transmit(now) {
                    black_box(bytes);
                }
            });
        });
    }
    group.throughput(Throughput::Bytes(MIB as u64));
    let large = Bytes::from(vec![7u8; MIB]);
    for role in [Role::Server, Role::Client] {
        group.bench_function(format!("1 MiB frame, {role:?}"), |b| {
            let mut connection = open(role);
            b.iter(|| {
                connection
                    .send(now, &Message::Binary(large.clone()))
                    .unwrap();
                while let Some(bytes) = connection.poll_transmit(now) {
                    black_box(bytes);
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, decode, unmask_and_validate, encode);
criterion_main!(benches);
