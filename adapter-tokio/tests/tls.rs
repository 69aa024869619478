//! wss:// over loopback: echo, certificate refusals with their typed
//! errors, IP-address URLs, timeouts of the TLS handshake, close_notify,
//! and a TLS error mid-connection. Certificates come from
//! `rusty_socket_test_support::tls`, made at test time.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{close_and_finish, echo, pattern, within};
use rusty_socket_test_support::tls::{CertKey, TestPki};
use rusty_socket_tokio::rustls::ClientConfig;
use rusty_socket_tokio::{
    accept, connect, connect_tls, tls, ClientRequest, CloseCode, Config, Error, Message, TlsError,
    WebSocket,
};
use tokio::io::{AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

type ServerTls = rusty_socket_tokio::tokio_rustls::server::TlsStream<TcpStream>;

/// A wss:// server with `cert` on an ephemeral port: TLS within 5 s, then
/// the WebSocket, then `handler` on it, one task per connection.
async fn tls_server<H, Fut>(cert: &CertKey, handler: H) -> SocketAddr
where
    H: Fn(WebSocket<ServerTls>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let config =
        tls::server_config_from_pem(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (config, handler) = (config.clone(), handler.clone());
            tokio::spawn(async move {
                let Ok(stream) = tls::accept(tcp, config, Duration::from_secs(5)).await else {
                    return;
                };
                if let Ok(ws) = accept(stream).await {
                    handler(ws).await;
                }
            });
        }
    });
    addr
}

async fn echo_server(cert: &CertKey) -> SocketAddr {
    tls_server(cert, |ws| async move {
        let _ = echo(ws).await;
    })
    .await
}

fn trusting(pki: &TestPki) -> Arc<ClientConfig> {
    tls::client_config_with_ca_pem(pki.ca_pem.as_bytes()).unwrap()
}

async fn connect_to(
    url: &str,
    tls: Arc<ClientConfig>,
) -> Result<WebSocket<rusty_socket_tokio::MaybeTlsStream<TcpStream>>, Error> {
    let request = ClientRequest::new(url).unwrap();
    Ok(connect_tls(request, Config::default(), tls).await?.0)
}

async fn assert_echoes<S>(ws: &mut WebSocket<S>)
where
    S: tokio::io::AsyncRead + AsyncWrite + Unpin,
{
    ws.send(Message::text("hello over TLS")).await.unwrap();
    assert_eq!(
        ws.recv().await.unwrap(),
        Some(Message::text("hello over TLS"))
    );
    // Many TLS records each way.
    let big = Message::binary(pattern(3 << 20, 7));
    ws.send(big.clone()).await.unwrap();
    assert_eq!(ws.recv().await.unwrap(), Some(big));
    let received = close_and_finish(ws, CloseCode::NORMAL, "done").await;
    assert!(
        matches!(received.last(), Some(Message::Close(Some(frame))) if frame.code == CloseCode::NORMAL),
        "{received:?}"
    );
}

#[tokio::test]
async fn wss_echo_by_name_and_by_ip_address() {
    within(async {
        let pki = TestPki::new();
        let addr = echo_server(&pki.localhost).await;
        for url in [
            format!("wss://localhost:{}/echo", addr.port()),
            format!("wss://{addr}/echo"),
        ] {
            let mut ws = connect_to(&url, trusting(&pki)).await.unwrap();
            assert!(ws.get_ref().is_tls(), "{url}");
            // Large payloads reach rustls without a copy into one buffer.
            assert!(ws.get_ref().is_write_vectored());
            assert_echoes(&mut ws).await;
        }
    })
    .await;
}

