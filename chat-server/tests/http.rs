//! Plain HTTP (the page, /stats, 404) and the handshake gate: the origin
//! policy and --max-connections.

mod common;

use common::{
    http_get, next_message, refused_status_std, refused_status_tokio, std_client, tokio_client,
    Server, RUNTIMES,
};
use rusty_socket_tokio::{CloseCode, Message};

#[test]
fn the_page_is_served_at_the_root_and_nothing_else() {
    for runtime in RUNTIMES {
        let server = Server::start(&["--runtime", runtime]);
        let page = http_get(server.addr, "/", &[]);
        assert_eq!(page.status, 200, "{runtime}: {}", page.head);
        let head = page.head.to_ascii_lowercase();
        assert!(
            head.contains("content-type: text/html; charset=utf-8"),
            "{head}"
        );
        assert!(page.body.contains("<title>rusty_socket chat</title>"));
        assert!(page.body.contains("new WebSocket("));
        // Self-contained: nothing fetched from elsewhere.
        assert!(!page.body.contains("src="));
        assert!(!page.body.contains("href=\"http"));

        let missing = http_get(server.addr, "/index.html", &[]);
        assert_eq!(missing.status, 404, "{runtime}");
        let stats = server.stats();
        assert_eq!(stats["clients"], 0);
        assert_eq!(stats["queued_bytes"], 0);
        assert!(server.wait_for_log(&["refused: no such page (404)", "/index.html"]));
    }
}

#[tokio::test]
async fn a_websocket_elsewhere_than_the_root_is_404() {
    let server = Server::start(&[]);
    let url = format!("ws://{}/chat", server.addr);
    let error = tokio_client(&url, None).await.expect_err("refused");
    assert_eq!(refused_status_tokio(&error), Some(404), "{error}");
}

#[test]
fn origins_same_host_missing_and_allowed_are_accepted_others_get_403() {
    for runtime in RUNTIMES {
        let server = Server::start(&[
            "--runtime",
            runtime,
            "--allow-origin",
            "https://chat.example.com",
            "--allow-origin",
            "http://localhost:3000",
        ]);
        let url = server.url();
        let own_http = format!("http://{}", server.addr);
        let own_https = format!("https://{}", server.addr);
        let accepted = [
            None,
            Some(own_http.as_str()),
            Some(own_https.as_str()),
            Some("https://chat.example.com"),
            Some("http://localhost:3000"),
        ];
        for origin in accepted {
            let mut ws = std_client(&url, origin)
                .unwrap_or_else(|e| panic!("{runtime}: Origin {origin:?} refused: {e}"));
            ws.close(1000, "").expect("close");
            // Finish the closing handshake.
            while let Ok(Some(_)) = ws.recv() {}
        }
        let other_port = format!("http://{}:1", server.addr.ip());
        let refused = [
            "https://evil.example",
            "http://chat.example.com",
            other_port.as_str(),
            "null",
        ];
        for origin in refused {
            let error = std_client(&url, Some(origin)).expect_err("refused");
            assert_eq!(
                refused_status_std(&error),
                Some(403),
                "{runtime}: Origin {origin}: {error}"
            );
        }
        assert!(server.wait_for_log(&["refused", "evil.example", "(403)"]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_max_connections_handshakes_get_503() {
    for runtime in RUNTIMES {
        let server = Server::start(&["--runtime", runtime, "--max-connections", "2"]);
        let url = server.url();
        let mut first = tokio_client(&url, None).await.expect("connect");
        let mut second = tokio_client(&url, None).await.expect("connect");
        let error = tokio_client(&url, None).await.expect_err("full");
        assert_eq!(
            refused_status_tokio(&error),
            Some(503),
            "{runtime}: {error}"
        );
        // The page is still served: only chat connections count.
        assert_eq!(http_get(server.addr, "/", &[]).status, 200);

        // The two still chat (once the server counts them in: a client
        // joins after its handshake); once one leaves there is room again.
        tokio::task::block_in_place(|| server.wait_for_clients(2));
        first.send(Message::text("still here")).await.expect("send");
        assert_eq!(next_message(&mut second).await, Message::text("still here"));
        first.close(CloseCode::NORMAL, "").await.expect("close");
        // Finish the closing handshake.
        while let Ok(Some(_)) = first.recv().await {}
        tokio::task::block_in_place(|| server.wait_for_clients(1));
        let mut third = tokio_client(&url, None).await.expect("room again");
        third.close(CloseCode::NORMAL, "").await.expect("close");
        // Finish the closing handshake.
        while let Ok(Some(_)) = third.recv().await {}
        second.close(CloseCode::NORMAL, "").await.expect("close");
        // Finish the closing handshake.
        while let Ok(Some(_)) = second.recv().await {}
        assert!(server.wait_for_log(&["refused: --max-connections reached (503)"]));
    }
}
