//! The harness of the hostile-peer suite: the real servers (built once per
//! test binary), a raw attacker that writes hand-built bytes, an honest
//! client that keeps chatting during an attack, and readings of a server's
//! memory and CPU time from `/proc`. Every wait and every loop is bounded.
//! Everything connects to 127.0.0.1 only.

#![allow(dead_code)] // each test binary uses a part of this

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rusty_socket_std::{Config, Message};
use rusty_socket_test_support::{cargo_build, ServerProcess};

/// The bound of every single wait (a response, a close, a server start).
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The longest an honest round trip may take while an attack runs.
///
/// Loopback round trips take well under a millisecond; the bound leaves
/// room for a loaded two-core machine running debug builds (the attack,
/// the server and other work share the cores), and is still far below
/// what a starved client would see (the attacks last seconds).
pub const MAX_ROUND_TRIP: Duration = Duration::from_millis(1000);

/// The longest the honest client may go without a completed round trip
/// (it pauses [`HONEST_PAUSE`] between them).
pub const MAX_GAP: Duration = Duration::from_millis(1500);

/// The honest client's pause between round trips.
pub const HONEST_PAUSE: Duration = Duration::from_millis(10);

/// One attack at a time in a test binary: the tests measure the server's
/// memory and the honest client's latency, which a second attack running
/// alongside would disturb.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Prints a measured outcome (shown with `--nocapture`), and appends it to
/// the file named by `HOSTILE_REPORT` if set.
pub fn report(line: impl fmt::Display) {
    let line = format!("[hostile] {line}");
    eprintln!("{line}");
    if let Some(path) = std::env::var_os("HOSTILE_REPORT") {
        if let Ok(mut file) = fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ = writeln!(file, "{line}");
        }
    }
}

// ----- the servers -----

/// The two server binaries under test.
struct Binaries {
    chat: PathBuf,
    echo: PathBuf,
}

/// Builds (or finds up to date) `chat-server` and the `echo_server`
/// example once per test binary, with the same cargo, profile and target
/// directory as this test (chat-client's tests build chat-server with the
/// same command, so that both find the same build). `CHAT_SERVER_BIN` and
/// `ECHO_SERVER_BIN` override them.
fn binaries() -> &'static Binaries {
    static BINARIES: OnceLock<Binaries> = OnceLock::new();
    BINARIES.get_or_init(|| {
        let build = Duration::from_secs(900);
        let chat = std::env::var_os("CHAT_SERVER_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                cargo_build(
                    &["-p", "chat-server", "--bin", "chat-server"],
                    "chat-server",
                    build,
                )
            });
        let echo = std::env::var_os("ECHO_SERVER_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let built = cargo_build(
                    &["-p", "rusty-socket-tokio", "--example", "echo_server"],
                    "examples/echo_server",
                    build,
                );
                // rusty-socket-std has an example of the same name, and both
                // land on this path (cargo warns of the collision); the build
                // just made puts the Tokio one back. Make sure.
                let help = Command::new(&built)
                    .arg("--help")
                    .output()
                    .expect("run echo_server --help");
                assert!(
                    String::from_utf8_lossy(&help.stdout).contains("--handshake-timeout"),
                    "{} is not rusty-socket-tokio's echo_server (rusty-socket-std's example \
                     has the same name); set ECHO_SERVER_BIN",
                    built.display()
                );
                built
            });
        Binaries { chat, echo }
    })
}

/// Which server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The `rusty-socket-tokio` example `echo_server` (current-thread runtime).
    Echo,
    /// The `chat-server` binary (tokio runtime unless told otherwise).
    Chat,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Echo => "echo_server",
            Kind::Chat => "chat-server",
        })
    }
}

/// A running server on a free loopback port; killed when dropped (its log
/// is printed if the test is failing).
pub struct Server {
    process: ServerProcess,
    pub kind: Kind,
    pub addr: SocketAddr,
}

impl Server {
    /// The tokio echo server with extra `args`.
    pub fn echo(args: &[&str]) -> Server {
        let mut command = Command::new(&binaries().echo);
        command.arg("127.0.0.1:0").args(args);
        Server::spawn(Kind::Echo, command)
    }

