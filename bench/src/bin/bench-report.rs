//! `bench-report`: reads the JSON lines collected by `bench/run.sh` and
//! writes the Markdown tables and the SVG chart.

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rusty_socket_bench::deflate_report::{self, CeilingCase};
use rusty_socket_bench::record::Entry;
use rusty_socket_bench::section::{self, Section};
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
    /// Where to write the SVG chart (not with --compression or --tls).
    #[arg(long, required_unless_present_any = ["compression", "tls"])]
    svg: Option<PathBuf>,
    /// A line for the list at the top of the Markdown (repeatable).
    #[arg(long)]
    note: Vec<String>,
    /// Write only the compression section (configurations (g) on), into
    /// the Markdown file in place of an earlier one; the rest of the file
    /// is kept. Without it or --tls the whole file is rewritten but the
    /// existing compression and TLS sections are kept.
    #[arg(long, conflicts_with = "tls")]
    compression: bool,
    /// Write only the TLS section (configurations (j) on, over wss://), in
    /// place of an earlier one; the rest of the file is kept.
    #[arg(long)]
    tls: bool,
    /// With --compression: the JSON lines of `deflate_ceiling --json`.
    #[arg(long)]
    ceiling: Option<PathBuf>,
    /// With --compression: `ID=TITLE` of a configuration, in order.
    #[arg(long, value_parser = key_value)]
    config: Vec<(String, String)>,
    /// With --compression or --tls: `SERVER=SETTINGS` (e.g.
    /// `ours-tokio=level 1, ...`).
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
    write_section(args, section::COMPRESSION, &section)
}

fn tls(args: &Args) -> Result<(), Box<dyn Error>> {
    let entries: Vec<Entry> = read_lines(&args.input)?;
    let summary = report::summarize(&entries);
    let mut md = section::head(section::TLS, "TLS: wss://", &args.note);
    md.push_str(&section::describe_table(&args.describe));
    md.push('\n');
    md.push_str(&report::tables(&summary, "###"));
    md.push_str(&goals::markdown(
        &goals::check(&summary, &goals::TLS),
        "###",
    ));
    md.push_str(&format!("\n{}\n", section::TLS.end));
    write_section(args, section::TLS, &md)
}

/// Puts `text` into the Markdown file as its `section`, keeping the rest.
fn write_section(args: &Args, section: Section, text: &str) -> Result<(), Box<dyn Error>> {
    let existing = std::fs::read_to_string(&args.markdown).unwrap_or_default();
    std::fs::write(&args.markdown, section.splice(&existing, text))
        .map_err(|e| format!("writing {}: {e}", args.markdown.display()))?;
    print!("{text}");
    Ok(())
}

fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    if args.compression {
        return compression(args);
    }
    if args.tls {
        return tls(args);
    }
    let entries: Vec<Entry> = read_lines(&args.input)?;
    let summary = report::summarize(&entries);
    let mut markdown = report::markdown(&summary, &args.note);
    markdown.push_str(&goals::markdown(
        &goals::check(&summary, &goals::CLASSIC),
        "##",
    ));
    // Sections written by earlier runs of the other suites stay.
    let existing = std::fs::read_to_string(&args.markdown).unwrap_or_default();
    for section in section::ALL {
        if let Some(text) = section.extract(&existing) {
            markdown = section.splice(&markdown, &format!("{text}\n"));
        }
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
