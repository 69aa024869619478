//! Where the network side (the std reader thread or the tokio receive
//! task) meets the command loop, written once for both runtimes.
//!
//! The network side hands every message to [`Link::on_message`], which
//! prints it, and the end of the connection to [`Link::on_end`]. The loop
//! asks the link whether its last line came back ([`Link::wait_echo`]) and
//! how the connection ended ([`Link::take_unexpected_end`], [`Link::wait_end`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusty_socket_proto::{CloseFrame, Message};

use crate::interrupt::Interrupter;
use crate::printer::{self, Printer};

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The closing handshake completed, with the server's close code (none
    /// if its close frame had no status) and reason.
    Closed {
        /// The server's close code.
        code: Option<u16>,
        /// The server's close reason (may be empty).
        reason: String,
    },
    /// The connection failed; why.
    Failed(String),
}

impl End {
    /// A clean end, from the peer's close frame.
    pub fn closed(frame: Option<&CloseFrame>) -> Self {
        End::Closed {
            code: frame.map(|frame| frame.code.0),
            reason: frame
                .map(|frame| frame.reason.to_string())
                .unwrap_or_default(),
        }
    }

    /// The one error line for an end the user did not ask for.
    pub fn unexpected_line(&self) -> String {
        match self {
            End::Closed {
                code: Some(code),
                reason,
            } if reason.is_empty() => {
                format!("Error: the server closed the connection with code {code}")
            }
            End::Closed {
                code: Some(code),
                reason,
            } => format!(
                "Error: the server closed the connection with code {code} ({})",
                printer::sanitize(reason)
            ),
            End::Closed { code: None, .. } => {
                "Error: the server closed the connection without a close code".to_owned()
            }
            End::Failed(why) => format!("Error: lost the connection to the server: {why}"),
        }
    }
}

/// The state shared by one connection's network side and the command loop.
pub struct Link {
    state: Mutex<State>,
    changed: Condvar,
    printer: Printer,
    interrupter: Interrupter,
    /// Set once the loop has taken note of the end; stops the interrupter.
    acknowledged: Arc<AtomicBool>,
}

#[derive(Default)]
struct State {
    /// A line sent and not yet broadcast back to us.
    awaiting: Option<String>,
    /// The user asked for the close: its end is not an error to report.
    closing: bool,
    /// The server's close frame, once received.
    peer_close: Option<CloseFrame>,
    /// How the connection ended, once it has.
    end: Option<End>,
    /// The end was already reported (printed by the network side).
    reported: bool,
}

