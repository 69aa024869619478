//! The std adapter against itself over 127.0.0.1 (and a Unix socket pair):
//! messages, fragments, control frames, both closing handshakes, the
//! opening handshake's decisions, two threads on one connection, proto's
//! timers on real sockets, backpressure, and peers that misbehave.

// `accept_with` callbacks return proto's `Result<Accept, Reject>`, and a
// `Reject` is large.

mod support;

use std::net::TcpStream;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use rusty_socket_std::http::{header, HeaderName, HeaderValue, StatusCode};
use rusty_socket_std::{
    accept, accept_with, connect, connect_on, connect_with, Accept, Bytes, ClientRequest,
    CloseCode, CloseFrame, CloseReason, Config, Error, HandshakeError, Incoming, Message,
    MessageKind, NoTimeouts, ProtocolError, Reject, State, Timer, WebSocket,
};
use support::{
    close_and_finish, echo, echo_server, raw_client, read_until_eof, serve, within, write_raw,
    Echoed, LIMIT,
};

fn close_frame(code: u16, reason: &str) -> Option<CloseFrame> {
    Some(CloseFrame::new(CloseCode(code), reason))
}

#[test]
fn text_binary_and_empty_messages_round_trip() {
    within(LIMIT, || {
        let (url, server) = echo_server(Config::default());
        let (mut ws, response) = connect(&url).unwrap();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(ws.state(), State::Open);
        let messages = [
            Message::text("hello"),
            Message::text("héllo ✓"),
            Message::binary(vec![0u8, 1, 2, 255]),
            Message::text(""),
            Message::binary(Bytes::new()),
        ];
        for message in &messages {
            ws.send(message.clone()).unwrap();
        }
        for message in &messages {
            assert_eq!(&ws.recv().unwrap().unwrap(), message);
        }
        // The server's echo of our close frame, then the end.
        let rest = close_and_finish(&mut ws, 1000, "bye");
        assert_eq!(rest, [Message::Close(close_frame(1000, ""))]);
        let Echoed { controls, end } = server.join().unwrap();
        assert_eq!(controls, [Message::Close(close_frame(1000, "bye"))]);
        assert!(end.is_ok(), "{end:?}");
    });
}

#[test]
fn a_16_mib_message_round_trips() {
    within(LIMIT, || {
        let (url, server) = echo_server(Config::default());
        let (mut ws, _) = connect(&url).unwrap();
        let payload: Vec<u8> = (0..16 << 20).map(|i: u32| (i % 251) as u8).collect();
        let payload = Bytes::from(payload);
        ws.send(Message::Binary(payload.clone())).unwrap();
        match ws.recv().unwrap().unwrap() {
            Message::Binary(echoed) => assert!(echoed == payload, "payload differs"),
            other => panic!("expected binary, got {other:?}"),
        }
        close_and_finish(&mut ws, 1000, "");
        assert!(server.join().unwrap().end.is_ok());
    });
}

#[test]
fn a_fragmented_send_is_received_whole() {
    within(LIMIT, || {
        let (url, server) = echo_server(Config::default());
        let (mut ws, _) = connect(&url).unwrap();
        ws.send_fragment(MessageKind::Text, "Hel", false).unwrap();
        // A control frame may come between fragments; a message may not.
        ws.ping(b"between").unwrap();
        assert!(matches!(
            ws.send(Message::text("not now")),
            Err(Error::Send(rusty_socket_std::SendError::MessageInProgress))
        ));
        // "é" split across two fragments.
        ws.send_fragment(MessageKind::Text, &b"lo \xc3"[..], false)
            .unwrap();
        ws.send_fragment(MessageKind::Text, &b"\xa9"[..], true)
            .unwrap();
        assert_eq!(
            ws.recv().unwrap().unwrap(),
            Message::Pong(Bytes::from_static(b"between"))
        );
        assert_eq!(ws.recv().unwrap().unwrap(), Message::text("Hello é"));
        close_and_finish(&mut ws, 1000, "");
        let echoed = server.join().unwrap();
        assert_eq!(
            echoed.controls[0],
            Message::Ping(Bytes::from_static(b"between"))
        );
    });
}

