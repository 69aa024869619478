//! The load mode: N connections, each keeping W echoes in flight, first for
//! a warm-up and then for a measured interval.
//!
//! Each connection is one task on a single-threaded runtime, with a writer
//! and a reader joined inside it: they share the queue of send times through
//! a `RefCell` and wake each other with a `Notify`, without any locking
//! between threads. Reading and writing concurrently matters for large
//! messages, where a server may echo the first megabyte while we are still
//! writing the second; a write-then-read loop could deadlock on full buffers.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use tokio::task::LocalSet;

use crate::deflate::{self, DeflateOffer};
use crate::echo::EchoReader;
use crate::frame::encode_client_frame;
use crate::handshake;
use crate::histogram::Histogram;
use crate::payload::{self, Kind};
use crate::record::LoadResult;
use crate::stream::{self, Stream};
use crate::target::Target;
use crate::Error;

/// The masking key of every frame this tool sends. A fixed key is allowed
/// (servers must not care) and lets one encoded frame be reused.
pub const MASK: [u8; 4] = [0x5a, 0x3c, 0xa5, 0xc3];

/// Read buffer per connection: 128 KiB measured best for 1 MiB echoes (a
/// 1 MiB buffer was slower: the data no longer stays in cache).
const READ_BUF: usize = 128 * 1024;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Server to load.
    pub target: Target,
    /// Plain TCP echo instead of WebSocket.
    pub raw: bool,
    /// Kind of message (ignored with `raw`, which sends binary-like bytes).
    pub kind: Kind,
    /// Number of connections.
    pub conns: usize,
    /// Messages in flight per connection.
    pub window: usize,
    /// Requested payload size in bytes.
    pub size: usize,
    /// Time to run before measuring.
    pub warmup: Duration,
    /// Measured interval.
    pub duration: Duration,
    /// Compare every echoed byte with what was sent.
    pub verify: bool,
    /// Offer permessage-deflate, and send compressed messages at this level.
    /// `None`: offer no extension (the server must then answer none).
    pub deflate: Option<DeflateOffer>,
    /// Server process, whose CPU time over the measured interval is read
    /// from `/proc/PID/stat`.
    pub server_pid: Option<u32>,
}

/// Clock ticks per second of `/proc/PID/stat` times (`getconf CLK_TCK`:
/// 100 on every Linux this runs on).
const CLK_TCK: f64 = 100.0;

/// CPU time (user + system, all threads) used so far by process `pid`, in
/// seconds.
pub fn cpu_seconds(pid: u32) -> Result<f64, Error> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(Error::io(format!("reading {path}")))?;
    parse_cpu_ticks(&stat)
        .map(|ticks| ticks as f64 / CLK_TCK)
        .ok_or_else(|| Error::Usage(format!("cannot parse {path}")))
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line. The command
/// name (field 2) may hold spaces and parentheses: fields are counted from
/// the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Warmup,
    Measure,
    Stop,
}

/// State shared by all connection tasks and the timer.
struct Shared {
    phase: Cell<Phase>,
    messages: Cell<u64>,
    /// Bytes written and read while measuring (WebSocket frames, headers
    /// included; TCP/IP overhead not).
    bytes_out: Cell<u64>,
    bytes_in: Cell<u64>,
    /// Echoes received compressed while measuring.
    compressed: Cell<u64>,
    latency: RefCell<Histogram>,
    failure: RefCell<Option<Error>>,
    failed: Notify,
}

impl Shared {
    fn fail(&self, error: Error) {
        self.failure.borrow_mut().get_or_insert(error);
        self.failed.notify_one();
    }

    /// Sleeps for `period`, or returns the first connection's error.
    async fn wait(&self, period: Duration) -> Result<(), Error> {
        tokio::select! {
            () = tokio::time::sleep(period) => Ok(()),
            () = self.failed.notified() => Err(self
                .failure
                .borrow_mut()
                .take()
                .unwrap_or_else(|| Error::Closed("a connection failed".into()))),
        }
    }
}