impl Link {
    /// A link for a new connection.
    pub fn new(printer: Printer, interrupter: Interrupter) -> Arc<Self> {
        Arc::new(Link {
            state: Mutex::default(),
            changed: Condvar::new(),
            printer,
            interrupter,
            acknowledged: Arc::default(),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ----- the network side -----

    /// A message arrived: print it (text and binary), remember the server's
    /// close frame, and tell a loop waiting for this text that it came back.
    pub fn on_message(&self, message: Message) {
        match message {
            Message::Text(text) => {
                // Printed before the waiting loop is released, so that the
                // echo of a line is always above the next prompt.
                self.printer.line(&printer::received_text(&text));
                let mut state = self.state();
                if state.awaiting.as_deref() == Some(text.as_str()) {
                    state.awaiting = None;
                    self.changed.notify_all();
                }
            }
            Message::Binary(data) => self.printer.line(&printer::received_binary(data.len())),
            Message::Close(frame) => self.state().peer_close = frame,
            // Pings are answered by the adapter; pongs answer nothing we sent.
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }

    /// The connection ended cleanly: the closing handshake completed.
    pub fn on_clean_end(&self) {
        let end = End::closed(self.state().peer_close.as_ref());
        self.on_end(end);
    }

    /// The connection ended. Unless the user asked for it, the end is
    /// reported at once: through the loop, after interrupting the line
    /// editor so that the `> ` prompt comes back; or, without a line editor,
    /// printed here, since the loop may be blocked reading stdin.
    pub fn on_end(&self, end: End) {
        let mut state = self.state();
        if state.end.is_some() {
            return;
        }
        let unexpected = !state.closing;
        if unexpected && !self.interrupter.is_enabled() {
            self.printer.error(&end.unexpected_line());
            state.reported = true;
        }
        state.end = Some(end);
        self.changed.notify_all();
        drop(state);
        if unexpected && self.interrupter.is_enabled() {
            let acknowledged = Arc::clone(&self.acknowledged);
            self.interrupter
                .interrupt_until(move || acknowledged.load(Ordering::SeqCst));
        }
    }

    // ----- the command loop -----

    /// Call before sending `text`: [`wait_echo`](Self::wait_echo) then
    /// waits for the server to broadcast it back.
    pub fn expect_echo(&self, text: &str) {
        self.state().awaiting = Some(text.to_owned());
    }

    /// Waits until the text given to [`expect_echo`](Self::expect_echo)
    /// came back (and was printed), the connection ended, or `timeout`
    /// passed. Returns false on a timeout.
    pub fn wait_echo(&self, timeout: Duration) -> bool {
        let state = self.state();
        let (mut state, result) = self
            .changed
            .wait_timeout_while(state, timeout, |state| {
                state.awaiting.is_some() && state.end.is_none()
            })
            .unwrap_or_else(PoisonError::into_inner);
        state.awaiting = None;
        !result.timed_out()
    }

    /// Call before closing: the end that follows is the user's wish, not an
    /// error to report.
    pub fn start_closing(&self) {
        self.state().closing = true;
    }

    /// Waits at most `timeout` for the end of the connection.
    pub fn wait_end(&self, timeout: Duration) -> Option<End> {
        let state = self.state();
        let (state, _) = self
            .changed
            .wait_timeout_while(state, timeout, |state| state.end.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        state.end.clone()
    }

    /// If the connection ended without the user asking, the error line to
    /// print (`None` if the network side printed it already). Returns
    /// `Err(())` while the connection is still open.
    pub fn take_unexpected_end(&self) -> Result<Option<String>, ()> {
        let mut state = self.state();
        let Some(end) = &state.end else {
            return Err(());
        };
        let line = (!state.closing && !state.reported).then(|| end.unexpected_line());
        state.reported = true;
        self.acknowledged.store(true, Ordering::SeqCst);
        Ok(line)
    }
}

#[cfg(test)]
mod tests {
    use std::thread;

    use rusty_socket_proto::CloseCode;

    use super::*;

    fn link() -> Arc<Link> {
        Link::new(Printer::discard(), Interrupter::disabled())
    }

    #[test]
    fn end_lines_carry_code_and_reason() {
        let going_away = End::closed(Some(&CloseFrame::new(
            CloseCode::GOING_AWAY,
            "server shutting down",
        )));
        assert_eq!(
            going_away.unexpected_line(),
            "Error: the server closed the connection with code 1001 (server shutting down)"
        );
        let bare = End::closed(Some(&CloseFrame::new(CloseCode::NORMAL, "")));
        assert_eq!(
            bare.unexpected_line(),
            "Error: the server closed the connection with code 1000"
        );
        assert_eq!(
            End::closed(None).unexpected_line(),
            "Error: the server closed the connection without a close code"
        );
        assert_eq!(
            End::Failed("connection reset".into()).unexpected_line(),
            "Error: lost the connection to the server: connection reset"
        );
    }

    #[test]
    fn the_echo_of_a_line_releases_the_waiting_loop() {
        let link = link();
        link.expect_echo("hi");
        let network = Arc::clone(&link);
        let echo = thread::spawn(move || {
            network.on_message(Message::text("someone else"));
            network.on_message(Message::text("hi"));
        });
        assert!(link.wait_echo(Duration::from_secs(10)));
        echo.join().unwrap();
        // Nothing awaited: no wait.
        assert!(link.wait_echo(Duration::from_secs(10)));
        link.expect_echo("never");
        assert!(!link.wait_echo(Duration::from_millis(10)));
    }

    #[test]
    fn an_end_the_user_asked_for_is_not_reported() {
        let link = link();
        assert_eq!(link.take_unexpected_end(), Err(()));
        link.start_closing();
        link.on_message(Message::Close(Some(CloseFrame::new(CloseCode::NORMAL, ""))));
        link.on_clean_end();
        assert_eq!(
            link.wait_end(Duration::ZERO),
            Some(End::Closed {
                code: Some(1000),
                reason: String::new()
            })
        );
        assert_eq!(link.take_unexpected_end(), Ok(None));
    }

    #[test]
    fn an_end_ends_the_wait_for_an_echo() {
        let link = link();
        link.expect_echo("hi");
        link.on_end(End::Failed("reset".into()));
        assert!(link.wait_echo(Duration::from_secs(10)));
        // Printed by the network side already (no line editor here).
        assert_eq!(link.take_unexpected_end(), Ok(None));
    }
}
