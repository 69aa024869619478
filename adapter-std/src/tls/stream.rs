//! A TLS stream over a `TcpStream` whose handles can be cloned, so that
//! one thread reads while another writes.
//!
//! # Design
//!
//! `rustls::StreamOwned` owns its socket and cannot be cloned, and one
//! mutex around it would let a writer blocked on a full socket stop the
//! reader, which deadlocks two peers that both send large messages at
//! once. So each handle has its own `TcpStream` (`try_clone`) and they
//! share the rustls state:
//!
//! ```text
//!  handle ── own TcpStream ──┐ (the same socket)
//!     │                      │
//!     ├──> input:  Mutex<ciphertext read, not yet fed>   held by a reader across
//!     │            its socket read: against other readers only
//!     ├──> output: Mutex<ciphertext taken, not yet sent>  held by a writer across
//!     │            its socket write: records leave in the order they were made
//!     └──> conn:   Mutex<rustls connection>               held only to feed, decrypt,
//!                                                         encrypt: never across I/O
//! ```
//!
//! - Reading: take `input`; if rustls has plaintext, hand it over;
//!   otherwise feed it ciphertext left from the last read or read the
//!   socket (no `conn` lock held while blocked), then lock `conn` to feed
//!   and decrypt. A writer blocked on the socket never holds `conn`, so the
//!   reader keeps draining the peer, and the peer's writer moves on.
//! - Writing: take `output`, send what an earlier write left there (after a
//!   write timeout), then lock `conn` to encrypt and move the records out
//!   of rustls into `output`, unlock it, and send them. Taking records and
//!   sending them under the one `output` lock keeps them in order.
//! - What reading makes rustls send (an alert, a key update) is sent by
//!   the reader if no writer holds `output`; a writer that releases
//!   `output` looks at rustls again and sends what arrived meanwhile.
//! - Lock order: `input`, then `output`, then `conn`; nothing waits for
//!   `input` or `output` while holding `conn`.

use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use rustls::{ConnectionCommon, SideData};

use crate::error::is_timeout;
use crate::transport::{ignore_not_connected, Transport, TryClone};

/// Ciphertext read from the socket at once, at most: a TLS record and
/// then some.
const INPUT_LEN: usize = 32 << 10;

/// How long `shutdown` may wait to send close_notify into a full socket
/// before it shuts the socket down anyway.
const CLOSE_NOTIFY_WAIT: Duration = Duration::from_secs(1);

/// A TLS connection over a `TcpStream`: `C` is `rustls::ClientConnection`
/// (from [`connect`](crate::connect) for `wss://`) or
/// `rustls::ServerConnection` (from [`tls::accept`](crate::tls::accept)).
///
/// It is a [`Transport`]: read timeouts bound the wait for plaintext (a
/// peer trickling a TLS record byte by byte cannot stretch them), and
/// `shutdown` sends TLS close_notify before ending the socket. It is
/// [`TryClone`]: handles share the TLS state, so
/// [`WebSocket::split`](crate::WebSocket::split) works as over TCP, one
/// thread reading while another writes, without the two blocking each
/// other (the design is at the top of `src/tls/stream.rs`).
pub struct TlsStream<C> {
    socket: TcpStream,
    shared: Arc<Shared<C>>,
    /// The read timeout set through this handle, which bounds a whole
    /// `read`, not each socket read within it.
    read_timeout: Option<Duration>,
}

struct Shared<C> {
    conn: Mutex<C>,
    input: Mutex<Input>,
    output: Mutex<Output>,
}

