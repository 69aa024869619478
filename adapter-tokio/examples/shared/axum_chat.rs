//! The `axum_chat` example's application, shared with its test: a
//! broadcast chat on `/ws` (rusty-socket's axum extractor), next to
//! ordinary routes (`/` a page, `/health`), its state shared through
//! axum's `State`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use rusty_socket_tokio::axum::{HyperWebSocket, WebSocketUpgrade};
use rusty_socket_tokio::{Config, Message};
use tokio::sync::broadcast;

/// How many messages a slow client may fall behind before it skips some.
const BACKLOG: usize = 256;

/// What every route shares: the chat room and the WebSocket config.
#[derive(Clone)]
pub struct Chat {
    /// Every message said in the room, to every member.
    room: broadcast::Sender<Message>,
    /// Numbers the members: `user-1`, `user-2`...
    members: Arc<AtomicUsize>,
    /// One config for all the connections.
    config: Arc<Config>,
}

/// The application: `/` (a page with a chat in it), `/health`, and the
/// chat's WebSocket on `/ws`.
pub fn router() -> Router {
    let (room, _) = broadcast::channel(BACKLOG);
    let chat = Chat {
        room,
        members: Arc::default(),
        config: Arc::new(Config::default()),
    };
    Router::new()
        .route("/", get(page))
        .route("/health", get(|| async { "ok\n" }))
        // GET for HTTP/1.1 upgrades, CONNECT for HTTP/2 (RFC 8441).
        .route("/ws", get(join).connect(join))
        .with_state(chat)
}

/// The WebSocket route: upgrades, offering the subprotocol `chat`.
async fn join(State(chat): State<Chat>, upgrade: WebSocketUpgrade) -> impl IntoResponse {
    upgrade
        .config(chat.config.clone())
        .protocols(["chat"])
        .on_upgrade(move |ws| talk(chat, ws))
}

/// One member: says a welcome (the member hears the room from then on),
/// relays the room to it from a task of its own, and says its text
/// messages to the room until it leaves.
async fn talk(chat: Chat, ws: HyperWebSocket) {
    let name = format!("user-{}", chat.members.fetch_add(1, Ordering::Relaxed) + 1);
    let mut hearing = chat.room.subscribe();
    let (mut write, mut read) = ws.split();
    if write
        .send(Message::text(format!("welcome, {name}")))
        .await
        .is_err()
    {
        return;
    }
    let _ = chat.room.send(Message::text(format!("{name} joined")));
    let relay = tokio::spawn(async move {
        loop {
            match hearing.recv().await {
                Ok(message) => {
                    if write.send(message).await.is_err() {
                        break;
                    }
                }
                // Too slow: the missed messages are gone, go on with the rest.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    // `None`: the member closed; an error: the connection broke.
    while let Ok(Some(message)) = read.recv().await {
        if let Message::Text(text) = message {
            let _ = chat.room.send(Message::text(format!("{name}: {text}")));
        }
    }
    relay.abort();
    let _ = chat.room.send(Message::text(format!("{name} left")));
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// A chat in a page: what the room says, and a line to say something.
const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>rusty-socket axum chat</title>
<pre id="log"></pre>
<form id="say"><input id="text" autofocus autocomplete="off"> <button>Send</button></form>
<script>
  const log = document.getElementById("log");
  const ws = new WebSocket(`ws://${location.host}/ws`, "chat");
  ws.onmessage = (event) => { log.textContent += event.data + "\n"; };
  ws.onclose = () => { log.textContent += "(disconnected)\n"; };
  document.getElementById("say").onsubmit = (event) => {
    event.preventDefault();
    const text = document.getElementById("text");
    ws.send(text.value);
    text.value = "";
  };
</script>
"#;
