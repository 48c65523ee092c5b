//! A throwaway PKI made with the `openssl` command line (EC P-256 keys, a CA with
//! `basicConstraints=CA:TRUE`, leaf certificates with `serverAuth` and subjectAltNames):
//! a root CA, a server certificate for `localhost` and `127.0.0.1`, and a second server
//! certificate that names only `other.test` (for the host name mismatch).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::TempDir;

/// The files of the test PKI, in a temporary directory removed on drop.
pub struct Pki {
    pub dir: TempDir,
}

impl Pki {
    /// Generates the CA and both server certificates (P-256 keys: a few milliseconds).
    pub fn generate() -> Pki {
        let dir = TempDir::new("pki");
        let d = dir.path();
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "3650",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                "/CN=Test Root CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        server_certificate(d, "server", "localhost", "DNS:localhost,IP:127.0.0.1");
        server_certificate(d, "other", "other.test", "DNS:other.test");
        Pki { dir }
    }

    /// The CA certificate (PEM) that clients must trust.
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// `name.pem` and `name.key` of a server certificate (`server` or `other`).
    pub fn cert_and_key(&self, name: &str) -> (PathBuf, PathBuf) {
        (self.dir.path().join(format!("{name}.pem")), self.dir.path().join(format!("{name}.key")))
    }
}

fn server_certificate(dir: &Path, name: &str, common_name: &str, san: &str) {
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let pem = format!("{name}.pem");
    let ext = format!("{name}.ext");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={common_name}"),
        ],
    );
    let extensions = format!(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\nsubjectAltName={san}\n"
    );
    std::fs::write(dir.join(&ext), extensions).expect("cannot write the extensions file");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "825",
            "-sha256",
            "-extfile",
            &ext,
            "-out",
            &pem,
        ],
    );
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("cannot run `openssl` (install the Debian package openssl)");
    assert!(output.status.success(), "openssl {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
}
