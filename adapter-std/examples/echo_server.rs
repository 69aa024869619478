//! An echo server for the Autobahn conformance suite and benchmarks:
//! `cargo run --release -p rusty-socket-std --example echo_server -- 127.0.0.1:9002`.
//!
//! One thread per connection; accepts the upgrade on any path; echoes every
//! text and binary message with its type. Pings are answered and closes
//! echoed by the connection itself. Limits are proto's defaults (16 MiB
//! frames, 64 MiB messages). Runs until killed.

use std::net::{TcpListener, TcpStream};
use std::{env, process, thread};

use rusty_socket_std::{accept, Error, Message};

fn main() {
    let addr = env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9002".to_owned());
    let listener = TcpListener::bind(&addr).unwrap_or_else(|e| {
        eprintln!("echo_server: cannot listen on {addr}: {e}");
        process::exit(1);
    });
    eprintln!("echo_server: listening on ws://{addr}");
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                thread::spawn(move || {
                    let peer = stream.peer_addr().map(|a| a.to_string());
                    if let Err(e) = serve(stream) {
                        eprintln!("echo_server: {}: {e}", peer.unwrap_or_default());
                    }
                });
            }
            Err(e) => eprintln!("echo_server: accept failed: {e}"),
        }
    }
}

fn serve(stream: TcpStream) -> Result<(), Error> {
    stream.set_nodelay(true)?;
    let mut ws = accept(stream)?;
    // `None`: the closing handshake has completed.
    while let Some(message) = ws.recv()? {
        if let Message::Text(_) | Message::Binary(_) = message {
            // Queued only: `recv` writes every queued answer before it waits
            // for the peer, so a burst of messages is echoed in one write.
            ws.feed(message)?;
        }
    }
    Ok(())
}