#[test]
fn streaming_receive_delivers_a_message_in_pieces() {
    within(LIMIT, || {
        let (url, _, server) = serve(|stream| {
            let mut config = Config::default();
            config.streaming = true;
            let mut ws = accept_with(stream, config, |_| Ok(Accept::default())).unwrap();
            let mut pieces = Vec::new();
            loop {
                match ws.recv_incoming().unwrap().unwrap() {
                    Incoming::Fragment(fragment) => {
                        let fin = fragment.fin;
                        pieces.push(fragment);
                        if fin {
                            break;
                        }
                    }
                    other => panic!("expected a fragment, got {other:?}"),
                }
            }
            // `recv` does not lose a fragment it cannot return.
            assert!(matches!(ws.recv(), Err(Error::FragmentPending)));
            let mut text = Vec::new();
            loop {
                let Incoming::Fragment(fragment) = ws.recv_incoming().unwrap().unwrap() else {
                    panic!("expected a fragment");
                };
                assert_eq!(fragment.kind, MessageKind::Text);
                text.extend_from_slice(&fragment.data);
                if fragment.fin {
                    break;
                }
            }
            assert_eq!(text, b"after");
            assert_eq!(
                ws.recv().unwrap().unwrap(),
                Message::Close(close_frame(1000, ""))
            );
            assert!(ws.recv().unwrap().is_none());
            pieces
        });
        let (mut ws, _) = connect(&url).unwrap();
        let payload: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 253) as u8).collect();
        ws.send(Message::binary(payload.clone())).unwrap();
        ws.send(Message::text("after")).unwrap();
        close_and_finish(&mut ws, 1000, "");
        let pieces = server.join().unwrap();
        assert!(pieces.len() > 1, "one piece only: not streamed");
        assert!(pieces.iter().all(|p| p.kind == MessageKind::Binary));
        let firsts: Vec<bool> = pieces.iter().map(|p| p.first).collect();
        assert!(firsts[0] && !firsts[1..].iter().any(|f| *f));
        let joined: Vec<u8> = pieces.iter().flat_map(|p| p.data.iter().copied()).collect();
        assert!(joined == payload, "streamed bytes differ");
    });
}

#[test]
fn pings_are_answered_by_the_peer() {
    within(LIMIT, || {
        let (url, server) = echo_server(Config::default());
        let (mut ws, _) = connect(&url).unwrap();
        ws.ping(b"are you there").unwrap();
        assert_eq!(
            ws.recv().unwrap().unwrap(),
            Message::Pong(Bytes::from_static(b"are you there"))
        );
        assert!(matches!(
            ws.ping(&[0; 126]),
            Err(Error::Send(
                rusty_socket_std::SendError::ControlPayloadTooLong(126)
            ))
        ));
        close_and_finish(&mut ws, 1000, "");
        let echoed = server.join().unwrap();
        assert_eq!(
            echoed.controls[0],
            Message::Ping(Bytes::from_static(b"are you there"))
        );
    });
}

#[test]
fn close_initiated_by_the_client_is_seen_by_the_server_which_ends_the_tcp_first() {
    within(LIMIT, || {
        let (client_done_tx, client_done) = mpsc::channel();
        let (url, _, server) = serve(move |stream| {
            let mut ws = accept(stream).unwrap();
            let echoed = echo(&mut ws);
            // Keep the WebSocket (and its socket) until the client is done:
            // the client must see the end of the TCP from the shutdown alone.
            let _ = client_done.recv_timeout(Duration::from_secs(10));
            drop(ws);
            echoed
        });
        let (mut ws, _) = connect(&url).unwrap();
        let started = Instant::now();
        ws.close(4001, "client done").unwrap();
        // `close` only sends: the handshake is still open.
        assert_eq!(ws.state(), State::Closing);
        assert!(matches!(
            ws.send(Message::text("late")),
            Err(Error::AlreadyClosed)
        ));
        // The server's echo, then the end: the server shut the TCP down at
        // once (the client waits for that, up to the 5 s close timeout).
        assert_eq!(
            ws.recv().unwrap(),
            Some(Message::Close(close_frame(4001, "")))
        );
        assert_eq!(ws.recv().unwrap(), None);
        let elapsed = started.elapsed();
        client_done_tx.send(()).unwrap();
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        assert_eq!(ws.state(), State::Closed);
        // The end is reported again, and nothing more can be done.
        assert_eq!(ws.recv().unwrap(), None);
        assert!(matches!(ws.close(1000, ""), Err(Error::AlreadyClosed)));
        assert!(matches!(
            ws.send(Message::text("late")),
            Err(Error::AlreadyClosed)
        ));
        let Echoed { controls, end } = server.join().unwrap();
        assert_eq!(controls, [Message::Close(close_frame(4001, "client done"))]);
        assert!(end.is_ok(), "{end:?}");
    });
}

