//! Command-line flags and the settings derived from them.
//!
//! Every limit is a flag with a safe default, parsed and checked here once,
//! so that the servers only ever see values that work together.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use rusty_socket_proto::{Config, MAX_HEADER_LEN};
use rusty_socket_tokio::rustls::ServerConfig;

use crate::origin::OriginPolicy;
use crate::relay::RelaySettings;

/// Broadcast chat server: every text message a client sends goes to every
/// connected client, the sender included.
///
/// Open http://ADDR/ in a browser for the chat page; WebSocket clients
/// connect to ws://ADDR/. With --tls-cert and --tls-key the same port
/// speaks TLS instead: the page is at https://ADDR/ and the WebSocket at
/// wss://ADDR/. `GET /stats` answers JSON with the number of clients and
/// the bytes queued for them. Logs go to stderr, filtered by RUST_LOG
/// (default `info`).
#[derive(Debug, Parser)]
#[command(name = "chat-server", version)]
pub struct Args {
    /// Address to listen on. Port 0 picks a free port; the first log line
    /// ("listening on http://ADDR", or https://) tells which.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Which adapter serves the connections: `tokio` (a task per
    /// connection) or `std` (blocking, a reader and a writer thread per
    /// connection).
    #[arg(long, value_enum, default_value_t = Runtime::Tokio)]
    pub runtime: Runtime,

    /// Largest message a client may send (a bigger one closes its
    /// connection with 1009). Bytes, or with a binary unit: 64KiB, 1MiB.
    #[arg(long, value_name = "SIZE", default_value = "64KiB", value_parser = parse_size)]
    pub max_message_size: usize,

    /// Most chat clients at once; beyond it new WebSocket handshakes are
    /// answered 503 Service Unavailable.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Bound of each client's outgoing queue, in bytes of encoded frames
    /// not yet written to its socket. A client too slow to keep its queue
    /// under it is closed with 1008 (policy violation); the others go on.
    /// Must hold at least one message of --max-message-size.
    #[arg(long, value_name = "SIZE", default_value = "1MiB", value_parser = parse_size)]
    pub max_queued_bytes: usize,

    /// How long a client may take to complete the opening handshake after
    /// connecting: the TLS handshake (with --tls-cert) and the HTTP
    /// request, together. `0` or `off` disables it.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub handshake_timeout: Duration,

    /// Ping a client after this long without hearing from it; one that
    /// does not answer within 20 s is dropped. `0` or `off` disables pings.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub ping_interval: Duration,

    /// Close a client's connection (1001) after this long without
    /// receiving anything from it, pongs included. `0` or `off` disables it.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Also accept WebSocket handshakes from pages of this origin
    /// (`https://chat.example.com`; repeat the flag for more). Pages served
    /// by this server itself (Origin matches Host) and clients that send no
    /// Origin (command-line clients) are always accepted; any other Origin
    /// gets 403, against cross-site WebSocket hijacking.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origins: Vec<String>,

    /// Do not accept permessage-deflate. By default the server accepts a
    /// client's offer of compression (every browser makes one), without
    /// context takeover, so that a broadcast is compressed once for all and
    /// an idle client holds no compression state; lines under 64 bytes are
    /// sent as they are.
    #[arg(long)]
    pub no_deflate: bool,

    /// Serve over TLS with this certificate chain (PEM: the server's
    /// certificate first, then any intermediates): the page over https://,
    /// the WebSocket over wss://, on the --addr port. Needs --tls-key.
    /// A self-signed certificate works once clients trust it (chat-client
    /// --ca FILE; a browser asks). The tokio runtime also offers HTTP/2,
    /// which browsers pick: the page and its WebSocket (RFC 8441) then
    /// share one connection; the std runtime speaks HTTP/1.1 only.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    /// Needs --tls-cert.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// On SIGINT or SIGTERM, how long to wait for clients to complete the
    /// closing handshake (each is sent 1001, going away) before exiting.
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// Connections the kernel queues for the server before it accepts
    /// them: a burst of clients connecting at once (a reconnect storm)
    /// beyond it sees its SYNs dropped and retries a second later. The
    /// kernel caps it at net.core.somaxconn.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub backlog: u32,

    /// Join the other chat-server nodes subscribed to the same Redis
    /// channel (`redis://HOST:PORT/`): every message a client sends is
    /// published once, and each node broadcasts what the others publish to
    /// its own clients. The server starts and serves its own clients even
    /// while Redis is unreachable, and reconnects by itself.
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,

