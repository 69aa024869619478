//! `peer_yawc ADDR [LEVEL]`: a yawc WebSocket echo server with
//! permessage-deflate (`zlib` feature: flate2 on zlib-rs, window bits
//! negotiable), after yawc's documented server (hyper 1 upgrade with
//! `WebSocket::upgrade_with_options`, frames echoed through its
//! `Stream`/`Sink`), on a current-thread runtime like the other peers.
//!
//! Compression: level LEVEL (default 1, yawc's `CompressionLevel::fast()`,
//! as in its `low_latency` profile), no context takeover either way (as the
//! client asks and as ours runs), 15-bit windows, yawc's default threshold
//! (compress every message). TCP_NODELAY set as every server in the
//! comparison does; the message limit made explicit.

use futures_util::{SinkExt, StreamExt};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use tokio::net::TcpListener;
use yawc::{CompressionLevel, DeflateOptions, OpCode, Options, UpgradeFut, WebSocket};

/// The same message limit for every peer: 64 MiB, above the 16 MiB needed.
const MAX_MESSAGE: usize = 64 << 20;

async fn handle_client(fut: UpgradeFut) -> yawc::Result<()> {
    let mut ws = fut.await?;
    while let Some(frame) = ws.next().await {
        match frame.opcode() {
            OpCode::Text | OpCode::Binary => ws.send(frame).await?,
            OpCode::Close => break,
            _ => {}
        }
    }
    Ok(())
}

fn options(level: u32) -> Options {
    let mut options = Options::default().with_limits(MAX_MESSAGE, MAX_MESSAGE);
    options.compression = Some(DeflateOptions {
        level: CompressionLevel::new(level),
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        ..DeflateOptions::default()
    });
    options.no_delay = true;
    options
}

async fn server_upgrade(
    mut req: Request<Incoming>,
    level: u32,
) -> yawc::Result<Response<Empty<Bytes>>> {
    let (response, fut) = WebSocket::upgrade_with_options(&mut req, options(level))?;
    tokio::task::spawn(async move {
        if let Err(e) = handle_client(fut).await {
            eprintln!("connection: {e}");
        }
    });
    Ok(response)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9007".to_string());
    let level: u32 = match args.next() {
        Some(level) => level.parse()?,
        None => 1,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(&addr).await?;
        println!("peer_yawc listening on {addr} (level {level})");
        loop {
            let (stream, _) = listener.accept().await?;
            stream.set_nodelay(true)?;
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let conn = http1::Builder::new()
                    .serve_connection(io, service_fn(move |req| server_upgrade(req, level)))
                    .with_upgrades();
                if let Err(e) = conn.await {
                    eprintln!("http: {e:?}");
                }
            });
        }
    })
}