#[test]
fn close_initiated_by_the_server_is_seen_by_the_client() {
    within(LIMIT, || {
        let (client_done_tx, client_done) = mpsc::channel();
        let (url, _, server) = serve(move |stream| {
            let mut ws = accept(stream).unwrap();
            assert_eq!(ws.recv().unwrap().unwrap(), Message::text("close, please"));
            let started = Instant::now();
            ws.close(4002, "server done").unwrap();
            // The client's echo, then the end of the handshake.
            let echo = ws.recv().unwrap();
            let end = ws.recv();
            let elapsed = started.elapsed();
            let _ = client_done.recv_timeout(Duration::from_secs(10));
            drop(ws);
            (echo, end, elapsed)
        });
        let (mut ws, _) = connect(&url).unwrap();
        ws.send(Message::text("close, please")).unwrap();
        assert_eq!(
            ws.recv().unwrap().unwrap(),
            Message::Close(close_frame(4002, "server done"))
        );
        let started = Instant::now();
        let end = ws.recv().unwrap();
        let elapsed = started.elapsed();
        client_done_tx.send(()).unwrap();
        assert_eq!(end, None);
        // The server ended the TCP as soon as the handshake was done.
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        let (echo, end, elapsed) = server.join().unwrap();
        assert_eq!(echo, Some(Message::Close(close_frame(4002, ""))));
        assert_eq!(end.unwrap(), None);
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    });
}

#[test]
fn a_subprotocol_is_negotiated_and_the_request_inspected() {
    within(LIMIT, || {
        let (url, _, server) = serve(|stream| {
            let ws = accept_with(stream, Config::default(), |request| {
                assert_eq!(request.path(), "/chat");
                assert_eq!(request.uri().query(), Some("room=1"));
                assert_eq!(request.origin(), Some("https://example.com"));
                assert_eq!(request.protocols(), ["v1", "v2"]);
                let mut accept = Accept::with_protocol("v2");
                accept.headers.insert(
                    HeaderName::from_static("x-hello"),
                    HeaderValue::from_static("world"),
                );
                Ok(accept)
            })
            .unwrap();
            ws.protocol().map(str::to_owned)
        });
        let request = ClientRequest::new(&format!("{url}/chat?room=1"))
            .unwrap()
            .protocol("v1")
            .unwrap()
            .protocol("v2")
            .unwrap()
            .header(
                header::ORIGIN,
                HeaderValue::from_static("https://example.com"),
            )
            .unwrap();
        let (ws, response) = connect_with(request, Config::default()).unwrap();
        assert_eq!(response.protocol(), Some("v2"));
        assert_eq!(response.headers()["x-hello"], "world");
        assert_eq!(ws.protocol(), Some("v2"));
        assert_eq!(server.join().unwrap().as_deref(), Some("v2"));
    });
}

#[test]
fn accepting_an_unoffered_subprotocol_answers_500() {
    within(LIMIT, || {
        let (url, _, server) = serve(|stream| {
            accept_with(stream, Config::default(), |_| {
                Ok(Accept::with_protocol("never-offered"))
            })
            .map(drop)
        });
        let error = connect(&url).unwrap_err();
        let Error::Handshake(HandshakeError::Status(response)) = error else {
            panic!("client saw {error:?}");
        };
        assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(matches!(server.join().unwrap(), Err(Error::Accept(_))));
    });
}

#[test]
fn a_rejected_handshake_reports_its_status_to_the_client() {
    within(LIMIT, || {
        let (url, _, server) = serve(|stream| {
            accept_with(stream, Config::default(), |_| {
                Err(Reject::with_body(StatusCode::FORBIDDEN, "members only")
                    .header(
                        HeaderName::from_static("x-reason"),
                        HeaderValue::from_static("no ticket"),
                    )
                    .unwrap())
            })
            .map(drop)
        });
        let error = connect(&url).unwrap_err();
        let Error::Handshake(HandshakeError::Status(response)) = error else {
            panic!("client saw {error:?}");
        };
        assert_eq!(response.status, StatusCode::FORBIDDEN);
        assert_eq!(response.headers["x-reason"], "no ticket");
        let server_error = server.join().unwrap().unwrap_err();
        assert!(
            matches!(server_error, Error::Rejected(StatusCode::FORBIDDEN)),
            "{server_error:?}"
        );
    });
}

