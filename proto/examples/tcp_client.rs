//! A WebSocket client written straight against the state machine: a
//! hand-written run loop over a blocking `TcpStream`. It connects, sends one
//! message, prints what comes back, and closes cleanly.
//!
//! `cargo run -p rusty-socket-proto --example tcp_client -- [ws://127.0.0.1:9001]`

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rusty_socket_proto::{
    random_seed, ClientRequest, CloseCode, CloseFrame, CloseReason, Config, Connection, Event,
    Message, State,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    let request = ClientRequest::new(&url)?;
    let mut stream = TcpStream::connect((request.host(), request.port()))?;
    stream.set_nodelay(true)?;
    // The masking keys and the handshake nonce come from this seed: it must
    // be unpredictable, so it comes from the OS.
    let mut conn = Connection::client(&request, Config::default(), random_seed()?, Instant::now())?;
    let mut buf = vec![0; 64 * 1024];
    loop {
        // 1. Write out everything the connection has queued.
        while let Some(bytes) = conn.poll_transmit(Instant::now()) {
            stream.write_all(&bytes)?;
        }
        // 2. React to every event; a command may queue more output.
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Connected(_) => {
                    println!("connected to {url}");
                    conn.send(Instant::now(), &Message::text("hello from proto"))?;
                }
                Event::Message(Message::Close(frame)) => println!("the server closes: {frame:?}"),
                Event::Message(message) => {
                    println!("received {message:?}");
                    if conn.state() == State::Open {
                        let bye = CloseFrame::new(CloseCode::NORMAL, "done");
                        conn.close(Instant::now(), Some(bye))?;
                    }
                }
                Event::Closed(CloseReason::Normal(_)) => {
                    println!("closed cleanly");
                    return Ok(());
                }
                Event::Closed(reason) => return Err(format!("connection failed: {reason}").into()),
                _ => {}
            }
        }
        if conn.wants_write() {
            continue;
        }
        // 3. Wait for the peer, but no longer than the next deadline.
        let wait = conn
            .poll_timeout()
            .map(|at| at.saturating_duration_since(Instant::now()));
        stream.set_read_timeout(wait.map(|d| d.max(Duration::from_millis(1))))?;
        match stream.read(&mut buf) {
            Ok(0) => conn.handle_eof(Instant::now()),
            Ok(n) => conn.handle_read(Instant::now(), &buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                conn.handle_timeout(Instant::now())
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
}
