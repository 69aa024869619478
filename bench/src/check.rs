//! The sanity check run before a server is measured: one message of each
//! size that crosses a length-encoding boundary, of every kind, each echo
//! compared byte for byte. A server that fails it is not benchmarked.

use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::deflate::{self, DeflateOffer};
use crate::echo::EchoReader;
use crate::frame::encode_client_frame;
use crate::handshake;
use crate::load::MASK;
use crate::payload::{self, Kind};
use crate::stream::{self, Stream};
use crate::target::Target;
use crate::Error;

/// Payload sizes: empty, the 7-bit limits (125/126), the 16-bit limits
/// (65535/65536) and 1 MiB, which needs several reads on both sides.
pub const SIZES: [usize; 7] = [0, 1, 125, 126, 65535, 65536, 1 << 20];

/// Time allowed for one echo.
const CASE_TIMEOUT: Duration = Duration::from_secs(10);

/// How many cases passed and failed.
#[derive(Debug, Default, Clone, Copy)]
pub struct CheckSummary {
    /// Echoes that came back exactly.
    pub passed: usize,
    /// Echoes that were wrong, late, or broke the connection.
    pub failed: usize,
}

/// Runs every case over one connection, printing one line per case. After a
/// failure the connection is replaced, so one bug does not hide the others.
///
/// With `deflate`, every connection offers permessage-deflate (the server
/// must accept it), every message goes compressed, and JSON is checked too.
pub async fn run(target: &Target, deflate: Option<DeflateOffer>) -> Result<CheckSummary, Error> {
    let mut summary = CheckSummary::default();
    let mut conn: Option<(Stream, Vec<u8>, Option<u8>)> = None;
    let json = [Kind::Json];
    let kinds = Kind::ALL
        .iter()
        .chain(if deflate.is_some() { &json[..] } else { &[] });
    for &kind in kinds {
        for size in SIZES {
            let (mut stream, leftover, bits) = match conn.take() {
                Some(open) => open,
                None => open(target, summary.passed as u64, deflate).await?,
            };
            let payload = payload::build(kind, size);
            let len = payload.len();
            let compress = deflate.zip(bits).map(|(offer, bits)| (offer.level, bits));
            let outcome = tokio::time::timeout(
                CASE_TIMEOUT,
                echo_once(&mut stream, &leftover, kind, payload, compress),
            )
            .await
            .unwrap_or_else(|_| Err(Error::Timeout(format!("no echo within {CASE_TIMEOUT:?}"))));
            match outcome {
                Ok(()) => {
                    println!("ok    {:<10} {len:>8} B", kind.name());
                    summary.passed += 1;
                    conn = Some((stream, Vec::new(), bits));
                }
                Err(error) => {
                    println!("FAIL  {:<10} {len:>8} B: {error}", kind.name());
                    summary.failed += 1;
                }
            }
        }
    }
    Ok(summary)
}

/// Connects, offering permessage-deflate if asked; returns the client window
/// bits the server agreed to, if it did.
async fn open(
    target: &Target,
    nonce: u64,
    deflate: Option<DeflateOffer>,
) -> Result<(Stream, Vec<u8>, Option<u8>), Error> {
    let offer = deflate.map(|_| deflate::OFFER);
    let (stream, leftover, answer) = handshake::open_with(target, nonce, offer).await?;
    let bits = match (deflate, answer) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(Error::Handshake(
                "server declined permessage-deflate".into(),
            ))
        }
        (Some(_), Some(answer)) => {
            deflate::parse_answer(&answer)?.map(|agreed| agreed.client_max_window_bits)
        }
    };
    Ok((stream, leftover, bits))
}

/// Sends one message and reads exactly one matching echo back. Writing and
/// reading run together, as the echo of 1 MiB may begin before it is sent.
/// With `compress` (level, window bits) the message goes compressed.
async fn echo_once(
    stream: &mut Stream,
    leftover: &[u8],
    kind: Kind,
    payload: Vec<u8>,
    compress: Option<(u32, u8)>,
) -> Result<(), Error> {
    let (frame, echoes) = match compress {
        Some((level, bits)) => {
            let mut frame = encode_client_frame(
                kind.opcode(),
                &deflate::compress(&payload, level, bits),
                MASK,
            );
            frame[0] |= 0x40;
            let echoes = EchoReader::websocket_deflate(Rc::from(payload), kind.opcode(), true);
            (frame, echoes)
        }
        None => (
            encode_client_frame(kind.opcode(), &payload, MASK),
            EchoReader::websocket(Rc::from(payload), kind.opcode(), true),
        ),
    };
    match stream {
        Stream::Tcp(tcp) => {
            let (rd, wr) = tcp.split();
            exchange(rd, wr, &frame, leftover, echoes).await
        }
        Stream::Tls(tls) => {
            let (rd, wr) = tokio::io::split(&mut **tls);
            exchange(rd, wr, &frame, leftover, echoes).await
        }
    }
}

/// Writes `frame` into `wr` while reading its one echo from `rd`.
async fn exchange(
    mut rd: impl AsyncRead + Unpin,
    mut wr: impl AsyncWrite + Unpin,
    frame: &[u8],
    leftover: &[u8],
    mut echoes: EchoReader,
) -> Result<(), Error> {
    let write = async {
        wr.write_all(frame)
            .await
            .map_err(Error::io("sending the message"))?;
        wr.flush().await.map_err(Error::io("sending the message"))
    };
    let read = async {
        let mut completed = echoes.consume(leftover)?;
        let mut buf = vec![0u8; 64 * 1024];
        while completed == 0 {
            let n = stream::read_some(&mut rd, &mut buf, "reading the echo").await?;
            completed = echoes.consume(&buf[..n])?;
        }
        if completed > 1 {
            return Err(Error::Mismatch("more than one echo for one message".into()));
        }
        Ok(())
    };
    tokio::try_join!(write, read)?;
    Ok(())
}
