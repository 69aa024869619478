//! Turning the JSON lines of a benchmark run into medians, within-round
//! ratios and Markdown tables.
//!
//! Ratios are taken inside each round first (ours and the peers ran back to
//! back, under the same machine conditions) and only then reduced to a
//! median, which cancels most of the drift between rounds on a shared host.

use std::fmt::Write as _;

use crate::record::{Entry, Record};

/// What a server is, decided by its name: `ours-*`, `raw`, or a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// One of our servers.
    Ours,
    /// Another WebSocket implementation.
    Peer,
    /// The plain TCP echo, the physical ceiling.
    Raw,
}

impl Role {
    /// The role of the server called `name`.
    pub fn of(name: &str) -> Role {
        if name.starts_with("ours") {
            Role::Ours
        } else if name == "raw" {
            Role::Raw
        } else {
            Role::Peer
        }
    }
}

/// Everything `bench-report` prints.
#[derive(Debug, Default)]
pub struct Summary {
    /// Throughput configurations, in the order they ran.
    pub configs: Vec<ConfigSummary>,
    /// Memory per idle connection, per server.
    pub idle: Vec<IdleRow>,
    /// Broadcast latency, per server.
    pub fanout: Vec<FanoutRow>,
}

/// One throughput configuration.
#[derive(Debug)]
pub struct ConfigSummary {
    /// Configuration id from `run.sh`, e.g. `c-text-utf8`.
    pub id: String,
    /// Human description: connections, window, size, kind.
    pub title: String,
    /// One row per server, in the order they ran.
    pub rows: Vec<ServerRow>,
}

/// Medians over the rounds of one server in one configuration.
#[derive(Debug)]
pub struct ServerRow {
    /// Server name.
    pub server: String,
    /// Rounds measured.
    pub rounds: usize,
    /// Median messages per second.
    pub msgs_per_sec: f64,
    /// Slowest round, messages per second.
    pub min_msgs_per_sec: f64,
    /// Fastest round, messages per second.
    pub max_msgs_per_sec: f64,
    /// Median payload MB/s.
    pub mb_per_sec: f64,
    /// Median of the rounds' p50 round trips, microseconds.
    pub p50_us: f64,
    /// Median of the rounds' p99 round trips, microseconds.
    pub p99_us: f64,
    /// Median over rounds of msgs/s divided by the best peer's in that round.
    pub vs_best_peer: Option<f64>,
    /// Median over rounds of msgs/s divided by raw TCP's in that round.
    pub vs_raw: Option<f64>,
}

/// Memory per idle connection of one server.
#[derive(Debug)]
pub struct IdleRow {
    /// Configuration id from `run.sh`, e.g. `e`.
    pub config: String,
    /// Server name.
    pub server: String,
    /// Connections held open.
    pub conns: usize,
    /// Median KiB of server RSS per connection.
    pub kib_per_conn: f64,
    /// Median server RSS with all connections open, KiB.
    pub rss_after_kib: u64,
}

/// Broadcast latency of one server (medians if it ran several times).
#[derive(Debug)]
pub struct FanoutRow {
    /// Server name.
    pub server: String,
    /// Receiving connections.
    pub receivers: usize,
    /// Messages sent per run.
    pub messages: usize,
    /// Messages that reached everyone, summed over runs.
    pub delivered: usize,
    /// Median time to reach the last receiver, microseconds.
    pub p50_us: f64,
    /// 99th percentile of the same, microseconds.
    pub p99_us: f64,
}

/// The median of `values` (mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Groups `items` by key, keeping keys in order of first appearance.
fn group_by<K: PartialEq, T>(items: impl IntoIterator<Item = (K, T)>) -> Vec<(K, Vec<T>)> {
    let mut groups: Vec<(K, Vec<T>)> = Vec::new();
    for (key, item) in items {
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push(item),
            None => groups.push((key, vec![item])),
        }
    }
    groups
}

