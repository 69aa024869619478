//! `bench-report`: reads the JSON lines collected by `bench/run.sh` and
//! writes the Markdown tables and the SVG chart.

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
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
    /// Where to write the SVG chart.
    #[arg(long)]
    svg: PathBuf,
    /// A line for the list at the top of the Markdown (repeatable).
    #[arg(long)]
    note: Vec<String>,
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let input = std::fs::read_to_string(&args.input)
        .map_err(|e| format!("reading {}: {e}", args.input.display()))?;
    let entries = input
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str::<Entry>(line)
                .map_err(|e| format!("{} line {}: {e}", args.input.display(), i + 1))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let summary = report::summarize(&entries);
    let mut markdown = report::markdown(&summary, &args.note);
    markdown.push_str(&goals::markdown(&goals::check(&summary)));
    std::fs::write(&args.markdown, &markdown)
        .map_err(|e| format!("writing {}: {e}", args.markdown.display()))?;
    std::fs::write(&args.svg, svg::chart(&summary))
        .map_err(|e| format!("writing {}: {e}", args.svg.display()))?;
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
