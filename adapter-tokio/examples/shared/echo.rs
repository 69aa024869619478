//! The echo loop shared by the examples (`echo_server`, `autobahn_client`,
//! `hyper_server`) and the tests.

use futures_util::{FutureExt, SinkExt};
use rusty_socket_tokio::{Error, Message, WebSocket};
use tokio::io::{AsyncRead, AsyncWrite};

/// Echoes text and binary messages until the connection ends. Every message
/// already received is queued before one flush, so a burst of small
/// messages goes back in one write.
pub async fn echo<S>(mut ws: WebSocket<S>) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(message) = ws.next().await {
        feed(&mut ws, message?).await?;
        while let Some(ready) = ws.next().now_or_never() {
            match ready {
                Some(message) => feed(&mut ws, message?).await?,
                None => return Ok(()),
            }
        }
        match ws.flush().await {
            Err(Error::AlreadyClosed) => {}
            other => other?,
        }
    }
    Ok(())
}

/// Queues the echo of a text or binary message (pings are answered by the
/// library, closes echoed by it).
async fn feed<S>(ws: &mut WebSocket<S>, message: Message) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if let Message::Text(_) | Message::Binary(_) = message {
        match ws.feed(message).await {
            // The peer's close arrived behind the message: nothing more can
            // be sent, but keep receiving to complete the closing handshake.
            Err(Error::AlreadyClosed) => {}
            other => return other,
        }
    }
    Ok(())
}
