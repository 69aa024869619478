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

#[path = "shared/echo.rs"]
mod echo_loop;

use rusty_socket_tokio::{connect, CloseCode, Error, MaybeTlsStream, Message, WebSocket};
use tokio::net::TcpStream;

use echo_loop::echo;

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

    let (mut ws, _) = connect(&format!("{base}/getCaseCount")).await?;
    let count: u32 = match ws.recv().await? {
        Some(Message::Text(text)) => text.trim().parse()?,
        other => return Err(format!("expected the case count, got {other:?}").into()),
    };
    close_and_finish(&mut ws).await;
    eprintln!("{count} cases");

    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        match run_case(&url).await {
            Ok(()) => {}
            Err(e) => eprintln!("case {case}: {e}"),
        }
    }

    let (mut ws, _) = connect(&format!("{base}/updateReports?agent={agent}")).await?;
    close_and_finish(&mut ws).await;
    Ok(())
}

/// Closes (the server may have closed first) and receives until the
/// closing handshake ends.
async fn close_and_finish(ws: &mut WebSocket<MaybeTlsStream<TcpStream>>) {
    let _ = ws.close(CloseCode::NORMAL, "").await;
    while let Ok(Some(_)) = ws.recv().await {}
}

async fn run_case(url: &str) -> Result<(), Error> {
    echo(connect(url).await?.0).await
}