/// Runs the load and returns what was measured.
pub async fn run(cfg: &LoadConfig) -> Result<LoadResult, Error> {
    if cfg.conns == 0 || cfg.window == 0 {
        return Err(Error::Usage(
            "--conns and --window must be at least 1".into(),
        ));
    }
    if cfg.raw && cfg.size == 0 {
        return Err(Error::Usage("--raw needs --size of at least 1".into()));
    }
    let kind = if cfg.raw { Kind::Binary } else { cfg.kind };
    let payload: Rc<[u8]> = payload::build(kind, cfg.size).into();
    let plain = if cfg.raw {
        payload.to_vec()
    } else {
        encode_client_frame(kind.opcode(), &payload, MASK)
    };

    // Connect everything before the clock starts, so that handshakes are not
    // part of the warm-up traffic.
    let offer = cfg.deflate.map(|_| deflate::OFFER);
    let mut streams = Vec::with_capacity(cfg.conns);
    let mut negotiated = None;
    let mut tls = None;
    for i in 0..cfg.conns {
        let (stream, leftover, answer) = if cfg.raw {
            (stream::connect(&cfg.target).await?, Vec::new(), None)
        } else {
            handshake::open_with(&cfg.target, i as u64, offer).await?
        };
        let agreed = match (cfg.deflate, answer) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(Error::Handshake(
                    "server declined permessage-deflate".into(),
                ))
            }
            (Some(_), Some(answer)) => {
                let agreed = deflate::parse_answer(&answer)?
                    .ok_or_else(|| Error::Handshake(format!("unusable answer {answer:?}")))?;
                if !agreed.server_no_context_takeover {
                    return Err(Error::Handshake(format!(
                        "server refused server_no_context_takeover: {answer:?}"
                    )));
                }
                Some(agreed)
            }
        };
        if negotiated.is_none() {
            negotiated = agreed.clone();
        }
        if tls.is_none() {
            tls = stream.tls_summary();
        }
        streams.push((stream, leftover, agreed));
    }
    // One block per client window size in use (servers answer the same to
    // every connection, so in practice one).
    let mut blocks: Vec<(u8, Rc<[u8]>, usize)> = Vec::new();
    let mut block_for = |agreed: &Option<deflate::Negotiated>| {
        let (bits, level) = match (agreed, cfg.deflate) {
            (Some(agreed), Some(offer)) => (agreed.client_max_window_bits, offer.level),
            _ => (0, 0),
        };
        if let Some((_, block, unit_len)) = blocks.iter().find(|(b, _, _)| *b == bits) {
            return (block.clone(), *unit_len);
        }
        let unit = if bits == 0 {
            plain.clone()
        } else {
            let mut frame = encode_client_frame(
                kind.opcode(),
                &deflate::compress(&payload, level, bits),
                MASK,
            );
            frame[0] |= 0x40; // RSV1: compressed
            frame
        };
        let block: Rc<[u8]> = unit.repeat(cfg.window).into();
        blocks.push((bits, block.clone(), unit.len()));
        (block, unit.len())
    };

    let shared = Rc::new(Shared {
        phase: Cell::new(Phase::Warmup),
        messages: Cell::new(0),
        bytes_out: Cell::new(0),
        bytes_in: Cell::new(0),
        compressed: Cell::new(0),
        latency: RefCell::new(Histogram::default()),
        failure: RefCell::new(None),
        failed: Notify::new(),
    });
    let local = LocalSet::new();
    for (stream, leftover, agreed) in streams {
        let (block, unit_len) = block_for(&agreed);
        let conn = Connection {
            block,
            unit_len,
            window: cfg.window,
            echoes: if cfg.raw {
                EchoReader::raw(payload.clone(), cfg.verify)
            } else if agreed.is_some() {
                EchoReader::websocket_deflate(payload.clone(), kind.opcode(), cfg.verify)
            } else {
                EchoReader::websocket(payload.clone(), kind.opcode(), cfg.verify)
            },
            shared: shared.clone(),
        };
        let shared = shared.clone();
        local.spawn_local(async move {
            if let Err(error) = conn.drive(stream, leftover).await {
                shared.fail(error);
            }
        });
    }
    let (seconds, server_cpu) = local
        .run_until(async {
            shared.wait(cfg.warmup).await?;
            shared.phase.set(Phase::Measure);
            let cpu_before = cfg.server_pid.map(cpu_seconds).transpose()?;
            let start = Instant::now();
            shared.wait(cfg.duration).await?;
            shared.phase.set(Phase::Stop);
            let seconds = start.elapsed().as_secs_f64();
            let cpu = match (cpu_before, cfg.server_pid) {
                (Some(before), Some(pid)) => Some(cpu_seconds(pid)? - before),
                _ => None,
            };
            Ok::<_, Error>((seconds, cpu))
        })
        .await?;

    let latency = shared.latency.borrow();
    let us = |nanos: u64| nanos as f64 / 1000.0;
    let messages = shared.messages.get();
    Ok(LoadResult {
        raw: cfg.raw,
        kind,
        conns: cfg.conns,
        window: cfg.window,
        size: payload.len(),
        seconds,
        messages,
        msgs_per_sec: messages as f64 / seconds,
        mb_per_sec: (messages * payload.len() as u64) as f64 / seconds / 1e6,
        deflate: negotiated.map(|n| n.header),
        deflate_level: cfg.deflate.map(|d| d.level),
        tls,
        wire_out_per_msg: shared.bytes_out.get() as f64 / messages.max(1) as f64,
        wire_in_per_msg: shared.bytes_in.get() as f64 / messages.max(1) as f64,
        compressed_echoes: shared.compressed.get(),
        server_cpu_pct: server_cpu.map(|cpu| 100.0 * cpu / seconds),
        server_cpu_us_per_msg: server_cpu.map(|cpu| 1e6 * cpu / messages.max(1) as f64),
        p50_us: us(latency.quantile(0.5)),
        p99_us: us(latency.quantile(0.99)),
        p999_us: us(latency.quantile(0.999)),
        max_us: us(latency.max()),
    })
}

