//! `bench-report`: reads the JSON lines collected by `bench/run.sh` and
//! writes the Markdown tables and the SVG chart.

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rusty_socket_bench::deflate_report::{self, CeilingCase};
use rusty_socket_bench::record::Entry;
use rusty_socket_bench::{goals, report, svg};

/// Summarise a benchmark run: medians, within-round ratios, chart.
#[derive(Debug, Parser)]
struct Args {
    /// The JSON lines file written by run.sh.
    #[arg(long)]
    input: PathBuf,
    /// Where to write the Markdown tables (also printed to stdout).
    #[arg(long)]
    markdown: PathBuf,
    /// Where to write the SVG chart (not with --compression).
    #[arg(long, required_unless_present = "compression")]
    svg: Option<PathBuf>,
    /// A line for the list at the top of the Markdown (repeatable).
    #[arg(long)]
    note: Vec<String>,
    /// Write only the compression section (configurations (g) on), into
    /// the Markdown file in place of an earlier one; the rest of the file
    /// is kept. Without it the whole file is rewritten but an existing
    /// compression section is kept.
    #[arg(long)]
    compression: bool,
    /// With --compression: the JSON lines of `deflate_ceiling --json`.
    #[arg(long)]
    ceiling: Option<PathBuf>,
    /// With --compression: `ID=TITLE` of a configuration, in order.
    #[arg(long, value_parser = key_value)]
    config: Vec<(String, String)>,
    /// With --compression: `SERVER=SETTINGS` (e.g. `ours-tokio=level 1, ...`).
    #[arg(long, value_parser = key_value)]
    describe: Vec<(String, String)>,
}

fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {text:?}"))
}

fn read_lines<T: serde::de::DeserializeOwned>(path: &PathBuf) -> Result<Vec<T>, Box<dyn Error>> {
    let input =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    Ok(input
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str::<T>(line)
                .map_err(|e| format!("{} line {}: {e}", path.display(), i + 1))
        })
        .collect::<Result<Vec<_>, _>>()?)
}

fn compression(args: &Args) -> Result<(), Box<dyn Error>> {
    let entries: Vec<Entry> = read_lines(&args.input)?;
    let ceiling: Vec<CeilingCase> = match &args.ceiling {
        Some(path) => read_lines(path)?,
        None => Vec::new(),
    };
    let section =
        deflate_report::markdown(&entries, &args.config, &ceiling, &args.describe, &args.note);
    let existing = std::fs::read_to_string(&args.markdown).unwrap_or_default();
    std::fs::write(&args.markdown, deflate_report::splice(&existing, &section))
        .map_err(|e| format!("writing {}: {e}", args.markdown.display()))?;
    print!("{section}");
    Ok(())
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    if args.compression {
        return compression(args);
    }
    let entries: Vec<Entry> = read_lines(&args.input)?;
    let summary = report::summarize(&entries);
    let mut markdown = report::markdown(&summary, &args.note);
    markdown.push_str(&goals::markdown(&goals::check(&summary)));
    // A compression section written by an earlier compression run stays.
    let existing = std::fs::read_to_string(&args.markdown).unwrap_or_default();
    if let Some(section) = deflate_report::extract(&existing) {
        markdown = deflate_report::splice(&markdown, &format!("{section}\n"));
    }
    std::fs::write(&args.markdown, &markdown)
        .map_err(|e| format!("writing {}: {e}", args.markdown.display()))?;
    let svg_path = args.svg.as_ref().ok_or("--svg is required")?;
    std::fs::write(svg_path, svg::chart(&summary))
        .map_err(|e| format!("writing {}: {e}", svg_path.display()))?;
    print!("{markdown}");
    Ok(())
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-report: {e}");
            ExitCode::FAILURE
        }
    }
}
