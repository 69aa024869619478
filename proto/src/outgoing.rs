//! The outgoing queue: encoded frames waiting to be written, bounded in bytes.
//!
//! Order of transmission:
//!
//! 1. the rest of a data frame that has been partly written (a frame, once
//!    started, is finished before anything else goes out);
//! 2. control frames (pongs, pings), which so jump ahead of queued data at
//!    a frame boundary;
//! 3. data frames in the order they were queued, and close frames, which
//!    are queued like data: our close (or a failure's) follows the messages
//!    queued before it, so the answers to everything the peer sent before a
//!    violation still go out first.
//!
//! Small frames are copied into one contiguous buffer (`tail`) so that many
//! small messages leave in a single write; a large payload is queued as the
//! caller's own `Bytes`, behind its header, and written with a vectored write,
//! never copied into a second buffer.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

use crate::frame::{write_frame, FrameHeader, MAX_HEADER_LEN};

/// Payloads up to this size are copied next to their header; larger ones are
/// queued by reference. Copying is cheaper than an extra iovec below it.
const COPY_THRESHOLD: usize = 4096;

/// The first allocation of the buffer that small frames are copied into.
const FIRST_TAIL: usize = 512;

/// A stretch of queued bytes that ends at a frame boundary.
#[derive(Debug, Default)]
struct Chunk {
    head: Bytes,
    body: Bytes,
}

impl Chunk {
    fn len(&self) -> usize {
        self.head.len() + self.body.len()
    }

    /// Consumes up to `n` bytes and returns how many it took.
    fn advance(&mut self, n: usize) -> usize {
        let from_head = n.min(self.head.len());
        self.head.advance(from_head);
        let from_body = (n - from_head).min(self.body.len());
        self.body.advance(from_body);
        from_head + from_body
    }
}

#[derive(Debug, Default)]
pub(crate) struct Outgoing {
    /// The partly written remainder of a data chunk.
    current: Chunk,
    /// Whole control frames.
    control: BytesMut,
    /// Data chunks, each ending at a frame boundary.
    data: VecDeque<Chunk>,
    /// Small data frames not yet sealed into a chunk.
    tail: BytesMut,
    len: usize,
}

impl Outgoing {
    /// Bytes waiting to be written.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of memory held: the capacity of the buffers that frames are
    /// copied into, and the payloads queued by reference.
    pub(crate) fn capacity(&self) -> usize {
        self.control.capacity()
            + self.tail.capacity()
            + self.current.len()
            + self.data.iter().map(Chunk::len).sum::<usize>()
    }

    /// Bytes of control frames waiting to be written.
    pub(crate) fn control_len(&self) -> usize {
        self.control.len()
    }

    /// Queues an HTTP head. It is the first thing a connection sends and
    /// nothing may jump ahead of it, so it goes out as if already started.
    pub(crate) fn push_head(&mut self, bytes: &[u8]) {
        debug_assert!(self.is_empty(), "an HTTP head is always sent first");
        self.current = Chunk {
            head: Bytes::copy_from_slice(bytes),
            body: Bytes::new(),
        };
        self.len = bytes.len();
    }

    /// Queues a control frame ahead of unstarted data.
    pub(crate) fn push_control(&mut self, header: FrameHeader, payload: &[u8]) {
        let before = self.control.len();
        write_frame(&mut self.control, header, payload);
        self.len += self.control.len() - before;
    }

