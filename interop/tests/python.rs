//! Interoperability with Python's `websockets` library (PyPI), compressed
//! both ways: its echo server against our tokio and std clients, our tokio
//! server against its client, and a compression bomb from its client
//! against our server's message limit. The Python scripts are in
//! `interop/python/`.
//!
//! `PYTHON_WEBSOCKETS=/path/to/python` names a Python that has `websockets`
//! installed (`.ci/python-interop.sh` makes one in a venv and sets it).
//! Without it each test prints that it was skipped and passes, so that
//! `cargo test --workspace` needs nothing installed; with
//! `INTEROP_PYTHON=required` (what the script sets) a missing Python fails.
//!
//! Every Python process listens on or connects to 127.0.0.1 only, and is
//! killed when its test ends or when it outlives `PYTHON_TIMEOUT`.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use rusty_socket_std as wsstd;
use rusty_socket_tokio as wstokio;
use wsstd::{ClientRequest, CloseCode, Config, Deflate, Message, ProtocolError, Response};

/// The longest a Python process may run (a client script, or the wait for
/// a server's port); each script bounds itself too.
const PYTHON_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a Python server lives at most (its own bound, in seconds): what
/// bounds a conversation with one that stops answering, since its pings
/// keep our `idle_timeout` from firing.
const SERVER_LIFETIME: &str = "60";
/// The limit of our server in the compression-bomb test, and what the
/// bomb inflates to.
const BOMB_LIMIT: usize = 1 << 20;
const BOMB_SIZE: usize = 10 << 20;
/// Our side gives up on a silent peer after this long (`idle_timeout`), so
/// a Python peer that stops answering fails a test instead of hanging it.
const IDLE: Duration = Duration::from_secs(30);

/// `config` with our side bounded in time too.
fn bounded(mut config: Config) -> Config {
    config.idle_timeout = Some(IDLE);
    config
}

/// The Python to run, or `None` when the test is to be skipped.
fn python() -> Option<PathBuf> {
    let required = std::env::var("INTEROP_PYTHON").is_ok_and(|v| v == "required");
    let Some(path) = std::env::var_os("PYTHON_WEBSOCKETS") else {
        assert!(
            !required,
            "INTEROP_PYTHON=required but PYTHON_WEBSOCKETS is not set (run .ci/python-interop.sh, \
             or set PYTHON_WEBSOCKETS=/path/to/python with websockets installed)"
        );
        eprintln!(
            "SKIPPED: Python websockets interop: PYTHON_WEBSOCKETS is not set (run \
             .ci/python-interop.sh; INTEROP_PYTHON=required makes this a failure)"
        );
        return None;
    };
    let path = PathBuf::from(path);
    // Set but unusable is a mistake, not a reason to skip.
    let version = Command::new(&path)
        .args(["-c", "import websockets; print(websockets.__version__)"])
        .output()
        .unwrap_or_else(|e| panic!("PYTHON_WEBSOCKETS={}: cannot run it: {e}", path.display()));
    assert!(
        version.status.success(),
        "PYTHON_WEBSOCKETS={}: cannot import websockets: {}",
        path.display(),
        String::from_utf8_lossy(&version.stderr)
    );
    eprintln!(
        "Python websockets {}",
        String::from_utf8_lossy(&version.stdout).trim()
    );
    Some(path)
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(name)
}

/// A Python process, killed (with anything it started) on drop.
struct Python {
    child: Child,
}

