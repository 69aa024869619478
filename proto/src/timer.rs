//! The connection's deadlines: a small table keyed by [`Timer`].
//!
//! proto never reads the clock. The caller passes `now` into every input,
//! asks [`Connection::poll_timeout`](crate::Connection::poll_timeout) when to
//! wake, and calls [`Connection::handle_timeout`](crate::Connection::handle_timeout)
//! when that instant has passed.

use std::fmt;
use std::time::{Duration, Instant};

/// A deadline the connection keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// The opening handshake must complete by then.
    Handshake,
    /// Our close frame was sent; the peer's must arrive by then.
    Close,
    /// Time to send a keepalive ping.
    Keepalive,
    /// The keepalive ping must be answered by then.
    Pong,
    /// Nothing was received for `Config::idle_timeout`.
    Idle,
}

impl Timer {
    const ALL: [Timer; 5] = [
        Timer::Handshake,
        Timer::Close,
        Timer::Keepalive,
        Timer::Pong,
        Timer::Idle,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Timer::Handshake => "opening handshake",
            Timer::Close => "closing handshake",
            Timer::Keepalive => "keepalive interval",
            Timer::Pong => "keepalive pong",
            Timer::Idle => "idle timeout",
        })
    }
}

/// One optional deadline per [`Timer`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Timers {
    deadlines: [Option<Instant>; 5],
}

impl Timers {
    /// Sets `timer` to `after` from `now`. A deadline too far away to be
    /// represented (`Duration::MAX`, say) is no deadline at all.
    pub(crate) fn set_after(&mut self, timer: Timer, now: Instant, after: Duration) {
        self.deadlines[timer.index()] = now.checked_add(after);
    }

    pub(crate) fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    pub(crate) fn stop_all(&mut self) {
        self.deadlines = [None; 5];
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Removes and returns the earliest deadline that is due at `now`.
    pub(crate) fn expired(&mut self, now: Instant) -> Option<Timer> {
        let timer = Timer::ALL
            .into_iter()
            .filter(|t| self.get(*t).is_some_and(|at| at <= now))
            .min_by_key(|t| self.get(*t))?;
        self.stop(timer);
        Some(timer)
    }
}
