//! The event loop: one `mio::Poll`, the listener, the sessions, and their
//! deadlines.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};
use rustls::ServerConnection;
use rusty_socket_proto::Connection;

use crate::config::Config;
use crate::error::{End, Error};
use crate::handler::{ConnectionId, Handler};
use crate::session::{Session, Status};

/// The listener's token; sessions get tokens from `FIRST_SESSION` up, never
/// reused, so a token (a [`ConnectionId`]) names one connection for good.
const LISTENER: Token = Token(0);
/// The token of the [`Stopper`]'s waker.
const WAKER: Token = Token(1);
const FIRST_SESSION: usize = 2;

/// A wss:// server: a single-threaded event loop over non-blocking sockets,
/// each connection a rustls machine under a proto machine (see the crate
/// docs for how bytes move between them).
///
/// ```text
/// loop {
///     poll(timeout = earliest deadline,          sleep until a socket is ready or a timer is due
///          or 0 if a session wants another turn)
///     listener ready  -> accept every pending connection, drive each once
///     socket ready    -> drive its session       (read, handle, encrypt, write until nothing moves)
///     deadlines due   -> handle_timeout, drive   (proto's timers; the linger of ending sessions)
///     another turn    -> drive                   (sessions whose read budget ran out)
/// }
/// ```
///
/// After driving a session, the loop re-registers its socket only if the
/// interest changed (writability is asked for only while TLS records wait
/// for the socket) and moves its deadline in the ordered set of deadlines.
pub struct Server<H> {
    poll: Poll,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    config: Config,
    handler: H,
    sessions: HashMap<Token, Entry>,
    /// Every session's next deadline, earliest first.
    deadlines: BTreeSet<(Instant, Token)>,
    /// Sessions to drive on the next turn without waiting for an event.
    again: Vec<Token>,
    next_token: usize,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
}

/// A session and what the loop registered for it.
struct Entry {
    session: Session,
    interest: Interest,
    deadline: Option<Instant>,
}

/// Stops a running [`Server`] from another thread: [`Server::run`] returns
/// at its next turn, closing every socket.
#[derive(Clone)]
pub struct Stopper {
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
}

impl Stopper {
    /// Asks the loop to stop, and wakes it.
    pub fn stop(&self) -> io::Result<()> {
        self.stop.store(true, Ordering::Release);
        self.waker.wake()
    }
}

