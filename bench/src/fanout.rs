//! The fan-out mode, for a broadcast (chat) server: many receivers, one
//! sender, and the time until the last receiver has each message.
//!
//! The sender sends a text message carrying a marker with a sequence number,
//! `wsload#SEQ#`, and waits until every receiver has seen it (or a timeout)
//! before sending the next. Receivers look for the marker anywhere in any
//! text message, so a server may wrap it in JSON or prefix a name.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::Notify;
use tokio::task::LocalSet;

use crate::frame::{encode_client_frame, Decoder, Item, OP_TEXT};
use crate::handshake;
use crate::load::MASK;
use crate::record::FanoutResult;
use crate::stream::{read_some, Stream};
use crate::target::Target;
use crate::Error;

/// How long one message may take to reach everyone before it counts as lost.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the first, unmeasured message may take: it waits behind the
/// server's backlog of join notices (N receivers each told of N joins).
const WARMUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after connecting, so that join notices are out of the way.
const SETTLE: Duration = Duration::from_millis(500);
/// Pause between messages, so that each one meets an idle server.
const GAP: Duration = Duration::from_millis(10);
/// Text messages are collected up to this size to look for the marker.
const MAX_COLLECT: usize = 64 * 1024;

/// Progress of the message currently being broadcast.
struct Round {
    receivers: usize,
    seq: Cell<u64>,
    arrived: Cell<usize>,
    /// When the last receiver got message `seq`, once it has.
    done_at: Cell<Option<Instant>>,
    done: Notify,
    failure: RefCell<Option<Error>>,
}

impl Round {
    fn arrive(&self, seq: u64) {
        if seq != self.seq.get() {
            return;
        }
        self.arrived.set(self.arrived.get() + 1);
        if self.arrived.get() == self.receivers {
            self.done_at.set(Some(Instant::now()));
            self.done.notify_one();
        }
    }
}

/// Connects `receivers` receivers and a sender, then broadcasts `messages`.
pub async fn run(
    target: &Target,
    receivers: usize,
    messages: usize,
) -> Result<FanoutResult, Error> {
    if receivers == 0 || messages == 0 {
        return Err(Error::Usage(
            "--fanout and --messages must be at least 1".into(),
        ));
    }
    let round = Rc::new(Round {
        receivers,
        seq: Cell::new(u64::MAX),
        arrived: Cell::new(0),
        done_at: Cell::new(None),
        done: Notify::new(),
        failure: RefCell::new(None),
    });
    let local = LocalSet::new();
    let samples = local
        .run_until(async {
            for i in 0..receivers {
                let (stream, leftover) = handshake::open(target, i as u64).await?;
                let round = round.clone();
                tokio::task::spawn_local(async move {
                    if let Err(error) = receive(stream, leftover, &round).await {
                        round.failure.borrow_mut().get_or_insert(error);
                    }
                });
            }
            let (sender, _) = handshake::open(target, receivers as u64).await?;
            let (rd, mut wr) = tokio::io::split(sender);
            // The server may broadcast to the sender too; keep reading so that
            // it never blocks on us.
            tokio::task::spawn_local(drain(rd));
            tokio::time::sleep(SETTLE).await;
            broadcast(&mut wr, &round, messages).await
        })
        .await?;

    let mut sorted = samples;
    sorted.sort_unstable();
    let at = |q: f64| match sorted.len() {
        0 => 0.0,
        n => sorted[((q * n as f64).ceil() as usize).clamp(1, n) - 1].as_secs_f64() * 1e6,
    };
    Ok(FanoutResult {
        receivers,
        messages,
        delivered: sorted.len(),
        p50_us: at(0.5),
        p99_us: at(0.99),
        max_us: at(1.0),
    })
}

