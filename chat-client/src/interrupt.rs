//! Ending the line editor's `readline` from another thread.
//!
//! When the server closes the connection the user must get the `> ` prompt
//! back at once, but the main thread is blocked in rustyline's `readline`
//! showing `msg> `, and rustyline has no API to end it from outside (its
//! prompt cannot be changed mid-read either). What it does have: while it
//! reads a line it installs its own SIGINT handler and answers the signal
//! by returning `ReadlineError::Interrupted`. So the thread that saw the end
//! raises SIGINT (`raise` runs the handler on that thread, which wakes
//! rustyline through its self-pipe); the command loop sees `Interrupted`,
//! reports the end and prompts `> `.
//!
//! Two details make this safe:
//!
//! - Outside `readline`, SIGINT reaches our handler, which performs the
//!   default action (terminate, as Ctrl-C always did) unless a raise of
//!   ours is in flight. So a raise that misses `readline` is harmless.
//! - A raise can land just before rustyline installs its handler and be
//!   lost, so it is repeated every [`REPEAT`] until the loop acknowledges
//!   the end (bounded by [`ATTEMPTS`]). The loop tells its own user's Ctrl-C
//!   from these raises with [`Interrupter::generation`].
//!
//! On non-Unix targets, and when stdin is not a terminal, it does nothing:
//! the end is then reported before the next line is read.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often an unacknowledged end is signalled again.
const REPEAT: Duration = Duration::from_millis(20);
/// How many times at most (5 s in all): the loop normally answers the first.
const ATTEMPTS: u32 = 250;

/// A handle to interrupt the line editor; cheap to clone.
#[derive(Clone, Default)]
pub struct Interrupter(Option<Arc<Inner>>);

struct Inner {
    /// What our SIGINT handler does outside `readline`: terminate (true),
    /// or nothing while we are raising the signal ourselves (false).
    terminate: Arc<AtomicBool>,
    /// Incremented before and after each raise: odd while one is in flight.
    raised: AtomicU64,
}

impl Interrupter {
    /// An interrupter that does nothing (no line editor to interrupt).
    pub fn disabled() -> Self {
        Interrupter(None)
    }

    /// Whether there is a line editor to interrupt.
    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }

    /// Installs the SIGINT handler described in the module docs.
    #[cfg(unix)]
    pub fn install() -> std::io::Result<Self> {
        let terminate = Arc::new(AtomicBool::new(true));
        signal_hook::flag::register_conditional_default(
            signal_hook::consts::SIGINT,
            Arc::clone(&terminate),
        )?;
        Ok(Interrupter(Some(Arc::new(Inner {
            terminate,
            raised: AtomicU64::new(0),
        }))))
    }

    /// Without Unix signals there is nothing to install.
    #[cfg(not(unix))]
    pub fn install() -> std::io::Result<Self> {
        Ok(Self::disabled())
    }

    /// Read before `readline`, and compared with [`caused`](Self::caused)
    /// after it returned `Interrupted`.
    pub fn generation(&self) -> u64 {
        self.0
            .as_ref()
            .map_or(0, |inner| inner.raised.load(Ordering::SeqCst))
    }

    /// Whether an `Interrupted` that ended a `readline` started at
    /// `generation` may have come from us rather than from the user's Ctrl-C.
    pub fn caused(&self, generation: u64) -> bool {
        generation % 2 == 1 || self.generation() != generation
    }

    /// Interrupts the line editor, again and again until `acknowledged`
    /// returns true, on a thread of its own (the caller may be an async task).
    pub fn interrupt_until(&self, acknowledged: impl Fn() -> bool + Send + 'static) {
        let Some(inner) = self.0.clone() else {
            return;
        };
        #[cfg(unix)]
        std::thread::spawn(move || {
            inner.terminate.store(false, Ordering::SeqCst);
            for _ in 0..ATTEMPTS {
                if acknowledged() {
                    break;
                }
                inner.raised.fetch_add(1, Ordering::SeqCst);
                // `raise` runs the handler on this thread before it returns,
                // so no signal of ours is pending once the loop ends.
                let _ = signal_hook::low_level::raise(signal_hook::consts::SIGINT);
                inner.raised.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(REPEAT);
            }
            inner.terminate.store(true, Ordering::SeqCst);
        });
        #[cfg(not(unix))]
        let _ = (inner, acknowledged, REPEAT, ATTEMPTS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_tell_our_raises_from_the_users_ctrl_c() {
        let interrupter = Interrupter(Some(Arc::new(Inner {
            terminate: Arc::new(AtomicBool::new(true)),
            raised: AtomicU64::new(0),
        })));
        let before = interrupter.generation();
        assert!(!interrupter.caused(before), "nothing raised: the user's");
        let inner = interrupter.0.as_ref().unwrap();
        inner.raised.fetch_add(1, Ordering::SeqCst);
        assert!(interrupter.caused(before), "raised during the read");
        let in_flight = interrupter.generation();
        inner.raised.fetch_add(1, Ordering::SeqCst);
        assert!(
            interrupter.caused(in_flight),
            "in flight when the read began"
        );
        assert!(!Interrupter::disabled().caused(Interrupter::disabled().generation()));
    }
}