impl Python {
    fn spawn(python: &Path, script_name: &str, args: &[&str]) -> Python {
        use std::os::unix::process::CommandExt;
        let child = Command::new(python)
            .arg("-u")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .arg(script(script_name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        Python { child }
    }

    /// Its stdout, line by line, on a channel (read by a thread, so that a
    /// wait can time out).
    fn lines(&mut self) -> Receiver<String> {
        let stdout: ChildStdout = self.child.stdout.take().expect("piped stdout");
        let (tx, rx) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                eprintln!("  python| {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        rx
    }

    /// Its stderr, whole, once it ends (read by a thread).
    fn stderr(&mut self) -> Receiver<String> {
        let mut stderr = self.child.stderr.take().expect("piped stderr");
        let (tx, rx) = channel();
        thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            let _ = tx.send(text);
        });
        rx
    }

    /// Waits for it to exit, at most `PYTHON_TIMEOUT` (then kills it and
    /// fails). Returns its stdout lines and whether it exited with 0.
    fn finish(mut self) -> (Vec<String>, bool, String) {
        let lines = self.lines();
        let stderr = self.stderr();
        let deadline = Instant::now() + PYTHON_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for python") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the Python script ran past {PYTHON_TIMEOUT:?}: killed"
            );
            thread::sleep(Duration::from_millis(20));
        };
        let stderr = stderr
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_default();
        let lines: Vec<String> = lines.iter().collect();
        if !stderr.is_empty() {
            eprintln!("  python stderr:\n{stderr}");
        }
        (lines, status.success(), stderr)
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let group = format!("-{}", self.child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The Python echo server, and the port it listens on.
struct PythonServer {
    _process: Python,
    port: u16,
    lines: Receiver<String>,
}

impl PythonServer {
    fn start(python: &Path) -> PythonServer {
        let mut process = Python::spawn(python, "echo_server.py", &[SERVER_LIFETIME]);
        let lines = process.lines();
        let deadline = Instant::now() + PYTHON_TIMEOUT;
        let port = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(port) = line.strip_prefix("PORT ") {
                        break port.trim().parse().expect("a port number");
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!("the Python server printed no port"),
                Err(RecvTimeoutError::Disconnected) => {
                    let stderr = process.stderr().recv().unwrap_or_default();
                    panic!("the Python server ended before printing its port:\n{stderr}")
                }
            }
        };
        PythonServer {
            _process: process,
            port,
            lines,
        }
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }

    /// The server's line about the next connection: what the client
    /// offered and what websockets answered.
    fn connection_line(&self) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(10))
                .expect("the Python server reports the connection");
            if line.starts_with("CONNECTION ") {
                return line;
            }
        }
    }
}

/// A JSON array of chat-like records, at least `size` bytes long.
fn json_like(size: usize) -> String {
    let mut out = String::from("[");
    let mut i = 0;
    while out.len() < size {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            r#"{{"id": {i}, "user": "user-{}", "text": "message number {i} \u2713 ✓", "tags": ["chat", "room-{}"]}}"#,
            i % 17,
            i % 5
        ));
        i += 1;
    }
    out.push(']');
    out
}

/// Incompressible bytes (xorshift).
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Text and binary, below the 64-byte compression threshold, about 10 KiB
/// and 1 MiB; the last one incompressible.
fn messages() -> Vec<Message> {
    vec![
        Message::text("hello ✓"),
        Message::binary(vec![1u8, 2, 3]),
        Message::text(""),
        Message::binary(Vec::new()),
        Message::text(json_like(10 << 10)),
        Message::binary(json_like(10 << 10).into_bytes()),
        Message::text(json_like(1 << 20)),
        Message::binary(noise(1 << 20)),
    ]
}

fn describe(message: &Message) -> String {
    match message {
        Message::Text(text) => format!("text of {} bytes", text.len()),
        Message::Binary(bytes) => format!("binary of {} bytes", bytes.len()),
        other => format!("{other:?}"),
    }
}

/// Our client configurations: the defaults, and context takeover both ways
/// with 10-bit windows both ways.
fn client_configs() -> Vec<(&'static str, Config)> {
    let mut takeover = Config::default();
    takeover.deflate.local_no_context_takeover = false;
    takeover.deflate.remote_no_context_takeover = false;
    takeover.deflate.local_max_window_bits = 10;
    takeover.deflate.remote_max_window_bits = 10;
    vec![
        ("defaults", Config::default()),
        ("takeover-10-bit", takeover),
    ]
}

/// What websockets' server (12-bit windows both ways, context takeover
/// unless asked otherwise) agrees to with each of our client configs.
fn expected_with_python_server(name: &str) -> (Deflate, &'static str) {
    let mut agreed = Deflate::default();
    match name {
        // Our first offer asks for no context takeover both ways; websockets
        // honours it and limits both windows to its 12 bits.
        "defaults" => {
            agreed.server_no_context_takeover = true;
            agreed.client_no_context_takeover = true;
            agreed.server_max_window_bits = 12;
            agreed.client_max_window_bits = 12;
            (
                agreed,
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=12; client_max_window_bits=12",
            )
        }
        // We ask for 10 bits both ways, under its 12.
        _ => {
            agreed.server_max_window_bits = 10;
            agreed.client_max_window_bits = 10;
            (
                agreed,
                "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10",
            )
        }
    }
}

