//! wss:// between the adapters: the tokio client against the std server,
//! and the std client against the tokio server, with certificates from
//! `rusty_socket_test_support::tls`.

use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use rusty_socket_std as wsstd;
use rusty_socket_test_support::tls::TestPki;
use rusty_socket_tokio as wstokio;
use wsstd::{ClientRequest, CloseCode, Config, Message};

const BIG: usize = 2 << 20;

fn big() -> Message {
    Message::binary((0..BIG).map(|i| (i % 251) as u8).collect::<Vec<u8>>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_client_to_std_server_over_wss() {
    let pki = TestPki::new();
    let config = wsstd::tls::server_config_from_pem(
        pki.localhost.cert_pem.as_bytes(),
        pki.localhost.key_pem.as_bytes(),
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || -> Result<Vec<Message>, wsstd::Error> {
        let (tcp, _) = listener.accept()?;
        let stream = wsstd::tls::accept(tcp, config, Duration::from_secs(10))?;
        let mut ws = wsstd::accept(stream)?;
        let mut controls = Vec::new();
        while let Some(message) = ws.recv()? {
            match message {
                Message::Text(_) | Message::Binary(_) => ws.send(message)?,
                control => controls.push(control),
            }
        }
        Ok(controls)
    });
    let tls = wstokio::tls::client_config_with_ca_pem(pki.ca_pem.as_bytes()).unwrap();
    let request = ClientRequest::new(&format!("wss://localhost:{port}/")).unwrap();
    let client = async {
        let (mut ws, _) = wstokio::connect_tls(request, Config::default(), tls).await?;
        ws.send(Message::text("tokio says hi")).await?;
        assert_eq!(ws.recv().await?, Some(Message::text("tokio says hi")));
        ws.send(big()).await?;
        assert_eq!(ws.recv().await?, Some(big()));
        ws.close(CloseCode::NORMAL, "bye").await?;
        while ws.recv().await?.is_some() {}
        Ok::<_, wstokio::Error>(())
    };
    tokio::time::timeout(Duration::from_secs(30), client)
        .await
        .expect("the client hangs")
        .unwrap();
    let controls = server.join().unwrap().unwrap();
    assert!(
        matches!(controls.last(), Some(Message::Close(Some(f))) if f.reason == "bye"),
        "{controls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn std_client_to_tokio_server_over_wss() {
    let pki = TestPki::new();
    let config = wstokio::tls::server_config_from_pem(
        pki.localhost.cert_pem.as_bytes(),
        pki.localhost.key_pem.as_bytes(),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await?;
        let stream = wstokio::tls::accept(tcp, config, Duration::from_secs(10)).await?;
        let mut ws = wstokio::accept(stream).await?;
        let mut controls = Vec::new();
        while let Some(message) = ws.recv().await? {
            match message {
                Message::Text(_) | Message::Binary(_) => ws.send(message).await?,
                control => controls.push(control),
            }
        }
        Ok::<_, wstokio::Error>(controls)
    });
    let ca = pki.ca_pem.clone();
    let client = tokio::task::spawn_blocking(move || -> Result<(), wsstd::Error> {
        let tls = wsstd::tls::client_config_with_ca_pem(ca.as_bytes())?;
        // By IP address this time.
        let request = ClientRequest::new(&format!("wss://127.0.0.1:{port}/"))?;
        let (mut ws, _) = wsstd::connect_tls(request, Config::default(), tls)?;
        ws.send(Message::text("std says hi"))?;
        assert_eq!(ws.recv()?, Some(Message::text("std says hi")));
        ws.send(big())?;
        assert_eq!(ws.recv()?, Some(big()));
        ws.close(CloseCode::NORMAL, "bye")?;
        while ws.recv()?.is_some() {}
        Ok(())
    });
    tokio::time::timeout(Duration::from_secs(30), client)
        .await
        .expect("the client hangs")
        .unwrap()
        .unwrap();
    let controls = server.await.unwrap().unwrap();
    assert!(
        matches!(controls.last(), Some(Message::Close(Some(f))) if f.reason == "bye"),
        "{controls:?}"
    );
}
