//! `sslmode` against a real PostgreSQL with `ssl = on` and certificates made at test time with
//! `openssl`: a test CA, a server certificate for `localhost` only, a client certificate for
//! `cert_user`, and a second CA that signed nothing the server has. The server's own view,
//! `pg_stat_ssl`, proves each connection is (or is not) encrypted; every failure is checked
//! for the message that names it.

mod pg_common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use rasgi::pg::cluster::{Cluster, ClusterOptions, TEST_PASSWORD};
use rasgi::pg::{Config, Connection, PgError, SslMode};
use rasgi_executor::block_on;

/// The certificates, in a directory of the cluster's.
struct Pki {
    /// The directory holding the files below.
    dir: PathBuf,
}

impl Pki {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// A CA, a leaf it signs (server or client), written as `NAME.pem` / `NAME.key`.
fn make_pki(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    for ca in ["ca", "other_ca"] {
        let subject = format!("/CN=rasgi test {ca}");
        let (key, pem) = (format!("{ca}.key"), format!("{ca}.pem"));
        let mut args = vec!["req", "-x509"];
        args.extend(ec);
        args.extend(["-days", "2", "-keyout", &key, "-out", &pem, "-subj", &subject]);
        args.extend([
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(dir, &args);
    }
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("client.ext"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    for (leaf, subject) in [("server", "/CN=localhost"), ("client", "/CN=cert_user")] {
        let (key, csr, pem, ext) =
            (format!("{leaf}.key"), format!("{leaf}.csr"), format!("{leaf}.pem"), format!("{leaf}.ext"));
        let mut args = vec!["req"];
        args.extend(ec);
        args.extend(["-keyout", &key, "-out", &csr, "-subj", subject]);
        openssl(dir, &args);
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
                "2",
                "-sha256",
                "-extfile",
                &ext,
                "-out",
                &pem,
            ],
        );
    }
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Copies `from` into the data directory as `name`, mode 0600 and owned by the server's user.
fn install(from: &Path, data_dir: &Path, name: &str) {
    use std::os::unix::fs::PermissionsExt;
    let to = data_dir.join(name);
    std::fs::copy(from, &to).unwrap();
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
    if running_as_root() {
        let status = Command::new("chown").arg("postgres:postgres").arg(&to).status().unwrap();
        assert!(status.success());
    }
}

/// This binary's cluster with TLS switched on (once), and its certificates.
fn tls_cluster() -> Option<(&'static Cluster, &'static Pki)> {
    static PKI: OnceLock<Pki> = OnceLock::new();
    let cluster = pg_common::cluster()?;
    let pki = PKI.get_or_init(|| {
        let dir = cluster.data_dir().parent().unwrap().join("pki");
        make_pki(&dir);
        let data = cluster.data_dir();
        install(&dir.join("server.pem"), &data, "server.crt");
        install(&dir.join("server.key"), &data, "server.key");
        install(&dir.join("ca.pem"), &data, "root.crt");
        // cert_user logs in with its certificate alone, and only over TLS (first line wins).
        let hba = std::fs::read_to_string(data.join("pg_hba.conf")).unwrap();
        std::fs::write(data.join("pg_hba.conf"), format!("hostssl all cert_user 127.0.0.1/32 cert\n{hba}")).unwrap();
        block_on(async {
            let mut conn = pg_common::superuser(cluster).await;
            // One statement at a time: ALTER SYSTEM refuses to run inside a script's
            // implicit transaction.
            for sql in [
                "CREATE ROLE cert_user LOGIN",
                "ALTER SYSTEM SET ssl_ca_file = 'root.crt'",
                "ALTER SYSTEM SET ssl = on",
                "SELECT pg_reload_conf()",
            ] {
                conn.execute_script(sql).await.unwrap();
            }
            // The reload is asynchronous: wait until the server really speaks TLS.
            for _ in 0..100 {
                if let Ok(conn) = Connection::connect_with(&url_config(cluster, "postgres", SslMode::Require)).await {
                    if conn.is_encrypted() {
                        let _ = conn.close().await;
                        return;
                    }
                }
                rasgi_executor::sleep(std::time::Duration::from_millis(50)).await;
            }
            panic!("the server did not switch TLS on; see {}", cluster.log_path().display());
        });
        Pki { dir }
    });
    Some((cluster, pki))
}

/// A config for `user` on the cluster, by IP address, with the right password.
fn url_config(cluster: &Cluster, user: &str, mode: SslMode) -> Config {
    let url = if user == "postgres" { cluster.url() } else { cluster.url_for(user, Some(TEST_PASSWORD)) };
    Config::from_url(&url).unwrap().ssl_mode(mode)
}

/// The same, by the name `localhost` (the only name the server certificate covers).
fn localhost_config(cluster: &Cluster, mode: SslMode) -> Config {
    let url = cluster.url().replace("@127.0.0.1:", "@localhost:");
    Config::from_url(&url).unwrap().ssl_mode(mode)
}

/// What `pg_stat_ssl` says about the calling backend: (encrypted, TLS version).
async fn server_view(conn: &mut Connection) -> (bool, Option<String>) {
    let row = conn.fetch_one("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap();
    let row = row.expect("pg_stat_ssl has a row for every backend");
    (row.get("ssl").unwrap(), row.get("version").unwrap())
}

async fn tls_error(config: &Config) -> String {
    match Connection::connect_with(config).await {
        Err(PgError::Tls(message)) => message,
        Err(other) => panic!("expected a TLS error, got {other:?}"),
        Ok(_) => panic!("the connection should have failed"),
    }
}

#[test]
fn each_sslmode_encrypts_or_not_as_libpq_does() {
    let Some((cluster, _)) = tls_cluster() else { return };
    block_on(async {
        for (mode, encrypted) in
            [(SslMode::Disable, false), (SslMode::Allow, false), (SslMode::Prefer, true), (SslMode::Require, true)]
        {
            let mut conn = Connection::connect_with(&url_config(cluster, "postgres", mode)).await.unwrap();
            assert_eq!(conn.is_encrypted(), encrypted, "{mode:?}");
            let (ssl, version) = server_view(&mut conn).await;
            assert_eq!(ssl, encrypted, "{mode:?}: pg_stat_ssl.ssl");
            if encrypted {
                assert!(version.is_some_and(|v| v.starts_with("TLSv1.")), "{mode:?}: a TLS version");
            }
        }
    });
}

#[test]
fn verify_modes_check_the_chain_and_the_name() {
    let Some((cluster, pki)) = tls_cluster() else { return };
    block_on(async {
        let ca = pki.path("ca.pem");
        // verify-full by the certificate's name: encrypted and verified.
        let full = localhost_config(cluster, SslMode::VerifyFull).ssl_root_cert(&ca);
        let mut conn = Connection::connect_with(&full).await.unwrap();
        assert!(server_view(&mut conn).await.0);
        // By IP address the name does not match; verify-ca does not care.
        let by_ip = url_config(cluster, "postgres", SslMode::VerifyFull).ssl_root_cert(&ca);
        let err = tls_error(&by_ip).await;
        assert!(err.contains("not valid for the host \"127.0.0.1\""), "{err}");
        let ca_only = url_config(cluster, "postgres", SslMode::VerifyCa).ssl_root_cert(&ca);
        let mut conn = Connection::connect_with(&ca_only).await.unwrap();
        assert!(server_view(&mut conn).await.0);
        // A CA that did not sign the server's certificate; and no CA at all (the Mozilla roots).
        let stranger = localhost_config(cluster, SslMode::VerifyCa).ssl_root_cert(pki.path("other_ca.pem"));
        let err = tls_error(&stranger).await;
        assert!(err.contains("not signed by a trusted CA (unknown issuer)") && err.contains("sslrootcert"), "{err}");
        let err = tls_error(&localhost_config(cluster, SslMode::VerifyFull)).await;
        assert!(err.contains("unknown issuer"), "{err}");
        // require with a root certificate verifies the chain, as libpq does.
        let require_checked = localhost_config(cluster, SslMode::Require).ssl_root_cert(pki.path("other_ca.pem"));
        assert!(tls_error(&require_checked).await.contains("unknown issuer"));
        // A root file that is not a certificate is named.
        let err =
            tls_error(&localhost_config(cluster, SslMode::VerifyFull).ssl_root_cert(pki.path("server.ext"))).await;
        assert!(err.starts_with("sslrootcert:"), "{err}");
    });
}

#[test]
fn scram_binds_to_the_tls_channel() {
    let Some((cluster, _)) = tls_cluster() else { return };
    block_on(async {
        let bound = Connection::connect_with(&url_config(cluster, "scram_user", SslMode::Require)).await.unwrap();
        assert!(bound.is_encrypted() && bound.channel_binding_used(), "SCRAM-SHA-256-PLUS over TLS");
        let plain = Connection::connect_with(&url_config(cluster, "scram_user", SslMode::Disable)).await.unwrap();
        assert!(!plain.is_encrypted() && !plain.channel_binding_used(), "plain SCRAM without TLS");
        // The superuser (SCRAM too) binds as well.
        let superuser = Connection::connect_with(&url_config(cluster, "postgres", SslMode::Require)).await.unwrap();
        assert!(superuser.channel_binding_used());
    });
}

#[test]
fn a_client_certificate_logs_in_without_a_password() {
    let Some((cluster, pki)) = tls_cluster() else { return };
    block_on(async {
        let url = format!("postgres://cert_user@127.0.0.1:{}/postgres", cluster.port());
        let with_cert = Config::from_url(&url)
            .unwrap()
            .ssl_mode(SslMode::VerifyCa)
            .ssl_root_cert(pki.path("ca.pem"))
            .ssl_client_cert(pki.path("client.pem"), pki.path("client.key"));
        let mut conn = Connection::connect_with(&with_cert).await.unwrap();
        let who: String = conn.fetch_value("SELECT current_user::text", &[]).await.unwrap();
        assert_eq!(who, "cert_user");
        let client_dn: Option<String> =
            conn.fetch_value("SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap();
        assert_eq!(client_dn.as_deref(), Some("/CN=cert_user"));
        // allow: the plain attempt is refused (a hostssl line), so it retries encrypted.
        let allow = with_cert.clone().ssl_mode(SslMode::Allow);
        let conn = Connection::connect_with(&allow).await.unwrap();
        assert!(conn.is_encrypted(), "allow fell back to TLS");
        // Without the certificate the server refuses (SQLSTATE 28000), as pg_hba.conf says.
        let without = Config::from_url(&url).unwrap().ssl_mode(SslMode::Require);
        let err = Connection::connect_with(&without).await.unwrap_err();
        assert!(matches!(&err, PgError::Server(db) if db.code == "28000"), "{err:?}");
        // Half a pair is a configuration mistake, said before connecting.
        let half = Config::from_url(&format!("{url}?sslmode=require&sslcert=/x.pem")).unwrap();
        let err = tls_error(&half).await;
        assert!(err.contains("sslcert and sslkey go together"), "{err}");
    });
}

#[test]
fn a_server_without_tls_fails_require_and_serves_prefer() {
    if rasgi::pg::cluster::find_postgres_bin().is_err() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("rasgi-pg_tls-plain-{}", std::process::id()));
    let cluster = Cluster::start(&dir, ClusterOptions { remove_on_stop: true, ..ClusterOptions::default() }).unwrap();
    block_on(async {
        let err = tls_error(&url_config(&cluster, "postgres", SslMode::Require)).await;
        assert!(err.contains("does not accept TLS (it answered N to SSLRequest)"), "{err}");
        let conn = Connection::connect_with(&url_config(&cluster, "postgres", SslMode::Prefer)).await.unwrap();
        assert!(!conn.is_encrypted());
    });
}
