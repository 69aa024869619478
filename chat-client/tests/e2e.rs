//! End to end: the real `chat-client` binary against the real `chat-server`
//! (and a few tiny misbehaving servers), in a pseudo-terminal and on pipes,
//! for both runtimes.
//!
//! Transcripts are compared line for line in the "teletype" view (see
//! `support::teletype`: escape sequences and carriage returns dropped);
//! what the user sees on the screen is checked with a terminal emulator
//! where it differs (the half-typed line).

#![cfg(unix)]

mod support;

use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use rusty_socket_std::{accept, Message};
use rusty_socket_test_support::tls::TestPki;
use support::{forbidden_server, free_addr, output_lines, run_piped, ChatServer, PtyClient, WAIT};

/// The transcript of the issue, for client 1.
const TRANSCRIPT: &[&str] = &[
    "---<Command Line Chat Initialized!>---",
    "> help",
    "Usage:",
    "connect: Connect to the server",
    "__disconnect: Disconnect from the server",
    "exit: Exit the program",
    "help: Prints usage guide",
    "> connect",
    "Connected successfully.",
    "msg> Hello from client 1",
    "rcv=> Hello from client 1",
    "msg> rcv=> Hello from client 2",
    "msg> __disconnect",
    "Disconnected successfully!",
    "> exit",
    "Exiting Program!",
];

/// Client 1 in a terminal, client 2 from a script, one chat server.
fn transcript(runtime: &str) {
    transcript_with(&ChatServer::start(runtime), runtime, &[]);
}

/// The transcript against `server`, clients on `runtime` with `extra` flags.
fn transcript_with(server: &ChatServer, runtime: &str, extra: &[&str]) {
    let url = server.url();
    let args = [&["--url", url.as_str(), "--runtime", runtime][..], extra].concat();
    let mut client1 = PtyClient::spawn(&args);
    client1.expect("---<Command Line Chat Initialized!>---");
    client1.expect("> ");
    client1.type_line("help");
    client1.expect("help: Prints usage guide");
    client1.expect("> ");
    client1.type_line("connect");
    client1.expect("Connected successfully.");
    client1.expect("msg> ");
    client1.type_line("Hello from client 1");
    client1.expect("rcv=> Hello from client 1");
    client1.expect("msg> ");

    // Client 2 speaks while client 1 sits at its prompt.
    let client2 = run_piped(&args, "connect\nHello from client 2\nexit\n");
    assert_eq!(
        output_lines(&client2.stdout),
        [
            "---<Command Line Chat Initialized!>---",
            "Connected successfully.",
            "rcv=> Hello from client 2",
            "Exiting Program!",
        ]
    );
    assert_eq!(output_lines(&client2.stderr), Vec::<String>::new());
    assert!(client2.status.success());

    client1.expect("rcv=> Hello from client 2");
    client1.expect("msg> ");
    client1.type_line("__disconnect");
    client1.expect("Disconnected successfully!");
    client1.expect("> ");
    client1.type_line("exit");
    client1.expect("Exiting Program!");
    client1.expect_exit();
    assert_eq!(client1.lines(), TRANSCRIPT);
}

#[test]
fn transcript_tokio() {
    transcript("tokio");
}

#[test]
fn transcript_std() {
    transcript("std");
}

/// The transcript over wss://: the clients trust the test CA with --ca.
/// Each client runtime against the other server runtime.
fn transcript_over_wss(client_runtime: &str, server_runtime: &str) {
    let pki = TestPki::new();
    let server = ChatServer::start_tls(server_runtime, &pki.localhost);
    assert!(server.url().starts_with("wss://"));
    let ca = pki.ca_path.to_str().expect("UTF-8 path");
    transcript_with(&server, client_runtime, &["--ca", ca]);
}

#[test]
fn transcript_over_wss_tokio() {
    transcript_over_wss("tokio", "std");
}

#[test]
fn transcript_over_wss_std() {
    transcript_over_wss("std", "tokio");
}

/// A message printed while the user is typing leaves the typed text on the
/// prompt line, and the line is then sent whole.
fn half_typed_line(runtime: &str) {
    let server = ChatServer::start(runtime);
    let url = server.url();
    let args = ["--url", url.as_str(), "--runtime", runtime];
    let mut client1 = PtyClient::spawn(&args);
    client1.expect("> ");
    client1.type_line("connect");
    client1.expect("msg> ");
    client1.type_keys("half-ty");
    client1.expect("half-ty");

    let client2 = run_piped(&args, "connect\nHello from client 2\nexit\n");
    assert!(client2.status.success());
    client1.expect("rcv=> Hello from client 2");
    client1.expect("msg> half-ty");
    assert_eq!(
        client1.screen(),
        [
            "---<Command Line Chat Initialized!>---",
            "> connect",
            "Connected successfully.",
            "rcv=> Hello from client 2",
            "msg> half-ty",
        ]
    );
    client1.type_line("ped");
    client1.expect("rcv=> half-typed");
    client1.expect("msg> ");
    client1.type_line("exit");
    client1.expect("Exiting Program!");
    client1.expect_exit();
    assert_eq!(
        client1.screen()[3..],
        [
            "rcv=> Hello from client 2",
            "msg> half-typed",
            "rcv=> half-typed",
            "msg> exit",
            "Exiting Program!",
        ]
    );
}