/// Aggregates all entries of a run.
pub fn summarize(entries: &[Entry]) -> Summary {
    let mut summary = Summary::default();
    let loads = entries.iter().filter_map(|e| match &e.result {
        Record::Load(r) => Some((e.config.as_str(), (e, r))),
        _ => None,
    });
    for (config, runs) in group_by(loads) {
        let title = runs
            .iter()
            .find(|(e, _)| Role::of(&e.server) != Role::Raw)
            .or(runs.first())
            .map(|(_, r)| {
                let plural = if r.conns == 1 { "" } else { "s" };
                format!(
                    "{} conn{plural} × window {}, {} {}",
                    r.conns,
                    r.window,
                    human_size(r.size),
                    r.kind.name()
                )
            })
            .unwrap_or_default();

        // Ratios within each round.
        let mut vs_peer: Vec<(&str, f64)> = Vec::new();
        let mut vs_raw: Vec<(&str, f64)> = Vec::new();
        for (_, round) in group_by(runs.iter().map(|(e, r)| (e.round, (e, r)))) {
            let raw = round
                .iter()
                .find(|(e, _)| Role::of(&e.server) == Role::Raw)
                .map(|(_, r)| r.msgs_per_sec);
            let best_peer = round
                .iter()
                .filter(|(e, _)| Role::of(&e.server) == Role::Peer)
                .map(|(_, r)| r.msgs_per_sec)
                .reduce(f64::max);
            for (e, r) in &round {
                if let Some(best) = best_peer {
                    vs_peer.push((&e.server, r.msgs_per_sec / best));
                }
                if let Some(raw) = raw {
                    vs_raw.push((&e.server, r.msgs_per_sec / raw));
                }
            }
        }
        let ratio = |ratios: &[(&str, f64)], server: &str| {
            let values: Vec<f64> = ratios
                .iter()
                .filter(|(s, _)| *s == server)
                .map(|(_, v)| *v)
                .collect();
            (!values.is_empty()).then(|| median(&values))
        };

        let rows = group_by(runs.iter().map(|(e, r)| (e.server.as_str(), *r)))
            .into_iter()
            .map(|(server, results)| {
                let pick = |f: fn(&crate::record::LoadResult) -> f64| {
                    results.iter().map(|r| f(r)).collect::<Vec<f64>>()
                };
                let msgs = pick(|r| r.msgs_per_sec);
                ServerRow {
                    server: server.to_string(),
                    rounds: results.len(),
                    msgs_per_sec: median(&msgs),
                    min_msgs_per_sec: msgs.iter().copied().fold(f64::INFINITY, f64::min),
                    max_msgs_per_sec: msgs.iter().copied().fold(0.0, f64::max),
                    mb_per_sec: median(&pick(|r| r.mb_per_sec)),
                    p50_us: median(&pick(|r| r.p50_us)),
                    p99_us: median(&pick(|r| r.p99_us)),
                    vs_best_peer: ratio(&vs_peer, server),
                    vs_raw: ratio(&vs_raw, server),
                }
            })
            .collect();
        summary.configs.push(ConfigSummary {
            id: config.to_string(),
            title,
            rows,
        });
    }

    let idles = entries.iter().filter_map(|e| match &e.result {
        Record::Idle(r) => Some(((e.config.as_str(), e.server.as_str()), r)),
        _ => None,
    });
    for ((config, server), runs) in group_by(idles) {
        let per_conn: Vec<f64> = runs.iter().map(|r| r.kib_per_conn).collect();
        let after: Vec<f64> = runs.iter().map(|r| r.rss_after_kib as f64).collect();
        summary.idle.push(IdleRow {
            config: config.to_string(),
            server: server.to_string(),
            conns: runs[0].conns,
            kib_per_conn: median(&per_conn),
            rss_after_kib: median(&after) as u64,
        });
    }

    let fanouts = entries.iter().filter_map(|e| match &e.result {
        Record::Fanout(r) => Some((e.server.as_str(), r)),
        _ => None,
    });
    for (server, runs) in group_by(fanouts) {
        let p50: Vec<f64> = runs.iter().map(|r| r.p50_us).collect();
        let p99: Vec<f64> = runs.iter().map(|r| r.p99_us).collect();
        summary.fanout.push(FanoutRow {
            server: server.to_string(),
            receivers: runs[0].receivers,
            messages: runs.iter().map(|r| r.messages).sum(),
            delivered: runs.iter().map(|r| r.delivered).sum(),
            p50_us: median(&p50),
            p99_us: median(&p99),
        });
    }
    summary
}

/// "16 B", "16 KiB", "1 MiB", or exact bytes when not a round size.
pub fn human_size(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

/// A count with thousands separators: 1234567 -> "1,234,567".
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ratio_cell(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "–".to_string(), |r| format!("{r:.2}×"))
}

/// Renders the summary as Markdown, with `notes` as a bullet list on top.
pub fn markdown(summary: &Summary, notes: &[String]) -> String {
    let mut md = String::from("# rusty_socket benchmark results\n\n");
    for note in notes {
        let _ = writeln!(md, "- {note}");
    }
    if !notes.is_empty() {
        md.push('\n');
    }
    md.push_str(&tables(summary, "##"));
    md
}

