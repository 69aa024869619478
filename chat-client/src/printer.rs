//! Printing lines that arrive from the network while the user may be typing.
//!
//! Messages come in on another thread (the std reader) or task (the tokio
//! receiver) at any moment. Written straight to the terminal they would
//! land in the middle of the half-typed line and garble it, so in
//! interactive mode they go through the line editor's external printer,
//! which clears the prompt line, prints the message, and redraws the prompt
//! with the text typed so far. When stdin or stdout is not a terminal there
//! is no line to protect: lines go straight to stdout (errors to stderr).
//!
//! Received text is printed with its control characters escaped (except
//! tab and newline): a peer must not be able to drive the user's terminal
//! with escape sequences.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

use rustyline::ExternalPrinter;

/// A cheap handle to print one line at a time from any thread.
#[derive(Clone)]
pub struct Printer(Arc<Target>);

enum Target {
    /// The line editor's printer: redraws the prompt below the line.
    Editor(Mutex<Box<dyn ExternalPrinter + Send>>),
    /// Plain stdout and stderr.
    Plain,
    /// Nowhere: unit tests.
    #[cfg(test)]
    Discard,
}

impl Printer {
    /// Lines go to stdout, errors to stderr.
    pub fn plain() -> Self {
        Printer(Arc::new(Target::Plain))
    }

    /// Lines go nowhere (unit tests of the callers).
    #[cfg(test)]
    pub fn discard() -> Self {
        Printer(Arc::new(Target::Discard))
    }

    /// Lines go through the line editor's external printer.
    pub fn editor(printer: impl ExternalPrinter + Send + 'static) -> Self {
        Printer(Arc::new(Target::Editor(Mutex::new(Box::new(printer)))))
    }

    /// Prints one line (a received message).
    pub fn line(&self, line: &str) {
        match &*self.0 {
            Target::Editor(printer) => Self::through_editor(printer, line),
            Target::Plain => {
                let mut out = io::stdout().lock();
                // Nowhere to report a closed stdout to: the user is gone.
                let _ = writeln!(out, "{line}").and_then(|()| out.flush());
            }
            #[cfg(test)]
            Target::Discard => {}
        }
    }

    /// Prints one error line (the connection ended). On a terminal it is
    /// printed like a message, so that it lands above the prompt; otherwise
    /// it goes to stderr, where scripts expect errors.
    pub fn error(&self, line: &str) {
        match &*self.0 {
            Target::Editor(printer) => Self::through_editor(printer, line),
            Target::Plain => eprintln!("{line}"),
            #[cfg(test)]
            Target::Discard => {}
        }
    }

    fn through_editor(printer: &Mutex<Box<dyn ExternalPrinter + Send>>, line: &str) {
        let mut printer = printer.lock().unwrap_or_else(PoisonError::into_inner);
        // With the trailing newline the editor prints it as is whether or
        // not it is reading a line at the moment.
        if printer.print(format!("{line}\n")).is_err() {
            // The editor's pipe is gone (it is shutting down): plain stdout
            // still reaches the user.
            println!("{line}");
        }
    }
}

/// How a received text message is shown.
pub fn received_text(text: &str) -> String {
    format!("rcv=> {}", sanitize(text))
}

/// How a received binary message is shown: the chat is text, so only its
/// size is worth printing.
pub fn received_binary(len: usize) -> String {
    format!("rcv=> [binary message, {len} bytes]")
}

/// Escapes control characters other than tab and newline, as `\u{1b}`.
pub fn sanitize(text: &str) -> Cow<'_, str> {
    let harmless = |c: char| !c.is_control() || c == '\t' || c == '\n';
    if text.chars().all(harmless) {
        return Cow::Borrowed(text);
    }
    let mut clean = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if harmless(c) {
            clean.push(c);
        } else {
            let _ = write!(clean, "\\u{{{:x}}}", u32::from(c));
        }
    }
    Cow::Owned(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_lines_look_like_the_transcript() {
        assert_eq!(
            received_text("Hello from client 2"),
            "rcv=> Hello from client 2"
        );
        assert_eq!(received_binary(3), "rcv=> [binary message, 3 bytes]");
    }

    #[test]
    fn escape_sequences_from_the_peer_are_defused() {
        assert!(matches!(sanitize("plain text, ünïcode"), Cow::Borrowed(_)));
        assert_eq!(sanitize("tab\tand\nnewline"), "tab\tand\nnewline");
        assert_eq!(sanitize("\x1b[2Jgone\r"), "\\u{1b}[2Jgone\\u{d}");
        assert_eq!(sanitize("bell\x07 del\x7f"), "bell\\u{7} del\\u{7f}");
    }
}
