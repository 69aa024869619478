//! `deflate_ceiling`: the most echoes per second one core can give with
//! permessage-deflate, whatever the WebSocket stack: one inflate plus one
//! deflate of the same JSON payload, in process, with flate2 on zlib-rs,
//! 15-bit windows, both engines reset after every message (no context
//! takeover), output buffers reused.
//!
//! Each case inflates the payload as the client sent it (compressed at the
//! same level) and deflates the result again, as an echo server does. The
//! inflate and deflate halves are also timed alone.
//!
//!   deflate_ceiling [--seconds S] [--levels 1,6,9] [--sizes 200,65536] [--json]

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use rusty_socket_bench::deflate;
use rusty_socket_bench::deflate_report::CeilingCase;
use rusty_socket_bench::payload;

#[derive(Debug, Parser)]
struct Args {
    /// Seconds measured per case and per half.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// zlib levels to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,6,9")]
    levels: Vec<u32>,
    /// JSON payload sizes in bytes (see `payload::json`).
    #[arg(long, value_delimiter = ',', default_value = "200,65536")]
    sizes: Vec<usize>,
    /// One JSON line per case instead of a table.
    #[arg(long)]
    json: bool,
}

const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

struct Engines {
    inflater: Decompress,
    compressor: Compress,
    plain: Vec<u8>,
    wire: Vec<u8>,
}

impl Engines {
    fn new(level: u32, size: usize) -> Self {
        Engines {
            inflater: Decompress::new_with_window_bits(false, 15),
            compressor: Compress::new_with_window_bits(Compression::new(level), false, 15),
            plain: Vec::with_capacity(size + 64),
            wire: Vec::with_capacity(size + size / 16 + 64),
        }
    }

    fn inflate(&mut self, input: &[u8]) {
        self.plain.clear();
        self.inflater.reset(false);
        for piece in [input, &TAIL[..]] {
            let before = self.inflater.total_in();
            self.inflater
                .decompress_vec(piece, &mut self.plain, FlushDecompress::Sync)
                .expect("valid deflate data");
            assert_eq!((self.inflater.total_in() - before) as usize, piece.len());
        }
    }

    fn deflate(&mut self) {
        self.wire.clear();
        self.compressor.reset();
        self.compressor
            .compress_vec(&self.plain, &mut self.wire, FlushCompress::Sync)
            .expect("deflate");
        assert_eq!(self.compressor.total_in() as usize, self.plain.len());
        assert!(self.wire.ends_with(&TAIL) && self.wire.len() < self.wire.capacity());
    }
}

/// Runs `step` until `seconds` pass; returns calls per second.
fn rate(seconds: f64, mut step: impl FnMut()) -> f64 {
    let until = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut n = 0u64;
    loop {
        for _ in 0..16 {
            step();
        }
        n += 16;
        let elapsed = start.elapsed();
        if elapsed >= until {
            return n as f64 / elapsed.as_secs_f64();
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !args.json {
        println!(
            "{:>7} {:>5} {:>7} {:>12} {:>9} {:>10} {:>10}",
            "size", "level", "ratio", "echoes/s", "MB/s", "inflate us", "deflate us"
        );
    }
    for &size in &args.sizes {
        let payload = payload::json(size);
        for &level in &args.levels {
            let input = deflate::compress(&payload, level, 15);
            let mut engines = Engines::new(level, size);
            engines.inflate(&input);
            assert_eq!(engines.plain, payload);
            engines.deflate();
            let compressed = engines.wire.len() - TAIL.len();
            let echoes = rate(args.seconds, || {
                engines.inflate(&input);
                engines.deflate();
            });
            let inflates = rate(args.seconds / 2.0, || engines.inflate(&input));
            let deflates = rate(args.seconds / 2.0, || engines.deflate());
            let case = CeilingCase {
                size,
                level,
                ratio: compressed as f64 / size as f64,
                compressed,
                echoes_per_sec: echoes,
                mb_per_sec: echoes * size as f64 / 1e6,
                inflate_us: 1e6 / inflates,
                deflate_us: 1e6 / deflates,
            };
            if args.json {
                println!("{}", serde_json::to_string(&case).expect("serializable"));
            } else {
                println!(
                    "{:>7} {:>5} {:>7.3} {:>12.0} {:>9.1} {:>10.2} {:>10.2}",
                    case.size,
                    case.level,
                    case.ratio,
                    case.echoes_per_sec,
                    case.mb_per_sec,
                    case.inflate_us,
                    case.deflate_us
                );
            }
        }
    }
    ExitCode::SUCCESS
}
