//! A hyper 1.x server that opens WebSockets on `/ws`, over HTTP/1.1 or
//! HTTP/2 (h2c, RFC 8441), and echoes; other paths get a plain page.
//!
//! ```text
//! cargo run --release -p rusty-socket-tokio --example hyper_server -- 127.0.0.1:9003
//! ```

#[path = "shared/echo.rs"]
mod echo_loop;
#[path = "shared/hyper_echo.rs"]
mod hyper_echo;

use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9003".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    eprintln!(
        "hyper_server on http://{0}/ (WebSocket: ws://{0}/ws)",
        listener.local_addr()?
    );
    hyper_echo::serve(listener).await?;
    Ok(())
}
