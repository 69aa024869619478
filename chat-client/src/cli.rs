//! Command-line flags.
//!
//! The client is driven by commands typed at its prompt; the flags only
//! choose where `connect` goes by default and which WebSocket adapter
//! carries the connection.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Where `connect` without an argument goes: the chat server's default
/// address (`cargo run -p chat-server`).
pub const DEFAULT_URL: &str = "ws://127.0.0.1:8080";

/// Interactive command-line chat client.
///
/// Type `help` at the prompt for the commands: `connect [URL]`,
/// `__disconnect`, `exit`, `help`. While connected, every other line is sent
/// as a chat message, and messages from the server are printed as
/// `rcv=> TEXT` above the line being typed. Ctrl-D and Ctrl-C exit like
/// `exit`.
///
/// When stdin or stdout is not a terminal the client reads one command or
/// message per line, without prompts, so that it can be scripted:
/// `printf 'connect\nhi\nexit\n' | chat-client` prints the banner,
/// `Connected successfully.`, `rcv=> hi` and `Exiting Program!`. Each line
/// sent waits (up to 1 s) for the server to broadcast it back; `exit` or the
/// end of input closes the connection with 1000 and waits for the closing
/// handshake (up to 7 s). Error lines go to stderr, and the script goes on.
///
/// `connect wss://HOST:PORT` connects over TLS (a chat server started with
/// --tls-cert and --tls-key). The server's certificate must be valid for
/// HOST and signed by an authority the client trusts: the bundled Mozilla
/// roots, plus the one given with --ca (for a self-signed server).
#[derive(Debug, Parser)]
#[command(name = "chat-client", version, about, long_about)]
pub struct Cli {
    /// The server `connect` uses when given no URL.
    #[arg(long, value_name = "URL", default_value = DEFAULT_URL)]
    pub url: String,

    /// The WebSocket adapter that carries the connection.
    #[arg(long, value_enum, default_value_t = RuntimeKind::Tokio)]
    pub runtime: RuntimeKind,

    /// Also trust the certificate authorities in this PEM file for wss://
    /// servers: the certificate of a self-signed server, or the CA that
    /// signed it.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
}

/// Which adapter drives the connection. Both behave the same at the prompt;
/// the choice exists so that both adapters are exercised end to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuntimeKind {
    /// rusty-socket-tokio: a receive task on a one-worker Tokio runtime.
    Tokio,
    /// rusty-socket-std: split blocking halves, a reader thread.
    Std,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn flags_have_the_documented_defaults() {
        Cli::command().debug_assert();
        let cli = Cli::parse_from(["chat-client"]);
        assert_eq!(cli.url, "ws://127.0.0.1:8080");
        assert_eq!(cli.runtime, RuntimeKind::Tokio);
        assert_eq!(cli.ca, None);
        let cli = Cli::parse_from([
            "chat-client",
            "--url",
            "ws://127.0.0.1:9000/chat",
            "--runtime",
            "std",
            "--ca",
            "ca.pem",
        ]);
        assert_eq!(cli.url, "ws://127.0.0.1:9000/chat");
        assert_eq!(cli.runtime, RuntimeKind::Std);
        assert_eq!(cli.ca, Some(PathBuf::from("ca.pem")));
        assert!(Cli::try_parse_from(["chat-client", "--runtime", "async-std"]).is_err());
    }
}
