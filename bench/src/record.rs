//! The results of one `wsload` run, as printed for people and as the JSON
//! lines that `run.sh` collects and `bench-report` reads back.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::payload::Kind;

/// The result of one `wsload` run, tagged by mode in JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Record {
    /// Echo throughput and latency.
    Load(LoadResult),
    /// Server memory per idle connection.
    Idle(IdleResult),
    /// Broadcast latency to many receivers.
    Fanout(FanoutResult),
}

/// One line of `run.sh`'s results file: a `wsload` record and what it ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// Server name; `ours-*` are ours, `raw` is the TCP ceiling, the rest peers.
    pub server: String,
    /// Configuration id, e.g. `c-text-utf8`.
    pub config: String,
    /// Round number, from 1.
    pub round: u32,
    /// What `wsload --json` printed.
    pub result: Record,
}

/// Echo throughput and round-trip latency over the measured interval.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadResult {
    /// Plain TCP echo (no WebSocket) when true.
    pub raw: bool,
    /// Kind of message.
    pub kind: Kind,
    /// Concurrent connections.
    pub conns: usize,
    /// Messages in flight per connection.
    pub window: usize,
    /// Payload bytes per message (text-utf8 may be below the requested size).
    pub size: usize,
    /// Length of the measured interval in seconds.
    pub seconds: f64,
    /// Echoes received during the interval.
    pub messages: u64,
    /// Echoes per second.
    pub msgs_per_sec: f64,
    /// Echoed payload, in 10^6 bytes per second, one direction.
    pub mb_per_sec: f64,
    /// The server's permessage-deflate answer, if one was negotiated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deflate: Option<String>,
    /// Compression level of the client's messages, with deflate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deflate_level: Option<u32>,
    /// The TLS version and cipher suite, over TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
    /// Bytes written per echo (frames with headers, as on the wire above TCP).
    #[serde(default)]
    pub wire_out_per_msg: f64,
    /// Bytes read per echo (the same).
    #[serde(default)]
    pub wire_in_per_msg: f64,
    /// Echoes that came back compressed, of `messages`.
    #[serde(default)]
    pub compressed_echoes: u64,
    /// Server CPU time (user + system) over the interval, % of one core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu_pct: Option<f64>,
    /// Server CPU time per echo, microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_cpu_us_per_msg: Option<f64>,
    /// Median round trip in microseconds.
    pub p50_us: f64,
    /// 99th percentile round trip in microseconds.
    pub p99_us: f64,
    /// 99.9th percentile round trip in microseconds.
    pub p999_us: f64,
    /// Slowest round trip in microseconds.
    pub max_us: f64,
}

/// Server resident memory before and after opening idle connections.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdleResult {
    /// Idle connections held open.
    pub conns: usize,
    /// Server VmRSS before connecting, KiB.
    pub rss_before_kib: u64,
    /// Server VmRSS with all connections open, KiB.
    pub rss_after_kib: u64,
    /// The difference divided by the number of connections, KiB.
    pub kib_per_conn: f64,
    /// Connections opened per second, one after the other (TCP connect and
    /// the opening handshake).
    #[serde(default)]
    pub handshakes_per_sec: f64,
}

/// Time for one message to reach every receiver.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanoutResult {
    /// Receiving connections.
    pub receivers: usize,
    /// Messages sent.
    pub messages: usize,
    /// Messages that reached every receiver in time.
    pub delivered: usize,
    /// Median time until the last receiver had a message, microseconds.
    pub p50_us: f64,
    /// 99th percentile of the same, microseconds.
    pub p99_us: f64,
    /// Slowest delivery, microseconds.
    pub max_us: f64,
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Record::Load(r) => {
                let what = match (r.raw, &r.tls) {
                    (true, None) => "raw tcp",
                    (true, Some(_)) => "raw tls",
                    (false, _) => r.kind.name(),
                };
                let plural = if r.conns == 1 { "" } else { "s" };
                writeln!(
                    f,
                    "{what}, {} B, {} conn{plural} x window {}, {:.2} s measured",
                    r.size, r.conns, r.window, r.seconds
                )?;
                writeln!(f, "  messages/s    {:>12.0}", r.msgs_per_sec)?;
                writeln!(f, "  payload MB/s  {:>12.2}", r.mb_per_sec)?;
                writeln!(
                    f,
                    "  wire B/msg    {:>12.1} out  {:.1} in",
                    r.wire_out_per_msg, r.wire_in_per_msg
                )?;
                if let Some(tls) = &r.tls {
                    writeln!(f, "  tls           {tls}")?;
                }
                if let Some(deflate) = &r.deflate {
                    writeln!(
                        f,
                        "  deflate       {deflate}  ({} of {} echoes compressed)",
                        r.compressed_echoes, r.messages
                    )?;
                }
                if let (Some(pct), Some(us)) = (r.server_cpu_pct, r.server_cpu_us_per_msg) {
                    writeln!(f, "  server CPU    {pct:>11.1}%  {us:.2} us/msg")?;
                }
                write!(
                    f,
                    "  round trip    p50 {:.1} us  p99 {:.1} us  p99.9 {:.1} us  max {:.1} us  ({} messages)",
                    r.p50_us, r.p99_us, r.p999_us, r.max_us, r.messages
                )
            }
            Record::Idle(r) => write!(
                f,
                "{} idle connections: server RSS {} KiB -> {} KiB, {:.2} KiB per connection; \
                 opened at {:.0} handshakes/s",
                r.conns, r.rss_before_kib, r.rss_after_kib, r.kib_per_conn, r.handshakes_per_sec
            ),
            Record::Fanout(r) => write!(
                f,
                "fan-out to {} receivers: {}/{} messages delivered to all, p50 {:.1} us  p99 {:.1} us  max {:.1} us",
                r.receivers, r.delivered, r.messages, r.p50_us, r.p99_us, r.max_us
            ),
        }
    }
}
