//! Test certificates for wss:// tests, made fresh at test time with rcgen:
//! no certificate or key is ever committed, and nothing here expires under
//! a test's feet (the valid ones run until 4096).
//!
//! [`TestPki::new`] makes a test certificate authority and, signed by it:
//! - [`TestPki::localhost`]: a server certificate for `localhost` and
//!   `127.0.0.1` (the one most tests serve);
//! - [`TestPki::other_name`]: a server certificate for `other.example`
//!   only (a client connecting to `localhost` must see a name mismatch);
//! - [`TestPki::expired`]: a server certificate for `localhost` and
//!   `127.0.0.1` whose validity ended in 2001;
//!
//! and, signed by a second authority that no client is told to trust,
//! [`TestPki::untrusted`]: a server certificate for `localhost` and
//! `127.0.0.1` (a client must see an unknown issuer).
//!
//! Everything is available as PEM strings and as files in a fresh
//! temporary directory (for binaries that take `--tls-cert FILE`), which
//! is removed when the `TestPki` is dropped.
//!
//! ```no_run
//! let pki = rusty_socket_test_support::tls::TestPki::new();
//! let ca_pem: &str = &pki.ca_pem; // what a client trusts
//! let (cert, key) = (&pki.localhost.cert_path, &pki.localhost.key_path);
//! # let _ = (ca_pem, cert, key);
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

/// The names every valid test server certificate is for: what a test
/// client puts in `wss://localhost:PORT` or `wss://127.0.0.1:PORT`.
pub const SERVER_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// The only name of [`TestPki::other_name`].
pub const OTHER_NAME: &str = "other.example";

/// A server certificate (leaf only: clients trust the CA directly) and its
/// private key (PKCS#8), as PEM text and as files.
#[derive(Debug, Clone)]
pub struct CertKey {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
    /// Where `cert_pem` is written.
    pub cert_path: PathBuf,
    /// Where `key_pem` is written.
    pub key_path: PathBuf,
}

/// A test certificate authority and the server certificates the TLS tests
/// need; see the module docs. Its files are removed on drop.
#[derive(Debug)]
pub struct TestPki {
    /// The test CA's certificate, PEM: what a client is told to trust.
    pub ca_pem: String,
    /// Where `ca_pem` is written.
    pub ca_path: PathBuf,
    /// For `localhost` and `127.0.0.1`, signed by the test CA.
    pub localhost: CertKey,
    /// For [`OTHER_NAME`] only, signed by the test CA.
    pub other_name: CertKey,
    /// For `localhost` and `127.0.0.1`, signed by the test CA, valid only
    /// from 2000-01-01 to 2001-01-01.
    pub expired: CertKey,
    /// For `localhost` and `127.0.0.1`, signed by another CA that is
    /// trusted nowhere.
    pub untrusted: CertKey,
    /// The temporary directory holding every file above.
    pub dir: PathBuf,
}

impl TestPki {
    /// Makes a fresh CA and certificates (ECDSA P-256, a few milliseconds)
    /// and writes them into a new temporary directory. Panics if rcgen or
    /// the file system fails: a test cannot go on without them.
    pub fn new() -> TestPki {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rusty-socket-test-pki-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        // A directory left by an earlier process with the same pid.
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));

        let ca = certificate_authority("rusty_socket test CA");
        let stranger = certificate_authority("rusty_socket untrusted CA");
        let ca_path = dir.join("ca.pem");
        write(&ca_path, &ca.pem());

        let valid = |names: &[&str]| server_params(names);
        let mut expired = server_params(&SERVER_NAMES);
        expired.not_before = date_time_ymd(2000, 1, 1);
        expired.not_after = date_time_ymd(2001, 1, 1);

        TestPki {
            ca_pem: ca.pem(),
            ca_path,
            localhost: issue(&dir, "localhost", valid(&SERVER_NAMES), &ca),
            other_name: issue(&dir, "other-name", valid(&[OTHER_NAME]), &ca),
            expired: issue(&dir, "expired", expired, &ca),
            untrusted: issue(&dir, "untrusted", valid(&SERVER_NAMES), &stranger),
            dir,
        }
    }
}

impl Default for TestPki {
    fn default() -> TestPki {
        TestPki::new()
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A self-signed CA allowed to sign server certificates.
fn certificate_authority(common_name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().expect("generate CA key");
    CertifiedIssuer::self_signed(params, key).expect("self-sign CA")
}

/// A leaf certificate for `names` (IP addresses become IP SANs), usable by
/// a TLS server and only that.
fn server_params(names: &[&str]) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names.clone()).expect("valid subject names");
    params.distinguished_name = distinguished_name(&names[0]);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

/// Signs `params` with `issuer` and writes `STEM.pem` and `STEM.key`.
fn issue(
    dir: &Path,
    stem: &str,
    params: CertificateParams,
    issuer: &CertifiedIssuer<'static, KeyPair>,
) -> CertKey {
    let key = KeyPair::generate().expect("generate server key");
    let cert = params
        .signed_by(&key, issuer)
        .expect("sign server certificate");
    let cert_path = dir.join(format!("{stem}.pem"));
    let key_path = dir.join(format!("{stem}.key"));
    let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
    write(&cert_path, &cert_pem);
    write(&key_path, &key_pem);
    CertKey {
        cert_pem,
        key_pem,
        cert_path,
        key_path,
    }
}

fn write(path: &Path, contents: &str) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_hold_the_pem_text_and_vanish_on_drop() {
        let pki = TestPki::new();
        let dir = pki.dir.clone();
        assert_eq!(fs::read_to_string(&pki.ca_path).unwrap(), pki.ca_pem);
        for ck in [
            &pki.localhost,
            &pki.other_name,
            &pki.expired,
            &pki.untrusted,
        ] {
            assert_eq!(fs::read_to_string(&ck.cert_path).unwrap(), ck.cert_pem);
            assert_eq!(fs::read_to_string(&ck.key_path).unwrap(), ck.key_pem);
            assert!(ck.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
            assert!(ck.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        }
        let other = TestPki::new();
        assert_ne!(other.dir, dir, "two sets never share a directory");
        assert_ne!(other.ca_pem, pki.ca_pem, "each set has its own CA");
        drop(pki);
        assert!(!dir.exists());
    }
}