#[test]
fn a_message_does_not_destroy_the_half_typed_line_tokio() {
    half_typed_line("tokio");
}

#[test]
fn a_message_does_not_destroy_the_half_typed_line_std() {
    half_typed_line("std");
}

/// Every error is one line, and the `> ` prompt comes back: an unknown
/// command, an unreachable server, a refused handshake, and the server
/// going away (reported at once, without the user pressing a key).
fn error_lines(runtime: &str) {
    let unreachable = format!("ws://{}", free_addr());
    let forbidden = format!("ws://{}", forbidden_server());
    let mut server = ChatServer::start(runtime);
    let url = server.url();
    let mut client = PtyClient::spawn(&["--url", url.as_str(), "--runtime", runtime]);
    client.expect("> ");
    client.type_line("bogus");
    client.expect("(type help for the commands)");
    client.expect("> ");
    client.type_line(&format!("connect {unreachable}"));
    client.expect("(os error 111)");
    client.expect("> ");
    client.type_line(&format!("connect {forbidden}"));
    client.expect("403 Forbidden");
    client.expect("> ");
    client.type_line("connect");
    client.expect("msg> ");
    server.terminate();
    client.expect("(server shutting down)");
    client.expect("> ");
    client.type_line("exit");
    client.expect("Exiting Program!");
    client.expect_exit();
    assert_eq!(
        client.lines(),
        [
            "---<Command Line Chat Initialized!>---".to_owned(),
            "> bogus".to_owned(),
            "Error: unknown command \"bogus\" (type help for the commands)".to_owned(),
            format!("> connect {unreachable}"),
            format!(
                "Error: cannot reach the server at {unreachable}: \
                 Connection refused (os error 111)"
            ),
            format!("> connect {forbidden}"),
            format!(
                "Error: the server at {forbidden} refused the WebSocket handshake \
                 with HTTP status 403 Forbidden"
            ),
            "> connect".to_owned(),
            "Connected successfully.".to_owned(),
            "msg> ".to_owned(),
            "Error: the server closed the connection with code 1001 (server shutting down)"
                .to_owned(),
            "> exit".to_owned(),
            "Exiting Program!".to_owned(),
        ]
    );
}

#[test]
fn error_lines_tokio() {
    error_lines("tokio");
}

#[test]
fn error_lines_std() {
    error_lines("std");
}

/// A certificate the client does not accept is one error line, and the
/// `> ` prompt comes back: a server whose CA the client was not given, a
/// certificate for another name, an expired one. The good server is then
/// reached on the same prompt.
fn certificate_error_lines(runtime: &str) {
    let pki = TestPki::new();
    let good = ChatServer::start_tls("tokio", &pki.localhost);
    let stranger = ChatServer::start_tls("std", &pki.untrusted);
    let other_name = ChatServer::start_tls("tokio", &pki.other_name);
    let expired = ChatServer::start_tls("std", &pki.expired);
    let unknown = |url: &str| {
        format!(
            "Error: the certificate of {url} is signed by an unknown authority \
             (trust it with --ca FILE)"
        )
    };

    // Without --ca, the test CA is nobody's.
    let mut client = PtyClient::spawn(&["--runtime", runtime]);
    client.expect("> ");
    client.type_line(&format!("connect {}", good.url()));
    client.expect("(trust it with --ca FILE)");
    client.expect("> ");
    client.type_line("exit");
    client.expect_exit();
    assert_eq!(
        client.lines(),
        [
            "---<Command Line Chat Initialized!>---".to_owned(),
            format!("> connect {}", good.url()),
            unknown(&good.url()),
            "> exit".to_owned(),
            "Exiting Program!".to_owned(),
        ]
    );

    let ca = pki.ca_path.to_str().expect("UTF-8 path");
    let mut client = PtyClient::spawn(&["--runtime", runtime, "--ca", ca]);
    client.expect("> ");
    let mut expected = vec!["---<Command Line Chat Initialized!>---".to_owned()];
    for (server, error) in [
        (&stranger, unknown(&stranger.url())),
        (
            &other_name,
            format!(
                "Error: the certificate of {} is not valid for the name \"127.0.0.1\"",
                other_name.url()
            ),
        ),
        (
            &expired,
            format!(
                "Error: the certificate of {} has expired (or is not valid yet)",
                expired.url()
            ),
        ),
    ] {
        client.type_line(&format!("connect {}", server.url()));
        client.expect(&error);
        client.expect("> ");
        expected.push(format!("> connect {}", server.url()));
        expected.push(error);
    }
    client.type_line(&format!("connect {}", good.url()));
    client.expect("Connected successfully.");
    client.expect("msg> ");
    client.type_line("exit");
    client.expect_exit();
    expected.extend([
        format!("> connect {}", good.url()),
        "Connected successfully.".to_owned(),
        "msg> exit".to_owned(),
        "Exiting Program!".to_owned(),
    ]);
    assert_eq!(client.lines(), expected);
}

