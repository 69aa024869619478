//! Writes per burst: the answers to messages that arrive together leave in
//! one write, however many reads the burst took; and a connection with
//! nothing to do holds no buffer (one that grew for a large message, a
//! moment later).

mod common;

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use common::within;
use futures_util::StreamExt;
use rusty_socket_tokio::{from_raw, Config, Message, Role};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};

/// A transport that hands out at most `max_read` bytes per read and counts
/// the writes that moved bytes.
struct Counting {
    inner: DuplexStream,
    max_read: usize,
    writes: Arc<AtomicUsize>,
}

impl Counting {
    fn count(&self, written: &Poll<io::Result<usize>>) {
        if let Poll::Ready(Ok(n)) = written {
            if *n > 0 {
                self.writes.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl AsyncRead for Counting {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let limit = buf.remaining().min(self.max_read);
        let mut small = ReadBuf::new(buf.initialize_unfilled_to(limit));
        let result = Pin::new(&mut self.inner).poll_read(cx, &mut small);
        let n = small.filled().len();
        buf.advance(n);
        result
    }
}

impl AsyncWrite for Counting {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, data);
        self.count(&written);
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        slices: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, slices);
        self.count(&written);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A masked binary frame as a client sends it.
fn client_frame(payload: &[u8]) -> Vec<u8> {
    let key = [0x12, 0x34, 0x56, 0x78];
    let mut frame = match payload.len() {
        len @ 0..=125 => vec![0x82, 0x80 | len as u8],
        len => {
            let mut head = vec![0x82, 0x80 | 127];
            head.extend_from_slice(&(len as u64).to_be_bytes());
            head
        }
    };
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame
}

#[tokio::test]
async fn the_echoes_of_a_burst_leave_in_one_write_and_the_idle_connection_keeps_no_buffer() {
    within(async {
        const MESSAGES: usize = 100;
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let writes = Arc::new(AtomicUsize::new(0));
        let server = Counting {
            inner: server,
            // 2200 bytes of frames take 9 reads.
            max_read: 256,
            writes: writes.clone(),
        };
        let mut ws = from_raw(server, Role::Server, Config::default()).unwrap();

        let payloads: Vec<Vec<u8>> = (0..MESSAGES).map(|i| vec![i as u8; 16]).collect();
        let burst: Vec<u8> = payloads.iter().flat_map(|p| client_frame(p)).collect();
        client.write_all(&burst).await.unwrap();

        // An echo loop as applications write it: queue each answer, no flush.
        for expected in &payloads {
            let message = ws.next().await.unwrap().unwrap();
            assert_eq!(message, Message::Binary(expected.clone().into()));
            ws.feed(message).await.unwrap();
        }
        assert_eq!(
            writes.load(Ordering::Relaxed),
            0,
            "nothing written mid-burst"
        );
        // The next receive finds the transport drained and writes the answers.
        let waited = tokio::time::timeout(Duration::from_millis(100), ws.next()).await;
        assert!(waited.is_err(), "no message was sent after the burst");
        assert_eq!(writes.load(Ordering::Relaxed), 1, "one write for the burst");
        assert_eq!(ws.connection().buffer_capacity(), 0, "idle: no buffer held");

        let mut echoed = vec![0; MESSAGES * 18];
        client.read_exact(&mut echoed).await.unwrap();
        for (frame, payload) in echoed.chunks(18).zip(&payloads) {
            assert_eq!(&frame[..2], &[0x82, 16]);
            assert_eq!(&frame[2..], &payload[..]);
        }
    })
    .await;
}

#[tokio::test]
async fn a_buffer_grown_for_a_large_message_is_kept_a_moment_then_freed_without_traffic() {
    within(async {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let mut ws = Some(from_raw(server, Role::Server, Config::default()).unwrap());
        let payload = vec![7u8; 256 << 10];
        let frame = client_frame(&payload);

        // The poll that finds nothing more to read keeps the buffer and arms
        // the timer: it wakes the task that waits for the next message, with
        // no traffic at all, and the driver frees the buffer. (In a task of
        // its own: a poll for any other reason would free it too.)
        client.write_all(&frame).await.unwrap();
        let message = ws.as_mut().unwrap().next().await.unwrap().unwrap();
        assert_eq!(message, Message::Binary(payload.into()));
        // (That it is kept at all is proto's `tests/buffer_hold.rs`.)
        let waiting = tokio::spawn(std::future::poll_fn(move |cx| {
            let conn = ws.as_mut().unwrap();
            assert!(conn.poll_next_unpin(cx).is_pending(), "no message was sent");
            match conn.connection().poll_timeout() {
                None => Poll::Ready(ws.take().unwrap()),
                Some(_) => Poll::Pending,
            }
        }));
        let ws = tokio::time::timeout(Duration::from_secs(2), waiting)
            .await
            .expect("the timer woke the waiting task")
            .unwrap();
        assert_eq!(ws.connection().buffer_capacity(), 0, "idle: no buffer held");
    })
    .await;
}
