//! Opening a connection: `connect` and `client` for clients, `accept` and
//! `accept_with` for servers.

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Instant;

use rusty_socket_proto::http::{header, HeaderValue, StatusCode};
use rusty_socket_proto::{
    Accept, AcceptError, ClientRequest, Config, Connection, Event, Reject, Request, Response,
};

use crate::core::seed;
use crate::error::Error;
use crate::socket::WebSocket;
use crate::stream::MaybeTlsStream;
use crate::transport::Transport;

/// Opens a WebSocket to a `ws://` or `wss://` URL with the default
/// [`Config`]: connects over TCP (with `TCP_NODELAY`), runs the TLS
/// handshake for `wss://` (with
/// [`tls::default_client_config`](crate::tls::default_client_config)),
/// sends the upgrade request, and returns the open connection with the
/// server's response.
///
/// ```no_run
/// use rusty_socket_std::{connect, Message};
///
/// let (mut ws, response) = connect("wss://example.com/chat")?;
/// println!("subprotocol: {:?}", response.protocol());
/// ws.send(Message::text("hello"))?;
/// println!("{:?}", ws.recv()?);
/// ws.close(1000, "bye")?;
/// while let Some(message) = ws.recv()? {
///     println!("{message:?}"); // the server's close frame
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn connect(url: &str) -> Result<(WebSocket<MaybeTlsStream<TcpStream>>, Response), Error> {
    connect_with(ClientRequest::new(url)?, Config::default())
}

/// [`connect`] with a request that offers subprotocols or adds headers, and
/// a [`Config`]. The opening handshake timeout also bounds the TCP connect
/// and the TLS handshake. For `wss://`, the server name sent (SNI) and
/// checked is the URL's host, a DNS name or an IP address; without the
/// `rustls` feature, `wss://` gives `Error::TlsUnsupported`.
///
/// ```no_run
/// use rusty_socket_std::{connect_with, ClientRequest, Config};
///
/// let request = ClientRequest::new("ws://127.0.0.1:9001/chat")?.protocol("chat.v2")?;
/// let mut config = Config::default();
/// config.max_message_size = 1 << 20;
/// let (ws, response) = connect_with(request, config)?;
/// assert_eq!(ws.protocol(), response.protocol());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn connect_with(
    request: ClientRequest,
    config: Config,
) -> Result<(WebSocket<MaybeTlsStream<TcpStream>>, Response), Error> {
    #[cfg(feature = "rustls")]
    {
        let tls = match request.is_tls() {
            true => Some(crate::tls::default_client_config()?),
            false => None,
        };
        open(request, config, tls)
    }
    #[cfg(not(feature = "rustls"))]
    {
        if request.is_tls() {
            return Err(Error::TlsUnsupported);
        }
        open(request, config)
    }
}

/// Like [`connect_with`], with your own rustls `ClientConfig` for a
/// `wss://` URL: a private CA
/// ([`tls::client_config_with_ca_file`](crate::tls::client_config_with_ca_file)),
/// client certificates, ALPN. For a `ws://` URL, `tls` is unused.
#[cfg(feature = "rustls")]
pub fn connect_tls(
    request: ClientRequest,
    config: Config,
    tls: std::sync::Arc<rustls::ClientConfig>,
) -> Result<(WebSocket<MaybeTlsStream<TcpStream>>, Response), Error> {
    let tls = request.is_tls().then_some(tls);
    open(request, config, tls)
}

/// Connects (TCP, then TLS if `tls` is given) within the opening
/// handshake's deadline, then runs the WebSocket handshake.
fn open(
    request: ClientRequest,
    config: Config,
    #[cfg(feature = "rustls")] tls: Option<std::sync::Arc<rustls::ClientConfig>>,
) -> Result<(WebSocket<MaybeTlsStream<TcpStream>>, Response), Error> {
    // Before any I/O: a host that cannot be a TLS name fails at once.
    #[cfg(feature = "rustls")]
    let tls = match tls {
        Some(tls) => Some((tls, crate::tls::server_name(request.host())?)),
        None => None,
    };
    let conn = Connection::client(&request, config, seed()?, Instant::now())?;
    let deadline = conn.poll_timeout();
    let stream = connect_tcp(request.host(), request.port(), deadline)?;
    stream.set_nodelay(true)?;
    #[cfg(feature = "rustls")]
    if let Some((tls, name)) = tls {
        let stream = crate::tls::connect(stream, name, request.host(), tls, deadline)?;
        return finish_client(WebSocket::new(MaybeTlsStream::Rustls(stream), conn));
    }
    finish_client(WebSocket::new(MaybeTlsStream::Plain(stream), conn))
}

