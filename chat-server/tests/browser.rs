//! The chat page in real headless Chromium, driven over the Chrome DevTools
//! Protocol (JSON over a WebSocket) with our own Tokio client.
//!
//! Without Chromium the test prints that it was skipped and passes, so that
//! `cargo test --workspace` needs nothing installed; with
//! `CHAT_BROWSER_TEST=required` (what `.ci/browser.sh` sets) a missing
//! Chromium fails it. `CHROMIUM=/path/to/chromium` picks the browser.
//! It leaves a screenshot of the page in /tmp/chat-page.png, and of the
//! page over https in /tmp/chat-page-tls.png.
//!
//! Two tests run the same chat: over plain http/ws, and over https/wss
//! with the server started with `--tls-cert` and `--tls-key` (on the std
//! runtime, which speaks HTTP/1.1 only). A third shows that on the Tokio
//! runtime Chromium loads the page and runs its WebSocket over HTTP/2.

#![cfg(unix)]

mod common;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use common::{client_tls, next_message, tokio_client, tokio_tls_client, Server, TIMEOUT};
use rusty_socket_test_support::tls::TestPki;
use rusty_socket_tokio::{CloseCode, MaybeTlsStream, Message, WebSocket};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

const SCREENSHOT: &str = "/tmp/chat-page.png";
/// The same page served over https.
const SCREENSHOT_TLS: &str = "/tmp/chat-page-tls.png";
/// The same page served over HTTP/2.
const SCREENSHOT_H2: &str = "/tmp/chat-page-h2.png";
/// Chromium's first start (profile creation) can be slow on a busy machine.
const BROWSER_START: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_chats_with_library_clients_in_headless_chromium() {
    let Some(chromium) = chromium() else { return };
    let server = Server::start(&[]);
    let rust = tokio_client(&server.url(), None).await.expect("connect");
    let page_url = format!("http://{}/", server.addr);
    let browser = Browser::launch(&chromium, &page_url, &[]);
    let cdp = Cdp::attach(&browser.devtools_url, &page_url).await;
    chat_in_the_page(server, cdp, rust, SCREENSHOT).await;
}

/// The same over https and wss (`--tls-cert`, `--tls-key`), with a
/// certificate from a test CA (see [`trust_test_certificate`]), on the std
/// runtime: HTTP/1.1 over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_chats_over_https_and_wss_in_headless_chromium() {
    let Some(chromium) = chromium() else { return };
    let pki = TestPki::new();
    let server = Server::start_tls(&pki, &["--runtime", "std"]);
    let rust = tokio_tls_client(&server.url(), None, &client_tls(&pki))
        .await
        .expect("connect over wss://");
    let page_url = format!("https://{}/", server.addr);
    let browser = Browser::launch(&chromium, &page_url, &[trust_test_certificate(&pki)]);
    let cdp = Cdp::attach(&browser.devtools_url, &page_url).await;
    chat_in_the_page(server, cdp, rust, SCREENSHOT_TLS).await;
}