#[test]
fn a_plain_http_request_is_answered_426() {
    within(LIMIT, || {
        let (_, addr, server) = serve(|stream| accept(stream).map(drop));
        let mut stream = TcpStream::connect(addr).unwrap();
        write_raw(
            &mut stream,
            b"GET /page HTTP/1.1\r\nHost: localhost\r\n\r\n",
        );
        let (response, eof) = read_until_eof(&mut stream, Duration::from_secs(5));
        let response = String::from_utf8(response).unwrap().to_ascii_lowercase();
        assert!(eof);
        assert!(response.starts_with("http/1.1 426"), "{response}");
        assert!(response.contains("sec-websocket-version: 13"), "{response}");
        assert!(response.contains("upgrade: websocket"), "{response}");
        let error = server.join().unwrap().unwrap_err();
        assert!(matches!(error, Error::NotWebSocket), "{error:?}");
        assert!(error.to_string().contains("426"));
    });
}

#[test]
fn a_malformed_request_is_answered_with_its_status() {
    within(LIMIT, || {
        let (_, addr, server) = serve(|stream| accept(stream).map(drop));
        let mut stream = TcpStream::connect(addr).unwrap();
        // An upgrade without a key.
        write_raw(
            &mut stream,
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
        );
        let (response, _) = read_until_eof(&mut stream, Duration::from_secs(5));
        assert!(response.starts_with(b"HTTP/1.1 400"));
        let error = server.join().unwrap().unwrap_err();
        assert!(
            matches!(error, Error::Handshake(HandshakeError::InvalidKey)),
            "{error:?}"
        );
    });
}

#[test]
fn one_thread_sends_while_another_is_blocked_in_recv() {
    within(LIMIT, || {
        let (pong_seen_tx, pong_seen) = mpsc::channel();
        let (url, _, server) = serve(move |stream| {
            let mut ws = accept(stream).unwrap();
            ws.ping(b"p1").unwrap();
            let mut seen = Vec::new();
            loop {
                match ws.recv() {
                    Ok(Some(Message::Pong(payload))) => {
                        let _ = pong_seen_tx.send(());
                        seen.push(Message::Pong(payload));
                    }
                    Ok(Some(text @ Message::Text(_))) => {
                        ws.send(text.clone()).unwrap();
                        seen.push(text);
                    }
                    Ok(Some(other)) => seen.push(other),
                    Ok(None) => return (seen, Ok(())),
                    Err(end) => return (seen, Err(end)),
                }
            }
        });
        let (ws, _) = connect(&url).unwrap();
        let (mut writer, mut reader) = ws.split().unwrap();
        let reading = thread::spawn(move || {
            let mut received = Vec::new();
            loop {
                match reader.recv() {
                    Ok(Some(message)) => received.push(message),
                    Ok(None) => return (received, Ok(())),
                    Err(end) => return (received, Err(end)),
                }
            }
        });
        // The reader answered the server's ping by itself, with nothing
        // sent by the writer.
        pong_seen
            .recv_timeout(Duration::from_secs(5))
            .expect("the reader did not answer the ping");
        // The reader is now blocked in recv: nothing is coming.
        thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        writer.send(Message::text("from the writer")).unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
        // The echo arrives at the reader; then the writer closes.
        thread::sleep(Duration::from_millis(100));
        writer.close(1000, "done").unwrap();
        let (received, end) = reading.join().unwrap();
        assert!(end.is_ok(), "{end:?}");
        assert_eq!(writer.state(), State::Closed);
        assert_eq!(
            received,
            [
                Message::Ping(Bytes::from_static(b"p1")),
                Message::text("from the writer"),
                Message::Close(close_frame(1000, "")),
            ]
        );
        let (seen, end) = server.join().unwrap();
        assert!(end.is_ok(), "{end:?}");
        assert_eq!(
            seen,
            [
                Message::Pong(Bytes::from_static(b"p1")),
                Message::text("from the writer"),
                Message::Close(close_frame(1000, "done")),
            ]
        );
    });
}

