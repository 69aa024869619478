//! [`WebSocket`]: a `Stream` of received messages and a `Sink` of messages
//! to send, over one transport.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use futures_sink::Sink;
use rusty_socket_proto::{
    CloseCode, CloseFrame, Config, Connection, Event, Message, MessageKind, PreparedMessage, Role,
    State,
};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::driver::{Driver, Outbound, Side};
use crate::error::Error;
use crate::split::{ReadHalf, WriteHalf};
use crate::{Deflate, Incoming};

/// An open WebSocket over a transport `S` (a `TcpStream`, a TLS stream, a
/// connection hyper upgraded...).
///
/// Made by [`connect`](crate::connect), [`accept`](crate::accept) and their
/// variants, or [`from_raw`](crate::from_raw). It is a
/// [`Stream`] of received [`Message`]s and a [`Sink`] of messages to send, with
/// plain async helpers for both ([`recv`](Self::recv), [`next`](Self::next),
/// [`send`](Self::send), [`feed`](Self::feed), [`flush`](Self::flush),
/// [`close`](Self::close)); [`split`](Self::split) gives owned halves for
/// two tasks. The methods have the same names and meanings as
/// `rusty-socket-std`'s, with `async`.
///
/// # Inherent methods and `SinkExt`
///
/// The inherent `send`, `feed`, `flush` and `close` take precedence over
/// `futures`' `SinkExt` methods of the same names when you call
/// `ws.send(..)`. `send`, `feed` and `flush` behave like `SinkExt`'s.
/// `close` differs: the inherent [`close(code, reason)`](Self::close) sends
/// the close frame you choose, while `SinkExt::close(&mut ws)` (the `Sink`'s
/// `poll_close`) sends `1000` with no reason. Either way, keep receiving
/// until `None` to complete the closing handshake.
///
/// # Driving
///
/// No task runs in the background: the connection moves when it is polled.
/// Receiving (the `Stream` side) reads from the transport, decodes, writes
/// what the protocol owes the peer (pongs, the echo of a close, anything
/// sent but not yet flushed) and fires the timers. Sending (the `Sink` side)
/// queues messages and writes them out on `flush`, every message queued
/// since the last flush in as few vectored writes as the transport allows.
///
/// So keep receiving while the connection is open, even if you expect
/// nothing: that is what answers pings, completes a closing handshake the
/// peer started, and notices a dead peer. **Timers (the handshake, close,
/// keepalive and idle timeouts of [`Config`]) advance only while the
/// connection is polled**: by the stream side, or by the sink side while it
/// waits for the transport. A connection nobody polls does nothing, not even
/// time out; dropping it closes the transport.
///
/// # Cancel safety
///
/// [`next`](Self::next), [`recv`](Self::recv), [`recv_incoming`](Self::recv_incoming)
/// and polling the `Stream` are cancel-safe: all state lives in the
/// `WebSocket`, not in the future, so a `select!` that drops a pending
/// receive loses no message and no byte. [`send`](Self::send) is cancel-safe
/// in the sense that the message is either not queued (cancelled while
/// waiting for room) or queued whole, and then goes out with the next flush
/// or receive. [`close`](Self::close) can be resumed by calling it again.
///
/// # Backpressure
///
/// Proto refuses to queue more than `Config::max_outgoing_buffer` bytes. The
/// `Sink`'s `poll_ready` (and so `send`) stays pending, writing as it waits,
/// until there is room: a peer that stops reading stops the sender instead
/// of growing a buffer. [`buffered_outgoing`](Self::buffered_outgoing) tells
/// how much is queued.
///
/// # Example
///
/// As a `Stream` and a `Sink`, with `futures-util`'s `StreamExt` and
/// `SinkExt`: every text message goes back in capitals.
///
/// ```no_run
/// use futures_util::{SinkExt, StreamExt};
/// use rusty_socket_tokio::{connect, Message};
///
/// # async fn run() -> Result<(), rusty_socket_tokio::Error> {
/// let (mut ws, _response) = connect("ws://127.0.0.1:9001/").await?;
/// while let Some(message) = ws.next().await {
///     if let Message::Text(text) = message? {
///         ws.send(Message::text(text.to_string().to_uppercase())).await?;
///     }
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct WebSocket<S> {
    /// Boxed: the futures that hold a `WebSocket` across an await (every
    /// connection task's) stay a pointer wide instead of carrying a
    /// kilobyte of state, once per nested future.
    driver: Box<Driver<S>>,
}

impl<S> WebSocket<S> {
    pub(crate) fn new(io: S, conn: Connection) -> Self {
        WebSocket {
            driver: Box::new(Driver::new(io, conn)),
        }
    }

