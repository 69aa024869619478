//! `tls_cert DIR`: makes a fresh test CA and a server certificate for
//! `localhost` and `127.0.0.1` signed by it (test-support's `TestPki`), and
//! writes `DIR/ca.pem`, `DIR/cert.pem` and `DIR/key.pem` for the TLS
//! benchmarks and conformance run. Nothing is checked in; nothing is reused.

use std::error::Error;
use std::fs;
use std::path::PathBuf;

use rusty_socket_test_support::tls::TestPki;

fn main() -> Result<(), Box<dyn Error>> {
    let dir: PathBuf = match std::env::args_os().nth(1) {
        Some(dir) => dir.into(),
        None => return Err("usage: tls_cert DIR (writes DIR/ca.pem, cert.pem, key.pem)".into()),
    };
    fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    // TestPki removes its own directory when dropped: copy out what is needed.
    let pki = TestPki::new();
    for (name, pem) in [
        ("ca.pem", &pki.ca_pem),
        ("cert.pem", &pki.localhost.cert_pem),
        ("key.pem", &pki.localhost.key_pem),
    ] {
        let path = dir.join(name);
        fs::write(&path, pem).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}
