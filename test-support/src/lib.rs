//! What the end-to-end suites share to run real binaries: a server process
//! whose log is collected and whose "listening on ADDR" line gives its
//! address, bounded waits for processes and conditions, and a build of
//! another package's binary into the test's own target directory.
//!
//! Every wait here has a bound; nothing connects anywhere.
//!
//! [`tls`] makes the test certificates every wss:// test uses.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub mod tls;

/// The most log kept per server; the rest is dropped, not buffered.
const MAX_LOG: usize = 1 << 20;

/// A running server process started with its log (stderr) collected;
/// killed when dropped, its log printed if the test is failing.
pub struct ServerProcess {
    child: Child,
    name: String,
    /// Where it listens, from its "listening on ADDR" log line.
    pub addr: SocketAddr,
    logs: Arc<Mutex<String>>,
}

impl ServerProcess {
    /// Starts `command` (stdin and stdout null, stderr collected) and waits
    /// at most `timeout` for its "listening on ADDR" (or `ws://ADDR`) line.
    /// `name` names it in messages. Panics, with its log, if it does not
    /// announce a loopback address in time.
    pub fn spawn(name: &str, mut command: Command, timeout: Duration) -> ServerProcess {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let stderr = child.stderr.take().expect("piped stderr");
        let logs = Arc::new(Mutex::new(String::new()));
        let (found, listening) = mpsc::channel();
        {
            let logs = Arc::clone(&logs);
            // Keeps draining, so that a chatty server never blocks on a
            // full pipe.
            thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(addr) = listening_addr(&line) {
                        let _ = found.send(addr);
                    }
                    let mut logs = logs.lock().unwrap_or_else(|e| e.into_inner());
                    if logs.len() < MAX_LOG {
                        logs.push_str(&line);
                        logs.push('\n');
                    }
                }
            });
        }
        let mut server = ServerProcess {
            child,
            name: name.to_string(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            logs,
        };
        match listening.recv_timeout(timeout) {
            Ok(addr) => server.addr = addr,
            Err(_) => panic!("{name} did not announce its address"),
        }
        assert!(
            server.addr.ip().is_loopback(),
            "{name} listens on {}",
            server.addr
        );
        server
    }

    /// The name given at `spawn`, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Renames it (a runtime chosen by a flag, say), for messages.
    pub fn rename(&mut self, name: String) {
        self.name = name;
    }

    /// The log so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits at most `timeout` until the log has a line containing every
    /// one of `needles`.
    pub fn wait_for_log(&self, needles: &[&str], timeout: Duration) -> bool {
        wait_until(timeout, || {
            self.logs()
                .lines()
                .any(|line| needles.iter().all(|n| line.contains(n)))
        })
    }

    /// The process id, to signal it or read `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM (with `kill`, to need no libc) and returns at once.
    pub fn signal_term(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {} failed", self.name);
    }

    /// Waits for the process to exit, at most `timeout` (it keeps running
    /// if it does not).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("--- {} log ---\n{}", self.name, self.logs());
        }
    }
}

/// The address in a "listening on ADDR" or "listening on ws://ADDR" line.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let rest = rest.strip_prefix("ws://").unwrap_or(rest);
    rest.split_whitespace().next()?.parse().ok()
}

/// Polls `condition` every 10 ms for at most `timeout`.
pub fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for `child` to exit, at most `timeout`; kills it if it does not.
pub fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The profile directory (`TARGET/debug`, `TARGET/release`...) of the
/// running test binary, which runs as `PROFILE_DIR/deps/NAME-HASH`.
pub fn profile_dir() -> PathBuf {
    let me = std::env::current_exe().expect("the test's own path");
    let deps = me.parent().expect("the test is in a deps directory");
    deps.parent()
        .expect("deps is in a profile directory")
        .to_path_buf()
}

/// `cargo build --quiet ARGS` with the same cargo, profile and target
/// directory as the running test, bounded by `timeout`, and the path of
/// `artifact` in that profile directory (`chat-server`,
/// `examples/echo_server`; the platform's executable suffix is added).
///
/// A binary of another package has no `CARGO_BIN_EXE_` variable, hence the
/// nested build; cargo holds no lock while tests run, and when the binary
/// is already built it only checks that it is fresh.
pub fn cargo_build(args: &[&str], artifact: &str, timeout: Duration) -> PathBuf {
    let profile_dir = profile_dir();
    let target_dir = profile_dir
        .parent()
        .expect("the profile directory is in a target directory");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet"])
        .args(args)
        .env("CARGO_TARGET_DIR", target_dir)
        .stdin(Stdio::null());
    // The profile directory is named after the profile, except `dev`'s.
    match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") | None => {}
        Some(profile) => {
            build.args(["--profile", profile]);
        }
    }
    let command = args.join(" ");
    let mut child = build.spawn().expect("run cargo build");
    let status = wait_child(&mut child, timeout)
        .unwrap_or_else(|| panic!("`cargo build {command}` did not finish within {timeout:?}"));
    assert!(status.success(), "`cargo build {command}` failed: {status}");
    let exe = format!("{artifact}{}", std::env::consts::EXE_SUFFIX);
    Path::new(&profile_dir).join(exe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_address_in_both_forms() {
        let addr: SocketAddr = "127.0.0.1:4321".parse().unwrap();
        assert_eq!(
            listening_addr("INFO listening on 127.0.0.1:4321 (tokio)"),
            Some(addr)
        );
        assert_eq!(
            listening_addr("echo_server listening on ws://127.0.0.1:4321"),
            Some(addr)
        );
        assert_eq!(listening_addr("listening soon"), None);
    }

    #[test]
    fn waits_are_bounded() {
        let start = Instant::now();
        assert!(!wait_until(Duration::from_millis(50), || false));
        assert!(start.elapsed() < Duration::from_secs(5));
        let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
        assert_eq!(wait_child(&mut sleeper, Duration::from_millis(50)), None);
        assert!(
            matches!(sleeper.try_wait(), Ok(Some(_))),
            "killed on timeout"
        );
    }
}