#[test]
fn certificate_errors_are_one_line_tokio() {
    certificate_error_lines("tokio");
}

#[test]
fn certificate_errors_are_one_line_std() {
    certificate_error_lines("std");
}

/// A `--ca` file that cannot be used stops the client at start, with a
/// usage error naming the file.
#[test]
fn an_unusable_ca_file_is_a_usage_error() {
    let missing = "/nonexistent/rusty-socket-ca.pem";
    let output = run_piped(&["--ca", missing], "");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with(&format!("error: --ca {missing}: ")),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing runs: {output:?}");
}

/// A server that echoes text and reports the close code it received.
fn recording_server() -> (String, mpsc::Receiver<Option<u16>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("ws://{}", listener.local_addr().expect("address"));
    let (report, close_codes) = mpsc::channel();
    thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        let mut ws = accept(stream).expect("handshake");
        loop {
            match ws.recv() {
                Ok(Some(message @ Message::Text(_))) => ws.send(message).expect("echo"),
                Ok(Some(Message::Close(frame))) => {
                    let _ = report.send(frame.map(|frame| frame.code.0));
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return,
            }
        }
    });
    (url, close_codes)
}

/// In a script, the client prints the echo of each line, and `exit` (or
/// the end of its input) completes the closing handshake with 1000 before
/// it exits.
fn script(runtime: &str, input: &str) {
    let (url, close_codes) = recording_server();
    let output = run_piped(&["--url", url.as_str(), "--runtime", runtime], input);
    assert_eq!(
        output_lines(&output.stdout),
        [
            "---<Command Line Chat Initialized!>---",
            "Connected successfully.",
            "rcv=> hi",
            "Exiting Program!",
        ]
    );
    assert_eq!(output_lines(&output.stderr), Vec::<String>::new());
    assert!(output.status.success());
    assert_eq!(close_codes.recv_timeout(WAIT), Ok(Some(1000)));
}

#[test]
fn script_exit_closes_with_1000_tokio() {
    script("tokio", "connect\nhi\nexit\n");
}

#[test]
fn script_end_of_input_closes_with_1000_std() {
    script("std", "connect\nhi\n");
}

/// In a script, errors go to stderr, one line each, and the script goes on.
#[test]
fn script_errors_go_to_stderr() {
    let unreachable = format!("ws://{}", free_addr());
    let output = run_piped(
        &["--url", unreachable.as_str(), "--runtime", "std"],
        "frobnicate\nconnect\nconnect http://example.com\n__disconnect\nhelp\n",
    );
    assert_eq!(
        output_lines(&output.stderr),
        [
            "Error: unknown command \"frobnicate\" (type help for the commands)".to_owned(),
            format!(
                "Error: cannot reach the server at {unreachable}: \
                 Connection refused (os error 111)"
            ),
            "Error: cannot connect to \"http://example.com\": \
             unsupported URL scheme \"http\", expected ws or wss"
                .to_owned(),
            "Error: not connected (type connect first)".to_owned(),
        ]
    );
    let stdout = output_lines(&output.stdout);
    assert_eq!(
        stdout.first().map(String::as_str),
        Some("---<Command Line Chat Initialized!>---")
    );
    assert_eq!(stdout.get(1).map(String::as_str), Some("Usage:"));
    assert_eq!(stdout.last().map(String::as_str), Some("Exiting Program!"));
    assert!(output.status.success());
}

/// A server that echoes the first line `delay` late, without reading in
/// between: the echo crosses the client's close frame on the wire.
fn slow_echo_server(delay: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("ws://{}", listener.local_addr().expect("address"));
    thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        let mut ws = accept(stream).expect("handshake");
        while let Ok(Some(message)) = ws.recv() {
            if let Message::Text(_) = message {
                thread::sleep(delay);
                ws.send(message).expect("echo");
            }
        }
    });
    url
}

/// A message that arrives after the client sent its close (the server sent
/// it before it saw the close) is still printed: data is discarded only
/// after the peer's close (RFC 6455 section 1.4).
fn echo_crossing_the_close(runtime: &str) {
    let url = slow_echo_server(Duration::from_millis(1500));
    // The client waits 1 s for the echo, then disconnects; the echo
    // leaves the server 0.5 s after the close frame.
    let output = run_piped(
        &["--url", url.as_str(), "--runtime", runtime],
        "connect\nlate echo\n__disconnect\nexit\n",
    );
    assert_eq!(
        output_lines(&output.stdout),
        [
            "---<Command Line Chat Initialized!>---",
            "Connected successfully.",
            "rcv=> late echo",
            "Disconnected successfully!",
            "Exiting Program!",
        ]
    );
    assert_eq!(output_lines(&output.stderr), Vec::<String>::new());
    assert!(output.status.success());
}

#[test]
fn an_echo_crossing_the_close_is_printed_tokio() {
    echo_crossing_the_close("tokio");
}

#[test]
fn an_echo_crossing_the_close_is_printed_std() {
    echo_crossing_the_close("std");
}