#[tokio::test]
async fn certificates_are_checked_with_typed_errors() {
    within(async {
        let pki = TestPki::new();
        let cases: [(&CertKey, &str); 3] = [
            (&pki.other_name, "name"),
            (&pki.untrusted, "issuer"),
            (&pki.expired, "expired"),
        ];
        for (cert, case) in cases {
            let addr = echo_server(cert).await;
            let url = format!("wss://localhost:{}/", addr.port());
            let error = connect_to(&url, trusting(&pki)).await.unwrap_err();
            match (case, &error) {
                ("name", Error::Tls(TlsError::NameMismatch { host })) => {
                    assert_eq!(host, "localhost")
                }
                ("issuer", Error::Tls(TlsError::UnknownIssuer)) => {}
                ("expired", Error::Tls(TlsError::Expired)) => {}
                _ => panic!("{case}: got {error:?}"),
            }
            assert!(error.to_string().starts_with("TLS: "), "{error}");
        }
        // An IP-address URL is checked against the certificate's IP
        // addresses: other_name has none.
        let addr = echo_server(&pki.other_name).await;
        let error = connect_to(&format!("wss://{addr}/"), trusting(&pki))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, Error::Tls(TlsError::NameMismatch { host }) if host == "127.0.0.1"),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "TLS: the server's certificate is not valid for \"127.0.0.1\""
        );
    })
    .await;
}

#[tokio::test]
async fn connect_opens_wss_urls_with_the_default_roots() {
    within(async {
        let pki = TestPki::new();
        let addr = echo_server(&pki.localhost).await;
        // The bundled roots do not include the test CA: refused as unknown,
        // which shows that connect() ran a TLS handshake and checked.
        let error = connect(&format!("wss://localhost:{}/", addr.port()))
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::Tls(TlsError::UnknownIssuer)),
            "{error:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn configs_need_no_process_default_provider() {
    within(async {
        use rusty_socket_tokio::rustls::crypto::CryptoProvider;
        // Nothing in this test binary installs one.
        assert!(CryptoProvider::get_default().is_none());
        let pki = TestPki::new();
        tls::default_client_config().unwrap();
        let addr = echo_server(&pki.localhost).await;
        let mut ws = connect_to(&format!("wss://localhost:{}/", addr.port()), trusting(&pki))
            .await
            .unwrap();
        assert_echoes(&mut ws).await;
        // rustls' `builder()` would have installed ring as the default.
        assert!(CryptoProvider::get_default().is_none());
    })
    .await;
}

#[tokio::test]
async fn the_opening_handshake_timeout_bounds_the_tls_handshake() {
    within(async {
        let pki = TestPki::new();
        // Accepts TCP connections and never says a word.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((tcp, _)) = listener.accept().await {
                held.push(tcp);
            }
        });
        let mut config = Config::default();
        config.handshake_timeout = Some(Duration::from_millis(300));
        let request = ClientRequest::new(&format!("wss://localhost:{}/", addr.port())).unwrap();
        let start = Instant::now();
        let error = connect_tls(request, config, trusting(&pki))
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(error.is_timeout(), "{error:?}");
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
        silent.abort();
    })
    .await;
}

#[tokio::test]
async fn the_server_cuts_off_a_silent_tls_client() {
    within(async {
        let pki = TestPki::new();
        let config = tls::server_config_from_pem(
            pki.localhost.cert_pem.as_bytes(),
            pki.localhost.key_pem.as_bytes(),
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _silent = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (tcp, _) = listener.accept().await.unwrap();
        let start = Instant::now();
        let error = tls::accept(tcp, config, Duration::from_millis(300))
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(error.is_timeout(), "{error:?}");
        assert!(start.elapsed() < Duration::from_secs(3));
    })
    .await;
}

#[tokio::test]
async fn plain_http_to_a_tls_server_is_a_tls_error() {
    within(async {
        let pki = TestPki::new();
        let config = tls::server_config_from_pem(
            pki.localhost.cert_pem.as_bytes(),
            pki.localhost.key_pem.as_bytes(),
        )
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            // A plain ws:// client on a wss:// port.
            connect(&format!("ws://{addr}/")).await.map(|_| ())
        });
        let (tcp, _) = listener.accept().await.unwrap();
        let error = tls::accept(tcp, config, Duration::from_secs(5))
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(error, Error::Tls(TlsError::Other(_))), "{error:?}");
        assert!(client.await.unwrap().is_err());
    })
    .await;
}