    /// The chat server with extra `args`.
    pub fn chat(args: &[&str]) -> Server {
        let mut command = Command::new(&binaries().chat);
        command
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info");
        let mut server = Server::spawn(Kind::Chat, command);
        if let Some(at) = args.iter().position(|a| *a == "--runtime") {
            let name = format!("chat-server --runtime {}", args[at + 1]);
            server.process.rename(name);
        }
        server
    }

    /// Starts `command` and waits for its "listening on ADDR" line.
    fn spawn(kind: Kind, command: Command) -> Server {
        let process = ServerProcess::spawn(&kind.to_string(), command, TIMEOUT);
        Server {
            kind,
            addr: process.addr,
            process,
        }
    }

    /// The kind, and the runtime if not the default (for messages).
    pub fn name(&self) -> String {
        self.process.name().to_string()
    }

    /// `ws://ADDR/`.
    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The log so far.
    pub fn logs(&self) -> String {
        self.process.logs()
    }

    /// Waits until the log has a line containing every one of `needles`.
    pub fn wait_for_log(&self, needles: &[&str]) -> bool {
        self.process.wait_for_log(needles, TIMEOUT)
    }

    /// Whether the process still runs (an attack must not crash it).
    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    /// Asserts the server survived.
    pub fn assert_running(&mut self) {
        let kind = self.name();
        assert!(self.is_running(), "{kind} died; its log:\n{}", self.logs());
    }

    /// Resident memory now and at its peak.
    pub fn memory(&self) -> Memory {
        Memory::of(self.pid())
    }

    /// CPU time used so far (user and system).
    pub fn cpu(&self) -> Duration {
        cpu_time(self.pid())
    }

    /// Starts watching memory and CPU for an attack.
    pub fn watch(&self) -> Watch {
        Watch::start(self)
    }

    /// Chat server: `GET /stats`, parsed.
    pub fn stats(&self) -> serde_json::Value {
        assert_eq!(self.kind, Kind::Chat, "only the chat server has /stats");
        let mut stream = TcpStream::connect(self.addr).expect("connect for /stats");
        stream.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        let request = format!(
            "GET /stats HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        stream.write_all(request.as_bytes()).expect("send GET");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read the response");
        let text = String::from_utf8(raw).expect("a UTF-8 response");
        let (head, body) = text.split_once("\r\n\r\n").expect("a complete response");
        assert!(head.starts_with("HTTP/1.1 200"), "GET /stats: {head}");
        serde_json::from_str(body).expect("/stats is JSON")
    }

    /// Chat server: a number from `/stats`.
    pub fn stat(&self, name: &str) -> u64 {
        self.stats()[name]
            .as_u64()
            .unwrap_or_else(|| panic!("/stats has no number {name}"))
    }
}

// ----- memory and CPU -----

/// A process's resident memory, in KiB, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss: u64,
    /// `VmHWM`: the peak resident since start (or since [`reset_peak`]).
    pub peak: u64,
}

impl Memory {
    pub fn of(pid: u32) -> Memory {
        let status = fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse().ok())
                .unwrap_or_else(|| panic!("/proc/{pid}/status has no {name}"))
        };
        Memory {
            rss: field("VmRSS:"),
            peak: field("VmHWM:"),
        }
    }
}

