//! Owned halves of a [`WebSocket`] for two tasks.
//!
//! Both halves hold the one driver behind a mutex, taken only for the
//! length of a poll (never across an `.await`). Each half registers its
//! task's waker in its own slot, and the transport and timer wake both (see
//! the driver's docs), so either half can wait on anything without stealing
//! the other's wakeup.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use futures_sink::Sink;
use rusty_socket_proto::{
    CloseCode, CloseFrame, Message, MessageKind, PreparedMessage, Role, State,
};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::driver::{Driver, Outbound, Side};
use crate::error::Error;
use crate::websocket::WebSocket;
use crate::Incoming;

type Shared<S> = Arc<Mutex<Driver<S>>>;

fn lock<S>(shared: &Shared<S>) -> MutexGuard<'_, Driver<S>> {
    // A panic in another half cannot leave the driver half-updated in a
    // way that matters more than the panic itself; carry on.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn split<S>(ws: WebSocket<S>) -> (WriteHalf<S>, ReadHalf<S>) {
    let shared = Arc::new(Mutex::new(ws.into_driver()));
    (
        WriteHalf {
            shared: shared.clone(),
        },
        ReadHalf { shared },
    )
}

/// The receiving half of a [`WebSocket`] (see [`WebSocket::split`]): a
/// [`Stream`] of messages.
///
/// It drives the connection like the whole `WebSocket` does: reads, writes
/// pongs and the close echo, fires timers. Keep polling it while the
/// connection is open. Receiving is cancel-safe.
pub struct ReadHalf<S> {
    shared: Shared<S>,
}

/// The sending half of a [`WebSocket`] (see [`WebSocket::split`]): a
/// [`Sink`] of messages.
pub struct WriteHalf<S> {
    shared: Shared<S>,
}

impl<S> fmt::Debug for ReadHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadHalf").finish_non_exhaustive()
    }
}

impl<S> fmt::Debug for WriteHalf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteHalf").finish_non_exhaustive()
    }
}

/// `reunite` was given halves of two different connections; here they are back.
pub struct ReuniteError<S>(pub ReadHalf<S>, pub WriteHalf<S>);

impl<S> fmt::Debug for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReuniteError(..)")
    }
}

impl<S> fmt::Display for ReuniteError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the halves belong to different WebSockets")
    }
}

impl<S> std::error::Error for ReuniteError<S> {}

impl<S> ReadHalf<S> {
    /// The subprotocol agreed in the opening handshake, if any.
    pub fn protocol(&self) -> Option<String> {
        lock(&self.shared).conn().protocol().map(str::to_owned)
    }

    /// Open, closing or closed.
    pub fn state(&self) -> State {
        lock(&self.shared).conn().state()
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        lock(&self.shared).conn().role()
    }

    /// Whether `write` is the other half of the same connection.
    pub fn is_pair_of(&self, write: &WriteHalf<S>) -> bool {
        Arc::ptr_eq(&self.shared, &write.shared)
    }

