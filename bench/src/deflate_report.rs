//! The compression section of `bench/results.md`: configurations (g) and (h)
//! (JSON echoes with permessage-deflate), (i) idle compressed connections,
//! the in-process ceiling of `deflate_ceiling`, and the compression goals.
//!
//! It is a [`section`](crate::section) of its own: rewritten alone by a
//! compression run, and kept when a full run rewrites the rest.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::record::{Entry, Record};
use crate::report::{median, thousands};
use crate::section::{self, COMPRESSION};

/// One case of `deflate_ceiling`: inflate + deflate of one payload, one core.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CeilingCase {
    /// Payload bytes (JSON).
    pub size: usize,
    /// zlib level.
    pub level: u32,
    /// Compressed length over payload length.
    pub ratio: f64,
    /// Compressed length in bytes (without the sync tail).
    pub compressed: usize,
    /// Inflate + deflate pairs per second.
    pub echoes_per_sec: f64,
    /// Payload bytes echoed per second, 10^6 B/s.
    pub mb_per_sec: f64,
    /// One inflate, microseconds.
    pub inflate_us: f64,
    /// One deflate, microseconds.
    pub deflate_us: f64,
}

/// Medians over the rounds of one server in one configuration.
#[derive(Debug, Clone)]
pub struct Row {
    /// Server name.
    pub server: String,
    /// Payload size.
    pub size: usize,
    /// Echoes per second (median).
    pub msgs_per_sec: f64,
    /// Lowest and highest over rounds.
    pub spread: (f64, f64),
    /// Client to server bytes per echo.
    pub wire_out: f64,
    /// Server to client bytes per echo.
    pub wire_in: f64,
    /// Share of echoes that came back compressed.
    pub compressed_share: f64,
    /// Server CPU, % of one core.
    pub cpu_pct: Option<f64>,
    /// Server CPU per echo, microseconds.
    pub cpu_us: Option<f64>,
    /// Median round trip.
    pub p50_us: f64,
    /// The server's extension answer.
    pub answer: String,
    /// Rounds.
    pub rounds: usize,
}

/// Summarises the load entries of one configuration, servers in order of
/// first appearance.
pub fn rows(entries: &[Entry], config: &str) -> Vec<Row> {
    let mut servers: Vec<&str> = Vec::new();
    for e in entries.iter().filter(|e| e.config == config) {
        if !servers.contains(&e.server.as_str()) {
            servers.push(&e.server);
        }
    }
    let opt_median = |v: Vec<f64>| (!v.is_empty()).then(|| median(&v));
    servers
        .into_iter()
        .filter_map(|server| {
            let runs: Vec<_> = entries
                .iter()
                .filter(|e| e.config == config && e.server == server)
                .filter_map(|e| match &e.result {
                    Record::Load(r) => Some(r),
                    _ => None,
                })
                .collect();
            let first = runs.first()?;
            let each = |f: &dyn Fn(&crate::record::LoadResult) -> f64| {
                runs.iter().map(|r| f(r)).collect::<Vec<_>>()
            };
            let msgs = each(&|r| r.msgs_per_sec);
            Some(Row {
                server: server.to_string(),
                size: first.size,
                msgs_per_sec: median(&msgs),
                spread: (
                    msgs.iter().cloned().fold(f64::INFINITY, f64::min),
                    msgs.iter().cloned().fold(0.0, f64::max),
                ),
                wire_out: median(&each(&|r| r.wire_out_per_msg)),
                wire_in: median(&each(&|r| r.wire_in_per_msg)),
                compressed_share: median(&each(&|r| {
                    r.compressed_echoes as f64 / r.messages.max(1) as f64
                })),
                cpu_pct: opt_median(runs.iter().filter_map(|r| r.server_cpu_pct).collect()),
                cpu_us: opt_median(
                    runs.iter()
                        .filter_map(|r| r.server_cpu_us_per_msg)
                        .collect(),
                ),
                p50_us: median(&each(&|r| r.p50_us)),
                answer: first.deflate.clone().unwrap_or_else(|| "none".into()),
                rounds: runs.len(),
            })
        })
        .collect()
}

fn is_ours(server: &str) -> bool {
    server.starts_with("ours")
}

