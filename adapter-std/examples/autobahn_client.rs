//! The client side of the Autobahn conformance suite:
//! `cargo run --release -p rusty-socket-std --example autobahn_client -- ws://127.0.0.1:9001 AGENT`.
//!
//! Reads the number of cases from `BASE/getCaseCount`, runs every case by
//! echoing each text and binary message of `BASE/runCase?case=N&agent=AGENT`
//! until the connection ends (errors are expected: they are logged), then
//! asks for the reports with `BASE/updateReports?agent=AGENT`.

use std::{env, process};

use rusty_socket_std::{connect, Error, Message};

fn main() {
    let mut args = env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    let base = base.trim_end_matches('/');
    let agent = args.next().unwrap_or_else(|| "rusty-socket-std".to_owned());

    let count = match case_count(base) {
        Ok(count) => count,
        Err(e) => {
            eprintln!("autobahn_client: cannot get the case count from {base}: {e}");
            process::exit(1);
        }
    };
    eprintln!("autobahn_client: running {count} cases as {agent}");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent}");
        if let Err(e) = echo_until_closed(&url) {
            eprintln!("autobahn_client: case {case}: {e}");
        }
    }
    let url = format!("{base}/updateReports?agent={agent}");
    if let Err(e) = echo_until_closed(&url) {
        eprintln!("autobahn_client: updateReports: {e}");
        process::exit(1);
    }
    eprintln!("autobahn_client: done");
}

/// Opens `BASE/getCaseCount` and reads the number it sends.
fn case_count(base: &str) -> Result<u32, Box<dyn std::error::Error>> {
    let (mut ws, _) = connect(&format!("{base}/getCaseCount"))?;
    let count = loop {
        match ws.recv()? {
            Some(Message::Text(text)) => break text.as_str().trim().parse()?,
            Some(_) => {}
            None => return Err("the connection closed before the count".into()),
        }
    };
    // The server closes the connection; finish its closing handshake.
    while ws.recv()?.is_some() {}
    Ok(count)
}

/// Echoes every data message of `url` until the connection ends.
fn echo_until_closed(url: &str) -> Result<(), Error> {
    let (mut ws, _) = connect(url)?;
    while let Some(message) = ws.recv()? {
        if let Message::Text(_) | Message::Binary(_) = message {
            ws.send(message)?;
        }
    }
    Ok(())
}
