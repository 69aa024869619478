//! `chat-server`: a broadcast chat over rusty_socket.
//!
//! Every text message a client sends goes to every connected client, the
//! sender included, verbatim; `GET /` serves a chat page for browsers.
//! The same server runs on either adapter (`--runtime tokio|std`); see
//! `--help` for the flags.
//!
//! Modules: [`cli`] (flags, settings), [`gate`] (the decision on each
//! request) with [`origin`] (which pages may connect) and [`page`] (plain
//! HTTP answers), [`hub`] (clients and the fan-out), [`server_tokio`] and
//! [`server_std`] (the two runtimes), [`server_h2`] (HTTP/2 on the TLS port
//! of the Tokio runtime), [`tls`] (the TLS port's front door: the first
//! byte, the handshake deadline), [`shutdown`] (signals, waiting
//! for the closing handshakes) and [`report`] (connect/disconnect log lines).

#![forbid(unsafe_code)]

mod cli;
mod gate;
mod handles;
mod hub;
mod listen;
mod origin;
mod page;
mod relay;
mod report;
mod server_h2;
mod server_std;
mod server_tokio;
mod shutdown;
mod tls;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser};
use rusty_socket_proto::Config;
use rusty_socket_tokio::rustls::ServerConfig;
use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;

use crate::cli::{Args, Runtime, Settings};
use crate::hub::Hub;
use crate::origin::OriginPolicy;

/// What every connection of either runtime needs.
#[derive(Debug)]
pub struct Context {
    pub hub: Arc<Hub>,
    /// Shared by every plain connection rather than copied into each.
    pub config: Arc<Config>,
    pub origins: OriginPolicy,
    /// How long a closing handshake the server starts may take.
    pub close_timeout: Duration,
    /// Set with `--tls-cert`/`--tls-key`: every connection starts with a
    /// TLS handshake.
    pub tls: Option<Arc<ServerConfig>>,
}

impl Context {
    /// The server's shared state; with `--redis`, the relay to the other
    /// nodes starts here.
    fn new(settings: Settings) -> Result<Context, String> {
        let close_timeout = settings.close_timeout();
        let (outbox, relay) = match settings.redis {
            Some(redis) => {
                let (outbox, relay) = relay::outbox(redis);
                (Some(outbox), Some(relay))
            }
            None => (None, None),
        };
        let hub = Hub::new(settings.max_queued_bytes, settings.max_connections, outbox);
        if let Some(relay) = relay {
            relay.start(Arc::clone(&hub))?;
        }
        Ok(Context {
            hub,
            close_timeout,
            config: Arc::new(settings.config),
            origins: settings.origins,
            tls: settings.tls,
        })
    }

    /// When the opening handshake of a connection accepted at `start` must
    /// be complete (`None`: `--handshake-timeout off`). With TLS, the TLS
    /// handshake and the HTTP request share this one deadline, so that a
    /// client slow at both gets no more time than one slow at either.
    pub fn handshake_deadline(&self, start: Instant) -> Option<Instant> {
        self.config.handshake_timeout.map(|timeout| start + timeout)
    }

    /// Proto's config for a connection whose TLS handshake ended at `now`:
    /// the HTTP request gets what is left of the deadline.
    pub fn config_after_tls(&self, deadline: Option<Instant>, now: Instant) -> Arc<Config> {
        let mut config = Config::clone(&self.config);
        if let Some(deadline) = deadline {
            // Never zero: proto reads zero as a mistake; a millisecond left
            // still cuts the connection off at once.
            let left = deadline.saturating_duration_since(now);
            config.handshake_timeout = Some(left.max(Duration::from_millis(1)));
        }
        Arc::new(config)
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging();
    let settings = match Settings::from_args(args) {
        Ok(settings) => settings,
        // Reported like clap's own usage errors (exit code 2).
        Err(e) => Args::command()
            .error(clap::error::ErrorKind::ValueValidation, e)
            .exit(),
    };
    // A std client holds its socket, a handle for the write timeout and
    // the split's (see `handles`).
    let per_client = match settings.runtime {
        Runtime::Tokio => 1,
        Runtime::Std => 2 + handles::FOR_SPLIT,
    };
    raise_open_file_limit(settings.max_connections * per_client);
    let result = match settings.runtime {
        Runtime::Tokio => server_tokio::run(settings),
        Runtime::Std => server_std::run(settings),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Every client takes file descriptors (`descriptors` for
/// `--max-connections` of them), and the usual soft limit (1024) is far
/// below that: raise it to the hard limit, which needs no privilege.
fn raise_open_file_limit(descriptors: usize) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            // A few descriptors for the listener, logs, the runtime.
            let wanted = descriptors as u64 + 64;
            if limit < wanted {
                warn!(
                    limit,
                    "the open-file limit is below --max-connections: connections past it \
                     will fail to be accepted (raise the hard limit, `ulimit -Hn`)"
                );
            } else {
                tracing::debug!(limit, "open-file limit");
            }
        }
        Err(e) => warn!("cannot raise the open-file limit: {e}"),
    }
}

/// The first log line; tests read the address from it.
fn announce(local: SocketAddr, settings: &Settings) {
    let runtime = match settings.runtime {
        Runtime::Tokio => "tokio",
        Runtime::Std => "std",
    };
    let scheme = match settings.tls {
        Some(_) => "https",
        None => "http",
    };
    info!(
        "listening on {scheme}://{local} ({runtime} runtime): open {scheme}://{local}/ in a browser"
    );
}

/// The last log line of a shutdown: whether every client completed its
/// closing handshake, or the deadline or a second signal cut it short.
fn report_shutdown(left: usize, second_signal: Option<shutdown::Signal>, timeout: Duration) {
    match second_signal {
        _ if left == 0 => info!("every connection closed; bye"),
        Some(signal) => warn!(
            %signal,
            connections = left,
            "second signal: exiting without waiting for the rest"
        ),
        None => warn!(
            connections = left,
            "shutdown deadline ({timeout:?}) passed; dropping the rest"
        ),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn the_tls_handshake_and_the_request_share_one_deadline() {
        let settings = Settings::from_args(Args::parse_from(["chat-server"])).expect("defaults");
        let context = Context::new(settings).expect("a context");
        let start = Instant::now();
        let deadline = context.handshake_deadline(start);
        assert_eq!(deadline, Some(start + Duration::from_secs(10)));
        // 3 s of TLS handshake leave 7 s for the request.
        let config = context.config_after_tls(deadline, start + Duration::from_secs(3));
        assert_eq!(config.handshake_timeout, Some(Duration::from_secs(7)));
        // Past the deadline: a millisecond, so that proto cuts it off at once.
        let config = context.config_after_tls(deadline, start + Duration::from_secs(11));
        assert_eq!(config.handshake_timeout, Some(Duration::from_millis(1)));

        let off = ["chat-server", "--handshake-timeout", "off"];
        let settings = Settings::from_args(Args::parse_from(off)).expect("valid");
        let context = Context::new(settings).expect("a context");
        assert_eq!(context.handshake_deadline(start), None);
        assert_eq!(
            context.config_after_tls(None, start).handshake_timeout,
            None
        );
    }
}