/// The client's opening handshake over a transport you connected yourself
/// (a Unix socket, a proxy tunnel, another TLS stream wrapped in
/// [`NoTimeouts`](crate::NoTimeouts)...). The URL gives the
/// request's path and `Host` header.
pub fn connect_on<S: Transport>(
    stream: S,
    request: ClientRequest,
    config: Config,
) -> Result<(WebSocket<S>, Response), Error> {
    let conn = Connection::client(&request, config, seed()?, Instant::now())?;
    finish_client(WebSocket::new(stream, conn))
}

fn finish_client<S: Transport>(mut ws: WebSocket<S>) -> Result<(WebSocket<S>, Response), Error> {
    loop {
        if let Event::Connected(response) = ws.handshake_event()? {
            return Ok((ws, *response));
        }
    }
}

/// Connects to the first address of `host` that answers, within the opening
/// handshake's deadline.
fn connect_tcp(host: &str, port: u16, deadline: Option<Instant>) -> io::Result<TcpStream> {
    let mut last_error = None;
    for addr in (host, port).to_socket_addrs()? {
        let result = match deadline {
            Some(at) => match at.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => TcpStream::connect_timeout(&addr, left),
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the opening handshake timed out while connecting",
                    ))
                }
            },
            None => TcpStream::connect(addr),
        };
        match result {
            Ok(stream) => return Ok(stream),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host} resolves to no address"),
        )
    }))
}

/// The server's opening handshake with the default [`Config`], accepting
/// any WebSocket request (any path, no subprotocol).
///
/// A plain HTTP request (no `Upgrade: websocket`) is answered with
/// `426 Upgrade Required` and returns [`Error::NotWebSocket`]; a malformed
/// request is answered with the error's status (400, 405, 426, 431) and
/// returns [`Error::Handshake`].
pub fn accept<S: Transport>(stream: S) -> Result<WebSocket<S>, Error> {
    // The callback's type is `Result<Accept, Reject>`, proto's own answers.
    let any = |_: &Request| Ok(Accept::default());
    accept_with(stream, Config::default(), any)
}

/// The server's opening handshake, with a [`Config`] and a callback that
/// decides on the request: it sees the path, the headers (check `Origin`
/// against cross-site WebSocket hijacking), the offered subprotocols, and
/// returns an [`Accept`] (choosing a subprotocol, adding headers) or a
/// [`Reject`] with a status, headers and body.
///
/// The callback also sees plain HTTP requests
/// ([`Request::is_websocket`] false) and may answer them with a page through
/// a `Reject`; accepting one answers `426 Upgrade Required` and returns
/// [`Error::NotWebSocket`]. A rejection returns [`Error::Rejected`] once the
/// response is written; an `Accept` that cannot apply (a subprotocol the
/// client did not offer) is answered with 500 and returns [`Error::Accept`].
///
/// ```no_run
/// use std::net::TcpListener;
///
/// use rusty_socket_std::http::StatusCode;
/// use rusty_socket_std::{accept_with, Accept, Config, Reject};
///
/// let listener = TcpListener::bind("127.0.0.1:9001")?;
/// let (stream, _) = listener.accept()?;
/// let ws = accept_with(stream, Config::default(), |request| {
///     if request.path() != "/chat" {
///         return Err(Reject::status(StatusCode::NOT_FOUND));
///     }
///     match request.protocols().iter().find(|p| *p == "chat.v2") {
///         Some(protocol) => Ok(Accept::with_protocol(protocol.clone())),
///         None => Ok(Accept::default()),
///     }
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn accept_with<S, F>(stream: S, config: Config, callback: F) -> Result<WebSocket<S>, Error>
where
    S: Transport,
    F: FnOnce(&Request) -> Result<Accept, Reject>,
{
    let conn = Connection::server(config, Instant::now())?;
    let mut ws = WebSocket::new(stream, conn);
    let request = loop {
        if let Event::Request(request) = ws.handshake_event()? {
            break request;
        }
    };
    let now = Instant::now();
    let (reject, error) = match callback(&request) {
        Err(reject) => {
            let status = reject.status_code();
            (reject, Error::Rejected(status))
        }
        Ok(accept) => match ws.connection_mut().accept(now, accept) {
            Ok(()) => {
                ws.flush()?;
                return Ok(ws);
            }
            Err(AcceptError::NotWebSocket) => (not_websocket(), Error::NotWebSocket),
            Err(e) => (
                Reject::status(StatusCode::INTERNAL_SERVER_ERROR),
                Error::Accept(e),
            ),
        },
    };
    ws.connection_mut().reject(now, reject)?;
    // Write the response out; the connection then ends.
    let _ = ws.handshake_event();
    Err(error)
}

/// The answer to a plain HTTP request on a WebSocket endpoint.
fn not_websocket() -> Reject {
    Reject::with_body(
        StatusCode::UPGRADE_REQUIRED,
        "This is a WebSocket endpoint: send an Upgrade: websocket request.\n",
    )
    .header(header::UPGRADE, HeaderValue::from_static("websocket"))
    .expect("Upgrade is not reserved in a refusal")
}