    /// Queues a data frame (or a close that must follow the data) in order:
    /// a small or masked payload is copied next to its header, a large one
    /// is queued by reference, as the `Bytes` that `share` gives.
    pub(crate) fn push_data(
        &mut self,
        header: FrameHeader,
        payload: &[u8],
        share: impl FnOnce() -> Bytes,
    ) {
        let before = self.tail.len();
        if header.mask.is_some() || payload.len() <= COPY_THRESHOLD {
            if self.tail.capacity() == 0 {
                // A burst of small frames (echoes, chat lines) would grow
                // an empty buffer five times on its way to a few hundred
                // bytes; start it at that size instead.
                self.tail
                    .reserve(FIRST_TAIL.max(MAX_HEADER_LEN + payload.len()));
            }
            write_frame(&mut self.tail, header, payload);
            self.len += self.tail.len() - before;
            return;
        }
        let mut head = [0; MAX_HEADER_LEN];
        let head_len = header.encode(&mut head);
        self.tail.extend_from_slice(&head[..head_len]);
        let chunk = Chunk {
            head: self.tail.split().freeze(),
            body: share(),
        };
        self.len += head_len + payload.len();
        self.data.push_back(chunk);
    }

    /// Queues a complete frame encoded elsewhere, by reference.
    pub(crate) fn push_encoded(&mut self, frame: Bytes) {
        self.len += frame.len();
        let chunk = Chunk {
            head: self.tail.split().freeze(),
            body: frame,
        };
        self.data.push_back(chunk);
    }

    /// Frees the buffers if nothing waits in them.
    pub(crate) fn release(&mut self) {
        if self.is_empty() {
            *self = Outgoing::default();
        }
    }

    /// Drops everything: the transport is gone or the connection gave up.
    pub(crate) fn clear(&mut self) {
        *self = Outgoing::default();
    }

    /// Fills `dst` with the queued bytes in transmission order, at most
    /// `max` of them, and returns how many slices it filled.
    pub(crate) fn chunks<'a>(&'a self, dst: &mut [IoSlice<'a>], max: usize) -> usize {
        let current = [
            &self.current.head[..],
            &self.current.body[..],
            &self.control[..],
        ];
        let data = self.data.iter().flat_map(|c| [&c.head[..], &c.body[..]]);
        let all = current.into_iter().chain(data).chain([&self.tail[..]]);
        let mut filled = 0;
        let mut room = max;
        for (slot, slice) in dst.iter_mut().zip(all.filter(|s| !s.is_empty())) {
            if room == 0 {
                break;
            }
            let slice = &slice[..slice.len().min(room)];
            room -= slice.len();
            *slot = IoSlice::new(slice);
            filled += 1;
        }
        filled
    }

    /// Marks the first `n` bytes in transmission order as written.
    pub(crate) fn advance(&mut self, mut n: usize) {
        n = n.min(self.len);
        self.len -= n;
        n -= self.current.advance(n);
        let from_control = n.min(self.control.len());
        self.control.advance(from_control);
        n -= from_control;
        while n > 0 {
            let Some(mut chunk) = self.data.pop_front() else {
                break;
            };
            n -= chunk.advance(n);
            if chunk.len() > 0 {
                self.current = chunk;
                return;
            }
        }
        if n > 0 {
            self.tail.advance(n);
            // The tail's frame boundaries are not recorded: what is left of
            // it must go out before any control frame.
            self.current = Chunk {
                head: self.tail.split().freeze(),
                body: Bytes::new(),
            };
        }
    }

    /// Takes the next contiguous piece of queued bytes, at most `max` of
    /// them, as if it was written.
    pub(crate) fn pop(&mut self, max: usize) -> Option<Bytes> {
        if max == 0 {
            return None;
        }
        let piece = if !self.current.head.is_empty() {
            &mut self.current.head
        } else if !self.current.body.is_empty() {
            &mut self.current.body
        } else if !self.control.is_empty() {
            let n = self.control.len().min(max);
            self.len -= n;
            return Some(self.control.split_to(n).freeze());
        } else if let Some(chunk) = self.data.pop_front() {
            self.current = chunk;
            return self.pop(max);
        } else if !self.tail.is_empty() {
            // What is left of the tail must go out before any control frame.
            self.current.head = self.tail.split().freeze();
            &mut self.current.head
        } else {
            return None;
        };
        let next = if piece.len() <= max {
            std::mem::take(piece)
        } else {
            piece.split_to(max)
        };
        self.len -= next.len();
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::OpCode;

    fn header(opcode: OpCode, len: usize) -> FrameHeader {
        FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask: None,
            payload_len: len as u64,
        }
    }

