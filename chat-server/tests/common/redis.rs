//! A real `redis-server` for a test: on a free loopback port, without
//! persistence, killed when dropped. Tests skip (with a message saying
//! why) where the binary is not installed, unless `CHAT_REDIS_TEST=required`;
//! `.ci/run` installs it and requires them.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{wait_until, TIMEOUT};

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
}

impl RedisServer {
    /// Starts one, or returns `None` when `redis-server` is not installed.
    pub fn start() -> Option<RedisServer> {
        let port = free_port();
        RedisServer::start_on(port)
    }

    /// Starts one on `port` (a port a node was told about before Redis
    /// was up), or `None` when `redis-server` is not installed.
    pub fn start_on(port: u16) -> Option<RedisServer> {
        if !RedisServer::installed() {
            return None;
        }
        let mut redis = RedisServer { child: None, port };
        redis.restart();
        Some(redis)
    }

    /// Whether `redis-server` can run here; says why the test is skipped
    /// if not.
    pub fn installed() -> bool {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !installed {
            assert!(
                std::env::var("CHAT_REDIS_TEST").as_deref() != Ok("required"),
                "CHAT_REDIS_TEST=required and redis-server is not installed"
            );
            eprintln!(
                "SKIPPED: redis-server is not installed (apt-get install -y redis-server; \
                 .ci/run installs it)"
            );
        }
        installed
    }

    /// A free port for a Redis that is not started yet.
    pub fn reserve_port() -> u16 {
        free_port()
    }

    pub fn url(&self) -> String {
        url(self.port)
    }

    /// Kills it (SIGKILL: as a crash would).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, and waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        assert!(
            wait_until(|| ping(self.port)),
            "redis-server on port {} does not answer PING",
            self.port
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}/")
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(TIMEOUT.min(Duration::from_secs(1))));
    let mut answer = [0; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG\r\n"
}
