//! What the adapter needs from a byte stream beyond `Read + Write`.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

/// A blocking byte stream a [`WebSocket`](crate::WebSocket) can run over:
/// `Read + Write`, plus the two things proto's timers and the closing
/// handshake need from it.
///
/// Implemented for [`TcpStream`], `UnixStream` (on Unix) and `Box<T>`. Wrap
/// any other `Read + Write` in [`NoTimeouts`] (and read its limits there).
pub trait Transport: Read + Write {
    /// Bounds how long the next reads may block (`None`: no bound). A read
    /// that runs out of time must fail with `ErrorKind::WouldBlock` or
    /// `ErrorKind::TimedOut`.
    ///
    /// Returns whether the bound is in force: `Ok(false)` for a transport
    /// that cannot bound its reads, whose timers then only run between reads.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool>;

    /// Ends the transport in both directions, once the connection has ended
    /// (after the closing handshake, the server does it first: RFC 6455
    /// section 7.1.1). It must wake a read blocked on another handle of the
    /// same transport, as `shutdown(2)` does for sockets.
    fn shutdown(&mut self) -> io::Result<()>;

    /// Ends the transport's write side only (TCP: sends FIN), while reads
    /// go on. A server does it after answering a request with an HTTP error,
    /// so that the client can finish sending and read the answer. The
    /// default does nothing: the server then still reads what the client
    /// sends, bounded in time and bytes, before it shuts the transport down.
    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A transport that can be cloned into a second handle on the same
/// connection, so that [`WebSocket::split`](crate::WebSocket::split) can read
/// on one handle while another thread writes on the other.
pub trait TryClone: Sized {
    /// Another handle on the same connection (`TcpStream::try_clone`).
    fn try_clone(&self) -> io::Result<Self>;
}

impl Transport for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        TcpStream::set_read_timeout(self, timeout).map(|()| true)
    }

    fn shutdown(&mut self) -> io::Result<()> {
        ignore_not_connected(TcpStream::shutdown(self, Shutdown::Both))
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        ignore_not_connected(TcpStream::shutdown(self, Shutdown::Write))
    }
}

impl TryClone for TcpStream {
    fn try_clone(&self) -> io::Result<Self> {
        TcpStream::try_clone(self)
    }
}

#[cfg(unix)]
impl Transport for std::os::unix::net::UnixStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        std::os::unix::net::UnixStream::set_read_timeout(self, timeout).map(|()| true)
    }

    fn shutdown(&mut self) -> io::Result<()> {
        ignore_not_connected(std::os::unix::net::UnixStream::shutdown(
            self,
            Shutdown::Both,
        ))
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        ignore_not_connected(std::os::unix::net::UnixStream::shutdown(
            self,
            Shutdown::Write,
        ))
    }
}

#[cfg(unix)]
impl TryClone for std::os::unix::net::UnixStream {
    fn try_clone(&self) -> io::Result<Self> {
        std::os::unix::net::UnixStream::try_clone(self)
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        (**self).set_read_timeout(timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        (**self).shutdown_write()
    }

    fn shutdown(&mut self) -> io::Result<()> {
        (**self).shutdown()
    }
}

/// The peer may have gone already; shutting down what is gone is no error.
pub(crate) fn ignore_not_connected(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        other => other,
    }
}

/// Any `Read + Write` as a [`Transport`] that cannot bound its reads nor shut
/// itself down: an in-memory pipe, a TLS stream, a serial line.
///
/// The limits: proto's deadlines (handshake, close, keepalive, idle) are
/// checked before each read and acted on when a read returns, but cannot cut
/// a read short, so a silent peer can keep a `recv` blocked past them; and
/// the transport is ended only when the `WebSocket` is dropped. A read
/// timeout you configure on the inner stream yourself is reported as
/// [`Error::Io`](crate::Error::Io) with `WouldBlock`/`TimedOut`, and the
/// connection stays usable.
#[derive(Debug, Default, Clone)]
pub struct NoTimeouts<S>(pub S);

impl<S: Read> Read for NoTimeouts<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<S: Write> Write for NoTimeouts<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<S: Read + Write> Transport for NoTimeouts<S> {
    fn set_read_timeout(&mut self, _timeout: Option<Duration>) -> io::Result<bool> {
        Ok(false)
    }

    fn shutdown(&mut self) -> io::Result<()> {
        Ok(())
    }
}