    /// The Redis channel the nodes share.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "rusty_socket:chat",
        requires = "redis"
    )]
    pub redis_channel: String,

    /// Messages kept for Redis while it is down or slow, published once it
    /// is back; past this bound a message is not relayed to the other
    /// nodes (counted as `dropped` in /stats and logged). Local clients
    /// are never held back.
    #[arg(long, value_name = "N", default_value_t = 10_000, requires = "redis")]
    pub redis_queue: usize,
}

/// The adapter that serves connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Runtime {
    /// rusty-socket-tokio on a multi-threaded Tokio runtime.
    Tokio,
    /// rusty-socket-std, two threads per connection.
    Std,
}

/// Everything the servers need, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub addr: SocketAddr,
    pub runtime: Runtime,
    /// Proto's limits and timeouts for each connection.
    pub config: Config,
    pub max_connections: usize,
    pub max_queued_bytes: usize,
    pub origins: OriginPolicy,
    pub shutdown_timeout: Duration,
    /// The TLS certificate and key, loaded: `Some` serves https and wss.
    pub tls: Option<Arc<ServerConfig>>,
    pub backlog: u32,
    pub redis: Option<RelaySettings>,
}

impl Settings {
    /// Checks the flags and maps them to proto's [`Config`].
    pub fn from_args(args: Args) -> Result<Settings, String> {
        if args.max_message_size == 0 {
            return Err("--max-message-size must be at least 1 byte".into());
        }
        if args.max_connections == 0 {
            return Err("--max-connections must be at least 1".into());
        }
        // The hub refuses to queue past the bound, so a bound smaller than
        // one encoded message would refuse every such message to everyone.
        let largest_frame = args.max_message_size.saturating_add(MAX_HEADER_LEN);
        if args.max_queued_bytes < largest_frame {
            return Err(format!(
                "--max-queued-bytes ({}) must hold at least one message of --max-message-size \
                 plus its frame header ({largest_frame} bytes)",
                args.max_queued_bytes
            ));
        }
        let origins = OriginPolicy::new(&args.allow_origins)?;
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(load_tls(cert, key)?),
            (None, None) => None,
            _ => {
                return Err(
                    "--tls-cert and --tls-key go together: give both (TLS) or neither".into(),
                )
            }
        };
        let enabled = |d: Duration| (!d.is_zero()).then_some(d);
        let mut config = Config::default();
        // Chat messages are small: one frame may be as large as a message,
        // no larger.
        config.max_message_size = args.max_message_size;
        config.max_frame_size = args.max_message_size;
        config.handshake_timeout = enabled(args.handshake_timeout);
        config.keepalive_interval = enabled(args.ping_interval);
        config.idle_timeout = enabled(args.idle_timeout);
        config.deflate.enabled = !args.no_deflate;
        // The hub bounds each client's queue; the writer hands proto one
        // broadcast at a time, so proto's own queue holds at most one frame
        // and a few control frames: never refuse those for lack of room.
        config.max_outgoing_buffer = config
            .max_outgoing_buffer
            .max(args.max_queued_bytes.saturating_add(4096));
        config.validate().map_err(|e| e.to_string())?;
        let redis = match &args.redis {
            Some(url) => Some(relay_settings(url, &args)?),
            None => None,
        };
        Ok(Settings {
            addr: args.addr,
            runtime: args.runtime,
            config,
            max_connections: args.max_connections,
            max_queued_bytes: args.max_queued_bytes,
            origins,
            shutdown_timeout: args.shutdown_timeout,
            tls,
            backlog: args.backlog,
            redis,
        })
    }

    /// How long a closing handshake the server starts may take.
    pub fn close_timeout(&self) -> Duration {
        self.config.close_timeout.unwrap_or(Duration::from_secs(5))
    }
}

/// Reads the certificate chain and key once, at start, so that a missing
/// file or bad PEM is a usage error rather than a failure of every client.
/// Both runtimes serve with this config (the adapters re-export the same
/// rustls).
fn relay_settings(url: &str, args: &Args) -> Result<RelaySettings, String> {
    let client = redis::Client::open(url).map_err(|e| format!("--redis {url}: {e}"))?;
    if args.redis_channel.is_empty() {
        return Err("--redis-channel must not be empty".into());
    }
    if args.redis_queue == 0 {
        return Err("--redis-queue must be at least 1".into());
    }
    Ok(RelaySettings {
        client,
        channel: args.redis_channel.clone(),
        queue: args.redis_queue,
        max_message_size: args.max_message_size,
    })
}

