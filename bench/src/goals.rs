//! The goals of the perf issue (classic suite) and of the TLS issue (TLS
//! suite), checked against a run's summary: each says what was measured for
//! one of our servers, what it had to reach, and whether it did.

use std::fmt::Write as _;

use crate::report::{ConfigSummary, Summary};

/// The server the classic goals are about.
pub const SERVER: &str = "ours-tokio";

/// A suite's goals.
#[derive(Debug)]
pub struct Goals {
    /// Our servers they are checked for.
    pub servers: &'static [&'static str],
    /// What each configuration must reach.
    targets: &'static [Target],
    /// Idle server memory per connection allowed, KiB, if there is a limit.
    idle_kib: Option<f64>,
}

/// The perf issue's goals for the classic suite, (a) to (e).
pub const CLASSIC: Goals = Goals {
    servers: &[SERVER],
    targets: TARGETS,
    idle_kib: Some(2.0),
};

/// Issue 12's goals for the TLS suite: (j) pipelined small messages at
/// ≥ 0.9× the raw TLS echo, (k) 1 MiB messages within 5% of it, for both
/// adapters; (l), idle memory, is only recorded.
pub const TLS: Goals = Goals {
    servers: &["ours-tokio", "ours-std"],
    targets: &[
        Target {
            prefix: "j",
            vs_raw: 0.9,
            vs_best_peer: None,
        },
        Target {
            prefix: "k",
            vs_raw: 0.95,
            vs_best_peer: None,
        },
    ],
    idle_kib: None,
};

/// What a configuration's row must reach.
#[derive(Debug)]
struct Target {
    /// Configuration ids it applies to (their prefix: `c` covers `c-binary`,
    /// `c-text-ascii` and `c-text-utf8`).
    prefix: &'static str,
    /// Least ratio to raw TCP echo.
    vs_raw: f64,
    /// Least ratio to the best peer, if the goal has one.
    vs_best_peer: Option<f64>,
}

const TARGETS: &[Target] = &[
    Target {
        prefix: "a",
        vs_raw: 0.97,
        vs_best_peer: None,
    },
    Target {
        prefix: "b",
        vs_raw: 0.9,
        vs_best_peer: Some(1.5),
    },
    Target {
        prefix: "c",
        vs_raw: 0.9,
        vs_best_peer: None,
    },
    Target {
        prefix: "d",
        vs_raw: 1.0,
        vs_best_peer: Some(1.0),
    },
];

/// One goal's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Configuration id.
    pub config: String,
    /// Which of our servers.
    pub server: String,
    /// What was measured, e.g. `0.95× raw, 1.60× best peer`.
    pub measured: String,
    /// What was needed, e.g. `≥ 0.90× raw, ≥ 1.50× best peer`.
    pub needed: String,
    /// Whether every part was reached.
    pub met: bool,
}

fn applies(target: &Target, config: &ConfigSummary) -> bool {
    config.id == target.prefix || config.id.starts_with(&format!("{}-", target.prefix))
}

/// The verdicts for every goal that the summary has data for.
pub fn check(summary: &Summary, goals: &Goals) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    for config in &summary.configs {
        let Some(target) = goals.targets.iter().find(|t| applies(t, config)) else {
            continue;
        };
        for &server in goals.servers {
            let Some(row) = config.rows.iter().find(|r| r.server == server) else {
                continue;
            };
            let Some(vs_raw) = row.vs_raw else {
                continue;
            };
            let mut measured = format!("{vs_raw:.2}× raw");
            let mut needed = format!("≥ {:.2}× raw", target.vs_raw);
            let mut met = vs_raw >= target.vs_raw;
            if let Some(least) = target.vs_best_peer {
                let _ = write!(needed, ", ≥ {least:.2}× best peer");
                match row.vs_best_peer {
                    Some(vs_peer) => {
                        let _ = write!(measured, ", {vs_peer:.2}× best peer");
                        met &= vs_peer >= least;
                    }
                    None => {
                        measured.push_str(", no peer measured");
                        met = false;
                    }
                }
            }
            verdicts.push(Verdict {
                config: config.id.clone(),
                server: server.to_string(),
                measured,
                needed,
                met,
            });
        }
    }
    if let Some(limit) = goals.idle_kib {
        for &server in goals.servers {
            if let Some(idle) = summary.idle.iter().find(|r| r.server == server) {
                verdicts.push(Verdict {
                    config: idle.config.clone(),
                    server: server.to_string(),
                    measured: format!("{:.2} KiB per idle connection", idle.kib_per_conn),
                    needed: format!("≤ {limit:.2} KiB"),
                    met: idle.kib_per_conn <= limit,
                });
            }
        }
    }
    verdicts
}

