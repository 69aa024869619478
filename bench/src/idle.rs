//! The idle mode: what each open but silent connection costs the server in
//! resident memory, read from `/proc/PID/status` around opening them.

use std::time::{Duration, Instant};

use crate::handshake;
use crate::record::IdleResult;
use crate::stream;
use crate::target::Target;
use crate::Error;

/// Time given to the server to finish setting up after the last handshake.
const SETTLE: Duration = Duration::from_secs(1);

/// Opens `conns` connections (TLS for a `wss://` target, then WebSocket
/// handshakes unless `raw`), waits, and
/// reports the growth of process `pid`'s VmRSS per connection.
///
/// With `extensions`, every handshake offers them and the server must
/// accept (answer something): idle connections with permessage-deflate
/// negotiated.
pub async fn run(
    target: &Target,
    conns: usize,
    pid: u32,
    raw: bool,
    extensions: Option<&str>,
) -> Result<IdleResult, Error> {
    if conns == 0 {
        return Err(Error::Usage("--idle needs at least 1 connection".into()));
    }
    let before = rss_kib(pid)?;
    let started = Instant::now();
    let mut open = Vec::with_capacity(conns);
    for i in 0..conns {
        // Sequential on purpose: it never overflows the listen backlog, and
        // 5000 handshakes over loopback still take well under a second
        // (TLS ones a few seconds).
        open.push(if raw {
            stream::connect(target).await?
        } else {
            let (stream, _, answer) = handshake::open_with(target, i as u64, extensions).await?;
            if extensions.is_some() && answer.is_none() {
                return Err(Error::Handshake(
                    "server declined the extension offered".into(),
                ));
            }
            stream
        });
    }
    let opening = started.elapsed();
    tokio::time::sleep(SETTLE).await;
    let after = rss_kib(pid)?;
    drop(open);
    Ok(IdleResult {
        conns,
        rss_before_kib: before,
        rss_after_kib: after,
        kib_per_conn: (after as f64 - before as f64) / conns as f64,
        handshakes_per_sec: conns as f64 / opening.as_secs_f64(),
    })
}

/// Reads `VmRSS` of process `pid`, in KiB.
fn rss_kib(pid: u32) -> Result<u64, Error> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(Error::io(format!("reading {path}")))?;
    parse_vm_rss(&status).ok_or_else(|| Error::Usage(format!("no VmRSS line in {path}")))
}

/// Extracts the value of the `VmRSS:   1234 kB` line.
fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line["VmRSS:".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status() {
        let status = "Name:\techo\nVmPeak:\t  9999 kB\nVmRSS:\t    4321 kB\nThreads:\t1\n";
        assert_eq!(parse_vm_rss(status), Some(4321));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        assert!(rss_kib(std::process::id()).unwrap() > 0);
    }
}
