//! Properties over random input: any split of a byte stream gives the same
//! events and output; what one role sends the other receives unchanged;
//! headers round-trip; garbage never panics and stays within the limits.

mod support;

use std::time::Instant;

use bytes::Bytes;
use proptest::prelude::*;
use rusty_socket_proto::{
    apply_mask, Accept, ClientRequest, CloseCode, CloseFrame, Config, Connection, Decoded, Event,
    FrameHeader, Message, MessageKind, OpCode, Role,
};

/// Something the sending side does.
#[derive(Debug, Clone)]
enum Op {
    Text(String),
    Binary(Vec<u8>),
    /// A message sent as fragments (pieces of its bytes).
    Fragmented(MessageKind, Vec<Vec<u8>>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        20 => prop::collection::vec(any::<u8>(), 0..300),
        1 => prop::collection::vec(any::<u8>(), 65_530..65_540),
    ]
}

/// A long text of 16,000 to 17,000 characters of one to four bytes: on
/// either side of 64 KiB, where a received text stops being copied into a
/// `String` and stays a slice of the receive buffer.
fn long_text() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(any::<char>(), 1..8),
        16_000..17_000usize,
    )
        .prop_map(|(chars, len)| chars.iter().cycle().take(len).collect())
}

/// Splits `bytes` at the given fractions of its length.
fn pieces(bytes: Vec<u8>, cuts: Vec<prop::sample::Index>) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for cut in at.into_iter().chain([bytes.len()]) {
        out.push(bytes[start..cut].to_vec());
        start = cut;
    }
    out
}

fn op() -> impl Strategy<Value = Op> {
    let cuts = prop::collection::vec(any::<prop::sample::Index>(), 0..4);
    prop_oneof![
        4 => "\\PC{0,40}".prop_map(Op::Text),
        1 => long_text().prop_map(Op::Text),
        4 => payload().prop_map(Op::Binary),
        2 => ("\\PC{0,40}", cuts.clone())
            .prop_map(|(text, cuts)| Op::Fragmented(MessageKind::Text, pieces(text.into_bytes(), cuts))),
        1 => (long_text(), cuts.clone())
            .prop_map(|(text, cuts)| Op::Fragmented(MessageKind::Text, pieces(text.into_bytes(), cuts))),
        2 => (payload(), cuts).prop_map(|(data, cuts)| Op::Fragmented(MessageKind::Binary, pieces(data, cuts))),
        1 => prop::collection::vec(any::<u8>(), 0..=125).prop_map(Op::Ping),
        1 => prop::collection::vec(any::<u8>(), 0..=125).prop_map(Op::Pong),
    ]
}

fn close() -> impl Strategy<Value = Option<CloseFrame>> {
    let code = prop_oneof![
        Just(1000u16),
        Just(1001),
        Just(1003),
        Just(1008),
        3000u16..5000
    ];
    prop::option::of(
        (code, "\\PC{0,20}").prop_map(|(code, reason)| CloseFrame::new(CloseCode(code), reason)),
    )
}

fn message_len(message: &Message) -> usize {
    match message {
        Message::Text(text) => text.len(),
        Message::Binary(data) | Message::Ping(data) | Message::Pong(data) => data.len(),
        Message::Close(_) => 0,
    }
}

fn transmitted(connection: &mut Connection, now: Instant) -> Vec<u8> {
    std::iter::from_fn(|| connection.poll_transmit(now))
        .flatten()
        .collect()
}