/// Resets a process's peak resident size (`VmHWM`) to its current one
/// (Linux 4.0+); false if the kernel refused.
pub fn reset_peak(pid: u32) -> bool {
    fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// User plus system CPU time of a process, from `/proc/PID/stat` (in
/// clock ticks of 1/100 s, `USER_HZ` on Linux).
pub fn cpu_time(pid: u32) -> Duration {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/stat: {e}"));
    // The fields after the command name, which is in parentheses: state
    // is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')').expect("a command name") + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> u64 { fields[i].parse().expect("a number of ticks") };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Memory and CPU of a server across an attack.
pub struct Watch {
    pid: u32,
    before: Memory,
    cpu_before: Duration,
    /// Whether the peak was reset at the start (else it is since start).
    reset: bool,
    samples: Arc<Mutex<u64>>,
    stop: Arc<AtomicBool>,
    sampler: Option<JoinHandle<()>>,
}

/// What a [`Watch`] saw, in KiB and CPU time.
#[derive(Debug, Clone, Copy)]
pub struct Watched {
    pub before: u64,
    pub peak: u64,
    pub after: u64,
    pub cpu: Duration,
}

impl Watched {
    /// Peak growth over the resident size before the attack, in KiB.
    pub fn growth(&self) -> u64 {
        self.peak.saturating_sub(self.before)
    }

    /// Asserts that the peak grew by less than `max_kib`.
    pub fn assert_growth_below(&self, max_kib: u64, what: &str) {
        assert!(
            self.growth() < max_kib,
            "{what}: the server's resident memory grew by {} KiB (limit {max_kib} KiB): {self}",
            self.growth()
        );
    }
}

impl fmt::Display for Watched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = |kib: u64| kib as f64 / 1024.0;
        write!(
            f,
            "RSS before {:.1} MiB, peak {:.1} MiB (+{:.1}), after {:.1} MiB; server CPU {:.2} s",
            mib(self.before),
            mib(self.peak),
            mib(self.growth()),
            mib(self.after),
            self.cpu.as_secs_f64()
        )
    }
}

