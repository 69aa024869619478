//! The server at the open-file limit (run under `prlimit`, which it cannot
//! raise past): accepting fails with EMFILE (or, when the last descriptor
//! went to the accepted socket, setting the connection up does), which is
//! logged and retried after a pause, never a crash or a busy loop, and
//! clients are served again as soon as descriptors are free.

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::{Server, RUNTIMES, TIMEOUT};
use rusty_socket_std::{connect_with, ClientRequest, Config, MaybeTlsStream, Message, WebSocket};

type Client = WebSocket<MaybeTlsStream<TcpStream>>;

/// A client whose handshake gives up after a second.
fn try_client(server: &Server) -> Option<Client> {
    let mut config = Config::default();
    config.handshake_timeout = Some(Duration::from_secs(1));
    config.idle_timeout = Some(TIMEOUT);
    let request = ClientRequest::new(&server.url()).expect("a URL");
    connect_with(request, config).ok().map(|(ws, _)| ws)
}

/// CPU time (user + system) of process `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("(comm)") + 2..]
        .split(' ')
        .collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

#[test]
fn at_the_open_file_limit_the_server_pauses_and_serves_again_once_it_can() {
    if std::process::Command::new("prlimit")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: prlimit (util-linux) is not installed");
        return;
    }
    // Consecutive limits, so that the last descriptor falls on each step of
    // a connection's set-up (a std connection takes four).
    for (runtime, limit) in RUNTIMES.iter().flat_map(|r| (47..=50).map(move |l| (r, l))) {
        let nofile = format!("--nofile={limit}:{limit}");
        let server = Server::start_under(&["prlimit", &nofile], &["--runtime", runtime]);
        let runtime = format!("{runtime}, {limit} files");
        let mut clients = Vec::new();
        while let Some(client) = try_client(&server) {
            clients.push(client);
            assert!(clients.len() < limit, "{runtime}: the limit did not hold");
        }
        assert!(
            clients.len() >= 5,
            "{runtime}: only {} clients",
            clients.len()
        );
        // Where the limit bites depends on how many descriptors the process
        // started with: at `accept`, or at the `try_clone` after it.
        assert!(
            server.wait_for_log(&["Too many open files"]),
            "{runtime}: {}",
            server.logs()
        );
        // A connection waiting in the backlog keeps accept failing: the
        // server retries after a pause instead of spinning (or it accepts
        // the connection, fails to set it up, and closes it, once).
        let _waiting = TcpStream::connect(server.addr).expect("queued by the kernel");
        let before = cpu_ticks(server.pid());
        std::thread::sleep(Duration::from_secs(1));
        let used = cpu_ticks(server.pid()) - before;
        assert!(
            used < 25,
            "{runtime}: {used} ticks of CPU in 1 s at the limit"
        );

        // Free some descriptors: the waiting connection is accepted, and a
        // new client joins and chats with all the others (none of whom was
        // dropped after its handshake for want of a descriptor).
        clients.drain(..4);
        let mut newcomer = None;
        for _ in 0..20 {
            newcomer = try_client(&server);
            if newcomer.is_some() {
                break;
            }
        }
        let mut newcomer = newcomer.unwrap_or_else(|| panic!("{runtime}: nobody served again"));
        newcomer.send(Message::text("back")).expect("send");
        for client in &mut clients {
            assert_eq!(
                client.recv().expect("a message"),
                Some(Message::text("back")),
                "{runtime}"
            );
        }
    }
}
