//! The tokio runtime: rusty-socket-tokio on a one-worker Tokio runtime.
//!
//! The command loop runs on the main thread, blocked in the line editor, so
//! the runtime gets a worker of its own for the receive task, and the loop
//! drives its sends with `Handle::block_on` (allowed: the main thread is
//! not a runtime thread). The runtime is started at the first `connect` and
//! kept for later ones.

use std::sync::Arc;

use rusty_socket_proto::{ClientRequest, CloseCode, CloseReason, Config, HandshakeError, Message};
use rusty_socket_tokio::rustls::ClientConfig;
use rusty_socket_tokio::{Error, MaybeTlsStream, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::runtime::{Builder, Handle};

use super::{describe_reason, ConnectError, Connection, CONNECT_TIMEOUT};
use crate::link::{End, Link};

/// The stream under the WebSocket: TCP, or TLS over it for wss://.
type Stream = MaybeTlsStream<TcpStream>;

/// The Tokio runtime, started on first use, and the TLS client config of
/// `--ca` (`None`: the adapter's default roots).
pub struct TokioRuntime {
    runtime: Option<tokio::runtime::Runtime>,
    tls: Option<Arc<ClientConfig>>,
}

impl TokioRuntime {
    /// Nothing starts until the first `connect`.
    pub fn new(tls: Option<Arc<ClientConfig>>) -> Self {
        TokioRuntime { runtime: None, tls }
    }

    fn handle(&mut self) -> Result<Handle, ConnectError> {
        if let Some(runtime) = &self.runtime {
            return Ok(runtime.handle().clone());
        }
        let runtime = Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("chat-client-net")
            .enable_all()
            .build()
            .map_err(|e| ConnectError::Runtime(e.to_string()))?;
        Ok(self.runtime.insert(runtime).handle().clone())
    }

    /// Connects, splits, and spawns the receive task.
    pub fn connect(
        &mut self,
        url: &str,
        link: &Arc<Link>,
    ) -> Result<Box<dyn Connection>, ConnectError> {
        let request = ClientRequest::new(url).map_err(|e| ConnectError::Url(e.to_string()))?;
        let handle = self.handle()?;
        let tls = self.tls.clone();
        // `connect_with` does not bound the TCP connect nor the TLS
        // handshake (the WebSocket handshake timeout starts after them):
        // bound the whole.
        let connected = handle.block_on(async {
            let connecting = async {
                match tls {
                    Some(tls) => {
                        rusty_socket_tokio::connect_tls(request, Config::default(), tls).await
                    }
                    None => rusty_socket_tokio::connect_with(request, Config::default()).await,
                }
            };
            tokio::time::timeout(CONNECT_TIMEOUT, connecting).await
        });
        let (ws, _response) = connected
            .map_err(|_| ConnectError::TimedOut)?
            .map_err(classify)?;
        let (write, read) = ws.split();
        handle.spawn(receive(read, Arc::clone(link)));
        Ok(Box::new(TokioConnection { handle, write }))
    }
}

/// The receive task: every message to the link, then the end.
async fn receive(mut read: ReadHalf<Stream>, link: Arc<Link>) {
    loop {
        match read.next().await {
            Some(Ok(message)) => link.on_message(message),
            Some(Err(e)) => return link.on_end(End::Failed(describe(&e))),
            None => return link.on_clean_end(),
        }
    }
}

struct TokioConnection {
    handle: Handle,
    write: WriteHalf<Stream>,
}

impl Connection for TokioConnection {
    fn send_text(&mut self, text: &str) -> Result<(), String> {
        self.handle
            .block_on(self.write.send(Message::text(text)))
            .map_err(|e| describe(&e))
    }

    fn close(&mut self) -> Result<(), String> {
        // Sends and flushes the close frame; the receive task sees the
        // server's answer and the end of the stream.
        self.handle
            .block_on(self.write.close(CloseCode::NORMAL, ""))
            .map_err(|e| describe(&e))
    }
}

/// A failed connect, in the user's terms.
fn classify(error: Error) -> ConnectError {
    match error {
        // The adapter gave up on the TCP connect or the TLS handshake (a
        // server without TLS on that port waits, silent, for a request).
        e if e.is_timeout() => ConnectError::TimedOut,
        Error::Io(e) => ConnectError::Unreachable(e.to_string()),
        Error::Url(e) => ConnectError::Url(e.to_string()),
        Error::Tls(e) => ConnectError::from(e),
        Error::Handshake(HandshakeError::Status(response))
        | Error::Closed(CloseReason::Handshake(HandshakeError::Status(response))) => {
            ConnectError::Refused(response.status)
        }
        Error::Handshake(e) => ConnectError::Handshake(e.to_string()),
        Error::Closed(CloseReason::Timeout(_)) => ConnectError::TimedOut,
        Error::Closed(reason) => ConnectError::Handshake(describe_reason(&reason)),
        other => ConnectError::Handshake(other.to_string()),
    }
}

/// Why an open connection failed.
fn describe(error: &Error) -> String {
    match error {
        Error::Closed(reason) => describe_reason(reason),
        Error::Protocol(e) => format!("the server broke the protocol: {e}"),
        Error::AlreadyClosed => "the connection is closed".to_owned(),
        other => other.to_string(),
    }
}
