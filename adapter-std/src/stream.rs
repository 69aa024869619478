//! The transport [`connect`](crate::connect) returns: plain TCP for
//! `ws://`, TLS over it for `wss://`, in one type so that either URL gives
//! the same `WebSocket` type.

use std::io::{self, IoSlice, Read, Write};
use std::time::Duration;

#[cfg(feature = "rustls")]
use crate::tls::TlsStream;
use crate::transport::{Transport, TryClone};

/// A stream that is either plain (`ws://`) or TLS (`wss://`), as
/// [`connect`](crate::connect) opens it. Reads, writes (vectored too, so
/// that large payloads are not copied before encryption), timeouts,
/// shutdown and `try_clone` (for [`split`](crate::WebSocket::split)) go to
/// the variant; shutting down a TLS stream sends its close_notify first.
///
/// Without the `rustls` feature there is only [`Plain`](Self::Plain).
#[derive(Debug)]
#[non_exhaustive]
pub enum MaybeTlsStream<S> {
    /// No TLS: a `ws://` connection.
    Plain(S),
    /// TLS through rustls: a `wss://` connection.
    #[cfg(feature = "rustls")]
    Rustls(TlsStream<rustls::ClientConnection>),
}

impl<S> MaybeTlsStream<S> {
    /// Whether this is a TLS stream.
    pub fn is_tls(&self) -> bool {
        !matches!(self, MaybeTlsStream::Plain(_))
    }
}

impl<S: Read> Read for MaybeTlsStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(s) => s.read(buf),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => s.read(buf),
        }
    }
}

impl<S: Write> Write for MaybeTlsStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(s) => s.write(buf),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            MaybeTlsStream::Plain(s) => s.write_vectored(bufs),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => s.flush(),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => s.flush(),
        }
    }
}

impl<S: Transport> Transport for MaybeTlsStream<S> {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        match self {
            MaybeTlsStream::Plain(s) => s.set_read_timeout(timeout),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => s.set_read_timeout(timeout),
        }
    }

    fn shutdown(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => s.shutdown(),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => s.shutdown(),
        }
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            MaybeTlsStream::Plain(s) => s.shutdown_write(),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => s.shutdown_write(),
        }
    }
}

impl<S: TryClone> TryClone for MaybeTlsStream<S> {
    fn try_clone(&self) -> io::Result<Self> {
        Ok(match self {
            MaybeTlsStream::Plain(s) => MaybeTlsStream::Plain(s.try_clone()?),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Rustls(s) => MaybeTlsStream::Rustls(s.try_clone()?),
        })
    }
}