#[tokio::test]
async fn close_ends_with_close_notify() {
    within(async {
        let pki = TestPki::new();
        // After the closing handshake, the server reads the raw TLS stream
        // to its end: `Ok(0)` only after the client's close_notify, an
        // `UnexpectedEof` error if the client just dropped TCP.
        let (ends, mut end) = mpsc::unbounded_channel();
        let addr = tls_server(&pki.localhost, move |mut ws| {
            let ends = ends.clone();
            async move {
                while let Ok(Some(message)) = ws.recv().await {
                    if let Message::Text(_) = message {
                        let _ = ws.send(message).await;
                    }
                }
                let mut stream = ws.into_inner();
                let mut buf = [0u8; 64];
                let read =
                    tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
                let _ = ends.send(format!("{read:?}"));
            }
        })
        .await;
        let mut ws = connect_to(&format!("wss://localhost:{}/", addr.port()), trusting(&pki))
            .await
            .unwrap();
        ws.send(Message::text("hi")).await.unwrap();
        assert_eq!(ws.recv().await.unwrap(), Some(Message::text("hi")));
        close_and_finish(&mut ws, CloseCode::NORMAL, "bye").await;
        assert_eq!(end.recv().await.unwrap(), "Ok(Ok(0))");
    })
    .await;
}

#[tokio::test]
async fn a_tls_error_mid_connection_reaches_the_caller() {
    within(async {
        let pki = TestPki::new();
        let addr = tls_server(&pki.localhost, |mut ws| async move {
            // Once the connection is open and used: bytes that are no TLS
            // record, straight on the socket, behind rustls' back.
            assert!(ws.recv().await.unwrap().is_some());
            let tcp = ws.get_ref().get_ref().0;
            tcp.writable().await.unwrap();
            tcp.try_write(b"this is not a TLS record").unwrap();
            // Hold the connection open: the client must fail on the bytes,
            // not on an end.
            tokio::time::sleep(Duration::from_secs(10)).await;
            drop(ws);
        })
        .await;
        let mut ws = connect_to(&format!("wss://localhost:{}/", addr.port()), trusting(&pki))
            .await
            .unwrap();
        ws.send(Message::text("hi")).await.unwrap();
        let error = ws.recv().await.unwrap_err();
        assert!(matches!(error, Error::Tls(TlsError::Other(_))), "{error:?}");
        // The sink side sees the same error.
        let error = ws.send(Message::text("after")).await.unwrap_err();
        assert!(matches!(error, Error::Tls(_)), "{error:?}");
    })
    .await;
}

#[tokio::test]
async fn pem_problems_are_reported_as_such() {
    let pki = TestPki::new();
    let key = pki.localhost.key_pem.as_bytes();
    for (cert, key) in [
        (&b"not pem"[..], key),
        (pki.localhost.cert_pem.as_bytes(), b""),
    ] {
        let error = tls::server_config_from_pem(cert, key).unwrap_err();
        assert!(matches!(error, Error::Tls(TlsError::Pem(_))), "{error:?}");
    }
    let error = tls::client_config_with_ca_pem(b"").unwrap_err();
    assert!(matches!(error, Error::Tls(TlsError::Pem(_))), "{error:?}");
    let missing = pki.dir.join("missing.pem");
    let error = tls::client_config_with_ca_file(&missing).unwrap_err();
    assert!(error.to_string().contains("missing.pem"), "{error}");
    // A key that belongs to another certificate.
    let error = tls::server_config_from_pem(
        pki.localhost.cert_pem.as_bytes(),
        pki.other_name.key_pem.as_bytes(),
    )
    .unwrap_err();
    assert!(matches!(error, Error::Tls(_)), "{error:?}");
    // The files test-support wrote work as they are.
    tls::server_config_from_pem_files(&pki.localhost.cert_path, &pki.localhost.key_path).unwrap();
    tls::client_config_with_ca_file(&pki.ca_path).unwrap();
}
