//! Which web pages may open a chat connection (RFC 6455 section 10.2).
//!
//! Browsers send cookies and reach intranet addresses on behalf of any page
//! that opens a WebSocket, and they do not apply the same-origin policy to
//! it: the server must look at `Origin` itself, or any site a user visits
//! could chat in their name (cross-site WebSocket hijacking). Browsers
//! always send `Origin` and pages cannot forge it; command-line clients
//! send none, and are not a hijacking risk (they hold no victim's cookies).
//!
//! Accepted: no `Origin`; an `Origin` naming the host the request was sent
//! to (`Host`), over http or https (the page this server serves); and the
//! origins given with `--allow-origin`. Everything else, `null` included
//! (sandboxed frames, `file://` pages), is refused.

/// The set of origins accepted besides the server's own pages.
#[derive(Debug, Clone, Default)]
pub struct OriginPolicy {
    /// Normalised (see [`normalize`]).
    allowed: Vec<String>,
}

impl OriginPolicy {
    /// A policy that also accepts `origins` (`scheme://host[:port]`).
    pub fn new(origins: &[String]) -> Result<OriginPolicy, String> {
        let allowed = origins
            .iter()
            .map(|origin| {
                normalize(origin).ok_or_else(|| {
                    format!(
                        "--allow-origin {origin:?} is not an origin: expected scheme://host[:port], \
                         such as https://chat.example.com"
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(OriginPolicy { allowed })
    }

    /// Whether a handshake with this `Origin` header, sent to this `Host`,
    /// may open a connection; the error says why not, for the log.
    pub fn check(&self, origin: Option<&str>, host: Option<&str>) -> Result<(), String> {
        let Some(origin) = origin else {
            return Ok(());
        };
        let Some(normalized) = normalize(origin) else {
            return Err(format!("malformed Origin {origin:?}"));
        };
        if let Some(host) = host {
            let own = ["http", "https"].iter().any(|scheme| {
                normalize(&format!("{scheme}://{host}")).as_deref() == Some(normalized.as_str())
            });
            if own {
                return Ok(());
            }
        }
        if self.allowed.contains(&normalized) {
            return Ok(());
        }
        Err(format!(
            "Origin {origin:?} is neither this server ({}) nor allowed by --allow-origin",
            host.unwrap_or("no Host header")
        ))
    }
}

/// `scheme://host[:port]` in lower case, without the scheme's default port
/// or a trailing slash, so that equal origins compare equal; `None` if it
/// is not of that form.
fn normalize(origin: &str) -> Option<String> {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, authority) = origin.split_once("://")?;
    let scheme_ok = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let authority_ok = !authority.is_empty()
        && !authority.contains(['/', '?', '#', '@', ' '])
        && !authority.starts_with(':');
    if !scheme_ok || !authority_ok {
        return None;
    }
    let default_port = match scheme {
        "http" | "ws" => Some(":80"),
        "https" | "wss" => Some(":443"),
        _ => None,
    };
    let authority = match default_port {
        Some(port) => authority.strip_suffix(port).unwrap_or(authority),
        None => authority,
    };
    Some(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allowed: &[&str]) -> OriginPolicy {
        let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        OriginPolicy::new(&allowed).expect("valid origins")
    }

    #[test]
    fn no_origin_is_a_command_line_client() {
        assert_eq!(policy(&[]).check(None, Some("127.0.0.1:8080")), Ok(()));
        assert_eq!(policy(&[]).check(None, None), Ok(()));
    }

    #[test]
    fn own_pages_are_accepted_over_http_and_https() {
        let p = policy(&[]);
        assert_eq!(
            p.check(Some("http://127.0.0.1:8080"), Some("127.0.0.1:8080")),
            Ok(())
        );
        assert_eq!(
            p.check(Some("https://Chat.Example.com"), Some("chat.example.com")),
            Ok(())
        );
        // Default ports are implicit in Origin, explicit or not in Host.
        assert_eq!(
            p.check(
                Some("https://chat.example.com"),
                Some("chat.example.com:443")
            ),
            Ok(())
        );
        assert_eq!(
            p.check(Some("http://[::1]:9000"), Some("[::1]:9000")),
            Ok(())
        );
    }

    #[test]
    fn foreign_pages_are_refused() {
        let p = policy(&[]);
        assert!(p
            .check(Some("https://evil.example"), Some("127.0.0.1:8080"))
            .is_err());
        // Same host, other port: another origin.
        assert!(p
            .check(Some("http://127.0.0.1:9999"), Some("127.0.0.1:8080"))
            .is_err());
        assert!(p.check(Some("null"), Some("127.0.0.1:8080")).is_err());
        assert!(p.check(Some("http://127.0.0.1:8080"), None).is_err());
        // A host that merely starts like ours.
        assert!(p
            .check(Some("http://127.0.0.1:80801"), Some("127.0.0.1:8080"))
            .is_err());
    }

    #[test]
    fn allowed_origins_are_accepted() {
        let p = policy(&["https://chat.example.com/", "http://localhost:3000"]);
        assert_eq!(
            p.check(Some("https://chat.example.com"), Some("127.0.0.1:8080")),
            Ok(())
        );
        assert_eq!(
            p.check(Some("http://LOCALHOST:3000"), Some("127.0.0.1:8080")),
            Ok(())
        );
        assert!(p
            .check(Some("http://chat.example.com"), Some("127.0.0.1:8080"))
            .is_err());
    }

    #[test]
    fn malformed_allow_origin_is_refused() {
        let bad = ["chat.example.com".to_string()];
        assert!(OriginPolicy::new(&bad).is_err());
        let bad = ["https://example.com/path".to_string()];
        assert!(OriginPolicy::new(&bad).is_err());
    }
}