impl<H: Handler> Server<H> {
    /// Listens on `addr` (port 0 picks a free port; see
    /// [`local_addr`](Self::local_addr)), serving TLS with `tls` and
    /// WebSockets with `config`, the application being `handler`.
    pub fn bind(
        addr: SocketAddr,
        tls: Arc<rustls::ServerConfig>,
        config: Config,
        handler: H,
    ) -> Result<Self, Error> {
        config.validate()?;
        let poll = Poll::new().map_err(Error::Setup)?;
        let mut listener = TcpListener::bind(addr).map_err(Error::Setup)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(Error::Setup)?;
        let waker = Waker::new(poll.registry(), WAKER).map_err(Error::Setup)?;
        Ok(Server {
            poll,
            listener,
            tls,
            config,
            handler,
            sessions: HashMap::new(),
            deadlines: BTreeSet::new(),
            again: Vec::new(),
            next_token: FIRST_SESSION,
            waker: Arc::new(waker),
            stop: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle that stops [`run`](Self::run) from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            waker: Arc::clone(&self.waker),
            stop: Arc::clone(&self.stop),
        }
    }

    /// Runs the loop until a [`Stopper`] stops it; then returns the handler.
    /// Fails only if waiting on the poll itself fails: what goes wrong on a
    /// connection ends that connection (see [`Handler::ended`]).
    pub fn run(mut self) -> Result<H, Error> {
        let mut events = Events::with_capacity(256);
        loop {
            let timeout = if self.again.is_empty() {
                self.deadlines
                    .first()
                    .map(|&(at, _)| at.saturating_duration_since(Instant::now()))
            } else {
                Some(Duration::ZERO)
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::Poll(e)),
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    WAKER => {}
                    token => self.drive(token),
                }
            }
            if self.stop.load(Ordering::Acquire) {
                return Ok(self.handler);
            }
            self.expire(Instant::now());
            for token in std::mem::take(&mut self.again) {
                self.drive(token);
            }
        }
    }

    /// Accepts every pending connection (readiness is reported as an edge:
    /// whatever is left now would not be reported again).
    fn accept_all(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((socket, _)) => self.open(socket),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The client gave up before we accepted: try the next one.
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
                // Out of file descriptors, say: the next connection to
                // arrive wakes the listener again.
                Err(e) => return self.handler.accept_failed(e),
            }
        }
    }

    /// Sets up a session for a new socket and drives it once.
    fn open(&mut self, mut socket: TcpStream) {
        let token = Token(self.next_token);
        self.next_token += 1;
        let id = ConnectionId(token.0);
        // proto's opening-handshake timer starts now, so it bounds the TLS
        // handshake as well as the WebSocket one.
        let ws = match Connection::server(self.config.websocket.clone(), Instant::now()) {
            Ok(ws) => ws,
            Err(e) => return self.handler.ended(id, End::Config(e)),
        };
        let tls = match ServerConnection::new(Arc::clone(&self.tls)) {
            Ok(tls) => tls,
            Err(e) => return self.handler.ended(id, End::Tls(e)),
        };
        let registered = socket.set_nodelay(true).and_then(|()| {
            self.poll
                .registry()
                .register(&mut socket, token, Interest::READABLE)
        });
        if let Err(e) = registered {
            return self.handler.ended(id, End::Io(e));
        }
        let entry = Entry {
            session: Session::new(id, socket, tls, ws),
            interest: Interest::READABLE,
            deadline: None,
        };
        self.sessions.insert(token, entry);
        // Arms the handshake deadline, and takes what may have arrived.
        self.drive(token);
    }

    /// Drives one session, then updates its registration and deadline, or
    /// removes it.
    fn drive(&mut self, token: Token) {
        // A session removed earlier in the same batch of events.
        let Some(entry) = self.sessions.get_mut(&token) else {
            return;
        };
        let status = entry
            .session
            .drive(Instant::now(), &mut self.handler, &self.config);
        let (interest, deadline) = match status {
            Status::Alive {
                interest,
                deadline,
                again,
            } => {
                if again && !self.again.contains(&token) {
                    self.again.push(token);
                }
                (interest, deadline)
            }
            Status::Done(end) => return self.remove(token, end),
        };
        if interest != entry.interest {
            let socket = entry.session.socket();
            if let Err(e) = self.poll.registry().reregister(socket, token, interest) {
                return self.remove(token, End::Io(e));
            }
            entry.interest = interest;
        }
        if deadline != entry.deadline {
            if let Some(old) = entry.deadline {
                self.deadlines.remove(&(old, token));
            }
            if let Some(new) = deadline {
                self.deadlines.insert((new, token));
            }
            entry.deadline = deadline;
        }
    }

    /// Acts on every deadline that has passed.
    fn expire(&mut self, now: Instant) {
        while let Some(&(at, token)) = self.deadlines.first() {
            if at > now {
                return;
            }
            self.deadlines.pop_first();
            if let Some(entry) = self.sessions.get_mut(&token) {
                entry.deadline = None;
                entry.session.handle_timeout(now);
            }
            self.drive(token);
        }
    }

    /// Closes a session's socket and tells the handler why it ended.
    fn remove(&mut self, token: Token, end: End) {
        let Some(mut entry) = self.sessions.remove(&token) else {
            return;
        };
        if let Some(at) = entry.deadline {
            self.deadlines.remove(&(at, token));
        }
        // Closing the socket (dropping it, below) unregisters it as well on
        // every platform mio supports; an error here changes nothing.
        let _ = self.poll.registry().deregister(entry.session.socket());
        self.handler.ended(ConnectionId(token.0), end);
    }
}
