//! The command loop: written once, for both runtimes (behind
//! [`Connection`]) and both input modes (behind [`Input`]).
//!
//! While not connected a line is a command; while connected it is a chat
//! message, except `help`, `exit` and `__disconnect`. The loop's own output
//! is printed while the line editor is not reading, so plain `println!` is
//! safe here; the network side prints through the [`Link`].

use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::Cli;
use crate::commands::{self, Command, BANNER, COMMAND_PROMPT, MESSAGE_PROMPT, USAGE};
use crate::input::{Input, Read};
use crate::link::{End, Link};
use crate::runtime::{Connection, Runtime};

/// How long the next prompt waits for the server to broadcast the line just
/// sent back to us (the chat server echoes every message to its sender).
///
/// Why wait at all: the echo then always prints above the next prompt, in
/// the order the server gave it, as in the usage transcript, instead of
/// racing the redraw of the prompt; and a script's
/// `printf 'connect\nhi\nexit\n'` sees `rcv=> hi` before it exits. A server
/// that does not echo costs this delay once: after one missed echo the
/// connection stops waiting.
const ECHO_WAIT: Duration = Duration::from_secs(1);

/// How long `__disconnect` and `exit` wait for the closing handshake: the
/// adapters' close timeout (5 s) plus a margin.
const CLOSE_WAIT: Duration = Duration::from_secs(7);

/// The client: its input, its runtime, and the connection if any.
pub struct App {
    default_url: String,
    runtime: Runtime,
    input: Input,
    session: Option<Session>,
}

struct Session {
    connection: Box<dyn Connection>,
    link: Arc<Link>,
    /// Cleared after an echo did not come back in time.
    await_echoes: bool,
}

impl App {
    /// A client with the flags' defaults, reading from the terminal or
    /// stdin. Fails (with the one line to print) if `--ca` cannot be used.
    pub fn new(cli: Cli) -> Result<Self, String> {
        Ok(App {
            default_url: cli.url,
            runtime: Runtime::new(cli.runtime, cli.ca.as_deref())?,
            input: Input::open(),
            session: None,
        })
    }

    /// Runs until `exit` or the end of input.
    pub fn run(mut self) -> io::Result<()> {
        println!("{BANNER}");
        loop {
            self.reap();
            let prompt = match self.session {
                Some(_) => MESSAGE_PROMPT,
                None => COMMAND_PROMPT,
            };
            let line = match self.input.read_line(prompt)? {
                Read::Line(line) => line,
                // The network side ended the read to report the end of the
                // connection: reaped at the top of the loop.
                Read::Interrupted { by_user: false } => continue,
                Read::Interrupted { by_user: true } | Read::Eof => break,
            };
            // A line typed after the connection ended is a command.
            self.reap();
            match commands::parse(&line, self.session.is_some()) {
                Command::Help => println!("{USAGE}"),
                Command::Connect(url) => {
                    let url = url.unwrap_or(&self.default_url).to_owned();
                    self.connect(&url);
                }
                Command::Disconnect => {
                    if self.session.is_none() {
                        eprintln!("Error: not connected (type connect first)");
                    } else if self.disconnect() {
                        println!("Disconnected successfully!");
                    }
                }
                Command::Exit => break,
                Command::Send(text) => self.send(text),
                Command::Nothing => {}
                Command::BadConnect => {
                    eprintln!("Error: connect takes at most one argument: connect [URL]");
                }
                Command::Unknown(word) => {
                    eprintln!("Error: unknown command {word:?} (type help for the commands)");
                }
            }
        }
        // `exit`, the end of input, or Ctrl-C: close properly first.
        if self.session.is_some() {
            self.disconnect();
        }
        println!("Exiting Program!");
        Ok(())
    }

    fn connect(&mut self, url: &str) {
        let link = Link::new(self.input.printer(), self.input.interrupter());
        match self.runtime.connect(url, &link) {
            Ok(connection) => {
                self.session = Some(Session {
                    connection,
                    link,
                    await_echoes: true,
                });
                println!("Connected successfully.");
            }
            Err(e) => eprintln!("{}", e.line(url)),
        }
    }

    fn send(&mut self, text: &str) {
        let Some(session) = &mut self.session else {
            return;
        };
        if session.await_echoes {
            session.link.expect_echo(text);
        }
        match session.connection.send_text(text) {
            Ok(()) => {
                if session.await_echoes && !session.link.wait_echo(ECHO_WAIT) {
                    session.await_echoes = false;
                }
            }
            // The connection failed: the network side reports why, unless
            // it has not noticed yet.
            Err(why) => {
                if session.link.wait_end(Duration::from_secs(1)).is_none() {
                    eprintln!("Error: cannot send the message: {why}");
                }
            }
        }
    }

    /// Runs the closing handshake (code 1000). Returns whether it completed;
    /// prints the error line if not. Not connected afterwards either way.
    fn disconnect(&mut self) -> bool {
        let Some(mut session) = self.session.take() else {
            return true;
        };
        session.link.start_closing();
        // A failure to send the close shows in the end below.
        let _ = session.connection.close();
        match session.link.wait_end(CLOSE_WAIT) {
            Some(End::Closed { .. }) => true,
            Some(End::Failed(why)) => {
                eprintln!("Error: the closing handshake failed: {why}");
                false
            }
            None => {
                eprintln!("Error: the server did not complete the closing handshake in time");
                false
            }
        }
    }

    /// Forgets a connection that ended without the user asking, printing
    /// its error line if the network side did not.
    fn reap(&mut self) {
        let Some(session) = &self.session else {
            return;
        };
        if let Ok(line) = session.link.take_unexpected_end() {
            if let Some(line) = line {
                eprintln!("{line}");
            }
            self.session = None;
        }
    }
}
