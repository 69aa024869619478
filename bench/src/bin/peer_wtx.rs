//! `peer_wtx ADDR [LEVEL]`: a wtx WebSocket echo server with permessage-deflate
//! (`flate2` feature, zlib-rs), after wtx's own autobahn echo server
//! (`WebSocketAcceptor` with `Flate2` compression, `split_mut`, frames echoed
//! as read), on a current-thread runtime. Changes: the address from the
//! command line, TCP_NODELAY set as every server in the comparison does,
//! the no-masking extension turned off (no browser or other peer has it),
//! and an optional compression level.
//!
//! wtx's `DeflateConfig::default()` is level 5 with 12-bit windows both
//! ways; without LEVEL that is what runs. wtx always answers with
//! `client_no_context_takeover; server_no_context_takeover`.

use tokio::net::{TcpListener, TcpStream};
use wtx::collection::Vector;
use wtx::web_socket::compression::Flate2;
use wtx::web_socket::{
    CompressionLevel, DeflateConfig, OpCode, WebSocketAcceptor, WebSocketPayloadOrigin,
};

async fn handle(stream: TcpStream, dc: DeflateConfig) -> wtx::Result<()> {
    stream.set_nodelay(true)?;
    let mut ws = WebSocketAcceptor::default()
        .compression(Flate2::from(dc))
        .no_masking(false)
        .accept(stream)
        .await?;
    let mut buffer = Vector::new();
    let (mut common, mut reader, mut writer) = ws.split_mut();
    loop {
        let mut frame = reader
            .read_frame(&mut buffer, &mut common, WebSocketPayloadOrigin::Adaptive)
            .await?;
        match frame.op_code() {
            OpCode::Binary | OpCode::Text => writer.write_frame(&mut common, &mut frame).await?,
            OpCode::Close => break,
            _ => {}
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:9006".to_string());
    let mut dc = DeflateConfig::default();
    if let Some(level) = args.next() {
        dc.compression_level = CompressionLevel::try_from(level.parse::<u8>()?)
            .map_err(|e| format!("level must be 0 to 9: {e:?}"))?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(&addr).await?;
        println!("peer_wtx listening on {addr} ({dc:?})");
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(async move {
                if let Err(e) = handle(stream, dc).await {
                    eprintln!("connection: {e}");
                }
            });
        }
    })
}
