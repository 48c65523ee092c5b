//! The demo's two outside services, end to end with real peers:
//! - `/db-data` with no `DATABASE_URL`: the demo starts its own PostgreSQL (as on a
//!   newcomer's machine with the `postgresql` package and nothing else), creates
//!   `mytable`, returns its rows, and stops the server when it exits;
//! - `/external-api` pointed at a local nginx over TLS: with the test CA in
//!   `SSL_CERT_FILE` it returns nginx's JSON; without it, a 502 naming the TLS step and
//!   the unknown issuer.

mod app_support;
mod tls_support;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use app_support::get;
use serde_json::{json, Value};
use tls_support::{nginx::Nginx, pki::Pki, TempDir};

/// Starts the demo with `env`, waits for its address (startup may include `initdb`).
fn start_demo(env: &[(&str, &str)]) -> (Child, SocketAddr) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rasgi"));
    command.args(["--port", "0", "--no-access-log"]).env_remove("DATABASE_URL").env_remove("SSL_CERT_FILE");
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.stderr(Stdio::piped()).stdout(Stdio::null()).spawn().expect("start the demo");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("demo: {line}");
            if let Some(addr) = line.split("running on http://").nth(1).and_then(|r| r.split_whitespace().next()) {
                let _ = tx.send(addr.to_owned());
            }
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(120)).expect("the demo starts and prints its address");
    (child, addr.parse().expect("an address"))
}

/// SIGINT, then wait for a clean exit.
fn interrupt(mut child: Child) {
    // SAFETY: kill() with our own child's pid and a valid signal number.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "the demo exited with {status}");
            return;
        }
        assert!(Instant::now() < deadline, "the demo did not exit after SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn postgres_installed() -> bool {
    let found = rasgi::pg::cluster::find_postgres_bin().is_ok();
    if !found {
        assert!(std::env::var_os("CI").is_none(), "PostgreSQL is not installed, and CI requires this test");
        eprintln!("SKIPPED: PostgreSQL is not installed (apt-get install -y postgresql)");
    }
    found
}

#[test]
fn db_data_works_with_nothing_but_postgresql_installed() {
    if !postgres_installed() {
        return;
    }
    let dir = TempDir::new("demo-pg");
    let pg_dir = dir.path().join("cluster");
    let (child, addr) = start_demo(&[("RASGI_DEMO_PG_DIR", pg_dir.to_str().expect("utf-8 path"))]);
    let reply = get(addr, "/db-data");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let rows: Value = serde_json::from_str(&reply.body).expect("JSON");
    assert_eq!(
        rows,
        json!([
            {"id": 1, "name": "alpha", "value": 1.5},
            {"id": 2, "name": "beta", "value": 20},
            {"id": 3, "name": "gamma", "value": 333.33},
            {"id": 4, "name": "delta", "value": null},
            {"id": 5, "name": "epsilon", "value": 0.05}
        ])
    );
    // Find the cluster's port in its postmaster.pid (line 4) to check it stops with us.
    let pid_file = std::fs::read_to_string(pg_dir.join("data/postmaster.pid")).expect("the cluster is running");
    let port: u16 = pid_file.lines().nth(3).and_then(|l| l.trim().parse().ok()).expect("a port in postmaster.pid");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok(), "PostgreSQL listens while the demo runs");
    interrupt(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "PostgreSQL still listens after the demo exited");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn db_data_without_a_database_says_how_to_fix_it() {
    let (child, addr) = start_demo(&[("RASGI_DEMO_DATABASE", "off")]);
    let reply = get(addr, "/db-data");
    assert_eq!(reply.status, 503);
    assert_eq!(
        serde_json::from_str::<Value>(&reply.body).expect("JSON"),
        json!({"detail": "the demo's database is switched off (RASGI_DEMO_DATABASE=off)"})
    );
    interrupt(child);
}

#[test]
fn external_api_fetches_json_over_tls_from_a_local_nginx() {
    let pki = Pki::generate();
    let nginx = Nginx::start(&pki, None);
    let url = nginx.url("/json");
    let ca = pki.ca_pem();

    let (child, addr) = start_demo(&[
        ("RASGI_DEMO_DATABASE", "off"),
        ("EXTERNAL_API_URL", &url),
        ("SSL_CERT_FILE", ca.to_str().expect("utf-8 path")),
    ]);
    let reply = get(addr, "/external-api");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(serde_json::from_str::<Value>(&reply.body).expect("JSON"), json!({"ok": true, "server": "nginx"}));
    interrupt(child);

    // Without the test CA the certificate cannot be verified: 502, naming the step.
    let (child, addr) = start_demo(&[("RASGI_DEMO_DATABASE", "off"), ("EXTERNAL_API_URL", &url)]);
    let reply = get(addr, "/external-api");
    assert_eq!(reply.status, 502, "{}", reply.body);
    let detail =
        serde_json::from_str::<Value>(&reply.body).expect("JSON")["detail"].as_str().unwrap_or_default().to_owned();
    assert!(detail.starts_with(&format!("GET {url} failed at step 'tls'")), "{detail}");
    assert!(detail.contains("unknown issuer"), "{detail}");
    interrupt(child);
}
