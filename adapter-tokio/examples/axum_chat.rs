//! A broadcast chat inside axum: the WebSocket route (`/ws`) next to
//! ordinary ones (`/` serves a page with the chat, `/health`), the room
//! shared through axum's `State`. Open the page in two browser tabs.
//!
//! ```text
//! cargo run -p rusty-socket-tokio --all-features --example axum_chat -- 127.0.0.1:3000
//! ```

#[path = "shared/axum_chat.rs"]
mod axum_chat;

use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("axum_chat on http://{}/", listener.local_addr()?);
    axum::serve(listener, axum_chat::router()).await
}