    pub(crate) fn into_driver(self) -> Driver<S> {
        *self.driver
    }

    pub(crate) fn from_driver(driver: Driver<S>) -> Self {
        WebSocket {
            driver: Box::new(driver),
        }
    }

    /// The subprotocol agreed in the opening handshake, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.driver.conn().protocol()
    }

    /// The permessage-deflate parameters agreed in the opening handshake,
    /// if compression was agreed (it is offered and accepted by default:
    /// see [`Config::deflate`](crate::Config::deflate)).
    pub fn deflate(&self) -> Option<Deflate> {
        self.driver.conn().deflate()
    }

    /// Client or server.
    pub fn role(&self) -> Role {
        self.driver.conn().role()
    }

    /// Open, closing or closed.
    pub fn state(&self) -> State {
        self.driver.conn().state()
    }

    /// The connection's limits and timeouts.
    pub fn config(&self) -> &Config {
        self.driver.conn().config()
    }

    /// Bytes queued but not yet written; at most `Config::max_outgoing_buffer`
    /// (or one message, if a single message is larger than that).
    pub fn buffered_outgoing(&self) -> usize {
        self.driver.conn().buffered_outgoing()
    }

    /// The protocol state machine, to read its state.
    pub fn connection(&self) -> &Connection {
        self.driver.conn()
    }

    /// The transport.
    pub fn get_ref(&self) -> &S {
        self.driver.io()
    }

    /// The transport, to change its settings. Reading or writing it directly
    /// corrupts the WebSocket stream.
    pub fn get_mut(&mut self) -> &mut S {
        self.driver.io_mut()
    }

    /// Gives up the connection and returns the transport as it is: bytes
    /// received but not delivered, or queued but not written, are lost.
    pub fn into_inner(self) -> S {
        self.into_driver().into_io()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// The next event during a handshake.
    pub(crate) async fn next_event(&mut self) -> Option<Result<Event, Error>> {
        poll_fn(|cx| self.driver.poll_event(Side::Read, cx)).await
    }

    /// Server: see [`Driver::decide`].
    pub(crate) fn decide(
        &mut self,
        decision: Result<rusty_socket_proto::Accept, rusty_socket_proto::Reject>,
    ) -> Result<(), rusty_socket_proto::AcceptError> {
        self.driver.decide(decision)
    }

    /// Receives the next message: text, binary, or a ping, pong or close
    /// frame (already answered by the connection). Cancel-safe.
    ///
    /// `Ok(None)` is the normal end: the closing handshake has completed
    /// (the peer's close frame, returned before as [`Message::Close`], was
    /// answered or was the answer to ours). Every other end is an error:
    /// [`Error::Protocol`] for a violation by the peer, [`Error::Io`] for a
    /// transport failure, [`Error::Closed`] for a timeout or an EOF without
    /// a closing handshake. Once the end has been reported, later calls
    /// return `Ok(None)`.
    ///
    /// With `Config::streaming` on, data arrives in fragments: use
    /// [`recv_incoming`](Self::recv_incoming) (this returns
    /// [`Error::FragmentPending`] when a fragment is next).
    pub async fn recv(&mut self) -> Result<Option<Message>, Error> {
        self.next().await.transpose()
    }

    /// Receives the next message, like [`StreamExt::next`](futures_util::StreamExt::next):
    /// [`recv`](Self::recv) with the `Option` outside. Cancel-safe.
    pub async fn next(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| self.driver.poll_message(Side::Read, cx)).await
    }

    /// Receives the next message, control frame, or (with `Config::streaming`)
    /// piece of a message as it arrives, without waiting for the whole
    /// message. Ends as [`recv`](Self::recv) does. Cancel-safe.
    pub async fn recv_incoming(&mut self) -> Result<Option<Incoming>, Error> {
        poll_fn(|cx| self.poll_next_incoming(cx)).await.transpose()
    }

    /// Polls for the next message or fragment (see [`recv_incoming`](Self::recv_incoming)).
    pub fn poll_next_incoming(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Incoming, Error>>> {
        self.driver.poll_incoming(Side::Read, cx)
    }

    /// Sends a message and writes it out ([`feed`](Self::feed), then
    /// [`flush`](Self::flush)): waits for room in the outgoing buffer,
    /// queues the message, writes out everything queued. Sending
    /// [`Message::Close`] starts the closing handshake, as
    /// [`close`](Self::close) does.
    pub async fn send(&mut self, message: Message) -> Result<(), Error> {
        self.feed(message).await?;
        self.flush().await
    }

    /// Queues a message without writing it out (see [`flush`](Self::flush)),
    /// waiting for room in the outgoing buffer first, like
    /// [`SinkExt::feed`](futures_util::SinkExt::feed). Receiving also writes
    /// out what is queued: a server that answers with `feed` answers a burst
    /// of messages in one write.
    pub fn feed(&mut self, message: Message) -> impl Future<Output = Result<(), Error>> + '_ {
        self.feed_outbound(Outbound::Message(message))
    }

    /// Sends a ping (at most 125 bytes of payload) and writes it out. The
    /// pong comes back through [`recv`](Self::recv).
    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), Error> {
        let ping = Message::Ping(Bytes::copy_from_slice(payload));
        self.send(ping).await
    }

    /// Sends one fragment of a message and flushes it: the first fragment's
    /// `kind` gives the message's type, `fin` ends it. No other message may
    /// be sent until the last fragment (control frames may). Text fragments
    /// may split a character; the whole must be valid UTF-8.
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

    /// Sends a message prepared once for many connections (a server's
    /// broadcast: the same bytes are queued on each) and flushes it.
    pub async fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        self.send_outbound(Outbound::Prepared(message.clone()))
            .await
    }

    async fn send_outbound(&mut self, item: Outbound) -> Result<(), Error> {
        self.feed_outbound(item).await?;
        self.flush().await
    }

    /// Waits for room, then queues `item`. One closure that holds the item,
    /// not an `async fn`: the future of an `async fn` keeps its argument and
    /// its locals side by side, and every task awaiting it (an echo loop, a
    /// chat connection) carries that size for as long as it lives.
    fn feed_outbound(&mut self, item: Outbound) -> impl Future<Output = Result<(), Error>> + '_ {
        let mut item = Some(item);
        poll_fn(move |cx| {
            ready!(self.driver.poll_ready(Side::Write, cx))?;
            Poll::Ready(match item.take() {
                Some(item) => self.driver.start_send(item),
                // Polled again after it completed: nothing left to queue.
                None => Ok(()),
            })
        })
    }

    /// Writes out everything queued.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.driver.poll_flush(Side::Write, cx)).await
    }

    /// Starts the closing handshake: queues a close frame with a status code
    /// (`1000` or [`CloseCode::NORMAL`] for a normal closure) and a reason of
    /// at most 123 bytes, writes it out (with anything queued before it),
    /// and returns.
    ///
    /// Then call [`recv`](Self::recv) until it returns `Ok(None)` to finish
    /// the closing handshake: messages still in flight are delivered first,
    /// then the peer's [`Message::Close`], then `Ok(None)` (an error if the
    /// peer does not answer within `Config::close_timeout`). A client reads
    /// until the server ends the transport, as RFC 6455 wants. Dropping the
    /// `WebSocket` instead just closes the transport.
    ///
    /// If the peer closed first, its close was already answered and this
    /// queues nothing. After the end was reported, returns
    /// [`Error::AlreadyClosed`]. Not `SinkExt::close`, which sends `1000`
    /// (see [above](Self#inherent-methods-and-sinkext)).
    pub async fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<(), Error> {
        if self.driver.is_end_reported() {
            return Err(Error::AlreadyClosed);
        }
        let frame = Some(CloseFrame::new(code.into(), reason));
        poll_fn(|cx| self.driver.poll_close(Side::Write, cx, &frame)).await
    }

    /// Splits the connection into a sending and a receiving half, which can
    /// move to different tasks: `let (writer, reader) = ws.split();`. The
    /// order is that of `futures`' `StreamExt::split`, sink first (and of
    /// `rusty-socket-std`'s `split`). Both halves drive the same connection
    /// behind a lock; [`ReadHalf::reunite`] puts them back together.
    pub fn split(self) -> (WriteHalf<S>, ReadHalf<S>) {
        crate::split::split(self)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocket<S> {
    type Item = Result<Message, Error>;

    /// See [`WebSocket::next`]. Cancel-safe.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().driver.poll_message(Side::Read, cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocket<S> {
    type Error = Error;

    /// Ready when proto's outgoing buffer has room; writes while it waits.
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().driver.poll_ready(Side::Write, cx)
    }

    /// Queues the message; nothing is written until a flush (or a receive).
    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        self.get_mut().driver.start_send(Outbound::Message(message))
    }

    /// Writes out everything queued, with vectored writes.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().driver.poll_flush(Side::Write, cx)
    }

    /// Sends a close frame (1000) if the connection is open and flushes it.
    /// The closing handshake completes as the stream is received to its
    /// end; [`WebSocket::close`] does both.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let frame = Some(CloseFrame::new(CloseCode::NORMAL, ""));
        self.get_mut().driver.poll_close(Side::Write, cx, &frame)
    }
}