/// Ciphertext read from the socket, `buf[start..end]` not yet fed to
/// rustls (it is fed only while rustls holds no plaintext, which keeps
/// rustls' plaintext buffer within its limit).
struct Input {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// Ciphertext taken from rustls, `buf[sent..]` not yet sent.
struct Output {
    buf: Vec<u8>,
    sent: usize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A rustls error, as the `io::Error` that carries it to the WebSocket
/// (which reports it as `Error::Tls`).
fn tls_failure(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl<C, D> TlsStream<C>
where
    C: DerefMut + Deref<Target = ConnectionCommon<D>>,
    D: SideData,
{
    /// Runs the handshake of `conn` over `socket` until it completes,
    /// bounded by `deadline` (each socket read and write is bounded by
    /// what is left of it), then leaves the socket's timeouts unset.
    pub(crate) fn handshake(
        mut conn: C,
        socket: TcpStream,
        deadline: Option<Instant>,
    ) -> io::Result<Self> {
        let result = drive_handshake(&mut conn, &socket, deadline);
        socket.set_read_timeout(None)?;
        socket.set_write_timeout(None)?;
        result?;
        Ok(TlsStream {
            socket,
            shared: Arc::new(Shared {
                conn: Mutex::new(conn),
                input: Mutex::new(Input {
                    buf: Vec::new(),
                    start: 0,
                    end: 0,
                }),
                output: Mutex::new(Output {
                    buf: Vec::new(),
                    sent: 0,
                }),
            }),
            read_timeout: None,
        })
    }

    /// The socket (for its addresses and options). Reading or writing it
    /// directly would corrupt the TLS stream.
    pub fn get_ref(&self) -> &TcpStream {
        &self.socket
    }

    /// Runs `f` on the rustls connection (to look at the negotiated
    /// protocol version, ALPN, the peer's certificates...).
    pub fn with_connection<R>(&self, f: impl FnOnce(&C) -> R) -> R {
        f(&lock(&self.shared.conn))
    }

    /// Plaintext that rustls holds, if any: `None` if it needs more input.
    /// `Ok(0)` after the peer's close_notify, `UnexpectedEof` after a TCP
    /// end without one.
    fn plaintext(&self, buf: &mut [u8]) -> Option<io::Result<usize>> {
        match lock(&self.shared.conn).reader().read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            result => Some(result),
        }
    }

    /// Feeds rustls the ciphertext in `input` (or the end of the stream if
    /// the socket read returned 0), and decrypts.
    fn feed(&self, input: &mut Input) -> io::Result<()> {
        let mut conn = lock(&self.shared.conn);
        let mut rest = &input.buf[input.start..input.end];
        let before = rest.len();
        conn.read_tls(&mut rest)?;
        input.start += before - rest.len();
        let processed = conn.process_new_packets();
        drop(conn);
        // Whatever rustls has to say now (an alert explaining a failure, an
        // answer to a key update) goes out if no writer is busy.
        self.hand_over();
        processed.map(drop).map_err(tls_failure)
    }

    /// Moves what rustls has to send into `output` (after what is there).
    fn take_records(&self, output: &mut Output) -> io::Result<()> {
        let mut conn = lock(&self.shared.conn);
        while conn.wants_write() {
            conn.write_tls(&mut output.buf)?;
        }
        Ok(())
    }

    /// Sends what `output` holds; on a write timeout, keeps the rest.
    fn send(&self, output: &mut Output) -> io::Result<()> {
        while output.sent < output.buf.len() {
            match (&self.socket).write(&output.buf[output.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => output.sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        output.buf.clear();
        output.sent = 0;
        Ok(())
    }

    /// Sends what rustls made while another thread held `output`, unless a
    /// thread holds it now (it will look again when it lets go).
    fn hand_over(&self) {
        loop {
            if !lock(&self.shared.conn).wants_write() {
                return;
            }
            let mut output = match self.shared.output.try_lock() {
                Ok(output) => output,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => return,
            };
            let sent = self
                .take_records(&mut output)
                .and_then(|()| self.send(&mut output));
            if sent.is_err() {
                // The writer that comes next reports the broken socket.
                return;
            }
        }
    }

    /// Queues close_notify and sends it, waiting at most
    /// [`CLOSE_NOTIFY_WAIT`] for room in the socket; skipped if a writer is
    /// busy (the socket is being torn down under it).
    fn close_notify(&self) {
        let mut output = match self.shared.output.try_lock() {
            Ok(output) => output,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        lock(&self.shared.conn).send_close_notify();
        let previous = self.socket.write_timeout().ok().flatten();
        let wait = previous.map_or(CLOSE_NOTIFY_WAIT, |t| t.min(CLOSE_NOTIFY_WAIT));
        if self.socket.set_write_timeout(Some(wait)).is_ok() {
            let _ = self
                .take_records(&mut output)
                .and_then(|()| self.send(&mut output));
            let _ = self.socket.set_write_timeout(previous);
        }
    }
}

/// The handshake loop: write what rustls has, read what it needs.
fn drive_handshake<C, D>(
    conn: &mut C,
    mut socket: &TcpStream,
    deadline: Option<Instant>,
) -> io::Result<()>
where
    C: DerefMut + Deref<Target = ConnectionCommon<D>>,
    D: SideData,
{
    // Bounds the next socket operation by what is left of the deadline.
    let left = || -> io::Result<Option<Duration>> {
        match deadline {
            None => Ok(None),
            Some(at) => match at.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Ok(Some(left)),
                _ => Err(super::timed_out()),
            },
        }
    };
    let timed_out = |e: io::Error| {
        if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            super::timed_out()
        } else {
            e
        }
    };
    let mut buf = vec![0; INPUT_LEN];
    loop {
        while conn.wants_write() {
            socket.set_write_timeout(left()?)?;
            conn.write_tls(&mut socket).map_err(timed_out)?;
        }
        if !conn.is_handshaking() {
            return Ok(());
        }
        socket.set_read_timeout(left()?)?;
        let n = socket.read(&mut buf).map_err(timed_out)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed the connection during the TLS handshake",
            ));
        }
        // Bytes past the handshake (the WebSocket request right behind the
        // client's Finished) stay in rustls as plaintext for the first read.
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            conn.read_tls(&mut rest)?;
            if let Err(e) = conn.process_new_packets() {
                // Tell the peer why (the alert rustls queued), then fail.
                let _ = conn.write_tls(&mut socket);
                return Err(tls_failure(e));
            }
        }
    }
}