/// Renders the section, markers included. `configs` are (id, title) in
/// order; `describe` gives each server's settings; `default_level` is the
/// level of our default settings.
pub fn markdown(
    entries: &[Entry],
    configs: &[(String, String)],
    ceiling: &[CeilingCase],
    describe: &[(String, String)],
    notes: &[String],
) -> String {
    let mut md = section::head(COMPRESSION, "Compression: permessage-deflate", notes);
    md.push_str(
        "\nMedians over rounds. B/msg are WebSocket bytes per echo (frame headers \
         included, TCP/IP not): client→server is what wsload sends (its level and \
         the window the server allows it), server→client is what the server's \
         compressor made of it. Server CPU is utime+stime from /proc/PID/stat over \
         the measured interval.\n",
    );
    md.push_str(&section::describe_table(describe));
    let mut all_rows = Vec::new();
    for (id, title) in configs {
        let rows = rows(entries, id);
        if rows.is_empty() {
            continue;
        }
        let _ = write!(
            md,
            "\n### ({id}) {title}\n\n\
             | server | msgs/s | spread (min–max) | MB/s | client→server B/msg | server→client B/msg | compressed | server CPU | CPU µs/msg | p50 µs | runs |\n\
             |---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n"
        );
        for row in &rows {
            let name = if is_ours(&row.server) {
                format!("**{}**", row.server)
            } else {
                row.server.clone()
            };
            let _ = writeln!(
                md,
                "| {name} | {} | {}–{} | {:.1} | {:.1} | {:.1} | {:.0}% | {} | {} | {:.1} | {} |",
                thousands(row.msgs_per_sec),
                thousands(row.spread.0),
                thousands(row.spread.1),
                row.msgs_per_sec * row.size as f64 / 1e6,
                row.wire_out,
                row.wire_in,
                100.0 * row.compressed_share,
                row.cpu_pct.map_or("–".into(), |p| format!("{p:.0}%")),
                row.cpu_us.map_or("–".into(), |u| format!("{u:.2}")),
                row.p50_us,
                row.rounds
            );
        }
        let _ = writeln!(md, "\nNegotiated:");
        for row in &rows {
            let _ = writeln!(md, "- {}: `{}`", row.server, row.answer);
        }
        all_rows.push((id.clone(), rows));
    }
    let idle: Vec<_> = entries
        .iter()
        .filter_map(|e| match &e.result {
            Record::Idle(r) => Some((e.server.as_str(), r)),
            _ => None,
        })
        .collect();
    if !idle.is_empty() {
        md.push_str(
            "\n### (i) idle connections with permessage-deflate negotiated: server memory\n\n\
             | server | connections | KiB per connection (median) | runs |\n|---|--:|--:|--:|\n",
        );
        let mut servers: Vec<&str> = Vec::new();
        for (s, _) in &idle {
            if !servers.contains(s) {
                servers.push(s);
            }
        }
        for server in servers {
            let runs: Vec<_> = idle.iter().filter(|(s, _)| *s == server).collect();
            let kib: Vec<f64> = runs.iter().map(|(_, r)| r.kib_per_conn).collect();
            let _ = writeln!(
                md,
                "| {server} | {} | {:.2} | {} |",
                runs[0].1.conns,
                median(&kib),
                runs.len()
            );
        }
    }
    if !ceiling.is_empty() {
        md.push_str(
            "\n### Ceiling: one inflate + one deflate per echo, in process, one core\n\n\
             flate2 on zlib-rs, 15-bit windows, both engines reset after every message \
             (`bench/src/bin/deflate_ceiling.rs`, pinned to the server core).\n\n\
             | JSON size | level | ratio | echoes/s | MB/s | inflate µs | deflate µs |\n\
             |--:|--:|--:|--:|--:|--:|--:|\n",
        );
        for c in ceiling {
            let _ = writeln!(
                md,
                "| {} | {} | {:.3} | {} | {:.1} | {:.2} | {:.2} |",
                c.size,
                c.level,
                c.ratio,
                thousands(c.echoes_per_sec),
                c.mb_per_sec,
                c.inflate_us,
                c.deflate_us
            );
        }
    }
    md.push_str(&goals(&all_rows, ceiling, describe));
    let _ = writeln!(md, "\n{}", COMPRESSION.end);
    md
}

/// The level a server ran at, from its description ("level N").
fn level_of(server: &str, describe: &[(String, String)]) -> Option<u32> {
    let text = &describe.iter().find(|(s, _)| s == server)?.1;
    let at = text.find("level ")? + "level ".len();
    text[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn goals(
    configs: &[(String, Vec<Row>)],
    ceiling: &[CeilingCase],
    describe: &[(String, String)],
) -> String {
    let mut md = String::from(
        "\n### Compression goals\n\n\
         1. For each peer, a setting of ours at least as fast with no more bytes \
         server→client per echo (the direction the server's compressor decides; 1% \
         slack for frame-header differences).\n\
         2. Our default settings (level 1) at ≥ 80% of the ceiling for their level \
         and size.\n\n\
         | config | goal | result | met |\n|---|---|---|:-:|\n",
    );
    for (id, rows) in configs {
        for peer in rows.iter().filter(|r| !is_ours(&r.server)) {
            let best = rows
                .iter()
                .filter(|r| is_ours(&r.server) && r.wire_in <= peer.wire_in * 1.01)
                .max_by(|a, b| a.msgs_per_sec.total_cmp(&b.msgs_per_sec));
            let (text, met) = match best {
                Some(best) => (
                    format!(
                        "{} {} msgs/s at {:.0} B vs {} {} msgs/s at {:.0} B: {:.2}×",
                        best.server,
                        thousands(best.msgs_per_sec),
                        best.wire_in,
                        peer.server,
                        thousands(peer.msgs_per_sec),
                        peer.wire_in,
                        best.msgs_per_sec / peer.msgs_per_sec
                    ),
                    best.msgs_per_sec >= peer.msgs_per_sec,
                ),
                None => (
                    format!(
                        "no setting of ours at ≤ {:.0} B server→client",
                        peer.wire_in
                    ),
                    false,
                ),
            };
            let _ = writeln!(
                md,
                "| {id} | ≥ {} at ≤ its bytes | {text} | {} |",
                peer.server,
                if met { "✅" } else { "❌" }
            );
        }
        for row in rows.iter().filter(|r| is_ours(&r.server)) {
            let Some(level) = level_of(&row.server, describe) else {
                continue;
            };
            let Some(c) = ceiling
                .iter()
                .find(|c| c.level == level && c.size == row.size)
            else {
                continue;
            };
            let share = row.msgs_per_sec / c.echoes_per_sec;
            let _ = writeln!(
                md,
                "| {id} | {} ≥ 80% of ceiling (level {level}) | {} of {} msgs/s: {:.0}% | {} |",
                row.server,
                thousands(row.msgs_per_sec),
                thousands(c.echoes_per_sec),
                100.0 * share,
                if share >= 0.8 { "✅" } else { "❌" }
            );
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_from_descriptions() {
        assert_eq!(
            level_of("a", &[("a".into(), "zlib level 5, 12-bit".into())]),
            Some(5)
        );
    }
}