impl Watch {
    fn start(server: &Server) -> Watch {
        let pid = server.pid();
        let reset = reset_peak(pid);
        let before = Memory::of(pid);
        // A sampler too, in case the kernel cannot reset VmHWM.
        let samples = Arc::new(Mutex::new(before.rss));
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let samples = Arc::clone(&samples);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                // Bounded: at most 10 minutes of 10 ms samples.
                for _ in 0..60_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
                        break;
                    };
                    if let Some(rss) = status
                        .lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|r| r.split_whitespace().next())
                        .and_then(|k| k.parse::<u64>().ok())
                    {
                        let mut max = samples.lock().unwrap_or_else(|e| e.into_inner());
                        *max = (*max).max(rss);
                    }
                    thread::sleep(Duration::from_millis(10));
                }
            })
        };
        Watch {
            pid,
            before,
            cpu_before: cpu_time(pid),
            reset,
            samples,
            stop,
            sampler: Some(sampler),
        }
    }

    /// Resident memory now, in KiB.
    pub fn now(&self) -> u64 {
        Memory::of(self.pid).rss
    }

    /// Ends the watch (call after the attack has been dealt with).
    pub fn finish(mut self) -> Watched {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(sampler) = self.sampler.take() {
            let _ = sampler.join();
        }
        let now = Memory::of(self.pid);
        let sampled = *self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let peak = if self.reset {
            now.peak.max(sampled)
        } else {
            sampled
        };
        Watched {
            before: self.before.rss,
            peak,
            after: now.rss,
            cpu: cpu_time(self.pid).saturating_sub(self.cpu_before),
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

// ----- the open-file limit -----

/// Raises this process's soft open-file limit to `wanted` if it can (the
/// servers started afterwards inherit it); returns the limit now in force.
pub fn raise_fd_limit(wanted: u64) -> u64 {
    match rlimit::increase_nofile_limit(wanted) {
        Ok(limit) => limit,
        Err(e) => {
            eprintln!("cannot read or raise the open-file limit: {e}");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .map(|(soft, _)| soft)
                .unwrap_or(1024)
        }
    }
}

// ----- the raw attacker -----

/// Opcodes, as they go on the wire (including reserved ones).
pub mod op {
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

/// RSV bits as they sit in the first byte.
pub const RSV1: u8 = 0x40;
pub const RSV2: u8 = 0x20;
pub const RSV3: u8 = 0x10;

/// The attacker's masking key (any key is valid; this one is not zero, so
/// that a server that forgets to unmask would see garbage).
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A frame header: FIN, the RSV bits (`RSV1 | RSV2 | RSV3` as in the first
/// byte), an opcode (reserved ones too), a payload length (the claimed one,
/// whatever follows), and a masking key.
pub fn frame_header(fin: bool, rsv: u8, opcode: u8, len: u64, mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(14);
    out.push(if fin { 0x80 } else { 0 } | (rsv & 0x70) | (opcode & 0x0f));
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match len {
        0..=125 => out.push(mask_bit | len as u8),
        126..=0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
    out
}

/// A whole frame, masked with `mask` if given.
pub fn frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = frame_header(fin, rsv, opcode, payload.len() as u64, mask);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        for (i, byte) in out[start..].iter_mut().enumerate() {
            *byte ^= key[i % 4];
        }
    }
    out
}

/// A well-formed client frame: FIN set, no RSV bits, masked.
pub fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(true, 0, opcode, payload, Some(MASK))
}

/// A valid upgrade request for `/` on `addr`, with no `Origin`.
pub fn upgrade_request(addr: SocketAddr) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// The head of an upgrade request without its final blank line, for
/// attacks that add headers.
pub fn upgrade_request_head(addr: SocketAddr) -> String {
    let request = upgrade_request(addr);
    request[..request.len() - 2].to_owned()
}

/// A frame from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

impl Frame {
    /// A close frame's code, if it has one.
    pub fn close_code(&self) -> Option<u16> {
        (self.payload.len() >= 2).then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }

    /// A close frame's reason.
    pub fn close_reason(&self) -> String {
        String::from_utf8_lossy(self.payload.get(2..).unwrap_or_default()).into_owned()
    }
}

/// An HTTP response head.
#[derive(Debug, Clone)]
pub struct HttpHead {
    pub status: u16,
    pub text: String,
}

/// How a connection ended, seen from the attacker.
#[derive(Debug)]
pub struct Ending {
    /// The close frame's code (`None`: no close frame arrived).
    pub code: Option<u16>,
    pub reason: String,
    /// From the start of the wait to the close frame (or the end).
    pub after: Duration,
    /// Frames read before it, by opcode.
    pub frames_before: Vec<(u8, usize)>,
    /// What ended the wait when no close frame came.
    pub end: Option<String>,
}

impl Ending {
    /// How many frames of `opcode` came before the close.
    pub fn count(&self, opcode: u8) -> usize {
        self.frames_before
            .iter()
            .find(|(op, _)| *op == opcode)
            .map_or(0, |(_, n)| *n)
    }
}

/// A raw TCP connection that speaks WebSocket by hand: it writes whatever
/// bytes it is given and parses what the server sends.
pub struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

impl Raw {
    /// Connects to the server (loopback only), with bounded reads and writes.
    pub fn connect(addr: SocketAddr) -> io::Result<Raw> {
        assert!(addr.ip().is_loopback(), "attacks stay on loopback: {addr}");
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
        Ok(Raw {
            stream,
            buf: Vec::new(),
            pos: 0,
        })
    }

    /// Connects and completes a valid opening handshake (panics otherwise).
    pub fn open(addr: SocketAddr) -> Raw {
        let mut raw = Raw::connect(addr).expect("connect");
        raw.send(upgrade_request(addr).as_bytes())
            .expect("send the upgrade request");
        let head = raw.read_head().expect("read the handshake response");
        assert_eq!(head.status, 101, "handshake refused: {}", head.text);
        raw
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// A second handle on the socket, for a writer thread.
    pub fn writer(&self) -> TcpStream {
        self.stream.try_clone().expect("clone the socket")
    }

    /// Buffered bytes not yet parsed.
    fn pending(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Reads more into the buffer; `Ok(0)` at the end.
    fn fill(&mut self) -> io::Result<usize> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > (1 << 20) {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + (64 << 10), 0);
        let result = self.stream.read(&mut self.buf[len..]);
        let n = *result.as_ref().unwrap_or(&0);
        self.buf.truncate(len + n);
        result
    }

    /// Reads an HTTP response head (the bytes after it are kept).
    pub fn read_head(&mut self) -> io::Result<HttpHead> {
        loop {
            if let Some(end) = self.pending().windows(4).position(|w| w == b"\r\n\r\n") {
                let text = String::from_utf8_lossy(&self.pending()[..end]).into_owned();
                self.pos += end + 4;
                let status = text
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                return Ok(HttpHead { status, text });
            }
            if self.pending().len() > 64 << 10 {
                return Err(io::Error::other("no end of the response head in 64 KiB"));
            }
            if self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Reads one frame; `Ok(None)` at the end of the stream.
    pub fn read_frame(&mut self) -> io::Result<Option<Frame>> {
        loop {
            if let Some((frame, len)) = parse_frame(self.pending())? {
                self.pos += len;
                return Ok(Some(frame));
            }
            if self.fill()? == 0 {
                return if self.pending().is_empty() {
                    Ok(None)
                } else {
                    Err(io::ErrorKind::UnexpectedEof.into())
                };
            }
        }
    }

    /// Reads frames until a close frame (or the end, or `timeout`),
    /// counting the others.
    pub fn read_until_close(&mut self, timeout: Duration) -> Ending {
        let started = Instant::now();
        let deadline = started + timeout;
        let mut counts: Vec<(u8, usize)> = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ending {
                    code: None,
                    reason: String::new(),
                    after: started.elapsed(),
                    frames_before: counts,
                    end: Some(format!("no close within {timeout:?}")),
                };
            }
            let _ = self.stream.set_read_timeout(Some(left));
            let end = match self.read_frame() {
                Ok(Some(frame)) if frame.opcode == op::CLOSE => {
                    return Ending {
                        code: frame.close_code(),
                        reason: frame.close_reason(),
                        after: started.elapsed(),
                        frames_before: counts,
                        end: None,
                    };
                }
                Ok(Some(frame)) => {
                    match counts.iter_mut().find(|(op, _)| *op == frame.opcode) {
                        Some((_, n)) => *n += 1,
                        None => counts.push((frame.opcode, 1)),
                    }
                    continue;
                }
                Ok(None) => "the server ended the connection".to_owned(),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(e) => format!("read failed: {e}"),
            };
            return Ending {
                code: None,
                reason: String::new(),
                after: started.elapsed(),
                frames_before: counts,
                end: Some(end),
            };
        }
    }

    /// Reads until a close frame and asserts its code.
    pub fn expect_close(&mut self, code: u16, what: &str) -> Ending {
        let ending = self.read_until_close(TIMEOUT);
        assert_eq!(
            ending.code,
            Some(code),
            "{what}: expected close {code}, got {ending:?}"
        );
        ending
    }

    /// A normal exchange: sends `text` and reads until it comes back (the
    /// echo, or the chat's broadcast), skipping other frames.
    pub fn converse(&mut self, text: &str) {
        self.send(&client_frame(op::TEXT, text.as_bytes()))
            .expect("send a text message");
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            match self.read_frame() {
                Ok(Some(frame)) if frame.opcode == op::TEXT && frame.payload == text.as_bytes() => {
                    return
                }
                Ok(Some(frame)) if frame.opcode == op::CLOSE => panic!(
                    "closed instead of answering {text:?}: {} {}",
                    frame.close_code().unwrap_or(0),
                    frame.close_reason()
                ),
                Ok(Some(_)) => {}
                Ok(None) => panic!("the connection ended instead of answering {text:?}"),
                Err(e) => panic!("no answer to {text:?}: {e}"),
            }
        }
        panic!("no answer to {text:?} within {TIMEOUT:?}");
    }

    /// Waits for the server to end the transport after a close (bounded).
    pub fn expect_eof(&mut self) -> bool {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            match self.read_frame() {
                Ok(None) | Err(_) => return true,
                Ok(Some(_)) => {}
            }
        }
        false
    }
}

/// Parses one unmasked or masked frame at the start of `buf`.
fn parse_frame(buf: &[u8]) -> io::Result<Option<(Frame, usize)>> {
    let [b0, b1, ..] = *buf else { return Ok(None) };
    let masked = b1 & 0x80 != 0;
    let (len, mut at) = match b1 & 0x7f {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => (u64::from_be_bytes(b.try_into().expect("8 bytes")), 10),
            None => return Ok(None),
        },
        len => (u64::from(len), 2),
    };
    if len > 256 << 20 {
        return Err(io::Error::other(format!(
            "the server sent a {len}-byte frame"
        )));
    }
    let mut key = None;
    if masked {
        let Some(k) = buf.get(at..at + 4) else {
            return Ok(None);
        };
        key = Some([k[0], k[1], k[2], k[3]]);
        at += 4;
    }
    let end = at + len as usize;
    let Some(payload) = buf.get(at..end) else {
        return Ok(None);
    };
    let mut payload = payload.to_vec();
    if let Some(key) = key {
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= key[i % 4];
        }
    }
    let frame = Frame {
        fin: b0 & 0x80 != 0,
        rsv: b0 & 0x70,
        opcode: b0 & 0x0f,
        masked,
        payload,
    };
    Ok(Some((frame, end)))
}

