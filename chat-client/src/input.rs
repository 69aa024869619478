//! Where lines come from: the line editor on a terminal, plain stdin
//! otherwise.
//!
//! Interactive mode needs both stdin and stdout to be terminals (and a
//! terminal rustyline supports: not `TERM=dumb`). Anything else is plain
//! mode, for scripts: one command or message per line, no prompts (nobody
//! sees them, and without the echo of the input they would only glue onto
//! the output lines), no line editing.

use std::io::{self, BufRead, IsTerminal, StdinLock};

use rustyline::error::ReadlineError;
use rustyline::{Config, DefaultEditor};

use crate::interrupt::Interrupter;
use crate::printer::Printer;

/// What reading a line gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// A line, without its line ending.
    Line(String),
    /// End of input: Ctrl-D on a terminal, the end of a pipe.
    Eof,
    /// The read was interrupted: by the user's Ctrl-C, or by the network
    /// side to report the end of the connection (see `interrupt`).
    Interrupted {
        /// Whether it was the user's Ctrl-C.
        by_user: bool,
    },
}

/// The source of lines, with the matching printer and interrupter.
pub struct Input {
    source: Source,
    printer: Printer,
    interrupter: Interrupter,
}

enum Source {
    Editor(Box<DefaultEditor>),
    Plain(StdinLock<'static>),
}

impl Input {
    /// The line editor if stdin and stdout are terminals it can drive,
    /// plain stdin otherwise.
    pub fn open() -> Self {
        if io::stdin().is_terminal() && io::stdout().is_terminal() {
            if let Some(input) = Self::editor() {
                return input;
            }
        }
        Input {
            source: Source::Plain(io::stdin().lock()),
            printer: Printer::plain(),
            interrupter: Interrupter::disabled(),
        }
    }

    fn editor() -> Option<Self> {
        let config = Config::builder().auto_add_history(true).build();
        let mut editor = DefaultEditor::with_config(config).ok()?;
        // Fails on a terminal rustyline does not support (TERM=dumb): then
        // it would read plain lines anyway, and plain mode does that better.
        let printer = editor.create_external_printer().ok()?;
        // Without the handler the end of a connection is reported at the
        // next line instead of at once: worse, not broken.
        let interrupter = Interrupter::install().unwrap_or_default();
        Some(Input {
            source: Source::Editor(Box::new(editor)),
            printer: Printer::editor(printer),
            interrupter,
        })
    }

    /// The printer for lines arriving from the network.
    pub fn printer(&self) -> Printer {
        self.printer.clone()
    }

    /// The interrupter for the network side.
    pub fn interrupter(&self) -> Interrupter {
        self.interrupter.clone()
    }

    /// Reads one line, showing `prompt` in interactive mode.
    pub fn read_line(&mut self, prompt: &str) -> io::Result<Read> {
        match &mut self.source {
            Source::Editor(editor) => {
                let generation = self.interrupter.generation();
                match editor.readline(prompt) {
                    Ok(line) => Ok(Read::Line(line)),
                    Err(ReadlineError::Eof) => Ok(Read::Eof),
                    Err(ReadlineError::Interrupted) => Ok(Read::Interrupted {
                        by_user: !self.interrupter.caused(generation),
                    }),
                    Err(ReadlineError::Io(e)) => Err(e),
                    Err(e) => Err(io::Error::other(e)),
                }
            }
            Source::Plain(stdin) => read_plain_line(stdin),
        }
    }
}

/// One line of plain input; invalid UTF-8 is replaced rather than fatal.
fn read_plain_line(reader: &mut impl BufRead) -> io::Result<Read> {
    let mut bytes = Vec::new();
    if reader.read_until(b'\n', &mut bytes)? == 0 {
        return Ok(Read::Eof);
    }
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    Ok(Read::Line(String::from_utf8_lossy(&bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_lose_their_endings_only() {
        let mut input: &[u8] = b"connect\r\n  hi there \nno newline at the end";
        let mut lines = Vec::new();
        while let Read::Line(line) = read_plain_line(&mut input).unwrap() {
            lines.push(line);
        }
        assert_eq!(lines, ["connect", "  hi there ", "no newline at the end"]);
        let mut invalid: &[u8] = b"caf\xe9\n";
        assert_eq!(
            read_plain_line(&mut invalid).unwrap(),
            Read::Line("caf\u{fffd}".into())
        );
    }
}