/// One frame as a peer might write it, valid or not: any opcode (reserved
/// ones too), any RSV bits, masked or not, and a payload that is UTF-8 text
/// (sometimes with a byte broken) or arbitrary bytes.
fn raw_frame() -> impl Strategy<Value = Vec<u8>> {
    let payload = prop_oneof![
        3 => "\\PC{0,30}".prop_map(String::into_bytes),
        1 => ("\\PC{1,30}", any::<prop::sample::Index>(), any::<u8>()).prop_map(|(text, at, byte)| {
            let mut bytes = text.into_bytes();
            let at = at.index(bytes.len());
            bytes[at] = byte;
            bytes
        }),
        2 => prop::collection::vec(any::<u8>(), 0..200),
    ];
    let opcode = prop_oneof![4 => 0u8..3, 1 => 3u8..16];
    (
        any::<bool>(),
        prop_oneof![5 => Just(0u8), 1 => 0u8..8],
        opcode,
        prop::option::of(any::<[u8; 4]>()),
        payload,
    )
        .prop_map(|(fin, rsv, opcode, mask, mut payload)| {
            let mut frame = vec![u8::from(fin) << 7 | rsv << 4 | opcode];
            let len = payload.len();
            let mask_bit = if mask.is_some() { 0x80 } else { 0 };
            if len < 126 {
                frame.push(mask_bit | len as u8);
            } else {
                frame.push(mask_bit | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            if let Some(key) = mask {
                frame.extend_from_slice(&key);
                apply_mask(&mut payload, key, 0);
            }
            frame.extend_from_slice(&payload);
            frame
        })
}

/// The handshake head a peer in `sender`'s role sends before its frames.
fn handshake_head(sender: Role, now: Instant) -> Vec<u8> {
    let mut stream = stream_for(sender, &[], &None, now);
    let end = stream.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    stream.truncate(end);
    stream
}

/// The bytes `sender` writes for the ops, after a real handshake: returns the
/// whole stream its peer reads (handshake head included), and the seed the
/// receiving side must use to reproduce its half of the handshake.
fn stream_for(sender: Role, ops: &[Op], close: &Option<CloseFrame>, now: Instant) -> Vec<u8> {
    let request = ClientRequest::new("ws://example.com/x").unwrap();
    let mut client = Connection::client(&request, Config::default(), [1; 32], now).unwrap();
    let mut server = Connection::server(Config::default(), now).unwrap();
    let request_bytes = transmitted(&mut client, now);
    server.handle_read(now, &request_bytes);
    while let Some(event) = server.poll_event() {
        if let Event::Request(_) = event {
            server.accept(now, Accept::default()).unwrap();
        }
    }
    let response_bytes = transmitted(&mut server, now);
    client.handle_read(now, &response_bytes);
    let (head, side) = match sender {
        Role::Client => (request_bytes, &mut client),
        Role::Server => (response_bytes, &mut server),
    };
    for op in ops {
        match op {
            Op::Text(text) => side.send(now, &Message::text(text.as_str())).unwrap(),
            Op::Binary(data) => side.send(now, &Message::binary(data.clone())).unwrap(),
            Op::Fragmented(kind, pieces) => {
                for (i, piece) in pieces.iter().enumerate() {
                    let fin = i + 1 == pieces.len();
                    side.send_fragment(now, *kind, &Bytes::from(piece.clone()), fin)
                        .unwrap();
                }
            }
            Op::Ping(data) => side.ping(now, data).unwrap(),
            Op::Pong(data) => side.pong(now, data).unwrap(),
        }
    }
    side.close(now, close.clone()).unwrap();
    let frames = transmitted(side, now);
    [head, frames].concat()
}

/// A fresh receiver for the stream, fed in chunks of the given sizes (cycled);
/// returns its events (as text, since they hold http types) and its output.
fn receive(
    receiver: Role,
    stream: &[u8],
    chunks: &[usize],
    config: Config,
    now: Instant,
) -> (Vec<String>, Vec<u8>) {
    let mut connection = match receiver {
        Role::Server => Connection::server(config, now).unwrap(),
        Role::Client => {
            let request = ClientRequest::new("ws://example.com/x").unwrap();
            Connection::client(&request, config, [1; 32], now).unwrap()
        }
    };
    let mut events = Vec::new();
    let mut output = Vec::new();
    let mut rest = stream;
    for size in chunks.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at((*size).clamp(1, rest.len()));
        rest = tail;
        connection.handle_read(now, chunk);
        // Until nothing is left to write or to take: a failure found while
        // polling queues a close frame, and `Closed` follows once it is out.
        loop {
            let event = connection.poll_event();
            let written = transmitted(&mut connection, now);
            if written.is_empty() && event.is_none() {
                break;
            }
            output.extend(written);
            if let Some(event) = event {
                if let Event::Request(_) = event {
                    connection.accept(now, Accept::default()).unwrap();
                }
                events.push(format!("{event:?}"));
            }
        }
    }
    (events, output)
}

/// What the receiver must see. Every op is queued before anything is
/// written, so the pings and pongs jump ahead of the queued data (in their
/// own order), and the close, queued last in data order, comes last.
fn expected_messages(ops: &[Op], close: &Option<CloseFrame>) -> Vec<String> {
    let is_control = |op: &&Op| matches!(op, Op::Ping(_) | Op::Pong(_));
    let control = ops.iter().filter(is_control);
    let data = ops.iter().filter(|op| !is_control(op));
    let mut out: Vec<String> = control
        .chain(data)
        .map(|op| {
            let message = match op {
                Op::Text(text) => Message::text(text.as_str()),
                Op::Binary(data) => Message::binary(data.clone()),
                Op::Fragmented(MessageKind::Text, pieces) => {
                    Message::text(String::from_utf8(pieces.concat()).unwrap())
                }
                Op::Fragmented(MessageKind::Binary, pieces) => Message::binary(pieces.concat()),
                Op::Ping(data) => Message::Ping(Bytes::from(data.clone())),
                Op::Pong(data) => Message::Pong(Bytes::from(data.clone())),
            };
            format!("{:?}", Event::Message(message))
        })
        .collect();
    out.push(format!(
        "{:?}",
        Event::Message(Message::Close(close.clone()))
    ));
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Property (a): whatever the chunking, down to one byte at a time, the
    /// receiver produces exactly the events and output it produces when fed
    /// the stream whole; and it receives exactly what was sent (round trip).
    #[test]
    fn any_split_gives_the_same_events(
        sender_is_client in any::<bool>(),
        ops in prop::collection::vec(op(), 0..8),
        close in close(),
        chunks in prop::collection::vec(1usize..40, 1..8),
    ) {
        let now = Instant::now();
        let (sender, receiver) = if sender_is_client { (Role::Client, Role::Server) } else { (Role::Server, Role::Client) };
        let stream = stream_for(sender, &ops, &close, now);
        let whole = receive(receiver, &stream, &[usize::MAX], Config::default(), now);
        let split = receive(receiver, &stream, &chunks, Config::default(), now);
        prop_assert_eq!(&whole, &split);
        if stream.len() < 4096 {
            let bytewise = receive(receiver, &stream, &[1], Config::default(), now);
            prop_assert_eq!(&whole, &bytewise);
        }
        let received: Vec<String> = whole.0.iter().filter(|e| e.starts_with("Message(")).cloned().collect();
        prop_assert_eq!(received, expected_messages(&ops, &close));
    }

    /// Property (a) on hostile input: frames breaking any rule (reserved
    /// opcodes and bits, wrong masking, fragments out of order, broken
    /// UTF-8, frames and messages over the limits) give the same events,
    /// close code included, and the same output whole, split or byte by
    /// byte, whether a frame is whole in one read or not.
    #[test]
    fn hostile_frames_give_the_same_events_in_any_split(
        sender_is_client in any::<bool>(),
        frames in prop::collection::vec(raw_frame(), 1..10),
        chunks in prop::collection::vec(1usize..40, 1..8),
    ) {
        let now = Instant::now();
        let (sender, receiver) = if sender_is_client { (Role::Client, Role::Server) } else { (Role::Server, Role::Client) };
        let stream = [handshake_head(sender, now), frames.concat()].concat();
        let mut config = Config::default();
        config.max_frame_size = 150;
        config.max_message_size = 250;
        let whole = receive(receiver, &stream, &[usize::MAX], config.clone(), now);
        let split = receive(receiver, &stream, &chunks, config.clone(), now);
        prop_assert_eq!(&whole, &split);
        let bytewise = receive(receiver, &stream, &[1], config, now);
        prop_assert_eq!(&whole, &bytewise);
    }

    /// With streaming on, the fragments of each message concatenate to the
    /// message, flagged first and last, however the stream is split.
    #[test]
    fn streamed_fragments_add_up_to_the_message(
        data in prop::collection::vec(payload(), 1..4),
        chunks in prop::collection::vec(1usize..100, 1..8),
    ) {
        let now = Instant::now();
        let ops: Vec<Op> = data.iter().map(|d| Op::Fragmented(MessageKind::Binary, vec![d.clone(), d.clone()])).collect();
        let stream = stream_for(Role::Client, &ops, &None, now);
        let mut config = Config::default();
        config.streaming = true;
        let mut server = Connection::server(config, now).unwrap();
        let mut messages: Vec<Vec<u8>> = Vec::new();
        let mut rest = &stream[..];
        for size in chunks.iter().cycle() {
            if rest.is_empty() { break; }
            let (chunk, tail) = rest.split_at((*size).min(rest.len()));
            rest = tail;
            server.handle_read(now, chunk);
            while let Some(event) = server.poll_event() {
                match event {
                    Event::Request(_) => server.accept(now, Accept::default()).unwrap(),
                    Event::Fragment(fragment) => {
                        if fragment.first { messages.push(Vec::new()); }
                        prop_assert!(!messages.is_empty());
                        if let Some(last) = messages.last_mut() { last.extend_from_slice(&fragment.data); }
                    }
                    _ => {}
                }
            }
        }
        let expected: Vec<Vec<u8>> = data.iter().map(|d| [d.clone(), d.clone()].concat()).collect();
        // Empty messages produce one empty final fragment that may carry no `first`.
        let non_empty: Vec<Vec<u8>> = expected.iter().filter(|m| !m.is_empty()).cloned().collect();
        let got: Vec<Vec<u8>> = messages.into_iter().filter(|m| !m.is_empty()).collect();
        prop_assert_eq!(got, non_empty);
    }

    /// Property (b): every header of every opcode and length class encodes
    /// and decodes to itself.
    #[test]
    fn frame_headers_round_trip(
        opcode in prop::sample::select(vec![OpCode::Continuation, OpCode::Text, OpCode::Binary, OpCode::Close, OpCode::Ping, OpCode::Pong]),
        fin in any::<bool>(),
        rsv in 0u8..8,
        mask in prop::option::of(any::<[u8; 4]>()),
        len in prop_oneof![0u64..=125, 126u64..=65_535, 65_536u64..=(i64::MAX as u64)],
    ) {
        let control = opcode.is_control();
        let header = FrameHeader {
            fin: fin || control,
            rsv,
            opcode,
            mask,
            payload_len: if control { len % 126 } else { len },
        };
        let mut buf = [0; rusty_socket_proto::MAX_HEADER_LEN];
        let written = header.encode(&mut buf);
        prop_assert_eq!(written, header.encoded_len());
        prop_assert_eq!(FrameHeader::decode(&buf[..written]), Ok(Decoded::Complete(header, written)));
    }

    /// Property (c): arbitrary bytes, to a fresh server, to an open server or
    /// to an open client, split anyhow: no panic, at most one `Closed`, never an
    /// event after it, and buffers within the configured limits.
    #[test]
    fn garbage_never_panics_and_stays_bounded(
        target in 0u8..3,
        garbage in prop::collection::vec(any::<u8>(), 0..3000),
        chunks in prop::collection::vec(1usize..600, 1..6),
    ) {
        let mut config = Config::default();
        config.max_frame_size = 256;
        config.max_message_size = 512;
        config.max_handshake_size = 512;
        config.max_headers = 8;
        let now = Instant::now();
        let mut pair = support::Pair::new(config.clone(), config.clone());
        if target > 0 {
            pair.pump();
        }
        let connection = if target == 2 { &mut pair.client } else { &mut pair.server };
        while connection.poll_event().is_some() {}
        let mut closed = false;
        let mut rest = &garbage[..];
        for size in chunks.iter().cycle() {
            if rest.is_empty() { break; }
            let (chunk, tail) = rest.split_at((*size).min(rest.len()));
            rest = tail;
            connection.handle_read(now, chunk);
            // Nothing read is kept beyond one frame (header, payload) and one message.
            prop_assert!(connection.buffered_incoming() <= 512 + 256 + 14 + chunk.len());
            prop_assert!(connection.buffered_outgoing() <= 70_000);
            while let Some(event) = connection.poll_event() {
                prop_assert!(!closed, "event after Closed: {:?}", event);
                if let Event::Request(_) = event {
                    let _ = connection.accept(now, Accept::default());
                }
                if let Event::Message(message) = &event {
                    prop_assert!(message_len(message) <= 512);
                }
                closed |= matches!(event, Event::Closed(_));
            }
            let _ = transmitted(connection, now);
        }
        // Writing the last bytes out may end the connection.
        closed |= std::iter::from_fn(|| connection.poll_event()).any(|e| matches!(e, Event::Closed(_)));
        prop_assert_eq!(closed, connection.is_closed());
    }
}