/// The explanation and one table per configuration, idle and fan-out
/// result, each under a heading of level `heading` (`##`, `###`).
pub fn tables(summary: &Summary, heading: &str) -> String {
    let mut md = String::from(
        "Medians over rounds. Ratios are taken within each round, then the median \
         of those is shown. MB/s is echoed payload (10^6 bytes/s, one direction); \
         latency is the round trip seen by the client.\n",
    );
    for config in &summary.configs {
        let _ = write!(
            md,
            "\n{heading} ({}) {}\n\n\
             | server | msgs/s | spread (min–max) | MB/s | p50 µs | p99 µs | ÷ best peer | ÷ raw | runs |\n\
             |---|--:|--:|--:|--:|--:|--:|--:|--:|\n",
            config.id, config.title
        );
        for row in &config.rows {
            let name = match Role::of(&row.server) {
                Role::Ours => format!("**{}**", row.server),
                _ => row.server.clone(),
            };
            let _ = writeln!(
                md,
                "| {name} | {} | {}–{} | {:.2} | {:.1} | {:.1} | {} | {} | {} |",
                thousands(row.msgs_per_sec),
                thousands(row.min_msgs_per_sec),
                thousands(row.max_msgs_per_sec),
                row.mb_per_sec,
                row.p50_us,
                row.p99_us,
                ratio_cell(row.vs_best_peer),
                ratio_cell(row.vs_raw),
                row.rounds
            );
        }
    }
    if let Some(first) = summary.idle.first() {
        let _ = write!(
            md,
            "\n{heading} ({}) idle connections: server memory\n\n\
             | server | connections | KiB per connection | RSS with all open |\n\
             |---|--:|--:|--:|\n",
            first.config
        );
        for row in &summary.idle {
            let _ = writeln!(
                md,
                "| {} | {} | {:.2} | {:.1} MiB |",
                row.server,
                row.conns,
                row.kib_per_conn,
                row.rss_after_kib as f64 / 1024.0
            );
        }
    }
    if !summary.fanout.is_empty() {
        let _ = write!(
            md,
            "\n{heading} (f) chat fan-out: one message to every receiver\n\n\
             | server | receivers | delivered | p50 ms | p99 ms |\n\
             |---|--:|--:|--:|--:|\n"
        );
        for row in &summary.fanout {
            let _ = writeln!(
                md,
                "| {} | {} | {}/{} | {:.2} | {:.2} |",
                row.server,
                row.receivers,
                row.delivered,
                row.messages,
                row.p50_us / 1000.0,
                row.p99_us / 1000.0
            );
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::Kind;
    use crate::record::LoadResult;

    fn load(server: &str, round: u32, msgs: f64) -> Entry {
        Entry {
            server: server.into(),
            config: "a".into(),
            round,
            result: Record::Load(LoadResult {
                raw: server == "raw",
                kind: Kind::Binary,
                conns: 1,
                window: 1,
                size: 16,
                seconds: 1.0,
                messages: msgs as u64,
                msgs_per_sec: msgs,
                mb_per_sec: msgs * 16.0 / 1e6,
                deflate: None,
                deflate_level: None,
                tls: None,
                wire_out_per_msg: 22.0,
                wire_in_per_msg: 18.0,
                compressed_echoes: 0,
                server_cpu_pct: None,
                server_cpu_us_per_msg: None,
                p50_us: 1e6 / msgs,
                p99_us: 2e6 / msgs,
                p999_us: 3e6 / msgs,
                max_us: 4e6 / msgs,
            }),
        }
    }

    #[test]
    fn ratios_are_taken_within_rounds() {
        // Round 2 runs twice as fast for everyone: ratios must not move.
        let entries = vec![
            load("ours-tokio", 1, 80.0),
            load("peer-a", 1, 100.0),
            load("peer-b", 1, 50.0),
            load("raw", 1, 200.0),
            load("ours-tokio", 2, 160.0),
            load("peer-a", 2, 200.0),
            load("peer-b", 2, 100.0),
            load("raw", 2, 400.0),
        ];
        let summary = summarize(&entries);
        let rows = &summary.configs[0].rows;
        assert_eq!(rows[0].server, "ours-tokio");
        assert_eq!(rows[0].vs_best_peer, Some(0.8));
        assert_eq!(rows[0].vs_raw, Some(0.4));
        assert_eq!(rows[0].msgs_per_sec, 120.0);
        assert_eq!(rows[0].min_msgs_per_sec, 80.0);
        assert_eq!(rows[0].max_msgs_per_sec, 160.0);
        assert_eq!(rows[2].vs_best_peer, Some(0.5));
        assert_eq!(summary.configs[0].title, "1 conn × window 1, 16 B binary");
        let md = markdown(&summary, &["note".into()]);
        assert!(md.contains("| **ours-tokio** | 120 | 80–160 |"), "{md}");
    }

    #[test]
    fn formatting_helpers() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(human_size(16), "16 B");
        assert_eq!(human_size(16384), "16 KiB");
        assert_eq!(human_size(1 << 20), "1 MiB");
        assert_eq!(human_size(16382), "16382 B");
    }
}
