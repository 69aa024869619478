//! `wsload`: a WebSocket load generator that costs the server under test as
//! little as possible. See `wsload --help` and `bench/run.sh`.

use std::error::Error as StdError;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use rusty_socket_bench::deflate::{self, DeflateOffer};
use rusty_socket_bench::load::LoadConfig;
use rusty_socket_bench::payload::Kind;
use rusty_socket_bench::record::Record;
use rusty_socket_bench::target::Target;
use rusty_socket_bench::{check, fanout, idle, load, spread, Error};

/// WebSocket (or plain TCP) echo load generator.
///
/// Modes: the default load run; `--check` (one echo per boundary size, exit
/// status 1 on any mismatch); `--idle N --pid P` (server RSS per idle
/// connection); `--fanout N` (broadcast latency to N receivers);
/// `--spread-receive N` and `--spread-send` (a broadcast's latency to
/// receivers in several processes, on several servers).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Server URL, ws:// or wss:// (with --ca). With --raw only the scheme,
    /// host and port count: wss:// is a TLS echo, ws:// a TCP one.
    #[arg(long, default_value = "ws://127.0.0.1:9001/")]
    url: String,
    /// PEM file of the CA certificate that signed a wss:// server's; the
    /// only one trusted. The TLS handshake happens before anything is timed.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Server address host:port (plain TCP), instead of --url (requests `/`).
    #[arg(long, conflicts_with_all = ["url", "ca"])]
    addr: Option<String>,
    /// Number of connections.
    #[arg(long, default_value_t = 1)]
    conns: usize,
    /// Messages in flight per connection.
    #[arg(long, default_value_t = 1)]
    window: usize,
    /// Payload size in bytes (text-utf8 rounds down to a character boundary).
    #[arg(long, default_value_t = 16)]
    size: usize,
    /// Kind of message.
    #[arg(long, value_enum, default_value_t = Kind::Binary)]
    kind: Kind,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Compare every echoed byte with what was sent.
    #[arg(long)]
    verify: bool,
    /// Plain echo: no WebSocket handshake, no framing; size-byte blocks.
    #[arg(long)]
    raw: bool,
    /// Print one JSON line instead of the human-readable report.
    #[arg(long)]
    json: bool,
    /// Send one message of each boundary size and kind, verify each echo.
    #[arg(long, group = "mode", conflicts_with = "raw")]
    check: bool,
    /// Open this many idle connections and report server RSS per connection.
    #[arg(long, group = "mode", requires = "pid", value_name = "N")]
    idle: Option<usize>,
    /// Server process id: for --idle (required), and in the load mode, to
    /// report the server's CPU time over the measured interval.
    #[arg(long, value_name = "P")]
    pid: Option<u32>,
    /// Offer permessage-deflate (no context takeover either way) and send
    /// compressed messages; the server must accept. Without it no extension
    /// is offered and a server that answers one is an error.
    #[arg(long, conflicts_with = "raw")]
    deflate: bool,
    /// Compression level (0-9) of the messages sent, with --deflate.
    #[arg(long, default_value_t = 1, value_name = "N", requires = "deflate",
          value_parser = clap::value_parser!(u32).range(0..=9))]
    deflate_level: u32,
    /// Broadcast latency: this many receivers, one sender.
    #[arg(long, group = "mode", value_name = "N", conflicts_with = "raw")]
    fanout: Option<usize>,
    /// Messages to broadcast, for --fanout, --spread-receive and --spread-send.
    #[arg(long, default_value_t = 100)]
    messages: usize,
    /// Fan-out across processes, receiving side: hold N connections spread
    /// over the --node URLs and --bind addresses, print `ready N`, then one
    /// JSON line: how many got each of --messages and when the last did.
    #[arg(long, group = "mode", value_name = "N")]
    spread_receive: Option<usize>,
    /// Fan-out across processes, sending side: send --messages marked
    /// messages to the first --node, --interval apart.
    #[arg(long, group = "mode")]
    spread_send: bool,
    /// A server URL for --spread-receive (repeat: connections go round
    /// robin) and --spread-send (the first). Default: --url.
    #[arg(long = "node", value_name = "URL")]
    nodes: Vec<String>,
    /// Local addresses to connect from, round robin (e.g. 127.0.0.2): each
    /// has its own ephemeral ports.
    #[arg(long = "bind", value_name = "IP")]
    binds: Vec<IpAddr>,
    /// Seconds between the messages of --spread-send.
    #[arg(long, default_value_t = 2.0)]
    interval: f64,
    /// Seconds --spread-receive waits for the messages after `ready`.
    #[arg(long, default_value_t = 120.0)]
    timeout: f64,
}

fn seconds(flag: &str, value: f64) -> Result<Duration, Error> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| Error::Usage(format!("{flag} must be a non-negative number of seconds")))
}

async fn run(args: Args) -> Result<ExitCode, Box<dyn StdError>> {
    let target = match &args.addr {
        Some(addr) => Target::from_addr(addr),
        None => Target::from_url(&args.url, args.ca.as_deref())?,
    };
    let deflate = args.deflate.then_some(DeflateOffer {
        level: args.deflate_level,
    });
    if args.spread_receive.is_some() || args.spread_send {
        return spread(&args).await;
    }
    let record = if args.check {
        let summary = check::run(&target, deflate).await?;
        println!(
            "check {}: {} echoes exact, {} wrong",
            target.authority, summary.passed, summary.failed
        );
        return Ok(if summary.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    } else if let Some(conns) = args.idle {
        let pid = args.pid.ok_or("--idle needs --pid")?;
        let offer = args.deflate.then_some(deflate::OFFER);
        Record::Idle(idle::run(&target, conns, pid, args.raw, offer).await?)
    } else if let Some(receivers) = args.fanout {
        if args.deflate {
            return Err("--fanout does not support --deflate".into());
        }
        Record::Fanout(fanout::run(&target, receivers, args.messages).await?)
    } else {
        Record::Load(
            load::run(&LoadConfig {
                target,
                raw: args.raw,
                kind: args.kind,
                conns: args.conns,
                window: args.window,
                size: args.size,
                warmup: seconds("--warmup", args.warmup)?,
                duration: seconds("--duration", args.duration)?,
                verify: args.verify,
                deflate,
                server_pid: args.pid,
            })
            .await?,
        )
    };
    if args.json {
        println!("{}", serde_json::to_string(&record)?);
    } else {
        println!("{record}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The cross-process fan-out modes (see `rusty_socket_bench::spread`).
async fn spread(args: &Args) -> Result<ExitCode, Box<dyn StdError>> {
    let urls = match args.nodes.is_empty() {
        true => vec![args.url.clone()],
        false => args.nodes.clone(),
    };
    let mut targets = Vec::new();
    for url in &urls {
        let target = Target::from_url(url, args.ca.as_deref())?;
        match args.binds.is_empty() {
            true => targets.push(target),
            false => targets.extend(args.binds.iter().map(|ip| Target {
                bind: Some(*ip),
                ..target.clone()
            })),
        }
    }
    let messages = args.messages as u64;
    if let Some(receivers) = args.spread_receive {
        let timeout = seconds("--timeout", args.timeout)?;
        let result = spread::receive(&targets, receivers, messages, timeout).await?;
        println!("{}", serde_json::to_string(&result)?);
    } else {
        let interval = seconds("--interval", args.interval)?;
        spread::send(&targets[0], messages, interval).await?;
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let args = Args::parse();
    // One thread on purpose: the client must not take CPU from the server.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("wsload: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wsload: {e}");
            ExitCode::FAILURE
        }
    }
}