    /// Puts the halves back together.
    pub fn reunite(self, write: WriteHalf<S>) -> Result<WebSocket<S>, ReuniteError<S>> {
        if !self.is_pair_of(&write) {
            return Err(ReuniteError(self, write));
        }
        drop(write);
        let mutex = Arc::into_inner(self.shared).expect("both halves were given");
        let driver = mutex.into_inner().unwrap_or_else(PoisonError::into_inner);
        Ok(WebSocket::from_driver(driver))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> ReadHalf<S> {
    /// Receives the next message; `Ok(None)` once the connection has closed
    /// cleanly. See [`WebSocket::recv`]. Cancel-safe.
    pub async fn recv(&mut self) -> Result<Option<Message>, Error> {
        self.next().await.transpose()
    }

    /// Receives the next message. See [`WebSocket::next`]. Cancel-safe.
    pub async fn next(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| lock(&self.shared).poll_message(Side::Read, cx)).await
    }

    /// Receives the next message or fragment. See [`WebSocket::recv_incoming`].
    pub async fn recv_incoming(&mut self) -> Result<Option<Incoming>, Error> {
        poll_fn(|cx| self.poll_next_incoming(cx)).await.transpose()
    }

    /// Polls for the next message or fragment.
    pub fn poll_next_incoming(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Incoming, Error>>> {
        lock(&self.shared).poll_incoming(Side::Read, cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for ReadHalf<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        lock(&self.shared).poll_message(Side::Read, cx)
    }
}

impl<S> WriteHalf<S> {
    /// Bytes queued but not yet written. See [`WebSocket::buffered_outgoing`].
    pub fn buffered_outgoing(&self) -> usize {
        lock(&self.shared).conn().buffered_outgoing()
    }

    /// Open, closing or closed.
    pub fn state(&self) -> State {
        lock(&self.shared).conn().state()
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        lock(&self.shared).conn().role()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WriteHalf<S> {
    /// Sends a message and flushes it. See [`WebSocket::send`].
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        self.feed(message).await?;
        self.flush().await
    }

    /// Queues a message without writing it out. See [`WebSocket::feed`].
    pub fn feed(&mut self, message: Message) -> impl Future<Output = Result<(), Error>> + '_ {
        self.feed_outbound(Outbound::Message(message))
    }

    /// Sends a ping and writes it out; the pong arrives at the [`ReadHalf`].
    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        self.send(Message::Ping(Bytes::copy_from_slice(payload)))
            .await
    }

    /// Sends one fragment of a message and flushes it. See
    /// [`WebSocket::send_fragment`].
    pub async fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: impl Into<Bytes>,
        fin: bool,
    ) -> Result<(), Error> {
        let data = data.into();
        self.send_outbound(Outbound::Fragment { kind, data, fin })
            .await
    }

    /// Sends a message prepared once for many connections and flushes it.
    /// See [`WebSocket::send_prepared`].
    pub async fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        self.send_outbound(Outbound::Prepared(message.clone()))
            .await
    }

    async fn send_outbound(&mut self, item: Outbound) -> Result<(), Error> {
        self.feed_outbound(item).await?;
        self.flush().await
    }

    /// Waits for room, then queues `item` (see `WebSocket::feed_outbound`
    /// for why this is not an `async fn`).
    fn feed_outbound(&mut self, item: Outbound) -> impl Future<Output = Result<(), Error>> + '_ {
        let mut item = Some(item);
        poll_fn(move |cx| {
            let mut driver = lock(&self.shared);
            ready!(driver.poll_ready(Side::Write, cx))?;
            Poll::Ready(match item.take() {
                Some(item) => driver.start_send(item),
                // Polled again after it completed: nothing left to queue.
                None => Ok(()),
            })
        })
    }

    /// Writes out everything queued.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| lock(&self.shared).poll_flush(Side::Write, cx)).await
    }

    /// Starts the closing handshake, as [`WebSocket::close`] does: queues a
    /// close frame with `code` and `reason`, writes it out, and returns. The
    /// [`ReadHalf`] finishes the handshake: keep calling its `recv` until
    /// `Ok(None)`; messages still in flight arrive first.
    pub async fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        if lock(&self.shared).is_end_reported() {
            return Err(Error::AlreadyClosed);
        }
        let frame = Some(CloseFrame::new(code.into(), reason));
        poll_fn(|cx| lock(&self.shared).poll_close(Side::Write, cx, &frame)).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WriteHalf<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        lock(&self.shared).poll_ready(Side::Write, cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        lock(&self.shared).start_send(Outbound::Message(message))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        lock(&self.shared).poll_flush(Side::Write, cx)
    }

    /// Sends a close frame (1000) if the connection is open and flushes it.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let frame = Some(CloseFrame::new(CloseCode::NORMAL, ""));
        lock(&self.shared).poll_close(Side::Write, cx, &frame)
    }
}
