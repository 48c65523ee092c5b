//! The demo's two outside services, end to end with real peers:
//! - `/db-data` with no `DATABASE_URL`: the demo starts its own PostgreSQL (as on a
//!   newcomer's machine with the `postgresql` package and nothing else), creates
//!   `mytable`, returns its rows (exact JSON), streams them as CSV from COPY
//!   (`/export.csv`), relays NOTIFY as Server-Sent Events (`/notifications`), and stops
//!   the server when it exits;
//! - `/external-api` pointed at a local nginx over TLS: with the test CA in
//!   `SSL_CERT_FILE` it returns nginx's JSON; without it, a 502 naming the TLS step and
//!   the unknown issuer.

mod app_support;
mod tls_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use app_support::{get, Demo};
use serde_json::{json, Value};
use tls_support::{nginx::Nginx, pki::Pki, TempDir};

/// Reads from `stream` until `wanted` has arrived; returns everything read.
fn read_until(stream: &mut TcpStream, wanted: &[u8]) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(wanted.len()).any(|w| w == wanted) {
        let n =
            stream.read(&mut buf).unwrap_or_else(|e| panic!("waiting for {:?}: {e}", String::from_utf8_lossy(wanted)));
        assert!(n > 0, "the stream ended before {:?}", String::from_utf8_lossy(wanted));
        seen.extend_from_slice(&buf[..n]);
    }
    seen
}

/// Stops the demo with SIGINT and checks it exits cleanly.
fn interrupt(demo: Demo) {
    let status = demo.interrupt();
    assert!(status.success(), "the demo exited with {status}");
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
    let demo = Demo::start_with(&["--no-access-log"], &[("RASGI_DEMO_PG_DIR", pg_dir.to_str().expect("utf-8 path"))]);
    let reply = get(demo.addr, "/db-data");
    assert_eq!(reply.status, 200, "{}", reply.body);
    // Exact bytes: columns in table order, numeric(12,2) with its scale, as json_agg has it.
    assert_eq!(
        reply.body,
        concat!(
            r#"[{"id":1,"name":"alpha","value":1.50},{"id":2,"name":"beta","value":20.00},"#,
            r#"{"id":3,"name":"gamma","value":333.33},{"id":4,"name":"delta","value":null},"#,
            r#"{"id":5,"name":"epsilon","value":0.05}]"#
        )
    );
    // The same table as CSV, streamed from COPY in a chunked response.
    let csv = get(demo.addr, "/export.csv");
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(csv.header("transfer-encoding"), Some("chunked"));
    assert_eq!(csv.body, "id,name,value\n1,alpha,1.50\n2,beta,20.00\n3,gamma,333.33\n4,delta,\n5,epsilon,0.05\n");
    // Find the cluster's port in its postmaster.pid (line 4) to check it stops with us.
    let pid_file = std::fs::read_to_string(pg_dir.join("data/postmaster.pid")).expect("the cluster is running");
    let port: u16 = pid_file.lines().nth(3).and_then(|l| l.trim().parse().ok()).expect("a port in postmaster.pid");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok(), "PostgreSQL listens while the demo runs");

    // /notifications relays NOTIFY rasgi_demo as Server-Sent Events.
    let mut events = TcpStream::connect(demo.addr).expect("connect to the demo");
    events.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    events.write_all(b"GET /notifications HTTP/1.1\r\nHost: demo\r\n\r\n").unwrap();
    let seen = read_until(&mut events, b": listening on rasgi_demo\n\n");
    let head = String::from_utf8_lossy(&seen).to_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert!(
        head.contains("content-type: text/event-stream\r\n") && head.contains("cache-control: no-cache\r\n"),
        "{head}"
    );
    let password = std::fs::read_to_string(pg_dir.join("data/rasgi-superuser-password")).expect("the password file");
    let url = format!("postgres://postgres:{}@127.0.0.1:{port}/postgres", password.trim());
    rasgi_executor::block_on(async {
        let mut conn = rasgi::pg::Connection::connect(&url).await.expect("the demo's database");
        conn.execute_script("SELECT pg_notify('rasgi_demo', E'hello\\nworld')").await.expect("NOTIFY");
    });
    read_until(&mut events, b"data: hello\ndata: world\n\n");
    drop(events);
    interrupt(demo);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "PostgreSQL still listens after the demo exited");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn db_data_without_a_database_says_how_to_fix_it() {
    let demo = Demo::start(&["--no-access-log"]);
    let reply = get(demo.addr, "/db-data");
    assert_eq!(reply.status, 503);
    assert_eq!(
        serde_json::from_str::<Value>(&reply.body).expect("JSON"),
        json!({"detail": "the demo's database is switched off (RASGI_DEMO_DATABASE=off)"})
    );
    interrupt(demo);
}

#[test]
fn external_api_fetches_json_over_tls_from_a_local_nginx() {
    let pki = Pki::generate();
    let nginx = Nginx::start(&pki, None);
    let url = nginx.url("/json");
    let ca = pki.ca_pem();

    let demo = Demo::start_with(
        &["--no-access-log"],
        &[
            ("RASGI_DEMO_DATABASE", "off"),
            ("EXTERNAL_API_URL", &url),
            ("SSL_CERT_FILE", ca.to_str().expect("utf-8 path")),
        ],
    );
    let reply = get(demo.addr, "/external-api");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(serde_json::from_str::<Value>(&reply.body).expect("JSON"), json!({"ok": true, "server": "nginx"}));
    interrupt(demo);

    // Without the test CA the certificate cannot be verified: 502, naming the step.
    let demo = Demo::start_with(&["--no-access-log"], &[("RASGI_DEMO_DATABASE", "off"), ("EXTERNAL_API_URL", &url)]);
    let reply = get(demo.addr, "/external-api");
    assert_eq!(reply.status, 502, "{}", reply.body);
    let detail =
        serde_json::from_str::<Value>(&reply.body).expect("JSON")["detail"].as_str().unwrap_or_default().to_owned();
    assert!(detail.starts_with(&format!("GET {url} failed at step 'tls'")), "{detail}");
    assert!(detail.contains("unknown issuer"), "{detail}");
    interrupt(demo);
}