#[test]
fn split_halves_on_both_sides_never_interleave_frames() {
    const MESSAGES: usize = 100;
    const SIZE: usize = 64 << 10;
    within(LIMIT, || {
        let (url, _, server) = serve(|stream| {
            let (mut writer, mut reader) = accept(stream).unwrap().split().unwrap();
            // Pings from one thread while the other receives large messages
            // and the pongs come back between them.
            let pinger = thread::spawn(move || {
                let mut sent = 0u32;
                while writer.ping(&sent.to_be_bytes()).is_ok() {
                    sent += 1;
                    thread::sleep(Duration::from_micros(100));
                }
                sent
            });
            let (mut messages, mut pongs) = (0, 0);
            let end = loop {
                match reader.recv() {
                    Ok(Some(Message::Binary(data))) => {
                        assert_eq!(data.len(), SIZE);
                        assert!(data.iter().all(|b| *b == (messages % 251) as u8));
                        messages += 1;
                    }
                    Ok(Some(Message::Pong(_))) => pongs += 1,
                    Ok(Some(Message::Close(_))) => {}
                    Ok(Some(other)) => panic!("unexpected {other:?}"),
                    Ok(None) => break Ok(()),
                    Err(end) => break Err(end),
                }
            };
            (messages, pongs, pinger.join().unwrap(), end)
        });
        let (mut writer, mut reader) = connect(&url).unwrap().0.split().unwrap();
        let reading = thread::spawn(move || {
            let mut pings = 0;
            loop {
                match reader.recv() {
                    Ok(Some(Message::Ping(_))) => pings += 1,
                    Ok(Some(Message::Close(_))) => {}
                    Ok(Some(other)) => panic!("unexpected {other:?}"),
                    Ok(None) => return (pings, Ok(())),
                    Err(end) => return (pings, Err(end)),
                }
            }
        });
        for n in 0..MESSAGES {
            writer
                .send(Message::binary(vec![(n % 251) as u8; SIZE]))
                .unwrap();
        }
        writer.close(1000, "").unwrap();
        let (pings, client_end) = reading.join().unwrap();
        assert!(client_end.is_ok(), "{client_end:?}");
        let (messages, pongs, sent, server_end) = server.join().unwrap();
        assert!(server_end.is_ok(), "{server_end:?}");
        assert_eq!(messages, MESSAGES);
        assert!(pings > 0 && pongs > 0 && pongs <= pings && pings <= sent as usize);
    });
}