impl<C, D> Read for TlsStream<C>
where
    C: DerefMut + Deref<Target = ConnectionCommon<D>>,
    D: SideData,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let shared = Arc::clone(&self.shared);
        let mut input = lock(&shared.input);
        let start = Instant::now();
        let mut socket_reads = 0;
        let mut rearmed = false;
        let result = loop {
            if let Some(result) = self.plaintext(buf) {
                break result;
            }
            if input.start < input.end {
                if let Err(e) = self.feed(&mut input) {
                    break Err(e);
                }
                continue;
            }
            // A read after a record that brought no plaintext yet: what is
            // left of the timeout bounds it, so a peer sending a record
            // byte by byte cannot hold this read past its deadline.
            if let (Some(timeout), true) = (self.read_timeout, socket_reads > 0) {
                let left = timeout.saturating_sub(start.elapsed());
                if left.is_zero() {
                    break Err(io::Error::new(
                        io::ErrorKind::WouldBlock,
                        "read timed out before a whole TLS record arrived",
                    ));
                }
                if let Err(e) = self.socket.set_read_timeout(Some(left)) {
                    break Err(e);
                }
                rearmed = true;
            }
            if input.buf.is_empty() {
                input.buf = vec![0; INPUT_LEN];
            }
            let n = match (&self.socket).read(&mut input.buf) {
                Ok(n) => n,
                Err(e) => break Err(e),
            };
            socket_reads += 1;
            (input.start, input.end) = (0, n);
            // `n == 0`: rustls learns that the stream ended.
            if let Err(e) = self.feed(&mut input) {
                break Err(e);
            }
        };
        if rearmed {
            let _ = self.socket.set_read_timeout(self.read_timeout);
        }
        // Ready for the next read: nothing read yet.
        if input.start == input.end {
            (input.start, input.end) = (0, 0);
        }
        result
    }
}

impl<C, D> Write for TlsStream<C>
where
    C: DerefMut + Deref<Target = ConnectionCommon<D>>,
    D: SideData,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    /// Encrypts straight from `bufs` (no copy into one buffer first), as
    /// much as rustls takes at once.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut output = lock(&self.shared.output);
        // Records an earlier write could not send (a write timeout) first.
        self.send(&mut output)?;
        let taken = {
            let mut conn = lock(&self.shared.conn);
            let taken = conn.writer().write_vectored(bufs)?;
            while conn.wants_write() {
                conn.write_tls(&mut output.buf)?;
            }
            taken
        };
        let sent = self.send(&mut output);
        drop(output);
        self.hand_over();
        match sent {
            Ok(()) => Ok(taken),
            // rustls has the plaintext: report it taken; the rest of its
            // records go out with the next write or flush, which reports
            // the timeout if the socket is still full.
            Err(e) if taken > 0 && is_timeout(&e) => Ok(taken),
            Err(e) => Err(e),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut output = lock(&self.shared.output);
        self.take_records(&mut output)?;
        self.send(&mut output)?;
        drop(output);
        self.hand_over();
        (&self.socket).flush()
    }
}

impl<C, D> Transport for TlsStream<C>
where
    C: DerefMut + Deref<Target = ConnectionCommon<D>>,
    D: SideData,
{
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        self.socket.set_read_timeout(timeout)?;
        self.read_timeout = timeout;
        Ok(true)
    }

    /// Sends close_notify, then shuts the socket down both ways (which wakes
    /// a read blocked on another handle).
    fn shutdown(&mut self) -> io::Result<()> {
        self.close_notify();
        ignore_not_connected(self.socket.shutdown(Shutdown::Both))
    }

    /// Sends close_notify, then the TCP FIN; reading goes on.
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.close_notify();
        ignore_not_connected(self.socket.shutdown(Shutdown::Write))
    }
}

impl<C> TryClone for TlsStream<C> {
    /// Another handle on the same TLS connection, with its own socket
    /// handle (`TcpStream::try_clone`) and the shared TLS state.
    fn try_clone(&self) -> io::Result<Self> {
        Ok(TlsStream {
            socket: self.socket.try_clone()?,
            shared: Arc::clone(&self.shared),
            read_timeout: None,
        })
    }
}

impl<C> fmt::Debug for TlsStream<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}