/// Over https the Tokio runtime offers HTTP/2, and Chromium takes it: the
/// page comes over h2, and so does its WebSocket (RFC 8441), on the same
/// TLS connection. The server counts the WebSocket as an HTTP/2 one, and
/// DevTools reports the handshake's status as `200` (HTTP/2's answer to
/// an extended CONNECT), not `101`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_websocket_go_over_http2_in_headless_chromium() {
    let Some(chromium) = chromium() else { return };
    let pki = TestPki::new();
    let server = Server::start_tls(&pki, &["--runtime", "tokio"]);
    let page_url = format!("https://{}/", server.addr);
    let browser = Browser::launch(&chromium, &page_url, &[trust_test_certificate(&pki)]);
    let mut cdp = Cdp::attach(&browser.devtools_url, &page_url).await;
    cdp.wait_for(
        "the page connects",
        "document.getElementById('status').dataset.state",
        |v| v == "open",
    )
    .await;
    let page_protocol = cdp
        .evaluate("performance.getEntriesByType('navigation')[0].nextHopProtocol")
        .await;
    assert_eq!(page_protocol, json!("h2"), "the page came over HTTP/2");
    let stats = tokio::task::block_in_place(|| server.stats());
    assert_eq!(stats["joined_h2"], 1, "the page's WebSocket: {stats}");
    assert_eq!(stats["joined_http1"], 0, "{stats}");
    assert!(server.wait_for_log(&["connected", "http=HTTP/2.0"]));

    // A second WebSocket, opened while DevTools watches the network.
    cdp.call("Network.enable", json!({})).await;
    let open = format!(
        "window.probe = new WebSocket({}); 'opening'",
        json!(server.url())
    );
    cdp.evaluate(&open).await;
    let handshake = cdp
        .next_event("Network.webSocketHandshakeResponseReceived")
        .await;
    let response = &handshake["response"];
    assert_eq!(response["status"], 200, "{response}");
    let extensions = response["headers"]
        .as_object()
        .and_then(|headers| {
            headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-extensions"))
        })
        .map(|(_, value)| value.clone());
    let extensions = extensions.unwrap_or_default();
    assert!(
        extensions
            .as_str()
            .is_some_and(|e| e.starts_with("permessage-deflate")),
        "negotiated extensions: {response}"
    );
    tokio::task::block_in_place(|| server.wait_for_clients(2));
    let stats = tokio::task::block_in_place(|| server.stats());
    assert_eq!(stats["joined_h2"], 2, "{stats}");
    cdp.evaluate("window.probe.close(1000); 'closing'").await;
    tokio::task::block_in_place(|| server.wait_for_clients(1));

    // The same chat as over HTTP/1.1, with a library client over wss://.
    let rust = tokio_tls_client(&server.url(), None, &client_tls(&pki))
        .await
        .expect("connect over wss://");
    chat_in_the_page(server, cdp, rust, SCREENSHOT_H2).await;
}

/// The flag that makes Chromium accept the test certificate, and only it:
/// pinned by the hash of its public key (SPKI pinning), so that any other
/// certificate error would still stop the page.
fn trust_test_certificate(pki: &TestPki) -> String {
    format!(
        "--ignore-certificate-errors-spki-list={}",
        spki_sha256(&pki.localhost.key_pem)
    )
}

/// Chromium, or `None` if it is missing and not required (the test then
/// passes, saying it was skipped).
fn chromium() -> Option<PathBuf> {
    let required = std::env::var("CHAT_BROWSER_TEST").is_ok_and(|v| v == "required");
    let chromium = find_chromium();
    if chromium.is_none() {
        assert!(
            !required,
            "CHAT_BROWSER_TEST=required but Chromium is not installed (run .ci/browser.sh, \
             or set CHROMIUM=/path/to/chromium)"
        );
        eprintln!(
            "SKIPPED: browser test: Chromium not found (install it with .ci/browser.sh; \
             CHAT_BROWSER_TEST=required makes this a failure)"
        );
    }
    chromium
}