/// One loaded connection.
struct Connection {
    /// `window` encoded messages back to back; a prefix is written at once.
    block: Rc<[u8]>,
    /// Length of one encoded message in `block`.
    unit_len: usize,
    window: usize,
    echoes: EchoReader,
    shared: Rc<Shared>,
}

impl Connection {
    /// Keeps the window full until the run stops.
    async fn drive(self, stream: Stream, leftover: Vec<u8>) -> Result<(), Error> {
        match stream {
            // Borrowed halves of a TcpStream cost nothing; a TLS stream is
            // one rustls session, shared by its halves behind a lock.
            Stream::Tcp(mut tcp) => {
                let (rd, wr) = tcp.split();
                self.pump(rd, wr, leftover).await
            }
            Stream::Tls(tls) => {
                let (rd, wr) = tokio::io::split(tls);
                self.pump(rd, wr, leftover).await
            }
        }
    }

    /// Writes into `wr` and reads from `rd` at once.
    async fn pump(
        self,
        mut rd: impl AsyncRead + Unpin,
        mut wr: impl AsyncWrite + Unpin,
        leftover: Vec<u8>,
    ) -> Result<(), Error> {
        let Connection {
            block,
            unit_len,
            window,
            mut echoes,
            shared,
        } = self;
        // Send time of each message in flight, oldest first.
        let in_flight = RefCell::new(VecDeque::with_capacity(window));
        let credit = Notify::new();

        let writer = async {
            while shared.phase.get() != Phase::Stop {
                let free = window - in_flight.borrow().len();
                if free == 0 {
                    credit.notified().await;
                    continue;
                }
                let now = Instant::now();
                in_flight
                    .borrow_mut()
                    .extend(std::iter::repeat_n(now, free));
                wr.write_all(&block[..free * unit_len])
                    .await
                    .map_err(Error::io("sending to the server"))?;
                // Over TLS, the last records may still wait in the session.
                wr.flush()
                    .await
                    .map_err(Error::io("sending to the server"))?;
                if shared.phase.get() == Phase::Measure {
                    shared
                        .bytes_out
                        .set(shared.bytes_out.get() + (free * unit_len) as u64);
                }
            }
            Ok::<_, Error>(())
        };

        let reader = async {
            let mut buf = vec![0u8; READ_BUF];
            let mut completed = echoes.consume(&leftover)?;
            loop {
                if completed > 0 {
                    let now = Instant::now();
                    let measuring = shared.phase.get() == Phase::Measure;
                    let mut sent = in_flight.borrow_mut();
                    let mut latency = shared.latency.borrow_mut();
                    for _ in 0..completed {
                        let at = sent.pop_front().ok_or_else(|| {
                            Error::Protocol("more echoes than messages sent".into())
                        })?;
                        if measuring {
                            latency.record(now.duration_since(at).as_nanos() as u64);
                        }
                    }
                    if measuring {
                        shared
                            .messages
                            .set(shared.messages.get() + completed as u64);
                    }
                    credit.notify_one();
                }
                if shared.phase.get() == Phase::Stop {
                    return Ok::<_, Error>(());
                }
                let n = stream::read_some(&mut rd, &mut buf, "reading from the server").await?;
                let compressed_before = echoes.compressed_echoes();
                completed = echoes.consume(&buf[..n])?;
                if shared.phase.get() == Phase::Measure {
                    shared.bytes_in.set(shared.bytes_in.get() + n as u64);
                    shared.compressed.set(
                        shared.compressed.get() + echoes.compressed_echoes() - compressed_before,
                    );
                }
            }
        };

        tokio::try_join!(writer, reader)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_from_stat() {
        let stat = "1234 (my (odd) server) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 1 0 100 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert!(cpu_seconds(std::process::id()).is_ok());
    }
}
