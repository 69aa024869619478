//! A client and a server `Connection` joined by an in-memory pipe, with a
//! clock moved by hand: the whole protocol, no sockets.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use rusty_socket_proto::{
    Accept, ClientRequest, CloseReason, Config, Connection, Event, Message, Role,
};

/// The default config without permessage-deflate.
pub fn plain() -> Config {
    #[allow(unused_mut)]
    let mut config = Config::default();
    #[cfg(feature = "deflate")]
    {
        config.deflate.enabled = false;
    }
    config
}

pub struct Pair {
    pub client: Connection,
    pub server: Connection,
    pub now: Instant,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    /// Answer `Event::Request` with this (None: leave the decision to the test).
    pub auto_accept: Option<Accept>,
}

impl Pair {
    pub fn new(client_config: Config, server_config: Config) -> Pair {
        Pair::with_request(
            ClientRequest::new("ws://example.com/chat").unwrap(),
            client_config,
            server_config,
        )
    }

    pub fn with_request(
        request: ClientRequest,
        client_config: Config,
        server_config: Config,
    ) -> Pair {
        let now = Instant::now();
        Pair {
            client: Connection::client(&request, client_config, [1; 32], now).unwrap(),
            server: Connection::server(server_config, now).unwrap(),
            now,
            client_events: Vec::new(),
            server_events: Vec::new(),
            auto_accept: Some(Accept::default()),
        }
    }

    /// An open pair, events of the handshake cleared.
    pub fn open() -> Pair {
        Pair::open_with(Config::default())
    }

    /// An open pair without compression, for tests that look at the bytes
    /// on the wire.
    pub fn open_plain() -> Pair {
        Pair::open_with(plain())
    }

    fn open_with(config: Config) -> Pair {
        let mut pair = Pair::new(config.clone(), config);
        pair.pump();
        pair.client_events.clear();
        pair.server_events.clear();
        pair
    }

    pub fn side(&mut self, role: Role) -> &mut Connection {
        match role {
            Role::Client => &mut self.client,
            Role::Server => &mut self.server,
        }
    }

    /// Moves bytes both ways and collects events until nothing moves.
    pub fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(bytes) = self.client.poll_transmit(self.now) {
                self.server.handle_read(self.now, &bytes);
                moved = true;
            }
            while let Some(bytes) = self.server.poll_transmit(self.now) {
                self.client.handle_read(self.now, &bytes);
                moved = true;
            }
            while let Some(event) = self.client.poll_event() {
                self.client_events.push(event);
                moved = true;
            }
            while let Some(event) = self.server.poll_event() {
                if let (Event::Request(_), Some(accept)) = (&event, &self.auto_accept) {
                    self.server.accept(self.now, accept.clone()).unwrap();
                }
                self.server_events.push(event);
                moved = true;
            }
            if !moved {
                return;
            }
        }
    }

    /// Moves the clock and fires both sides' due timers.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
    }
}

/// The messages among `events`.
pub fn messages(events: &[Event]) -> Vec<Message> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// The reason in the `Closed` event among `events`, if any.
pub fn closed(events: &[Event]) -> Option<&CloseReason> {
    events.iter().find_map(|e| match e {
        Event::Closed(reason) => Some(reason),
        _ => None,
    })
}

/// `len` bytes that do not compress: a xorshift generator's output.
pub fn noise(mut state: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}