/// The base64 SHA-256 of the SubjectPublicKeyInfo of `key_pem`'s public
/// key: what `--ignore-certificate-errors-spki-list` takes.
fn spki_sha256(key_pem: &str) -> String {
    let key = rcgen::KeyPair::from_pem(key_pem).expect("a PEM key");
    let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
    let digest = ring::digest::digest(&ring::digest::SHA256, &spki);
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// The page that `cdp` is attached to chats with the library client `rust`
/// through `server`; then the server shuts down.
async fn chat_in_the_page<S>(
    mut server: Server,
    mut cdp: Cdp,
    mut rust: WebSocket<S>,
    screenshot_path: &str,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // The page connects by itself.
    cdp.wait_for(
        "the page connects",
        "document.getElementById('status').dataset.state",
        |v| v == "open",
    )
    .await;
    // Chromium offers compression and the server accepts it.
    let extensions = cdp
        .evaluate("document.getElementById('status').dataset.extensions")
        .await;
    let extensions = extensions.as_str().unwrap_or_default().to_owned();
    assert!(
        extensions.starts_with("permessage-deflate"),
        "Chromium negotiated {extensions:?}"
    );
    eprintln!("Chromium negotiated: {extensions}");
    // Over TLS the page connects with wss://, as it must from an https page.
    let connected_to = cdp
        .evaluate("document.getElementById('status').dataset.url")
        .await;
    assert_eq!(connected_to, json!(server.url()));
    assert!(rust.deflate().is_some(), "the library client too");
    tokio::task::block_in_place(|| server.wait_for_clients(2));

    // A person types a message and clicks Send; a library client gets it.
    let typed = "hello from Chromium \u{2713}";
    let typing = format!(
        "(() => {{ const input = document.getElementById('input'); input.value = {}; \
         document.getElementById('send').click(); return input.value; }})()",
        json!(typed)
    );
    assert_eq!(
        cdp.evaluate(&typing).await,
        json!(""),
        "the input is cleared"
    );
    assert_eq!(next_message(&mut rust).await, Message::text(typed));

    // A library client speaks; the page shows it.
    let said = "hello from Rust <b>not bold</b>";
    rust.send(Message::text(said)).await.expect("send");
    let list = "Array.from(document.querySelectorAll('#messages li:not(.system)'), \
                li => [li.className, li.firstChild.textContent])";
    let shown = cdp
        .wait_for("the page shows both messages", list, |v| {
            v.as_array().is_some_and(|items| items.len() == 2)
        })
        .await;
    assert_eq!(shown, json!([["mine", typed], ["", said]]));
    // Long messages go compressed both ways.
    let long = "the quick brown fox jumps over the lazy dog; ".repeat(100);
    let typing_long = format!(
        "(() => {{ const input = document.getElementById('input'); input.value = {}; \
         document.getElementById('send').click(); return input.value; }})()",
        json!(long)
    );
    assert_eq!(cdp.evaluate(&typing_long).await, json!(""));
    // The library client's own line comes back first (the chat broadcasts
    // to everyone), then the page's.
    assert_eq!(next_message(&mut rust).await, Message::text(said));
    assert_eq!(next_message(&mut rust).await, Message::text(long.as_str()));
    let shown_long = cdp
        .wait_for("the page shows the long message", list, |v| {
            v.as_array().is_some_and(|items| items.len() == 3)
        })
        .await;
    assert_eq!(shown_long[2], json!(["mine", long]));
    // Text, not markup.
    let bold = cdp
        .evaluate("document.querySelectorAll('#messages b').length")
        .await;
    assert_eq!(bold, json!(0));

    let screenshot = cdp
        .call("Page.captureScreenshot", json!({ "format": "png" }))
        .await;
    let png = base64::engine::general_purpose::STANDARD
        .decode(screenshot["data"].as_str().expect("image data"))
        .expect("base64");
    std::fs::write(screenshot_path, &png).expect("write the screenshot");
    eprintln!(
        "screenshot of the page: {screenshot_path} ({} bytes)",
        png.len()
    );

    // The server goes away: the page says so and offers to reconnect.
    rust.close(CloseCode::NORMAL, "").await.expect("close");
    // Finish the closing handshake.
    while let Ok(Some(_)) = rust.recv().await {}
    let status = tokio::task::block_in_place(|| server.terminate());
    assert!(status.success());
    let closed = cdp
        .wait_for(
            "the page notices the shutdown",
            "[document.getElementById('status').textContent, \
              document.getElementById('reconnect').disabled]",
            |v| v[0].as_str().is_some_and(|s| s.contains("1001")),
        )
        .await;
    assert_eq!(
        closed,
        json!(["closed (1001: server shutting down)", false])
    );
    cdp.close().await;
}

/// The browser to use: `$CHROMIUM`, or the usual names on `PATH`.
fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// A headless Chromium showing the page; killed (with its helpers) on drop.
struct Browser {
    child: Child,
    profile: PathBuf,
    devtools_url: String,
}

impl Browser {
    /// Starts Chromium on `url`, with `extra` flags.
    fn launch(chromium: &Path, url: &str, extra: &[String]) -> Browser {
        // One profile per browser: the two tests may run at once.
        static LAUNCHED: AtomicUsize = AtomicUsize::new(0);
        let profile = std::env::temp_dir().join(format!(
            "chat-browser-test-{}-{}",
            std::process::id(),
            LAUNCHED.fetch_add(1, Ordering::Relaxed)
        ));
        let mut child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--window-size=900,640",
            ])
            .args(extra)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("--remote-debugging-port=0")
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group, so that its helper processes go with it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium.display()));
        let stderr = child.stderr.take().expect("piped stderr");
        let (found, devtools) = mpsc::channel();
        thread::spawn(move || {
            // Keep draining: Chromium is chatty on stderr.
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = found.send(url.trim().to_owned());
                }
            }
        });
        let mut browser = Browser {
            child,
            profile,
            devtools_url: String::new(),
        };
        browser.devtools_url = devtools
            .recv_timeout(BROWSER_START)
            .expect("Chromium prints its DevTools URL");
        browser
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A DevTools session with the page, over one of our WebSockets.
struct Cdp {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    /// Events that arrived while waiting for a reply, oldest first.
    events: VecDeque<Value>,
}

