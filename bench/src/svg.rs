//! A bar chart of the throughput configurations as a standalone SVG, written
//! by hand: a dozen rectangles do not need a plotting crate.
//!
//! Each bar is a server's median throughput as a fraction of raw TCP in the
//! same configuration (so every configuration shares one scale); where raw
//! was not measured, it is the fraction of the fastest server instead.

use std::fmt::Write as _;

use crate::report::{thousands, Role, Summary};

const WIDTH: f64 = 960.0;
const LABEL_X: f64 = 16.0;
const BAR_X: f64 = 170.0;
const BAR_MAX: f64 = 560.0;
const BAR_H: f64 = 16.0;
const BAR_GAP: f64 = 4.0;
const HEADER_H: f64 = 26.0;
const TOP: f64 = 56.0;

/// Colours of the peers and of ours (oranges), assigned in order of first
/// appearance.
const PEER_COLOURS: [&str; 4] = ["#1c7ed6", "#2f9e44", "#7048e8", "#0c8599"];
const OURS_COLOURS: [&str; 2] = ["#e8590c", "#ffa94d"];
const RAW_COLOUR: &str = "#868e96";

/// Renders the chart.
pub fn chart(summary: &Summary) -> String {
    let mut peers: Vec<&str> = Vec::new();
    let mut ours: Vec<&str> = Vec::new();
    let mut body = String::new();
    let mut y = TOP;

    // One scale for all groups: ratios to raw are at most a little above 1.
    let bars: Vec<Vec<(&str, f64, String)>> = summary
        .configs
        .iter()
        .map(|config| {
            let fastest = config
                .rows
                .iter()
                .map(|r| r.msgs_per_sec)
                .fold(0.0, f64::max);
            config
                .rows
                .iter()
                .map(|row| {
                    let msgs = thousands(row.msgs_per_sec);
                    match row.vs_raw {
                        Some(ratio) => (
                            row.server.as_str(),
                            ratio,
                            format!("{ratio:.2}× raw · {msgs} msg/s"),
                        ),
                        None => (
                            row.server.as_str(),
                            row.msgs_per_sec / fastest,
                            format!("{msgs} msg/s"),
                        ),
                    }
                })
                .collect()
        })
        .collect();
    let scale_max = bars
        .iter()
        .flatten()
        .map(|(_, v, _)| *v)
        .filter(|v| v.is_finite())
        .fold(1.0, f64::max);

    for (config, group) in summary.configs.iter().zip(&bars) {
        let _ = writeln!(
            body,
            r#"<text x="{LABEL_X}" y="{:.1}" class="h">({}) {}</text>"#,
            y + 16.0,
            escape(&config.id),
            escape(&config.title)
        );
        y += HEADER_H;
        for (server, value, label) in group {
            let colour = match Role::of(server) {
                Role::Ours => pick(&mut ours, server, &OURS_COLOURS),
                Role::Raw => RAW_COLOUR,
                Role::Peer => pick(&mut peers, server, &PEER_COLOURS),
            };
            let width = if value.is_finite() {
                (value / scale_max * BAR_MAX).max(1.0)
            } else {
                1.0
            };
            let _ = writeln!(
                body,
                r#"<text x="{BAR_X_LABEL}" y="{ty:.1}" class="s">{name}</text><rect x="{BAR_X}" y="{y:.1}" width="{width:.1}" height="{BAR_H}" fill="{colour}"/><text x="{tx:.1}" y="{ty:.1}" class="v">{label}</text>"#,
                BAR_X_LABEL = BAR_X - 8.0,
                ty = y + BAR_H - 4.0,
                name = escape(server),
                tx = BAR_X + width + 6.0,
                label = escape(label),
            );
            y += BAR_H + BAR_GAP;
        }
        y += BAR_GAP * 2.0;
    }

    let one = BAR_X + BAR_MAX / scale_max;
    let height = y + 16.0;
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="sans-serif">
<style>.t{{font-size:17px;font-weight:bold}}.h{{font-size:13px;font-weight:bold}}.s{{font-size:12px;text-anchor:end}}.v{{font-size:11px;fill:#495057}}</style>
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="{LABEL_X}" y="26" class="t">Echo throughput relative to raw TCP (median of per-round ratios)</text>
<line x1="{one:.1}" y1="{top:.1}" x2="{one:.1}" y2="{bottom:.1}" stroke="#adb5bd" stroke-dasharray="4 3"/>
<text x="{one:.1}" y="{label_y:.1}" class="v" text-anchor="middle">1.0× raw</text>
{body}</svg>
"##,
        top = TOP,
        bottom = y,
        label_y = TOP - 4.0,
    )
}

/// The colour of `server`: by its index among the servers seen so far.
fn pick<'a>(seen: &mut Vec<&'a str>, server: &'a str, palette: &[&'static str]) -> &'static str {
    let index = seen.iter().position(|s| *s == server).unwrap_or_else(|| {
        seen.push(server);
        seen.len() - 1
    });
    palette[index % palette.len()]
}

/// Escapes text for use inside an SVG element.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ConfigSummary, ServerRow};

    fn row(server: &str, msgs: f64, vs_raw: Option<f64>) -> ServerRow {
        ServerRow {
            server: server.into(),
            rounds: 1,
            msgs_per_sec: msgs,
            min_msgs_per_sec: msgs,
            max_msgs_per_sec: msgs,
            mb_per_sec: 0.0,
            p50_us: 0.0,
            p99_us: 0.0,
            vs_best_peer: None,
            vs_raw,
        }
    }

    #[test]
    fn one_bar_per_server() {
        let summary = Summary {
            configs: vec![ConfigSummary {
                id: "a".into(),
                title: "1 conn <x>".into(),
                rows: vec![
                    row("ours-tokio", 50.0, Some(0.5)),
                    row("tungstenite", 40.0, Some(0.4)),
                    row("raw", 100.0, Some(1.0)),
                ],
            }],
            ..Summary::default()
        };
        let svg = chart(&summary);
        assert_eq!(svg.matches("<rect").count(), 4, "background and 3 bars");
        assert!(svg.contains("1 conn &lt;x&gt;"));
        assert!(svg.contains(OURS_COLOURS[0]) && svg.contains(RAW_COLOUR));
        assert!(svg.contains(r#"width="280.0""#), "0.5 of 560 px");
    }
}
