//! `Utf8Bytes` access: `as_str` (and so `Deref`, `Display`, `Debug`) on a
//! short and a 1 MiB multi-byte text, beside what each would cost if it had
//! to validate the text again (std and simdutf8) or copy it.

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rusty_socket_proto::{Config, Connection, Event, Message, Role, Utf8Bytes};

const MIB: usize = 1 << 20;

fn multibyte_text(len: usize) -> String {
    let mut text = "ünïcødé € 😀 ".repeat(len.div_ceil(10));
    while text.len() > len {
        text.pop();
    }
    text
}

/// A text as a received message carries it: built from bytes.
fn received(len: usize) -> Utf8Bytes {
    let bytes = Bytes::from(multibyte_text(len).into_bytes());
    match Message::text(Utf8Bytes::try_from(bytes).unwrap()) {
        Message::Text(text) => text,
        _ => unreachable!(),
    }
}

fn access(c: &mut Criterion) {
    for (name, len) in [("16 B", 16), ("1 KiB", 1 << 10), ("1 MiB", MIB)] {
        let mut group = c.benchmark_group(format!("text {name}"));
        group.throughput(Throughput::Bytes(len as u64));
        let text = received(len);
        group.bench_function("as_str", |b| b.iter(|| black_box(&text).as_str().len()));
        group.bench_function("chars().next() through Deref", |b| {
            b.iter(|| black_box(&text).chars().next())
        });
        let bytes = text.as_bytes();
        group.bench_function("std::str::from_utf8 (baseline)", |b| {
            b.iter(|| std::str::from_utf8(black_box(bytes)).unwrap().len())
        });
        group.bench_function("simdutf8 (baseline)", |b| {
            b.iter(|| simdutf8::basic::from_utf8(black_box(bytes)).unwrap().len())
        });
        group.bench_function("copy into a new buffer (baseline)", |b| {
            b.iter(|| Bytes::copy_from_slice(black_box(bytes)).len())
        });
        group.finish();
    }
}

/// The masked frames a client writes for `count` copies of `text`.
fn client_frames(text: &str, count: usize) -> Vec<u8> {
    let now = Instant::now();
    let mut client = Connection::upgraded(Role::Client, Config::default(), [9; 32], now).unwrap();
    let mut out = Vec::new();
    for _ in 0..count {
        client.send(now, &Message::text(text)).unwrap();
        out.extend(std::iter::from_fn(|| client.poll_transmit(now)).flatten());
    }
    out
}

/// Receiving text messages (unmask, validate, build the `Utf8Bytes`), then
/// reading each once through `as_str`, as nearly every application does.
/// The input comes in reads of the size given: 16 KiB reads, the adapters'
/// usual, cut every 16 KiB message in two, as on a socket.
fn receive(c: &mut Criterion) {
    for (name, len, count, read_size) in [
        ("1000 x 16 B", 16, 1000, 256 << 10),
        ("64 x 16 KiB in 16 KiB reads", 16 << 10, 64, 16 << 10),
        ("16 x 64 KiB", 64 << 10, 16, 256 << 10),
        ("1 x 1 MiB", MIB, 1, 256 << 10),
    ] {
        let mut group = c.benchmark_group(format!("receive multi-byte text {name}"));
        group.throughput(Throughput::Bytes((len * count) as u64));
        let stream = client_frames(&multibyte_text(len), count);
        for read_as_str in [false, true] {
            let label = if read_as_str {
                "then as_str once"
            } else {
                "receive only"
            };
            group.bench_function(label, |b| {
                let now = Instant::now();
                let mut server =
                    Connection::upgraded(Role::Server, Config::default(), [9; 32], now).unwrap();
                b.iter(|| {
                    let mut seen = 0;
                    for read in stream.chunks(read_size) {
                        server.receive_buffer().extend_from_slice(read);
                        server.handle_received(now);
                        while let Some(event) = server.poll_event() {
                            if let Event::Message(Message::Text(text)) = event {
                                seen += 1;
                                if read_as_str {
                                    black_box(text.as_str());
                                }
                                black_box(text);
                            }
                        }
                    }
                    assert_eq!(seen, count);
                });
            });
        }
        group.finish();
    }
}

criterion_group!(benches, access, receive);
criterion_main!(benches);
