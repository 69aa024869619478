//! The staged close after an HTTP error answer (RFC 9112 section 9.6).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use rusty_socket_std::accept;

/// A request far over the handshake limit is answered 431 while the client
/// is still sending; the server lets it finish (half-close, read and
/// discard) instead of closing, which would make the client's writes fail
/// and could destroy the answer with a reset.
#[test]
fn a_client_still_sending_a_huge_request_reads_its_431() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let _ = accept(stream);
            });
        }
    });
    for attempt in 0..3 {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let head = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nX-Big: ");
        stream.write_all(head.as_bytes()).unwrap();
        for piece in 0..64 {
            stream
                .write_all(&[b'a'; 32 << 10])
                .unwrap_or_else(|e| panic!("attempt {attempt}: piece {piece} not sent: {e}"));
            thread::sleep(Duration::from_millis(2));
        }
        stream.write_all(b"\r\n\r\n").unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .unwrap_or_else(|e| panic!("attempt {attempt}: the answer was lost: {e}"));
        assert!(
            answer.starts_with(b"HTTP/1.1 431 "),
            "attempt {attempt}: {:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(80)])
        );
    }
}
