//! `chat-client`: the interactive command-line client of the rusty_socket
//! chat server.
//!
//! ```text
//! ---<Command Line Chat Initialized!>---
//! > connect
//! Connected successfully.
//! msg> Hello from client 1
//! rcv=> Hello from client 1
//! msg> __disconnect
//! Disconnected successfully!
//! > exit
//! Exiting Program!
//! ```
//!
//! # Behaviour
//!
//! - `connect` goes to `--url` (default `ws://127.0.0.1:8080`), `connect URL`
//!   elsewhere; `--runtime tokio|std` picks the adapter. `wss://` URLs go
//!   over TLS, trusting the bundled roots plus `--ca FILE`.
//! - While connected every line is sent, except `help`, `exit` (which
//!   closes with 1000 first) and `__disconnect` (which completes the
//!   closing handshake). Blank lines are not sent.
//! - Received messages are printed as `rcv=> TEXT` through the line
//!   editor, above the prompt and the half-typed line, which survive.
//! - After sending a line the next prompt waits, up to 1 s, for the server's
//!   broadcast of it (the chat server echoes to the sender too), so the echo
//!   always prints above the next prompt.
//! - Every error is one line (`Error: ...`) followed by the `> ` prompt: an
//!   unknown command, an unreachable server, a refused handshake with its
//!   HTTP status, a certificate the client does not accept (unknown
//!   authority, wrong name, expired), the server closing the connection
//!   with its code and reason (reported at once, even while the user is at
//!   `msg> `).
//! - Ctrl-D and Ctrl-C exit like `exit`.
//! - When stdin or stdout is not a terminal (a script): no line editor, no
//!   prompts, errors on stderr; after `exit` or the end of input the client
//!   closes with 1000 and waits for the closing handshake, so
//!   `printf 'connect\nhi\nexit\n' | chat-client` prints `rcv=> hi` before
//!   `Exiting Program!`.
//!
//! The modules, top down:
//!
//! - [`cli`]: flags (`--url`, `--runtime tokio|std`, `--ca FILE`).
//! - [`app`]: the command loop, written once.
//! - [`commands`]: what a typed line means; the fixed texts.
//! - [`input`]: the line editor on a terminal, plain stdin otherwise.
//! - [`printer`]: printing received lines without garbling the one being typed.
//! - [`link`]: where the network side meets the loop (echoes, the end).
//! - [`interrupt`]: ending the line editor's read when the server goes away.
//! - [`runtime`]: the adapter-specific part (tokio or std) behind one trait.

#![forbid(unsafe_code)]

mod app;
mod cli;
mod commands;
mod input;
mod interrupt;
mod link;
mod printer;
mod runtime;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let app = match app::App::new(cli) {
        Ok(app) => app,
        // A bad --ca file: reported like clap's own usage errors (exit
        // code 2), before the banner, rather than at every `connect`.
        Err(e) => cli::Cli::command()
            .error(clap::error::ErrorKind::ValueValidation, e)
            .exit(),
    };
    match app.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: cannot read input: {e}");
            ExitCode::FAILURE
        }
    }
}
