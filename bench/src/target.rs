//! Where to connect: a `ws://` URL or a bare `host:port`.

use crate::Error;

/// A server to connect to: the TCP authority and the request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port`, used both for `connect` and as the `Host` header.
    pub authority: String,
    /// Request target of the opening handshake, starting with `/`.
    pub path: String,
}

impl Target {
    /// Parses `ws://host[:port][/path]`. Only `ws` is supported: TLS would
    /// measure the TLS stack, not the WebSocket one.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let rest = url.strip_prefix("ws://").ok_or_else(|| {
            Error::Usage(format!(
                "unsupported URL {url:?}: expected ws://host:port/path"
            ))
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(Error::Usage(format!("URL {url:?} has no host")));
        }
        // A bracketed IPv6 literal contains colons of its own; only a colon
        // after the closing bracket starts a port.
        let has_port = match authority.rfind(']') {
            Some(end) => authority[end..].contains(':'),
            None => authority.contains(':'),
        };
        let authority = if has_port {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(Target {
            authority,
            path: path.to_string(),
        })
    }

    /// A bare `host:port`, requesting `/`.
    pub fn from_addr(addr: &str) -> Self {
        Target {
            authority: addr.to_string(),
            path: "/".to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let t = Target::from_url("ws://127.0.0.1:9001/").unwrap();
        assert_eq!(t.authority, "127.0.0.1:9001");
        assert_eq!(t.path, "/");
        let t = Target::from_url("ws://localhost/chat?room=1").unwrap();
        assert_eq!(t.authority, "localhost:80");
        assert_eq!(t.path, "/chat?room=1");
        let t = Target::from_url("ws://[::1]:9001").unwrap();
        assert_eq!(t.authority, "[::1]:9001");
        assert_eq!(t.path, "/");
        assert!(Target::from_url("wss://x/").is_err());
        assert!(Target::from_url("ws:///").is_err());
    }
}
