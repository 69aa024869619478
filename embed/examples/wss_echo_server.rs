//! A wss:// echo server on the hand-written mio loop: every text or binary
//! message comes back as it came.
//!
//! ```sh
//! cargo run -p rusty-socket-embed-example --example wss_echo_server -- 127.0.0.1:9443 cert.pem key.pem
//! ```
//!
//! `cert.pem` holds the certificate chain, `key.pem` the private key (PKCS#8,
//! PKCS#1 or SEC1), both PEM.

use std::error::Error;
use std::io;
use std::process::ExitCode;

use rusty_socket_embed_example::{Config, ConnectionId, End, Handler, Server};
use rusty_socket_proto::Message;

struct Echo;

impl Handler for Echo {
    fn message(&mut self, _: ConnectionId, message: Message) -> Option<Message> {
        // Pings were answered and closes echoed by proto already.
        matches!(message, Message::Text(_) | Message::Binary(_)).then_some(message)
    }

    fn ended(&mut self, id: ConnectionId, end: End) {
        eprintln!("connection {id} ended: {end}");
    }

    fn accept_failed(&mut self, error: io::Error) {
        eprintln!("accept failed: {error}");
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wss_echo_server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, cert, key] = args.as_slice() else {
        return Err("usage: wss_echo_server ADDR CERT.pem KEY.pem".into());
    };
    let tls = rusty_socket_tls::server_config_from_pem_files(cert.as_ref(), key.as_ref())?;
    let server = Server::bind(addr.parse()?, tls, Config::default(), Echo)?;
    eprintln!("listening on wss://{}", server.local_addr()?);
    server.run()?;
    Ok(())
}