#[test]
fn the_write_half_closes_after_the_close_timeout_when_the_peer_is_silent() {
    within(LIMIT, || {
        let (_, addr, server) = serve(|stream| {
            let mut config = Config::default();
            config.close_timeout = Some(Duration::from_millis(300));
            let ws = accept_with(stream, config, |_| Ok(Accept::default())).unwrap();
            let (mut writer, mut reader) = ws.split().unwrap();
            // The reader is blocked with no deadline when the writer closes.
            let reading = thread::spawn(move || {
                let end = reader.recv();
                (end, Instant::now())
            });
            thread::sleep(Duration::from_millis(100));
            let started = Instant::now();
            let closed = writer.close(1000, "");
            let returned = started.elapsed();
            let (reader_end, ended) = reading.join().unwrap();
            (closed, returned, ended - started, reader_end)
        });
        let mut peer = raw_client(addr);
        let (closed, returned, elapsed, reader_end) = server.join().unwrap();
        // `close` sends and returns; the reader sees the timeout.
        closed.unwrap();
        assert!(returned < Duration::from_millis(200), "{returned:?}");
        assert!(elapsed >= Duration::from_millis(290), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
        assert!(
            matches!(
                reader_end,
                Err(Error::Closed(CloseReason::Timeout(Timer::Close)))
            ),
            "{reader_end:?}"
        );
        let (bytes, eof) = read_until_eof(&mut peer, Duration::from_secs(5));
        assert!(eof);
        assert_eq!(bytes[..2], [0x88, 0x02]);
    });
}

#[test]
fn keepalive_pings_arrive_at_the_configured_interval() {
    within(LIMIT, || {
        let (url, _, server) = serve(|stream| {
            let mut config = Config::default();
            config.keepalive_interval = Some(Duration::from_millis(100));
            config.keepalive_timeout = Duration::from_secs(2);
            let mut ws = accept_with(stream, config, |_| Ok(Accept::default())).unwrap();
            echo(&mut ws)
        });
        let (mut ws, _) = connect(&url).unwrap();
        let opened = Instant::now();
        let mut pings = Vec::new();
        while pings.len() < 4 {
            match ws.recv().unwrap().unwrap() {
                Message::Ping(_) => pings.push(Instant::now()),
                other => panic!("expected a ping, got {other:?}"),
            }
        }
        close_and_finish(&mut ws, 1000, "");
        let mut previous = opened;
        for at in pings {
            let gap = at - previous;
            assert!(gap >= Duration::from_millis(90), "ping after {gap:?}");
            assert!(gap < Duration::from_millis(1000), "ping after {gap:?}");
            previous = at;
        }
        // The client answered each ping by itself.
        let echoed = server.join().unwrap();
        let pongs = echoed
            .controls
            .iter()
            .filter(|m| matches!(m, Message::Pong(_)))
            .count();
        assert!(pongs >= 3, "{:?}", echoed.controls);
    });
}

#[test]
fn a_peer_that_never_answers_the_close_is_dropped_after_the_close_timeout() {
    within(LIMIT, || {
        let (_, addr, server) = serve(|stream| {
            let mut config = Config::default();
            config.close_timeout = Some(Duration::from_millis(300));
            let mut ws = accept_with(stream, config, |_| Ok(Accept::default())).unwrap();
            let started = Instant::now();
            ws.close(1000, "bye").unwrap();
            let result = ws.recv();
            (result, started.elapsed())
        });
        // A peer that completes the opening handshake, then neither reads
        // nor answers.
        let mut peer = raw_client(addr);
        let (result, elapsed) = server.join().unwrap();
        assert!(
            matches!(
                result,
                Err(Error::Closed(CloseReason::Timeout(Timer::Close)))
            ),
            "{result:?} after {elapsed:?}"
        );
        assert!(elapsed >= Duration::from_millis(290), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
        // The close frame was sent, then the transport ended.
        let (bytes, eof) = read_until_eof(&mut peer, Duration::from_secs(5));
        assert!(eof);
        assert_eq!(bytes, [0x88, 0x05, 0x03, 0xe8, b'b', b'y', b'e']);
    });
}

#[test]
fn a_client_that_sends_nothing_is_dropped_after_the_handshake_timeout() {
    within(LIMIT, || {
        let (_, addr, server) = serve(|stream| {
            let mut config = Config::default();
            config.handshake_timeout = Some(Duration::from_millis(200));
            let started = Instant::now();
            let result = accept_with(stream, config, |_| Ok(Accept::default())).map(drop);
            (result, started.elapsed())
        });
        let mut silent = TcpStream::connect(addr).unwrap();
        let (result, elapsed) = server.join().unwrap();
        assert!(
            matches!(
                result,
                Err(Error::Closed(CloseReason::Timeout(Timer::Handshake)))
            ),
            "{result:?}"
        );
        assert!(elapsed >= Duration::from_millis(190), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
        let (bytes, eof) = read_until_eof(&mut silent, Duration::from_secs(5));
        assert!(eof && bytes.is_empty());
    });
}

#[test]
fn a_peer_that_stops_reading_does_not_grow_the_outgoing_buffer_past_its_limit() {
    const LIMIT_BYTES: usize = 64 << 10;
    const MESSAGE: usize = 16 << 10;
    within(LIMIT, || {
        let (go_tx, go) = mpsc::channel();
        let (url, _, server) = serve(move |stream| {
            let mut config = Config::default();
            config.max_outgoing_buffer = LIMIT_BYTES;
            // The payload compresses to nothing: this is about the bytes
            // the socket does not take.
            config.deflate.enabled = false;
            let mut ws = accept_with(stream, config, |_| Ok(Accept::default())).unwrap();
            ws.get_ref()
                .set_write_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            let message = Message::binary(vec![7u8; MESSAGE]);
            let (mut queued, mut refused, mut most) = (0usize, 0, 0);
            while refused < 3 {
                assert!(queued < 100_000, "the peer's buffers never filled");
                match ws.feed(message.clone()) {
                    Ok(()) => queued += 1,
                    Err(e) if e.is_timeout() => refused += 1,
                    Err(e) => panic!("{e:?}"),
                }
                most = most.max(ws.buffered_outgoing());
                match ws.flush() {
                    Ok(()) => {}
                    Err(e) if e.is_timeout() => {}
                    Err(e) => panic!("{e:?}"),
                }
                most = most.max(ws.buffered_outgoing());
            }
            // Let the peer read; everything queued goes out.
            go_tx.send(queued).unwrap();
            while let Err(e) = ws.flush() {
                assert!(e.is_timeout(), "{e:?}");
            }
            assert_eq!(ws.buffered_outgoing(), 0);
            close_and_finish(&mut ws, 1000, "");
            most
        });
        let (mut ws, _) = connect(&url).unwrap();
        let queued = go.recv().unwrap();
        for _ in 0..queued {
            assert_eq!(
                ws.recv().unwrap().unwrap(),
                Message::binary(vec![7u8; MESSAGE])
            );
        }
        assert!(matches!(ws.recv(), Ok(Some(Message::Close(_)))));
        assert!(ws.recv().unwrap().is_none());
        let most = server.join().unwrap();
        assert!(
            most > 0,
            "nothing was ever buffered: the test proves nothing"
        );
        assert!(
            most <= LIMIT_BYTES,
            "{most} bytes buffered, limit {LIMIT_BYTES}"
        );
    });
}

#[test]
fn a_client_that_vanishes_mid_message_is_an_error_for_the_server() {
    within(LIMIT, || {
        let (_, addr, server) = serve(|stream| {
            let mut ws = accept(stream).unwrap();
            ws.recv()
        });
        let mut peer = raw_client(addr);
        // A masked binary frame of 1000 bytes, of which 10 arrive.
        write_raw(&mut peer, &[0x82, 0xfe, 0x03, 0xe8, 1, 2, 3, 4]);
        write_raw(&mut peer, &[0; 10]);
        drop(peer);
        let end = server.join().unwrap().unwrap_err();
        assert!(
            matches!(end, Error::Closed(CloseReason::Eof) | Error::Io(_)),
            "{end:?}"
        );
    });
}

#[test]
fn a_server_that_vanishes_mid_message_is_an_error_for_the_client() {
    within(LIMIT, || {
        let (url, _, server) = serve(|stream| {
            let mut raw = accept(stream).unwrap().into_inner();
            // An unmasked text frame of 100 bytes, of which 5 arrive.
            write_raw(&mut raw, &[0x81, 100, b'h', b'e', b'l', b'l', b'o']);
        });
        let (mut ws, _) = connect(&url).unwrap();
        server.join().unwrap();
        let end = ws.recv().unwrap_err();
        assert!(
            matches!(end, Error::Closed(CloseReason::Eof) | Error::Io(_)),
            "{end:?}"
        );
        // The end was reported; it stays the end.
        assert_eq!(ws.recv().unwrap(), None);
    });
}

#[test]
fn a_protocol_violation_is_reported_and_answered_with_its_close_code() {
    within(LIMIT, || {
        let (_, addr, server) = serve(|stream| {
            let mut ws = accept(stream).unwrap();
            ws.recv()
        });
        let mut peer = raw_client(addr);
        // A client frame without a mask.
        write_raw(&mut peer, &[0x81, 0x02, b'h', b'i']);
        let end = server.join().unwrap().unwrap_err();
        assert!(
            matches!(end, Error::Protocol(ProtocolError::UnmaskedFrame)),
            "{end:?}"
        );
        let (bytes, eof) = read_until_eof(&mut peer, Duration::from_secs(5));
        assert!(eof);
        assert_eq!(bytes[0], 0x88);
        assert_eq!(u16::from_be_bytes([bytes[2], bytes[3]]), 1002);
    });
}

#[test]
fn urls_that_cannot_be_opened_are_refused_clearly() {
    assert!(matches!(connect("http://127.0.0.1:1/"), Err(Error::Url(_))));
}

#[cfg(unix)]
#[test]
fn works_over_a_unix_stream_pair_and_any_read_write() {
    use std::os::unix::net::UnixStream;

    fn round_trip<S>(server_side: S, client_side: S)
    where
        S: rusty_socket_std::Transport + Send + 'static,
    {
        let server = thread::spawn(move || {
            let mut ws: WebSocket<S> = accept(server_side).unwrap();
            let message = ws.recv().unwrap().unwrap();
            ws.send(message).unwrap();
            assert_eq!(
                ws.recv().unwrap().unwrap(),
                Message::Close(close_frame(1000, ""))
            );
            ws.recv()
        });
        let request = ClientRequest::new("ws://localhost/unix").unwrap();
        let (mut ws, _) = connect_on(client_side, request, Config::default()).unwrap();
        ws.send(Message::text("over a pipe")).unwrap();
        assert_eq!(ws.recv().unwrap().unwrap(), Message::text("over a pipe"));
        close_and_finish(&mut ws, 1000, "");
        assert_eq!(server.join().unwrap().unwrap(), None);
    }

    within(LIMIT, || {
        let (a, b) = UnixStream::pair().unwrap();
        round_trip(a, b);
        let (a, b) = UnixStream::pair().unwrap();
        round_trip(NoTimeouts(a), NoTimeouts(b));
    });
}

/// A valid message and a violation in the same read (Autobahn 3.2): the
/// server answers the message, then its close 1002 goes out at once, not
/// after the close timeout. `split` says whether the server uses halves.
fn answer_then_fail(split: bool) {
    within(LIMIT, move || {
        let (_, addr, server) = serve(move |stream| {
            let ws = accept(stream).unwrap();
            if split {
                let (mut writer, mut reader) = ws.split().unwrap();
                let message = reader.recv().unwrap().unwrap();
                writer.send(message).unwrap();
                reader.recv()
            } else {
                let mut ws = ws;
                let message = ws.recv().unwrap().unwrap();
                ws.send(message).unwrap();
                ws.recv()
            }
        });
        let mut peer = raw_client(addr);
        let started = std::time::Instant::now();
        // "hi" masked with a zero key, then an unmasked frame.
        write_raw(
            &mut peer,
            &[0x81, 0x82, 0, 0, 0, 0, b'h', b'i', 0x81, 0x02, b'h', b'i'],
        );
        let (bytes, eof) = read_until_eof(&mut peer, Duration::from_secs(5));
        assert!(eof);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the close waited for a timeout"
        );
        assert_eq!(
            &bytes[..4],
            &[0x81, 0x02, b'h', b'i'],
            "the answer comes first"
        );
        assert_eq!(
            (bytes[4], u16::from_be_bytes([bytes[6], bytes[7]])),
            (0x88, 1002)
        );
        let end = server.join().unwrap().unwrap_err();
        assert!(
            matches!(end, Error::Protocol(ProtocolError::UnmaskedFrame)),
            "{end:?}"
        );
    });
}

#[test]
fn a_violation_after_a_message_is_answered_after_the_message_without_delay() {
    answer_then_fail(false);
}

#[test]
fn a_violation_after_a_message_is_answered_without_delay_by_split_halves() {
    answer_then_fail(true);
}

#[test]
fn answers_queued_with_write_go_out_before_recv_waits() {
    within(LIMIT, || {
        let (url, _, server) = serve(|stream| {
            let mut ws = accept(stream).unwrap();
            let mut answered = 0;
            // Echo with `write` only: no flush is ever called.
            while let Ok(Some(message @ Message::Text(_))) = ws.recv() {
                ws.feed(message).unwrap();
                answered += 1;
            }
            answered
        });
        let (mut client, _) = rusty_socket_std::connect(&url).unwrap();
        for i in 0..50 {
            let text = format!("message {i}");
            client.send(Message::text(text.as_str())).unwrap();
            assert_eq!(
                client.recv().unwrap().unwrap(),
                Message::text(text.as_str())
            );
        }
        close_and_finish(&mut client, 1000, "");
        assert_eq!(server.join().unwrap(), 50);
    });
}

#[test]
fn split_halves_never_shut_down_before_the_close_echo_is_written() {
    // The writer half is busy sending when the client closes: the echo it
    // takes from the connection must reach the wire before the FIN, however
    // the reader thread races it. Many connections, to meet the race.
    within(Duration::from_secs(30), || {
        for _ in 0..40 {
            let (url, _, server) = serve(|stream| {
                let (mut writer, mut reader) = accept(stream).unwrap().split().unwrap();
                let sender =
                    thread::spawn(move || while writer.send(Message::text("tick")).is_ok() {});
                while let Ok(Some(_)) = reader.recv() {}
                let _ = sender.join();
            });
            let (mut client, _) = rusty_socket_std::connect(&url).unwrap();
            for _ in 0..3 {
                assert_eq!(client.recv().unwrap().unwrap(), Message::text("tick"));
            }
            client.close(CloseCode::NORMAL, "bye").unwrap();
            // Ticks in flight, then the echo: a clean closing handshake.
            let rest = std::iter::from_fn(|| client.recv().expect("a clean closing handshake"));
            let rest: Vec<Message> = rest.collect();
            assert_eq!(rest.last(), Some(&Message::Close(close_frame(1000, ""))));
            server.join().unwrap();
        }
    });
}
