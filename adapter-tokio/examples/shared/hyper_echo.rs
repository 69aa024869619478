//! hyper 1.x glue, shared by the `hyper_server` example and its test: an
//! HTTP/1.1 server that upgrades requests on `/ws` to WebSockets (validated
//! and answered with proto's `upgrade_response`), hands each upgraded
//! connection to `rusty_socket_tokio::from_raw`, and echoes; any other path
//! gets a plain page.

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rusty_socket_tokio::{from_raw, upgrade_response, Bytes, Config, Error, Role};
use tokio::net::TcpListener;

use crate::echo_loop::echo;

/// The page served on every path but `/ws`.
pub const PAGE: &str = "rusty-socket hyper example: connect a WebSocket to /ws\n";

/// Serves HTTP on `listener` until it fails, one task per connection.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let connection = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(handle))
                .with_upgrades();
            if let Err(e) = connection.await {
                eprintln!("http connection: {e}");
            }
        });
    }
}

async fn handle(mut request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.uri().path() != "/ws" {
        return Ok(page(StatusCode::OK, PAGE.to_owned()));
    }
    // Validates the upgrade request (RFC 6455 section 4.2.1) and builds the 101.
    let response = match upgrade_response(&request, None) {
        Ok(response) => response,
        Err(e) => return Ok(page(e.status(), format!("{e}\n"))),
    };
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let result = match upgrade.await {
            Ok(upgraded) => match from_raw(TokioIo::new(upgraded), Role::Server, Config::default())
            {
                Ok(ws) => echo(ws).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(Error::Io(std::io::Error::other(e))),
        };
        if let Err(e) = result {
            eprintln!("websocket: {e}");
        }
    });
    Ok(response.map(|()| Full::new(Bytes::new())))
}

fn page(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
