//! Fan-out across processes and nodes: more receivers than one process may
//! hold open files for, on several servers (chat-server nodes joined over
//! Redis), and the time until the last of them has each message.
//!
//! Receiver processes (`--spread-receive N`) hold their connections,
//! spread over the `--node` URLs and `--bind` source addresses, say
//! `ready N` on stdout, and tally every marker they see. One sender
//! (`--spread-send M`) sends M text messages `wsload#SEQ#NANOS#`, NANOS
//! being the wall-clock time of sending; a receiver measures each arrival
//! against it (the processes share the machine's clock) and reports, per
//! message, how many of its connections got it and when the last did. The
//! caller adds the counts up and takes the largest time: that is the time
//! to the last delivery across all the receivers (`bench/scale.sh`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::task::LocalSet;

use crate::frame::{encode_client_frame, Decoder, Item, OP_TEXT};
use crate::handshake;
use crate::load::MASK;
use crate::stream::{read_some, Stream};
use crate::target::Target;
use crate::Error;

/// Read buffer per receiving connection: the messages are tiny, and a
/// process holds many thousands of connections.
const READ_BUFFER: usize = 2048;

/// One message as this process's receivers got it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Arrival {
    /// The message's sequence number, from 1.
    pub seq: u64,
    /// Connections of this process that received it.
    pub delivered: usize,
    /// From sending to its last arrival here, milliseconds.
    pub last_ms: f64,
}

/// What one receiver process saw.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SpreadResult {
    /// Connections this process held.
    pub receivers: usize,
    /// Every message seen, in order.
    pub arrivals: Vec<Arrival>,
}

#[derive(Debug, Default)]
struct Tally {
    /// Per message: connections that got it, latest latency in ns.
    seen: BTreeMap<u64, (usize, u128)>,
    failure: Option<Error>,
}

/// Opens `receivers` connections, the i-th to `targets[i % len]`, says
/// `ready N` on stdout, and tallies markers until every one of `messages`
/// reached every connection, or `timeout` passed.
pub async fn receive(
    targets: &[Target],
    receivers: usize,
    messages: u64,
    timeout: Duration,
) -> Result<SpreadResult, Error> {
    if targets.is_empty() || receivers == 0 {
        return Err(Error::Usage(
            "--spread-receive needs receivers and a --node".into(),
        ));
    }
    let tally = Rc::new(RefCell::new(Tally::default()));
    let local = LocalSet::new();
    local
        .run_until(async {
            for i in 0..receivers {
                let target = &targets[i % targets.len()];
                let (stream, leftover) = handshake::open(target, i as u64).await?;
                let tally = Rc::clone(&tally);
                tokio::task::spawn_local(async move {
                    if let Err(error) = listen(stream, leftover, &tally).await {
                        tally.borrow_mut().failure.get_or_insert(error);
                    }
                });
            }
            println!("ready {receivers}");
            let _ = std::io::stdout().flush();
            let complete = || {
                let tally = tally.borrow();
                (1..=messages).all(|seq| {
                    tally
                        .seen
                        .get(&seq)
                        .is_some_and(|(count, _)| *count == receivers)
                })
            };
            let _ = tokio::time::timeout(timeout, async {
                while !complete() && tally.borrow().failure.is_none() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await;
            Ok::<(), Error>(())
        })
        .await?;
    let mut tally = tally.take();
    if let Some(error) = tally.failure.take() {
        return Err(error);
    }
    let arrivals = tally
        .seen
        .into_iter()
        .map(|(seq, (delivered, latest))| Arrival {
            seq,
            delivered,
            last_ms: latest as f64 / 1e6,
        })
        .collect();
    Ok(SpreadResult {
        receivers,
        arrivals,
    })
}

/// Reads one connection, tallying each marked message once, and answers
/// the server's keepalive pings (the connections are held for minutes).
async fn listen(
    mut stream: Stream,
    leftover: Vec<u8>,
    tally: &RefCell<Tally>,
) -> Result<(), Error> {
    let mut decoder = Decoder::answering_pings();
    let mut text = Vec::new();
    let mut input = leftover;
    let mut buf = vec![0u8; READ_BUFFER];
    loop {
        let mut rest = &input[..];
        while let Some(item) = decoder.next(&mut rest)? {
            match item {
                Item::Data(data) => text.extend_from_slice(&data[..data.len().min(256)]),
                Item::End { opcode, .. } => {
                    if let (OP_TEXT, Some((seq, sent))) = (opcode, stamp(&text)) {
                        let latency = now_nanos().saturating_sub(sent);
                        let mut tally = tally.borrow_mut();
                        let entry = tally.seen.entry(seq).or_default();
                        entry.0 += 1;
                        entry.1 = entry.1.max(latency);
                    }
                    text.clear();
                }
            }
        }
        let pongs = decoder.take_pongs();
        if !pongs.is_empty() {
            stream
                .write_all(&pongs)
                .await
                .map_err(Error::io("answering a ping"))?;
        }
        let n = read_some(&mut stream, &mut buf, "reading as a receiver").await?;
        input.clear();
        input.extend_from_slice(&buf[..n]);
    }
}

/// Sends `messages` marked messages to `target`, `interval` apart.
pub async fn send(target: &Target, messages: u64, interval: Duration) -> Result<(), Error> {
    let (stream, _) = handshake::open(target, u64::MAX).await?;
    let (rd, mut wr) = tokio::io::split(stream);
    // The server broadcasts to the sender too: keep reading.
    tokio::spawn(crate::fanout::drain(rd));
    for seq in 1..=messages {
        let text = format!("wsload#{seq}#{}#", now_nanos());
        let frame = encode_client_frame(OP_TEXT, text.as_bytes(), MASK);
        wr.write_all(&frame)
            .await
            .map_err(Error::io("sending a marked message"))?;
        wr.flush()
            .await
            .map_err(Error::io("sending a marked message"))?;
        tokio::time::sleep(interval).await;
    }
    Ok(())
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos())
}

/// `wsload#SEQ#NANOS#` anywhere in a message: SEQ and NANOS.
fn stamp(text: &[u8]) -> Option<(u64, u128)> {
    const TAG: &[u8] = b"wsload#";
    let start = text.windows(TAG.len()).position(|w| w == TAG)? + TAG.len();
    let rest = std::str::from_utf8(&text[start..]).ok()?;
    let mut fields = rest.split('#');
    let seq = fields.next()?.parse().ok()?;
    let sent = fields.next()?.parse().ok()?;
    fields.next().map(|_| (seq, sent))
}

#[cfg(test)]
mod tests {
    use super::stamp;

    #[test]
    fn reads_stamps() {
        assert_eq!(
            stamp(b"wsload#3#1700000000000000000#"),
            Some((3, 1_700_000_000_000_000_000))
        );
        assert_eq!(stamp(b"x: wsload#3#12#"), Some((3, 12)));
        assert_eq!(stamp(b"wsload#3#"), None);
        assert_eq!(stamp(b"wsload#3#12"), None);
    }
}