/// The verdicts as a Markdown section under a heading of level `heading`
/// (empty if there are none).
pub fn markdown(verdicts: &[Verdict], heading: &str) -> String {
    if verdicts.is_empty() {
        return String::new();
    }
    let mut md = format!(
        "\n{heading} Goals (medians of same-round ratios)\n\n\
         | config | server | measured | goal | met |\n|---|---|--:|--:|:-:|\n"
    );
    for v in verdicts {
        let met = if v.met { "yes" } else { "**no**" };
        let _ = writeln!(
            md,
            "| ({}) | {} | {} | {} | {met} |",
            v.config, v.server, v.measured, v.needed
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{IdleRow, ServerRow};

    fn row(server: &str, vs_raw: f64, vs_best_peer: f64) -> ServerRow {
        ServerRow {
            server: server.into(),
            rounds: 3,
            msgs_per_sec: 1.0,
            min_msgs_per_sec: 1.0,
            max_msgs_per_sec: 1.0,
            mb_per_sec: 1.0,
            p50_us: 1.0,
            p99_us: 1.0,
            vs_best_peer: Some(vs_best_peer),
            vs_raw: Some(vs_raw),
        }
    }

    fn config(id: &str, rows: Vec<ServerRow>) -> ConfigSummary {
        ConfigSummary {
            id: id.into(),
            title: String::new(),
            rows,
        }
    }

    #[test]
    fn every_part_of_a_goal_must_be_reached() {
        let summary = Summary {
            configs: vec![
                config("a", vec![row(SERVER, 0.98, 1.0)]),
                // Fast enough against raw, not against the peers.
                config(
                    "b",
                    vec![row(SERVER, 0.95, 1.2), row("tungstenite", 0.7, 1.0)],
                ),
                config("c-text-utf8", vec![row(SERVER, 0.89, 2.0)]),
                config("d-binary", vec![row(SERVER, 1.01, 1.0)]),
                // Not one of ours: ignored.
                config("a", vec![row("raw", 1.0, 1.5)]),
            ],
            idle: vec![IdleRow {
                config: "e".into(),
                server: SERVER.into(),
                conns: 5000,
                kib_per_conn: 1.77,
                rss_after_kib: 12_000,
            }],
            fanout: Vec::new(),
        };
        let verdicts = check(&summary, &CLASSIC);
        let met: Vec<(&str, bool)> = verdicts
            .iter()
            .map(|v| (v.config.as_str(), v.met))
            .collect();
        assert_eq!(
            met,
            [
                ("a", true),
                ("b", false),
                ("c-text-utf8", false),
                ("d-binary", true),
                ("e", true)
            ]
        );
        assert_eq!(verdicts[1].measured, "0.95× raw, 1.20× best peer");
        assert_eq!(verdicts[1].needed, "≥ 0.90× raw, ≥ 1.50× best peer");
        let md = markdown(&verdicts, "##");
        assert!(md.contains(
            "| (b) | ours-tokio | 0.95× raw, 1.20× best peer | ≥ 0.90× raw, ≥ 1.50× best peer | **no** |"
        ));
        assert!(
            md.contains("| (e) | ours-tokio | 1.77 KiB per idle connection | ≤ 2.00 KiB | yes |")
        );
    }

    #[test]
    fn tls_goals_cover_both_adapters_against_raw_tls() {
        let summary = Summary {
            configs: vec![
                config(
                    "j",
                    vec![row("ours-tokio", 0.91, 1.3), row("ours-std", 0.85, 1.2)],
                ),
                config(
                    "k",
                    vec![row("ours-tokio", 0.94, 1.0), row("ours-std", 0.96, 1.0)],
                ),
            ],
            idle: vec![IdleRow {
                config: "l".into(),
                server: "ours-tokio".into(),
                conns: 2000,
                kib_per_conn: 40.0,
                rss_after_kib: 90_000,
            }],
            fanout: Vec::new(),
        };
        let verdicts = check(&summary, &TLS);
        let met: Vec<(&str, &str, bool)> = verdicts
            .iter()
            .map(|v| (v.config.as_str(), v.server.as_str(), v.met))
            .collect();
        assert_eq!(
            met,
            [
                ("j", "ours-tokio", true),
                ("j", "ours-std", false),
                ("k", "ours-tokio", false),
                ("k", "ours-std", true)
            ]
        );
        assert_eq!(verdicts[2].needed, "≥ 0.95× raw");
    }
}