/// Writes `data` in `chunk`-byte pieces until it is all written, a write
/// fails (the server closed), `stop` is set, or `timeout` passes; returns
/// the bytes written and how it ended. Meant for a writer thread.
pub fn blast(
    mut stream: TcpStream,
    data: &[u8],
    chunk: usize,
    stop: &AtomicBool,
    timeout: Duration,
) -> (usize, Option<io::Error>) {
    let deadline = Instant::now() + timeout;
    let mut written = 0;
    while written < data.len() {
        if stop.load(Ordering::Relaxed) {
            return (written, None);
        }
        if Instant::now() >= deadline {
            return (written, Some(io::ErrorKind::TimedOut.into()));
        }
        let end = (written + chunk).min(data.len());
        match stream.write(&data[written..end]) {
            Ok(0) => return (written, Some(io::ErrorKind::WriteZero.into())),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (written, Some(e)),
        }
    }
    (written, None)
}

// ----- the honest client -----

/// A client that keeps doing round trips (send a text, wait for it to come
/// back: the echo, or the chat's broadcast) in its own thread until told
/// to stop, recording how long each took.
pub struct Honest {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Served>,
    name: String,
}

/// What the honest client saw.
#[derive(Debug, Clone)]
pub struct Served {
    pub name: String,
    /// Round trips completed.
    pub count: usize,
    pub median: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// The longest stretch without a completed round trip (from the start
    /// to the first, between two, from the last to the stop).
    pub longest_gap: Duration,
    /// The error that stopped it early, if any.
    pub error: Option<String>,
}

