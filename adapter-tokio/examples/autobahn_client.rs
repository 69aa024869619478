//! The Autobahn|Testsuite client: echoes every case of a fuzzingserver.
//!
//! ```text
//! cargo run --release -p rusty-socket-tokio --example autobahn_client -- ws://127.0.0.1:9001 AGENT
//! ```
//!
//! Opens `BASE/getCaseCount` and reads the number of cases, runs each case
//! on `BASE/runCase?case=N&agent=AGENT` (echoing text and binary messages
//! until the connection closes; errors are expected, logged, and skipped),
//! then asks for `BASE/updateReports?agent=AGENT`.

use futures_util::{FutureExt, SinkExt};
use rusty_socket_tokio::{connect, CloseCode, Error, Message, WebSocket};
use tokio::net::TcpStream;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    let agent = args
        .next()
        .unwrap_or_else(|| "rusty-socket-tokio".to_owned());
    let base = base.trim_end_matches('/');

    let mut ws = connect(&format!("{base}/getCaseCount")).await?;
    let count: u32 = match ws.recv().await? {
        Some(Message::Text(text)) => text.trim().parse()?,
        other => return Err(format!("expected the case count, got {other:?}").into()),
    };
    let _ = ws.close(CloseCode::NORMAL, "").await;
    eprintln!("{count} cases");

    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        match run_case(&url).await {
            Ok(()) => {}
            Err(e) => eprintln!("case {case}: {e}"),
        }
    }

    let mut ws = connect(&format!("{base}/updateReports?agent={agent}")).await?;
    let _ = ws.close(CloseCode::NORMAL, "").await;
    Ok(())
}

async fn run_case(url: &str) -> Result<(), Error> {
    let mut ws = connect(url).await?;
    while let Some(message) = ws.next().await {
        echo(&mut ws, message?).await?;
        while let Some(ready) = ws.next().now_or_never() {
            match ready {
                Some(message) => echo(&mut ws, message?).await?,
                None => return Ok(()),
            }
        }
        match ws.flush().await {
            Err(Error::AlreadyClosed) => {}
            other => other?,
        }
    }
    Ok(())
}

async fn echo(ws: &mut WebSocket<TcpStream>, message: Message) -> Result<(), Error> {
    if let Message::Text(_) | Message::Binary(_) = message {
        match ws.feed(message).await {
            // The peer's close arrived behind the message: nothing more can
            // be sent, but keep receiving to complete the closing handshake.
            Err(Error::AlreadyClosed) => {}
            other => return other,
        }
    }
    Ok(())
}
