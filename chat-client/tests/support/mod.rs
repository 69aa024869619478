//! The harness of the end-to-end tests: the real `chat-server` binary, the
//! real `chat-client` binary in a pseudo-terminal (rexpect) or on pipes, a
//! few tiny misbehaving servers, and the two views of a terminal session
//! the assertions use. Every wait is bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use rexpect::process::WaitStatus;
use rexpect::session::PtySession;
use rusty_socket_test_support::tls::CertKey;
use rusty_socket_test_support::{cargo_build, wait_child};

/// The bound of every single wait for output.
pub const WAIT: Duration = Duration::from_secs(15);

/// The chat client binary under test.
pub const CLIENT: &str = env!("CARGO_BIN_EXE_chat-client");

// ----- the chat server -----

/// The `chat-server` binary, built (or found up to date) once per test run
/// with the same cargo, profile and target directory as this test.
/// `CHAT_SERVER_BIN` overrides it.
pub fn chat_server_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| match std::env::var_os("CHAT_SERVER_BIN") {
        Some(path) => PathBuf::from(path),
        None => cargo_build(
            &["-p", "chat-server", "--bin", "chat-server"],
            "chat-server",
            Duration::from_secs(300),
        ),
    })
}

/// A running `chat-server`, killed on drop.
pub struct ChatServer {
    child: Child,
    addr: SocketAddr,
    /// `ws`, or `wss` over TLS.
    scheme: &'static str,
}

impl ChatServer {
    /// Starts the real chat server on a free loopback port with `runtime`
    /// (tokio or std) and waits until it accepts connections.
    pub fn start(runtime: &str) -> ChatServer {
        ChatServer::start_with(runtime, &[], "ws")
    }

    /// The same over TLS, serving the certificate and key of `cert`.
    pub fn start_tls(runtime: &str, cert: &CertKey) -> ChatServer {
        let cert_path = cert.cert_path.to_str().expect("UTF-8 path");
        let key_path = cert.key_path.to_str().expect("UTF-8 path");
        let tls = ["--tls-cert", cert_path, "--tls-key", key_path];
        ChatServer::start_with(runtime, &tls, "wss")
    }

    fn start_with(runtime: &str, args: &[&str], scheme: &'static str) -> ChatServer {
        let addr = free_addr();
        let child = Command::new(chat_server_binary())
            .args(["--addr", &addr.to_string(), "--runtime", runtime])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chat-server");
        let server = ChatServer {
            child,
            addr,
            scheme,
        };
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(addr).is_err() {
            assert!(
                Instant::now() < deadline,
                "chat-server never listened on {addr}"
            );
            thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// The WebSocket URL of the server: `ws://ADDR`, or `wss://ADDR` over
    /// TLS.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Shuts the server down as an operator would (SIGTERM): it closes
    /// every connection with 1001, "server shutting down".
    pub fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }
}

impl Drop for ChatServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = wait_child(&mut self.child, WAIT);
    }
}

// ----- small servers and addresses -----

/// A loopback address nobody listens on (bound, then released).
pub fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

