//! A deployment as it is run beyond one process: a real nginx load-balancing three demo
//! servers that share one PostgreSQL, and a rolling restart under `wrk` load — each
//! server gets SIGTERM, drains, exits 0, and is replaced on the same port before the next
//! one goes. The measure is the client's: zero failed requests.
//!
//! What makes it work: a stopping server answers what it has in flight, closes its idle
//! keep-alive connections only at a clean point, and refuses new connections (its
//! listener is closed); nginx retries a request whose connection was refused or closed
//! before any response byte (`proxy_next_upstream error`) on another server.

mod app_support;
mod pg_common;
mod proxy_support;
mod server_support;
mod tls_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use app_support::{get, Demo};

/// The demo on a fixed port, using `url` for `/db-data`.
fn demo_on(port: u16, url: &str) -> Demo {
    Demo::start_with(&["--port", &port.to_string(), "--no-access-log"], &[("DATABASE_URL", url)])
}

#[test]
fn a_rolling_restart_behind_nginx_fails_no_request() {
    let Some(cluster) = pg_common::cluster() else { return };
    assert!(server_support::have_tool("wrk"), "this test needs wrk (apt-get install wrk; .ci/test-all does)");
    let url = cluster.url();
    rasgi_executor::block_on(async {
        let mut conn = rasgi::pg::Connection::connect(&url).await.expect("connect");
        rasgi::pg::cluster::create_demo_table(&mut conn).await.expect("mytable");
        conn.close().await.expect("close");
    });

    let ports: Vec<u16> = (0..3).map(|_| tls_support::free_port()).collect();
    let mut servers: Vec<Option<Demo>> = ports.iter().map(|&port| Some(demo_on(port, &url))).collect();
    let upstreams: String = ports.iter().map(|p| format!("server 127.0.0.1:{p} max_fails=0; ")).collect();
    let proxy = proxy_support::Proxy::start_with_http(
        &format!("upstream rasgi {{ {upstreams} keepalive 32; }}"),
        "location / {
            proxy_pass http://rasgi;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_next_upstream error timeout;
        }",
    );
    let reply = get(proxy.addr, "/db-data");
    assert_eq!(reply.status, 200, "{}", reply.body);

    let wrk = Command::new("wrk")
        .args(["-t1", "-c32", "-d12s", &format!("http://{}/db-data", proxy.addr)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wrk");
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(1000));
    for (slot, &port) in servers.iter_mut().zip(&ports) {
        // One at a time: stop it (it drains and exits), then its replacement takes the port.
        let status = slot.take().expect("running").terminate();
        assert_eq!(status.code(), Some(0), "the server on port {port} exits cleanly after draining");
        *slot = Some(demo_on(port, &url));
        std::thread::sleep(Duration::from_millis(700));
    }
    let restarts_took = started.elapsed();
    assert!(restarts_took < Duration::from_secs(11), "the restarts must all happen under load ({restarts_took:?})");
    let output = wrk.wait_with_output().expect("wrk finishes");
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    eprintln!("{report}");
    // nginx's own account, for a failure message: it logs each retry on another server.
    let errors = proxy.error_log();
    let nginx_says: Vec<&str> = errors.lines().filter(|l| !l.contains("[notice]")).rev().take(10).collect();
    let completed = report
        .lines()
        .find_map(|l| l.trim().split_once(" requests in ").and_then(|(n, _)| n.parse::<u64>().ok()))
        .unwrap_or(0);
    assert!(completed > 500, "too few requests completed:\n{report}");
    // wrk prints these lines only when something failed.
    assert!(!report.contains("Socket errors"), "{report}\nnginx: {nginx_says:#?}");
    assert!(!report.contains("Non-2xx"), "{report}\nnginx: {nginx_says:#?}");
}
