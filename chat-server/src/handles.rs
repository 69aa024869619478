//! The socket handles a std-runtime connection needs, taken before its
//! handshake.
//!
//! Splitting a WebSocket clones its stream twice (a handle for the writer,
//! one to shut the connection down under it). At the open-file limit a clone
//! fails; done after the handshake, that would answer a client `101` and
//! then drop it without a word. [`Reserved`] takes the clones first, so a
//! server out of descriptors answers `503` instead, and its `try_clone`
//! hands them out when the split asks.

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::sync::Mutex;
use std::time::Duration;

use rusty_socket_std::{Transport, TryClone};

/// The handles [`WebSocket::split`](rusty_socket_std::WebSocket::split)
/// takes: its writer's and its closer's.
pub const FOR_SPLIT: usize = 2;

/// A stream and the clones of it taken in advance.
pub struct Reserved<S> {
    stream: S,
    /// Handed out by `try_clone`, before any new clone is made. Behind a
    /// lock only because `try_clone` takes `&self`; it is taken once each.
    spares: Mutex<Vec<S>>,
}

impl<S: TryClone> Reserved<S> {
    /// `stream` with `count` clones of it, or why they could not be made
    /// (with the stream, to answer on).
    pub fn new(stream: S, count: usize) -> (Self, io::Result<()>) {
        let mut spares = Vec::with_capacity(count);
        let made = (0..count).try_for_each(|_| {
            spares.push(stream.try_clone()?);
            Ok(())
        });
        let spares = Mutex::new(if made.is_ok() { spares } else { Vec::new() });
        (Self { stream, spares }, made)
    }
}

impl<S: TryClone> TryClone for Reserved<S> {
    fn try_clone(&self) -> io::Result<Self> {
        let spare = self
            .spares
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        Ok(Self {
            stream: match spare {
                Some(spare) => spare,
                None => self.stream.try_clone()?,
            },
            spares: Mutex::new(Vec::new()),
        })
    }
}

impl<S: Read> Read for Reserved<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.stream.read_vectored(bufs)
    }
}

impl<S: Write> Write for Reserved<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.stream.write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

impl<S: Transport> Transport for Reserved<S> {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        self.stream.set_read_timeout(timeout)
    }

    fn shutdown(&mut self) -> io::Result<()> {
        self.stream.shutdown()
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream.shutdown_write()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use super::*;

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        (listener.accept().unwrap().0, client)
    }

    #[test]
    fn clones_hand_out_the_reserved_handles_then_make_new_ones() {
        let (server, mut client) = pair();
        let (reserved, made) = Reserved::new(server, FOR_SPLIT);
        made.unwrap();
        let clones: Vec<_> = (0..FOR_SPLIT + 1)
            .map(|_| reserved.try_clone().unwrap())
            .collect();
        assert!(reserved.spares.lock().unwrap().is_empty());
        // Every clone is a handle on the same connection.
        for (i, mut clone) in clones.into_iter().enumerate() {
            clone.write_all(&[i as u8]).unwrap();
        }
        let mut got = [0; FOR_SPLIT + 1];
        client.read_exact(&mut got).unwrap();
        assert_eq!(got, [0, 1, 2]);
    }
}
