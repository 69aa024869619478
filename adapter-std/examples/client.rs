//! A first client: connects, sends a message, prints what comes back, and
//! closes cleanly, reading until the closing handshake completes.
//!
//! `cargo run -p rusty-socket-std --example client -- [ws://127.0.0.1:9001] [--ca CA.pem]`
//! (try it against `cargo run -p rusty-socket-std --example echo_server -- 127.0.0.1:9001`).
//! A `wss://` URL works too; `--ca CA.pem` trusts that authority as well as
//! the usual roots (for a server with a private or self-signed certificate,
//! such as `tls_echo_server`'s).

use std::path::{Path, PathBuf};
use std::{env, process};

use rusty_socket_std::{
    connect, connect_tls, tls, ClientRequest, CloseCode, Config, Error, Message,
};

fn main() {
    let mut url = "ws://127.0.0.1:9001".to_owned();
    let mut ca: Option<PathBuf> = None;
    let mut args = env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--ca" => ca = args.next().map(PathBuf::from),
            _ => url = arg,
        }
    }
    if let Err(e) = run(&url, ca.as_deref()) {
        eprintln!("client: {e}");
        process::exit(1);
    }
}

/// The whole conversation with the server at `url` (trusting the extra CA
/// certificates in `ca`, if given); returns every message received, the
/// server's close frame last.
pub fn run(url: &str, ca: Option<&Path>) -> Result<Vec<Message>, Error> {
    let (mut ws, response) = match ca {
        Some(ca) => {
            let tls = tls::client_config_with_ca_file(ca)?;
            connect_tls(ClientRequest::new(url)?, Config::default(), tls)?
        }
        None => connect(url)?,
    };
    println!("connected (subprotocol: {:?})", response.protocol());
    ws.send(Message::text("hello from rusty-socket-std"))?;

    let mut received = Vec::new();
    // The first thing back (the echo, from an echo server); `None` would
    // mean the server closed the connection cleanly already.
    if let Some(message) = ws.recv()? {
        println!("received {message:?}");
        received.push(message);
    }

    // Send our close frame, then read until `None`: messages still in
    // flight come first, then the server's close frame.
    ws.close(CloseCode::NORMAL, "done")?;
    while let Some(message) = ws.recv()? {
        println!("received {message:?}");
        received.push(message);
    }
    println!("closed cleanly");
    Ok(received)
}
