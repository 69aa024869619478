//! Helpers shared by the integration tests: servers on ephemeral loopback
//! ports, the examples' echo loop, and a time bound for every test.

#![allow(dead_code)]

#[path = "../../examples/shared/echo.rs"]
pub mod echo_loop;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use rusty_socket_tokio::{accept_with, Accept, Config, Reject, Request, WebSocket};
use tokio::net::{TcpListener, TcpStream};

pub use echo_loop::echo;

/// No test may take longer than this.
pub const LIMIT: Duration = Duration::from_secs(60);

/// Runs `future`, failing the test if it takes longer than [`LIMIT`].
pub async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(LIMIT, future)
        .await
        .expect("the test took too long")
}

pub async fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// A server that accepts every WebSocket with `config` and runs `handler`
/// on each in its own task. Returns its `ws://` base URL.
pub async fn server<H, Fut>(config: Config, handler: H) -> String
where
    H: Fn(WebSocket<TcpStream>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    server_with(config, |_| Ok(Accept::default()), handler).await
}

/// Like [`server`], with an accept callback.
pub async fn server_with<C, H, Fut>(config: Config, callback: C, handler: H) -> String
where
    C: Fn(&Request) -> Result<Accept, Reject> + Clone + Send + Sync + 'static,
    H: Fn(WebSocket<TcpStream>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (listener, addr) = listener().await;
    let handler = std::sync::Arc::new(handler);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            stream.set_nodelay(true).unwrap();
            let config = config.clone();
            let callback = callback.clone();
            let handler = handler.clone();
            tokio::spawn(async move {
                if let Ok(ws) = accept_with(stream, config, callback).await {
                    handler(ws).await;
                }
            });
        }
    });
    format!("ws://{addr}")
}

/// An echo server with `config`.
pub async fn echo_server(config: Config) -> String {
    server(config, |ws| async move {
        let _ = echo(ws).await;
    })
    .await
}

/// Deterministic bytes, different for each `seed`.
pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(31).wrapping_add(seed as u32) as u8)
        .collect()
}

/// Closes `ws` and finishes the closing handshake: receives until
/// `Ok(None)`, which it requires. Returns what was received meanwhile (the
/// peer's close frame last).
pub async fn close_and_finish<S>(
    ws: &mut WebSocket<S>,
    code: impl Into<rusty_socket_tokio::CloseCode>,
    reason: &str,
) -> Vec<rusty_socket_tokio::Message>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.close(code, reason).await.unwrap();
    let mut received = Vec::new();
    while let Some(message) = ws.recv().await.unwrap() {
        received.push(message);
    }
    received
}
