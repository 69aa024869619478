//! The echo loop shared by the examples (`echo_server`, `autobahn_client`,
//! `hyper_server`) and the tests.

use rusty_socket_tokio::{Error, Message, WebSocket};
use tokio::io::{AsyncRead, AsyncWrite};

/// Echoes text and binary messages until the connection ends (pings are
/// answered by the library, closes echoed by it).
///
/// No explicit flush: receiving writes what is queued once the transport has
/// no more input, so the echoes of a burst of messages leave in one write.
pub async fn echo<S>(mut ws: WebSocket<S>) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(message) = ws.next().await {
        if let message @ (Message::Text(_) | Message::Binary(_)) = message? {
            match ws.feed(message).await {
                // The peer's close arrived behind the message: nothing more
                // can be sent, but keep receiving to complete the closing
                // handshake.
                Err(Error::AlreadyClosed) => {}
                other => other?,
            }
        }
    }
    Ok(())
}
