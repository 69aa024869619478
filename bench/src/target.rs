//! Where to connect: a `ws://` or `wss://` URL, or a bare `host:port`.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::ClientConfig;

use crate::{tls, Error};

/// A server to connect to: the TCP authority, the request path, and TLS
/// settings for a `wss://` server.
#[derive(Debug, Clone)]
pub struct Target {
    /// `host:port`, used both for `connect` and as the `Host` header.
    pub authority: String,
    /// Request target of the opening handshake, starting with `/`.
    pub path: String,
    /// For `wss://`: how to make the TLS connection.
    pub tls: Option<Tls>,
    /// The local address to connect from (`--bind`): loopback aliases
    /// such as 127.0.0.2 give each their own ephemeral ports, for more
    /// connections than one source address has ports.
    pub bind: Option<IpAddr>,
}

/// The TLS side of a `wss://` target.
#[derive(Debug, Clone)]
pub struct Tls {
    /// The client configuration (trusted CA, ring provider).
    pub config: Arc<ClientConfig>,
    /// The name sent as SNI and checked against the certificate: the URL's
    /// host, a DNS name or an IP address.
    pub server_name: ServerName<'static>,
}

impl Target {
    /// Parses `ws://host[:port][/path]` or `wss://host[:port][/path]`. A
    /// `wss://` URL needs `ca`, the PEM file of the CA that signed the
    /// server's certificate (the only one trusted: no system roots).
    pub fn from_url(url: &str, ca: Option<&Path>) -> Result<Self, Error> {
        let (rest, default_port, secure) = if let Some(rest) = url.strip_prefix("ws://") {
            (rest, 80, false)
        } else if let Some(rest) = url.strip_prefix("wss://") {
            (rest, 443, true)
        } else {
            return Err(Error::Usage(format!(
                "unsupported URL {url:?}: expected ws://host:port/path or wss://host:port/path"
            )));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(Error::Usage(format!("URL {url:?} has no host")));
        }
        // A bracketed IPv6 literal contains colons of its own; only a colon
        // after the closing bracket starts a port.
        let port_at = match authority.rfind(']') {
            Some(end) => authority[end..].find(':').map(|i| end + i),
            None => authority.rfind(':'),
        };
        let host = port_at.map_or(authority, |i| &authority[..i]);
        let tls = match (secure, ca) {
            (false, None) => None,
            (false, Some(_)) => return Err(Error::Usage("--ca is only for wss:// URLs".into())),
            (true, None) => {
                return Err(Error::Usage(format!(
                    "{url}: wss:// needs --ca FILE, the PEM certificate of the CA that signed the server's"
                )))
            }
            (true, Some(ca)) => {
                let name = host.trim_start_matches('[').trim_end_matches(']');
                let server_name = ServerName::try_from(name.to_string()).map_err(|_| {
                    Error::Usage(format!("{host:?} is neither a DNS name nor an IP address"))
                })?;
                Some(Tls {
                    config: tls::client_config(ca)?,
                    server_name,
                })
            }
        };
        let authority = match port_at {
            Some(_) => authority.to_string(),
            None => format!("{authority}:{default_port}"),
        };
        Ok(Target {
            authority,
            path: path.to_string(),
            tls,
            bind: None,
        })
    }

    /// A bare `host:port` over plain TCP, requesting `/`.
    pub fn from_addr(addr: &str) -> Self {
        Target {
            authority: addr.to_string(),
            path: "/".to_string(),
            tls: None,
            bind: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let t = Target::from_url("ws://127.0.0.1:9001/", None).unwrap();
        assert_eq!(t.authority, "127.0.0.1:9001");
        assert_eq!(t.path, "/");
        assert!(t.tls.is_none());
        let t = Target::from_url("ws://localhost/chat?room=1", None).unwrap();
        assert_eq!(t.authority, "localhost:80");
        assert_eq!(t.path, "/chat?room=1");
        let t = Target::from_url("ws://[::1]:9001", None).unwrap();
        assert_eq!(t.authority, "[::1]:9001");
        assert_eq!(t.path, "/");
        assert!(Target::from_url("http://x/", None).is_err());
        assert!(Target::from_url("ws:///", None).is_err());
    }

    #[test]
    fn wss_needs_a_ca_and_ws_refuses_one() {
        let err = Target::from_url("wss://localhost:9001/", None).unwrap_err();
        assert!(err.to_string().contains("--ca"), "{err}");
        let err = Target::from_url("ws://localhost:9001/", Some(Path::new("ca.pem"))).unwrap_err();
        assert!(err.to_string().contains("only for wss://"), "{err}");
        let err = Target::from_url("wss://x/", Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn wss_names_the_host_for_sni_and_the_certificate() {
        let pki = rusty_socket_test_support::tls::TestPki::new();
        let t = Target::from_url("wss://127.0.0.1/x", Some(&pki.ca_path)).unwrap();
        assert_eq!(t.authority, "127.0.0.1:443");
        assert_eq!(t.path, "/x");
        let name = t.tls.unwrap().server_name;
        assert!(matches!(name, ServerName::IpAddress(_)), "{name:?}");
        let t = Target::from_url("wss://localhost:9443", Some(&pki.ca_path)).unwrap();
        assert_eq!(t.authority, "localhost:9443");
        let name = t.tls.unwrap().server_name;
        assert_eq!(name.to_str(), "localhost");
        let t = Target::from_url("wss://[::1]:9443/", Some(&pki.ca_path)).unwrap();
        assert!(matches!(
            t.tls.unwrap().server_name,
            ServerName::IpAddress(_)
        ));
        // A key is no certificate.
        let err = Target::from_url("wss://localhost/", Some(&pki.localhost.key_path)).unwrap_err();
        assert!(
            err.to_string().contains("holds no PEM certificate"),
            "{err}"
        );
    }
}
