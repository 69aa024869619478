//! How long a receive buffer grown for large frames outlives its last read.
//!
//! An idle connection holds no receive buffer
//! ([`Connection::release_buffers`](crate::Connection::release_buffers)). But
//! a connection that receives large messages one after another goes "idle"
//! between every two of them, for as long as the peer takes to send the next:
//! freeing its buffer there made every large message allocate a new one, and
//! the allocator hand the pages back to the kernel and fault them in again
//! (about ten page faults per 1 MiB message, measured). So a buffer that grew
//! past one read chunk is kept for [`LARGE_BUFFER_HOLD`] after the last read
//! into it, and freed at that deadline, which
//! [`Connection::poll_timeout`](crate::Connection::poll_timeout) reports once
//! the application asked to release.

use std::time::{Duration, Instant};

/// How long a large receive buffer is kept after its last read.
pub(crate) const LARGE_BUFFER_HOLD: Duration = Duration::from_millis(100);

/// The deadline of a large receive buffer.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BufferHold {
    /// Until when the buffer is kept: `LARGE_BUFFER_HOLD` after the last read
    /// into a large buffer.
    until: Option<Instant>,
    /// `release_buffers` kept the buffer: the deadline is due to free it,
    /// and is reported as a timeout. A transport that never releases
    /// buffers is never woken for it.
    armed: bool,
}

impl BufferHold {
    /// Bytes were read at `now` into a buffer that is `large` (or not).
    pub(crate) fn read(&mut self, now: Instant, large: bool) {
        if large {
            self.until = now.checked_add(LARGE_BUFFER_HOLD);
        }
    }

    /// The application asked to release buffers at `now`: whether the
    /// receive buffer is kept (until [`deadline`](Self::deadline)).
    pub(crate) fn keep(&mut self, now: Instant) -> bool {
        match self.until {
            Some(until) if now < until => {
                self.armed = true;
                true
            }
            _ => {
                *self = BufferHold::default();
                false
            }
        }
    }

    /// When the kept buffer is to be freed.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.until.filter(|_| self.armed)
    }

    /// Whether the kept buffer is due to be freed at `now` (once: the hold
    /// ends with it).
    pub(crate) fn expired(&mut self, now: Instant) -> bool {
        let due = self.deadline().is_some_and(|until| until <= now);
        if due {
            *self = BufferHold::default();
        }
        due
    }
}