fn check_agreement(
    name: &str,
    client: &str,
    deflate: Option<Deflate>,
    response: &Response,
    server: &PythonServer,
) {
    let answer = response
        .headers()
        .get("sec-websocket-extensions")
        .map(|v| v.to_str().unwrap().to_owned());
    eprintln!("{client} client, {name}: {}", server.connection_line());
    eprintln!("{client} client, {name}: agreed {deflate:?}");
    let (expected, expected_answer) = expected_with_python_server(name);
    assert_eq!(answer.as_deref(), Some(expected_answer), "{client}, {name}");
    assert_eq!(deflate, Some(expected), "{client}, {name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_server_and_our_tokio_client() {
    let Some(python) = python() else { return };
    let server = PythonServer::start(&python);
    for (name, config) in client_configs() {
        let request = ClientRequest::new(&server.url()).unwrap();
        let (mut ws, response) = wstokio::connect_with(request, config)
            .await
            .unwrap_or_else(|e| panic!("{name}: connect to the Python server: {e}"));
        check_agreement(name, "tokio", ws.deflate(), &response, &server);
        // Twice: the second round finds a warm context where it is kept.
        for message in messages().into_iter().chain(messages()) {
            ws.send(message.clone()).await.unwrap();
            // websockets pings every 20 s: a slow run may see one first.
            let echo = loop {
                match ws.recv().await.unwrap().expect("an echo, not the end") {
                    Message::Ping(_) | Message::Pong(_) => {}
                    echo => break echo,
                }
            };
            assert!(
                echo == message,
                "{name}: sent {}, got {}",
                describe(&message),
                describe(&echo)
            );
        }
        ws.close(CloseCode::NORMAL, "done").await.unwrap();
        let mut after = Vec::new();
        while let Some(message) = ws.recv().await.expect("a clean closing handshake") {
            if !matches!(message, Message::Ping(_) | Message::Pong(_)) {
                after.push(message);
            }
        }
        assert!(
            matches!(&after[..], [Message::Close(Some(frame))] if frame.code == CloseCode::NORMAL),
            "{name}: websockets echoes our close: {after:?}"
        );
    }
}

#[test]
fn python_server_and_our_std_client() {
    let Some(python) = python() else { return };
    let server = PythonServer::start(&python);
    for (name, config) in client_configs() {
        let request = ClientRequest::new(&server.url()).unwrap();
        let (mut ws, response) = wsstd::connect_with(request, config)
            .unwrap_or_else(|e| panic!("{name}: connect to the Python server: {e}"));
        check_agreement(name, "std", ws.deflate(), &response, &server);
        for message in messages().into_iter().chain(messages()) {
            ws.send(message.clone()).unwrap();
            // websockets pings every 20 s: a slow run may see one first.
            let echo = loop {
                match ws.recv().unwrap().expect("an echo, not the end") {
                    Message::Ping(_) | Message::Pong(_) => {}
                    echo => break echo,
                }
            };
            assert!(
                echo == message,
                "{name}: sent {}, got {}",
                describe(&message),
                describe(&echo)
            );
        }
        ws.close(CloseCode::NORMAL, "done").unwrap();
        let mut after = Vec::new();
        while let Some(message) = ws.recv().expect("a clean closing handshake") {
            if !matches!(message, Message::Ping(_) | Message::Pong(_)) {
                after.push(message);
            }
        }
        assert!(
            matches!(&after[..], [Message::Close(Some(frame))] if frame.code == CloseCode::NORMAL),
            "{name}: websockets echoes our close: {after:?}"
        );
    }
}

/// How our tokio server's one connection went: what was agreed, how many
/// messages it echoed, and how it ended (`Ok` for a clean close).
struct Served {
    deflate: Option<Deflate>,
    echoed: usize,
    end: Result<(), wstokio::Error>,
}

/// Our tokio echo server for one connection, in this process.
async fn tokio_server(config: Config) -> (String, tokio::task::JoinHandle<Served>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (stream, _) = tokio::time::timeout(PYTHON_TIMEOUT, listener.accept())
            .await
            .expect("the Python client connects in time")
            .unwrap();
        let mut ws =
            wstokio::accept_with(stream, bounded(config), |_| Ok(wstokio::Accept::default()))
                .await
                .expect("the Python client's handshake");
        let deflate = ws.deflate();
        let mut echoed = 0;
        let end = loop {
            match ws.recv().await {
                Ok(Some(message @ (Message::Text(_) | Message::Binary(_)))) => {
                    if let Err(e) = ws.send(message).await {
                        break Err(e);
                    }
                    echoed += 1;
                }
                Ok(Some(_)) => {}
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        Served {
            deflate,
            echoed,
            end,
        }
    });
    (url, task)
}

/// Runs a Python client script to its end, off the runtime's threads.
async fn run_client(
    python: &Path,
    script_name: &'static str,
    args: Vec<String>,
) -> (Vec<String>, bool, String) {
    let python = python.to_owned();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Python::spawn(&python, script_name, &args).finish()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_and_our_tokio_server() {
    let Some(python) = python() else { return };
    let mut takeover = Config::default();
    takeover.deflate.local_no_context_takeover = false;
    takeover.deflate.remote_no_context_takeover = false;
    takeover.deflate.remote_max_window_bits = 10;
    // websockets offers `permessage-deflate; client_max_window_bits`.
    let mut defaults_agreed = Deflate::default();
    defaults_agreed.server_no_context_takeover = true;
    defaults_agreed.client_no_context_takeover = true;
    let mut takeover_agreed = Deflate::default();
    takeover_agreed.client_max_window_bits = 10;
    let cases = [
        (
            "defaults",
            Config::default(),
            defaults_agreed,
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        ),
        (
            "takeover, client window 10 bits",
            takeover,
            takeover_agreed,
            "permessage-deflate; client_max_window_bits=10",
        ),
    ];
    for (name, config, agreed, answer) in cases {
        let (url, server) = tokio_server(config).await;
        let (lines, ok, stderr) = run_client(&python, "echo_client.py", vec![url]).await;
        let served = server.await.unwrap();
        eprintln!("tokio server, {name}: agreed {:?}", served.deflate);
        assert!(ok, "{name}: the Python client failed: {lines:?}\n{stderr}");
        assert_eq!(
            lines
                .iter()
                .find(|l| l.starts_with("OFFER "))
                .map(String::as_str),
            Some("OFFER permessage-deflate; client_max_window_bits"),
            "{name}: websockets' offer"
        );
        assert_eq!(
            lines.iter().find(|l| l.starts_with("ANSWER ")),
            Some(&format!("ANSWER {answer}")),
            "{name}: our answer, as websockets saw it"
        );
        let count = 2 * messages().len();
        assert!(
            lines.contains(&format!("OK {count} messages")),
            "{name}: {lines:?}"
        );
        assert_eq!(served.deflate, Some(agreed), "{name}");
        assert_eq!(served.echoed, count, "{name}");
        assert!(
            served.end.is_ok(),
            "{name}: a clean close, not {:?}",
            served.end
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_compression_bomb_is_closed_with_1009() {
    let Some(python) = python() else { return };
    let mut config = Config::default();
    config.max_message_size = BOMB_LIMIT;
    let (url, server) = tokio_server(config).await;
    let (lines, ok, stderr) =
        run_client(&python, "bomb_client.py", vec![url, BOMB_SIZE.to_string()]).await;
    let served = server.await.unwrap();
    assert!(
        served.deflate.is_some(),
        "compression was agreed: {lines:?}"
    );
    assert_eq!(served.echoed, 0);
    match &served.end {
        Err(wstokio::Error::Protocol(e @ ProtocolError::MessageTooLarge { max, .. })) => {
            assert_eq!(*max, BOMB_LIMIT);
            assert_eq!(e.close_code(), CloseCode::MESSAGE_TOO_BIG);
        }
        other => panic!("our server ends with 1009, not {other:?}"),
    }
    assert!(
        lines.iter().any(|l| l.starts_with("CLOSED 1009")),
        "websockets sees 1009: {lines:?}\n{stderr}"
    );
    assert!(ok, "the bomb client exits 0: {lines:?}\n{stderr}");
}
