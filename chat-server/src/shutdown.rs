//! Graceful shutdown: the signals that start it, and the count of
//! connections it waits for.
//!
//! On SIGINT or SIGTERM the server stops accepting, tells every client to
//! close with 1001 (the hub does that), and waits until every connection has
//! ended or `--shutdown-timeout` passes, then exits 0.
//!
//! Both runtimes take the signals through `tokio::signal`: Tokio is built
//! in anyway for the default runtime, so the std runtime waits for the
//! signal on a tiny current-thread runtime instead of pulling in a signal
//! crate of its own. The handlers are installed before the server announces
//! its address, so a signal sent as soon as it is listening is never lost
//! to the default action (which would kill the process without the
//! closing handshakes).

use std::fmt;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The signal that asked the server to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        })
    }
}

/// Installed handlers for SIGINT and SIGTERM. Must be made inside a Tokio
/// runtime.
pub struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers: from now on these signals are ours.
    pub fn install() -> io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    /// Waits for the first of them.
    pub async fn recv(&mut self) -> Signal {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => Signal::Interrupt,
                _ = self.terminate.recv() => Signal::Terminate,
            }
        }
        #[cfg(not(unix))]
        {
            // Only Ctrl-C exists elsewhere; if it cannot be waited for, never stop.
            match tokio::signal::ctrl_c().await {
                Ok(()) => Signal::Interrupt,
                Err(_) => std::future::pending().await,
            }
        }
    }
}

/// Counts open WebSocket sessions so that shutdown can wait for their
/// closing handshakes, from a thread or from a task. Connections still in
/// their opening handshake are not counted: browsers keep idle
/// preconnected sockets open, which would hold every shutdown to its
/// deadline.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    inner: Arc<Count>,
}

#[derive(Debug, Default)]
struct Count {
    live: Mutex<usize>,
    idle: Condvar,
    idle_async: Notify,
}

impl Count {
    fn live(&self) -> MutexGuard<'_, usize> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One live connection; dropping it ends it.
#[derive(Debug)]
pub struct Guard {
    count: Arc<Count>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut live = self.count.live();
        *live = live.saturating_sub(1);
        if *live == 0 {
            self.count.idle.notify_all();
            self.count.idle_async.notify_waiters();
        }
    }
}

impl Tracker {
    pub fn new() -> Tracker {
        Tracker::default()
    }

    /// Counts one more connection until the guard is dropped.
    pub fn enter(&self) -> Guard {
        *self.inner.live() += 1;
        Guard {
            count: Arc::clone(&self.inner),
        }
    }

    /// Connections still live.
    pub fn live(&self) -> usize {
        *self.inner.live()
    }

    /// Blocks until no connection is live or `timeout` passes; returns how
    /// many are still live.
    pub fn wait_blocking(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut live = self.inner.live();
        while *live > 0 {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            live = self
                .inner
                .idle
                .wait_timeout(live, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *live
    }

    /// Waits until no connection is live or `timeout` passes; returns how
    /// many are still live.
    pub async fn wait(&self, timeout: Duration) -> usize {
        let idle = async {
            loop {
                let notified = self.inner.idle_async.notified();
                tokio::pin!(notified);
                // Registered before the check, so the last guard's drop in
                // between still wakes us.
                notified.as_mut().enable();
                if self.live() == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(timeout, idle).await;
        self.live()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_the_last_guard() {
        let tracker = Tracker::new();
        let guard = tracker.enter();
        let _other = tracker.enter();
        assert_eq!(tracker.live(), 2);
        assert_eq!(tracker.wait_blocking(Duration::from_millis(10)), 2);
        drop(guard);
        let waiter = tracker.clone();
        let handle = std::thread::spawn(move || waiter.wait_blocking(Duration::from_secs(5)));
        drop(_other);
        assert_eq!(handle.join().ok(), Some(0));
    }
}