/// Sends an unmeasured warm-up message and then the measured ones, one at a
/// time; returns the delivery time of each that reached every receiver.
/// A warm-up that never arrives is an error: the server is not broadcasting
/// plain text messages at all, and every measurement would time out.
async fn broadcast(
    wr: &mut WriteHalf<Stream>,
    round: &Round,
    messages: usize,
) -> Result<Vec<Duration>, Error> {
    let mut samples = Vec::with_capacity(messages);
    for seq in 0..=messages as u64 {
        let timeout = if seq == 0 {
            WARMUP_TIMEOUT
        } else {
            DELIVERY_TIMEOUT
        };
        round.seq.set(seq);
        round.arrived.set(0);
        round.done_at.set(None);
        let frame = encode_client_frame(OP_TEXT, format!("wsload#{seq}#").as_bytes(), MASK);
        let sent_at = Instant::now();
        wr.write_all(&frame)
            .await
            .map_err(Error::io("sending a broadcast message"))?;
        wr.flush()
            .await
            .map_err(Error::io("sending a broadcast message"))?;
        // A late finisher of an earlier message may have left a stale wake-up;
        // only `done_at` says whether this message is through.
        let delivered = tokio::time::timeout(timeout, async {
            while round.done_at.get().is_none() {
                round.done.notified().await;
            }
        })
        .await;
        if let Some(error) = round.failure.borrow_mut().take() {
            return Err(error);
        }
        match (seq, delivered, round.done_at.get()) {
            (0, Err(_), _) => {
                return Err(Error::Timeout(format!(
                    "the first message did not reach all {} receivers within {timeout:?}",
                    round.receivers
                )))
            }
            (0, _, _) => {}
            (_, Ok(()), Some(done_at)) => samples.push(done_at - sent_at),
            _ => {}
        }
        tokio::time::sleep(GAP).await;
    }
    Ok(samples)
}

/// One receiver's view of the stream: the frames, and the text so far.
#[derive(Default)]
struct Receiver {
    decoder: Decoder,
    text: Vec<u8>,
    last_seen: Option<u64>,
}

impl Receiver {
    /// Decodes `input` and reports each new marker to `round`, once.
    fn feed(&mut self, mut input: &[u8], round: &Round) -> Result<(), Error> {
        while let Some(item) = self.decoder.next(&mut input)? {
            match item {
                Item::Data(data) => {
                    let room = MAX_COLLECT.saturating_sub(self.text.len());
                    self.text.extend_from_slice(&data[..data.len().min(room)]);
                }
                Item::End { opcode, .. } => {
                    if let Some(seq) = marker(&self.text).filter(|_| opcode == OP_TEXT) {
                        if self.last_seen != Some(seq) {
                            self.last_seen = Some(seq);
                            round.arrive(seq);
                        }
                    }
                    self.text.clear();
                }
            }
        }
        Ok(())
    }
}

/// Reads one receiver's stream until it fails. The stream stays whole (not
/// split) because dropping a write half would send FIN, which a server may
/// take for a departure.
async fn receive(mut stream: Stream, leftover: Vec<u8>, round: &Round) -> Result<(), Error> {
    let mut receiver = Receiver::default();
    receiver.feed(&leftover, round)?;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = read_some(&mut stream, &mut buf, "reading as a receiver").await?;
        receiver.feed(&buf[..n], round)?;
    }
}

/// Discards everything the server sends to the sender.
pub(crate) async fn drain(mut rd: ReadHalf<Stream>) {
    let mut buf = vec![0u8; 16 * 1024];
    while matches!(rd.read(&mut buf).await, Ok(n) if n > 0) {}
}

/// Finds `wsload#SEQ#` in a message and returns SEQ.
fn marker(text: &[u8]) -> Option<u64> {
    const TAG: &[u8] = b"wsload#";
    let start = text.windows(TAG.len()).position(|w| w == TAG)? + TAG.len();
    let rest = &text[start..];
    let end = rest.iter().position(|&b| b == b'#')?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::marker;

    #[test]
    fn finds_markers_inside_wrapping() {
        assert_eq!(marker(b"wsload#17#"), Some(17));
        assert_eq!(marker(br#"{"from":"bob","text":"wsload#3#"}"#), Some(3));
        assert_eq!(marker(b"wsload#x#"), None);
        assert_eq!(marker(b"hello"), None);
    }
}