impl Cdp {
    /// Connects to the browser and attaches to the tab showing `page_url`.
    async fn attach(devtools_url: &str, page_url: &str) -> Cdp {
        let (ws, _) = rusty_socket_tokio::connect(devtools_url)
            .await
            .expect("connect to DevTools");
        let mut cdp = Cdp {
            ws,
            session: String::new(),
            next_id: 0,
            events: VecDeque::new(),
        };
        let deadline = Instant::now() + TIMEOUT;
        let target = loop {
            let targets = cdp.call("Target.getTargets", json!({})).await;
            let page = targets["targetInfos"].as_array().and_then(|infos| {
                infos
                    .iter()
                    .find(|t| t["type"] == "page" && t["url"] == page_url)
                    .map(|t| t["targetId"].clone())
            });
            if let Some(id) = page {
                break id;
            }
            assert!(
                Instant::now() < deadline,
                "no tab shows {page_url}: {targets}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let attached = cdp
            .call(
                "Target.attachToTarget",
                json!({ "targetId": target, "flatten": true }),
            )
            .await;
        cdp.session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        cdp
    }

    /// Sends a command (to the page once attached) and returns its result.
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut command = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            command["sessionId"] = json!(self.session);
        }
        self.ws
            .send(Message::text(command.to_string()))
            .await
            .expect("send to DevTools");
        loop {
            let Message::Text(text) = next_message(&mut self.ws).await else {
                continue;
            };
            let reply: Value = serde_json::from_str(&text).expect("DevTools speaks JSON");
            // Events are kept for `next_event`; other replies go by.
            if reply["id"] != id {
                if reply["method"].is_string() {
                    self.events.push_back(reply);
                }
                continue;
            }
            assert!(
                reply["error"].is_null(),
                "{method} failed: {}",
                reply["error"]
            );
            return reply["result"].clone();
        }
    }

    /// The parameters of the next event called `method` (bounded); the
    /// events before it are dropped.
    async fn next_event(&mut self, method: &str) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            while let Some(event) = self.events.pop_front() {
                if event["method"] == method {
                    return event["params"].clone();
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let message = tokio::time::timeout(left, next_message(&mut self.ws))
                .await
                .unwrap_or_else(|_| panic!("no {method} event"));
            if let Message::Text(text) = message {
                let event: Value = serde_json::from_str(&text).expect("DevTools speaks JSON");
                if event["method"].is_string() {
                    self.events.push_back(event);
                }
            }
        }
    }

    /// Evaluates a JavaScript expression in the page: its value as JSON,
    /// or what it threw.
    async fn try_evaluate(&mut self, expression: &str) -> Result<Value, Value> {
        let params = json!({ "expression": expression, "returnByValue": true });
        let result = self.call("Runtime.evaluate", params).await;
        match &result["exceptionDetails"] {
            Value::Null => Ok(result["result"]["value"].clone()),
            thrown => Err(thrown.clone()),
        }
    }

    /// Evaluates a JavaScript expression in the page; its value as JSON.
    async fn evaluate(&mut self, expression: &str) -> Value {
        match self.try_evaluate(expression).await {
            Ok(value) => value,
            Err(thrown) => panic!("{expression} threw: {thrown}"),
        }
    }

    /// Evaluates `expression` until `done` accepts its value (bounded). It
    /// may throw meanwhile: the page may still be loading.
    async fn wait_for(
        &mut self,
        what: &str,
        expression: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let value = self.try_evaluate(expression).await;
            if let Ok(value) = &value {
                if done(value) {
                    return value.clone();
                }
            }
            assert!(
                Instant::now() < deadline,
                "waiting for {what}: last {value:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Asks the browser to quit.
    async fn close(mut self) {
        self.session.clear();
        let command = json!({ "id": 0, "method": "Browser.close" });
        let _ = self.ws.send(Message::text(command.to_string())).await;
    }
}