impl fmt::Display for Served {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "honest client: {} round trips, median {:.2} ms, p99 {:.2} ms, max {:.2} ms, \
             longest gap {:.0} ms",
            self.count,
            self.median.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.max.as_secs_f64() * 1e3,
            self.longest_gap.as_secs_f64() * 1e3,
        )?;
        if let Some(error) = &self.error {
            write!(f, ", stopped by: {error}")?;
        }
        Ok(())
    }
}

impl Served {
    /// Asserts that the client was served throughout: no error, round trips
    /// within [`MAX_ROUND_TRIP`], never a gap over [`MAX_GAP`].
    pub fn assert_served(&self, what: &str) {
        assert!(self.error.is_none(), "{what}: {self}");
        assert!(self.count >= 5, "{what}: too few round trips: {self}");
        assert!(
            self.max <= MAX_ROUND_TRIP,
            "{what}: a round trip took over {MAX_ROUND_TRIP:?}: {self}"
        );
        assert!(
            self.longest_gap <= MAX_GAP,
            "{what}: no round trip for over {MAX_GAP:?}: {self}"
        );
    }
}

impl Honest {
    /// Connects to `url` and starts the round trips; returns once the first
    /// one has completed.
    pub fn start(url: &str, name: &str) -> Honest {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready, first) = mpsc::channel();
        let thread = {
            let stop = Arc::clone(&stop);
            let url = url.to_owned();
            let name = name.to_owned();
            thread::spawn(move || run_honest(&url, &name, &stop, &ready))
        };
        match first.recv_timeout(TIMEOUT) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("the honest client could not start: {e}"),
            Err(_) => panic!("the honest client did not complete a round trip in {TIMEOUT:?}"),
        }
        Honest {
            stop,
            thread,
            name: name.to_owned(),
        }
    }

    /// Stops the round trips (after a few more, to see the client still
    /// served once the attack is over) and reports them.
    pub fn stop(self) -> Served {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_else(|_| Served {
            name: self.name.clone(),
            count: 0,
            median: Duration::ZERO,
            p99: Duration::ZERO,
            max: Duration::ZERO,
            longest_gap: Duration::ZERO,
            error: Some("the honest client panicked".into()),
        })
    }
}