fn load_tls(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    rusty_socket_tokio::tls::server_config_from_pem_files(cert, key).map_err(|e| {
        format!(
            "--tls-cert {} --tls-key {}: {e}",
            cert.display(),
            key.display()
        )
    })
}

/// Parses a byte count: `65536`, `64KiB`, `64k`, `1MiB`, `1m`, `1G` (units
/// are binary: K = 1024).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: usize = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size: expected a number such as 65536 or 64KiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => {
            return Err(format!(
                "unknown size unit {other:?}: use B, KiB, MiB or GiB"
            ))
        }
    };
    number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Parses a duration: `500ms`, `10s`, `2m`, `1h`, a bare number of
/// seconds, or `0`/`off` for none.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(Duration::ZERO);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration: expected e.g. 500ms, 10s, 2m or off"))?;
    let duration = match unit.trim() {
        "ms" => Some(Duration::from_millis(number)),
        "" | "s" => Some(Duration::from_secs(number)),
        "m" | "min" => number.checked_mul(60).map(Duration::from_secs),
        "h" => number.checked_mul(3600).map(Duration::from_secs),
        other => {
            return Err(format!(
                "unknown duration unit {other:?}: use ms, s, m or h"
            ))
        }
    };
    duration.ok_or_else(|| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec!["chat-server"];
        argv.extend_from_slice(extra);
        Args::parse_from(argv)
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let settings = Settings::from_args(args(&[])).expect("defaults are valid");
        assert_eq!(settings.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.runtime, Runtime::Tokio);
        assert_eq!(settings.config.max_message_size, 64 << 10);
        assert_eq!(settings.max_connections, 10_000);
        assert_eq!(settings.max_queued_bytes, 1 << 20);
        assert_eq!(
            settings.config.keepalive_interval,
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            settings.config.handshake_timeout,
            Some(Duration::from_secs(10))
        );
        assert!(settings.config.deflate.enabled);
        let settings = Settings::from_args(args(&["--no-deflate"])).expect("valid");
        assert!(!settings.config.deflate.enabled);
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("64k"), Ok(65536));
        assert_eq!(parse_size("2 MiB"), Ok(2 << 20));
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("KiB").is_err());
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("off"), Ok(Duration::ZERO));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn zero_disables_timeouts() {
        let settings =
            Settings::from_args(args(&["--ping-interval", "off", "--idle-timeout", "0"]))
                .expect("valid");
        assert_eq!(settings.config.keepalive_interval, None);
        assert_eq!(settings.config.idle_timeout, None);
    }

    #[test]
    fn tls_takes_a_certificate_and_its_key_both_readable() {
        let pki = rusty_socket_test_support::tls::TestPki::new();
        let path = |p: &std::path::Path| p.to_str().expect("UTF-8 path").to_owned();
        let (cert, key) = (
            path(&pki.localhost.cert_path),
            path(&pki.localhost.key_path),
        );
        let settings =
            Settings::from_args(args(&["--tls-cert", &cert, "--tls-key", &key])).expect("valid");
        assert!(settings.tls.is_some());
        assert!(Settings::from_args(args(&[])).expect("valid").tls.is_none());

        for alone in [["--tls-cert", &cert], ["--tls-key", &key]] {
            let error = Settings::from_args(args(&alone)).expect_err("one without the other");
            assert_eq!(
                error,
                "--tls-cert and --tls-key go together: give both (TLS) or neither"
            );
        }
        let missing = "/nonexistent/rusty-socket-cert.pem";
        let error = Settings::from_args(args(&["--tls-cert", missing, "--tls-key", &key]))
            .expect_err("no such file");
        assert!(
            error.starts_with(&format!("--tls-cert {missing} --tls-key {key}: ")),
            "{error}"
        );
        // The key where the certificate should be, and the other way round.
        let error = Settings::from_args(args(&["--tls-cert", &key, "--tls-key", &cert]))
            .expect_err("swapped files");
        assert!(error.starts_with("--tls-cert "), "{error}");
        assert!(!error.contains('\n'), "one line: {error}");
    }

    #[test]
    fn a_queue_bound_below_one_message_is_refused() {
        let error = Settings::from_args(args(&["--max-queued-bytes", "1KiB"]))
            .expect_err("1 KiB cannot hold a 64 KiB message");
        assert!(error.contains("--max-queued-bytes"), "{error}");
    }
}