/// A server that answers every request with `403 Forbidden`, as a server
/// refusing the WebSocket upgrade does. Serves for the life of the test.
pub fn forbidden_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(WAIT));
            // Read the request head, then answer and close.
            let mut head = Vec::new();
            let mut buf = [0; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream.write_all(
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    addr
}

// ----- the client in a pseudo-terminal -----

/// The real client in a pseudo-terminal, with everything it printed so far.
pub struct PtyClient {
    session: PtySession,
    raw: String,
}

impl PtyClient {
    /// Starts `chat-client ARGS` in a pseudo-terminal (80 columns, as
    /// rustyline assumes for a pty without a size).
    pub fn spawn(args: &[&str]) -> PtyClient {
        let mut command = Command::new(CLIENT);
        command.args(args).env("TERM", "xterm");
        let timeout = u64::try_from(WAIT.as_millis()).expect("fits");
        let session = rexpect::session::spawn_command(command, Some(timeout)).expect("spawn");
        PtyClient {
            session,
            raw: String::new(),
        }
    }

    /// Waits (bounded) until the client has printed `needle`.
    pub fn expect(&mut self, needle: &str) {
        match self.session.exp_string(needle) {
            Ok(before) => {
                self.raw.push_str(&before);
                self.raw.push_str(needle);
            }
            Err(e) => panic!(
                "waiting for {needle:?}: {e}\noutput so far, as lines: {:#?}",
                teletype(&self.raw)
            ),
        }
    }

    /// Types `keys` without Enter.
    pub fn type_keys(&mut self, keys: &str) {
        self.session.send(keys).expect("type");
        self.session.flush().expect("flush");
    }

    /// Types `line` and Enter.
    pub fn type_line(&mut self, line: &str) {
        self.type_keys(&format!("{line}\r"));
    }

    /// Waits (bounded) for the client to exit, and checks it exited with 0.
    pub fn expect_exit(&mut self) {
        match self.session.exp_eof() {
            Ok(rest) => self.raw.push_str(&rest),
            Err(e) => panic!(
                "waiting for the exit: {e}; output: {:#?}",
                teletype(&self.raw)
            ),
        }
        let deadline = Instant::now() + WAIT;
        loop {
            match self.session.process().status() {
                Some(WaitStatus::Exited(_, code)) => {
                    assert_eq!(code, 0, "exit code");
                    return;
                }
                Some(WaitStatus::StillAlive) | None => {}
                Some(other) => panic!("the client ended with {other:?}"),
            }
            assert!(Instant::now() < deadline, "the client did not exit");
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The session as a log: [`teletype`] of everything printed so far.
    pub fn lines(&self) -> Vec<String> {
        teletype(&self.raw)
    }

    /// The screen as the user sees it now (trailing blank rows dropped).
    pub fn screen(&self) -> Vec<String> {
        screen(&self.raw, 80)
    }
}

/// The session as a printing terminal would log it: the line editor's
/// escape sequences (cursor moves, line clearing, bracketed paste mode)
/// are dropped, and so are carriage returns (`\r\n` is the terminal's line
/// ending; a lone `\r` only moves the cursor back for a redraw), so what
/// remains is every character printed, in order, split at newlines.
///
/// This is the view in which the usage transcript was written: when a
/// message arrives while `msg> ` is shown, the editor moves to column 0,
/// clears the line, prints the message and redraws `msg> `; logged, that is
/// `msg> rcv=> Hello from client 2` followed by `msg> ` (where the user
/// goes on typing), exactly as in the transcript. On the screen the cleared
/// prompt is gone: see [`screen`].
pub fn teletype(raw: &str) -> Vec<String> {
    let mut text = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => match chars.next() {
                // CSI: parameters and intermediates up to a final byte.
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('\x40'..='\x7e').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC: up to BEL or ST.
                Some(']') => {
                    while let Some(c) = chars.next() {
                        if c == '\x07' {
                            break;
                        }
                        if c == '\x1b' {
                            chars.next();
                            break;
                        }
                    }
                }
                // A two-character escape.
                _ => {}
            },
            '\n' | '\t' => text.push(c),
            c if c.is_control() => {}
            c => text.push(c),
        }
    }
    text.lines().map(str::to_owned).collect()
}

/// The screen a terminal of `cols` columns shows after `raw`: the rows,
/// trailing blanks trimmed, trailing empty rows dropped.
pub fn screen(raw: &str, cols: u16) -> Vec<String> {
    let size = |n: u16| NonZeroU16::new(n).expect("not zero");
    let mut parser = vt100::Parser::new(size(200), size(cols), 0);
    // rexpect reads bytes as chars one to one; the output is ASCII.
    let bytes: Vec<u8> = raw.chars().map(|c| c as u32 as u8).collect();
    parser.process(&bytes);
    let mut rows: Vec<String> = parser
        .screen()
        .rows(0, cols)
        .map(|row| row.trim_end().to_owned())
        .collect();
    while rows.last().is_some_and(String::is_empty) {
        rows.pop();
    }
    rows
}

// ----- the client on pipes -----

/// Runs the client with `stdin` as its (piped) input; bounded.
pub fn run_piped(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(CLIENT)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the client");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    // Read the output on threads so a full pipe cannot stall the client.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        text
    });
    let err = thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.read_to_end(&mut text);
        text
    });
    let status = wait_child(&mut child, WAIT).expect("the piped client exits in time");
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// Lines of captured output.
pub fn output_lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_owned)
        .collect()
}
