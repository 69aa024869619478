//! The sink's contract at the edge of the outgoing limit, and the staged
//! close after an HTTP error answer.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use rusty_socket_tokio::{accept, from_raw, Config, Message, Role};
use tokio::net::TcpListener;

/// `poll_ready` said the sink was ready, so `start_send` must take the item,
/// even when proto's buffer cannot take it yet because of its frame header:
/// the item waits in the sink, it is not refused.
#[tokio::test]
async fn the_sink_takes_an_item_after_ready_even_when_only_its_header_does_not_fit() {
    let mut config = Config::default();
    config.max_outgoing_buffer = 1000;
    let (ours, _peer) = tokio::io::duplex(64 << 10);
    let mut ws = from_raw(ours, Role::Server, config).unwrap();
    ws.feed(Message::binary(vec![1u8; 600])).await.unwrap();
    assert_eq!(ws.buffered_outgoing(), 604);
    // 604 + 395 payload bytes fit; 604 + 4 (header) + 395 do not.
    ws.feed(Message::binary(vec![2u8; 395])).await.unwrap();
    assert_eq!(ws.buffered_outgoing(), 604, "the item waits in the sink");
}

/// A request far over the handshake limit is answered 431 while the client
/// is still sending; the server must let it finish sending (half-close, read
/// and discard) instead of closing, which makes the client's write fail and
/// can destroy the answer with a reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_still_sending_a_huge_request_reads_its_431() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = accept(stream).await;
            });
        }
    });
    let client = tokio::task::spawn_blocking(move || {
        for attempt in 0..3 {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let head = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nX-Big: ");
            stream.write_all(head.as_bytes()).unwrap();
            // 2 MiB of header value in pieces, as a real client on a real
            // network sends it: the answer comes long before the end.
            for piece in 0..64 {
                stream.write_all(&[b'a'; 32 << 10]).unwrap_or_else(|e| {
                    panic!("attempt {attempt}: piece {piece} could not be sent: {e}")
                });
                std::thread::sleep(Duration::from_millis(2));
            }
            stream.write_all(b"\r\n\r\n").unwrap();
            stream.shutdown(std::net::Shutdown::Write).unwrap();
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
    });
    tokio::time::timeout(Duration::from_secs(60), client)
        .await
        .expect("bounded")
        .unwrap();
}