/// Most round trips per honest client, and its longest run.
const HONEST_MAX_TRIPS: usize = 20_000;
const HONEST_MAX_RUN: Duration = Duration::from_secs(120);
/// Round trips after the stop (after the attack).
const HONEST_TRIPS_AFTER_STOP: usize = 5;

fn run_honest(
    url: &str,
    name: &str,
    stop: &AtomicBool,
    ready: &mpsc::Sender<Result<(), String>>,
) -> Served {
    let mut config = Config::default();
    // Bounds every `recv`: a starved client ends with an error.
    config.idle_timeout = Some(TIMEOUT);
    let connected = rusty_socket_std::ClientRequest::new(url)
        .map_err(rusty_socket_std::Error::from)
        .and_then(|request| rusty_socket_std::connect_with(request, config));
    let mut ws = match connected {
        Ok((ws, _)) => ws,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return Served::from_trips(name, &[], Instant::now(), Some(e.to_string()));
        }
    };
    let started = Instant::now();
    let mut trips: Vec<(Instant, Duration)> = Vec::new();
    let mut error = None;
    // Once told to stop, a few more round trips: still served after the attack.
    let mut after_stop = 0;
    for n in 0..HONEST_MAX_TRIPS {
        if stop.load(Ordering::Relaxed) {
            after_stop += 1;
        }
        if after_stop > HONEST_TRIPS_AFTER_STOP || started.elapsed() > HONEST_MAX_RUN {
            break;
        }
        let text = format!("{name} {n}");
        let sent = Instant::now();
        let result = ws.send(Message::text(text.clone())).and_then(|()| loop {
            // Skip what others broadcast (chat) and control frames.
            match ws.recv()? {
                Some(Message::Text(back)) if back.as_str() == text => break Ok(()),
                Some(_) => continue,
                // The server closed the connection (cleanly).
                None => break Err(rusty_socket_std::Error::AlreadyClosed),
            }
        });
        if let Err(e) = result {
            error = Some(format!("round trip {n}: {e}"));
            break;
        }
        let done = Instant::now();
        trips.push((done, done - sent));
        if n == 0 {
            let _ = ready.send(Ok(()));
        }
        thread::sleep(HONEST_PAUSE);
    }
    let stopped = Instant::now();
    if error.is_none() && ws.close(1000, "done").is_ok() {
        // Finish the closing handshake.
        while let Ok(Some(_)) = ws.recv() {}
    }
    let mut served = Served::from_trips(name, &trips, started, error);
    if let Some((last, _)) = trips.last() {
        served.longest_gap = served.longest_gap.max(stopped - *last);
    }
    served
}

impl Served {
    fn from_trips(
        name: &str,
        trips: &[(Instant, Duration)],
        started: Instant,
        error: Option<String>,
    ) -> Served {
        let mut took: Vec<Duration> = trips.iter().map(|(_, d)| *d).collect();
        took.sort();
        let at = |q: f64| -> Duration {
            if took.is_empty() {
                Duration::ZERO
            } else {
                took[((took.len() - 1) as f64 * q).round() as usize]
            }
        };
        let mut longest_gap = Duration::ZERO;
        let mut previous = started;
        for (done, _) in trips {
            longest_gap = longest_gap.max(*done - previous);
            previous = *done;
        }
        Served {
            name: name.to_owned(),
            count: trips.len(),
            median: at(0.5),
            p99: at(0.99),
            max: took.last().copied().unwrap_or_default(),
            longest_gap,
            error,
        }
    }
}