    fn push(out: &mut Outgoing, header: FrameHeader, payload: Bytes) {
        out.push_data(header, &payload, || payload.clone());
    }

    fn gather(out: &Outgoing) -> Vec<u8> {
        let mut slices = [IoSlice::new(&[]); 64];
        let n = out.chunks(&mut slices, usize::MAX);
        slices[..n].iter().flat_map(|s| s.iter().copied()).collect()
    }

    #[test]
    fn control_frames_jump_ahead_only_at_frame_boundaries() {
        let mut out = Outgoing::default();
        let big = Bytes::from(vec![7u8; 10_000]);
        push(&mut out, header(OpCode::Binary, big.len()), big.clone());
        push(&mut out, header(OpCode::Binary, big.len()), big.clone());
        out.advance(100);
        out.push_control(header(OpCode::Pong, 1), b"p");
        let bytes = gather(&out);
        assert_eq!(bytes.len(), out.len());
        // The rest of the first frame, then the pong, then the second frame.
        let first_rest = 4 + 10_000 - 100;
        assert_eq!(&bytes[first_rest..first_rest + 3], &[0x8A, 0x01, b'p']);
        assert_eq!(
            &bytes[first_rest + 3..first_rest + 7],
            &[0x82, 0x7E, 0x27, 0x10]
        );
    }

    #[test]
    fn nothing_jumps_ahead_of_the_http_head() {
        let mut out = Outgoing::default();
        out.push_head(b"GET / HTTP/1.1\r\n\r\n");
        out.push_control(header(OpCode::Pong, 0), b"");
        assert!(gather(&out).starts_with(b"GET /"));
    }

    #[test]
    fn large_payloads_are_queued_by_reference() {
        let mut out = Outgoing::default();
        let big = Bytes::from(vec![1u8; 100_000]);
        push(&mut out, header(OpCode::Binary, big.len()), big.clone());
        let mut slices = [IoSlice::new(&[]); 4];
        assert_eq!(out.chunks(&mut slices, usize::MAX), 2);
        assert_eq!(slices[1].as_ptr(), big.as_ptr());
    }

    #[test]
    fn encoded_frames_are_queued_by_reference() {
        let mut out = Outgoing::default();
        push(&mut out, header(OpCode::Text, 1), Bytes::from_static(b"a"));
        let frame = Bytes::from_static(&[0x81, 0x01, b'b']);
        out.push_encoded(frame.clone());
        let mut slices = [IoSlice::new(&[]); 4];
        assert_eq!(out.chunks(&mut slices, usize::MAX), 2);
        assert_eq!(slices[1].as_ptr(), frame.as_ptr());
        assert_eq!(gather(&out), [0x81, 0x01, b'a', 0x81, 0x01, b'b']);
    }

    #[test]
    fn pop_and_advance_agree_with_chunks() {
        let mut a = Outgoing::default();
        let mut b = Outgoing::default();
        for out in [&mut a, &mut b] {
            out.push_head(b"HTTP head\r\n\r\n");
            push(out, header(OpCode::Text, 2), Bytes::from_static(b"hi"));
            push(
                out,
                header(OpCode::Binary, 5000),
                Bytes::from(vec![3u8; 5000]),
            );
            out.push_control(header(OpCode::Ping, 0), b"");
        }
        let expected = gather(&a);
        let mut popped = Vec::new();
        while let Some(piece) = a.pop(usize::MAX) {
            popped.extend_from_slice(&piece);
        }
        assert_eq!(popped, expected);
        assert!(a.is_empty());
        let mut written = Vec::new();
        while !b.is_empty() {
            let pending = gather(&b);
            let n = pending.len().min(777);
            written.extend_from_slice(&pending[..n]);
            b.advance(n);
        }
        assert_eq!(written, expected);
    }
}
