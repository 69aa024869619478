//! A wss:// echo server: `echo_server` behind TLS, for trying TLS clients
//! and for the conformance suite over wss://.
//!
//! ```text
//! cargo run --release -p rusty-socket-std --example tls_echo_server -- 127.0.0.1:9443 cert.pem key.pem
//! ```
//!
//! `cert.pem` is the certificate chain (leaf first) and `key.pem` its
//! private key, both PEM. One thread per connection; every text and binary
//! message goes back, on any path; runs until killed. A TLS handshake that
//! takes over 10 seconds is dropped (the WebSocket handshake has proto's
//! own timeout).

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;
use std::{env, process, thread};

use rusty_socket_std::{accept, tls, Error, Message};

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    let [addr, cert, key] = args.as_slice() else {
        eprintln!("usage: tls_echo_server ADDR CERT.pem KEY.pem");
        process::exit(2);
    };
    let config =
        tls::server_config_from_pem_files(Path::new(cert), Path::new(key)).unwrap_or_else(|e| {
            eprintln!("tls_echo_server: {e}");
            process::exit(1);
        });
    let listener = TcpListener::bind(addr).unwrap_or_else(|e| {
        eprintln!("tls_echo_server: cannot listen on {addr}: {e}");
        process::exit(1);
    });
    eprintln!("echo_server: listening on wss://{addr}");
    for tcp in listener.incoming() {
        let Ok(tcp) = tcp else { continue };
        let config = config.clone();
        thread::spawn(move || {
            let serve = || -> Result<(), Error> {
                tcp.set_nodelay(true)?;
                // TLS first (bounded), then the WebSocket on top of it.
                let stream = tls::accept(tcp, config, Duration::from_secs(10))?;
                let mut ws = accept(stream)?;
                // `feed`, not `send`: `recv` writes out what is queued
                // before it waits, so a burst of messages is answered in
                // one TLS record and one write instead of one each.
                while let Some(message) = ws.recv()? {
                    if let Message::Text(_) | Message::Binary(_) = message {
                        ws.feed(message)?;
                    }
                }
                Ok(())
            };
            if let Err(e) = serve() {
                eprintln!("tls_echo_server: {e}");
            }
        });
    }
}
