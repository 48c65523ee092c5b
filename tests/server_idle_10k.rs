//! 10,000 concurrent idle keep-alive connections held by one event loop, with the
//! server's memory per connection measured (printed; run with `--nocapture` to see it).
//!
//! The server runs in this test process, so the growth of this process's resident set
//! while the connections are open is the server's cost per connection: its connection
//! task, read buffer, write buffer and scope. The 10,000 client sockets live in a child
//! process — this same test binary, re-run with the ignored `idle_client` test selected
//! — so that their descriptors and memory are not counted, and so that each process
//! needs only ~10,000 descriptors. Each client connection sends one request, reads the
//! answer, and then sits idle; meanwhile a new client must still be served promptly,
//! and afterwards every idle connection must still be open and usable.

mod server_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rasgi_http::server::Config;
use server_support::{config, exchange, raise_fd_limit, Echo, TestServer};

/// How many idle connections.
const CONNECTIONS: usize = 10_000;
/// Tells the child process where to connect.
const TARGET_ENV: &str = "RASGI_IDLE_CLIENT_TARGET";
/// The child's line saying all connections are open and idle.
const READY: &str = "IDLE-CLIENT READY";
/// The child's line after its final check.
const CHECKED: &str = "IDLE-CLIENT CHECKED";

/// This process's resident set size in bytes, from `/proc/self/status`.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

#[test]
fn ten_thousand_idle_keep_alive_connections_on_one_loop() {
    let limit = raise_fd_limit();
    assert!(limit > CONNECTIONS as u64 + 100, "the open-file limit ({limit}) is too low for {CONNECTIONS} connections");
    // Long timeouts: the connections must stay open while idle.
    let server = TestServer::start(
        Config {
            workers: 1,
            timeout_keep_alive: Duration::from_secs(120),
            timeout_header: Duration::from_secs(60),
            ..config()
        },
        || Echo,
    );
    // Warm up the loop (first connection, date cache, buffers) before the baseline.
    for _ in 0..10 {
        assert_eq!(exchange(server.addr, "GET /warm HTTP/1.1\r\nHost: test\r\n\r\n").status, 200);
    }
    std::thread::sleep(Duration::from_millis(100));
    let before = resident_bytes();

    let started = Instant::now();
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--ignored", "--exact", "idle_client", "--nocapture", "--test-threads", "1"])
        .env(TARGET_ENV, server.addr.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the client process");
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let mut wait_for = |marker: &str| loop {
        match lines.next() {
            // The harness may have printed `test idle_client ... ` on the same line.
            Some(Ok(line)) if line.contains(marker) => return line[line.find(marker).unwrap_or(0)..].to_owned(),
            Some(Ok(_)) => {}
            other => panic!("the client process ended before saying {marker:?}: {other:?}"),
        }
    };
    wait_for(READY);
    let opened_in = started.elapsed();

    // All connections are open and idle. Let the loop settle, then measure.
    std::thread::sleep(Duration::from_millis(500));
    let during = resident_bytes();
    let per_connection = during.saturating_sub(before) / CONNECTIONS as u64;
    eprintln!(
        "{CONNECTIONS} idle keep-alive connections opened and served in {opened_in:?}; server RSS {:.1} MiB -> {:.1} MiB, \
         about {per_connection} bytes ({:.1} KiB) per idle connection",
        before as f64 / 1048576.0,
        during as f64 / 1048576.0,
        per_connection as f64 / 1024.0
    );
    // A generous bound that still catches a leak or a per-connection buffer of 64 KiB.
    assert!(per_connection < 32 * 1024, "{per_connection} bytes per idle connection");

    // A newcomer is served promptly despite the crowd.
    let asked = Instant::now();
    let response = exchange(server.addr, "GET /newcomer HTTP/1.1\r\nHost: test\r\n\r\n");
    let latency = asked.elapsed();
    eprintln!("a new request among {CONNECTIONS} idle connections was answered in {latency:?}");
    assert_eq!(response.text(), "/newcomer");
    assert!(latency < Duration::from_secs(1), "a new request took {latency:?}");

    // Ask the child to check that every connection is still open and usable.
    let mut stdin = child.stdin.take().expect("piped stdin");
    writeln!(stdin, "check").expect("tell the client to check");
    let checked = wait_for(CHECKED);
    assert_eq!(checked, format!("{CHECKED} {CONNECTIONS} open"));
    drop(stdin);
    let status = child.wait().expect("the client process exits");
    assert!(status.success(), "the client process failed");
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
}

/// The client side, run in a child process by the test above (ignored when the test
/// binary runs normally).
#[test]
#[ignore = "helper process for ten_thousand_idle_keep_alive_connections_on_one_loop"]
fn idle_client() {
    let Ok(target) = std::env::var(TARGET_ENV) else {
        return;
    };
    let addr: SocketAddr = target.parse().expect("a socket address");
    raise_fd_limit();
    let request = b"GET /hello HTTP/1.1\r\nHost: test\r\n\r\n";
    let expected_body = b"/hello";
    // Open them all and send each its request, then collect the answers: the server
    // works through the requests while the client is still connecting.
    let mut connections: Vec<TcpStream> = Vec::with_capacity(CONNECTIONS);
    for i in 0..CONNECTIONS {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("connection {i}: {e}"));
        stream.set_read_timeout(Some(Duration::from_secs(20))).expect("read timeout");
        stream.write_all(request).unwrap_or_else(|e| panic!("request on connection {i}: {e}"));
        connections.push(stream);
    }
    for (i, stream) in connections.iter_mut().enumerate() {
        read_response(stream, expected_body).unwrap_or_else(|e| panic!("response on connection {i}: {e}"));
    }
    println!("{READY}");
    std::io::stdout().flush().expect("flush");

    let mut line = String::new();
    std::io::stdin().read_line(&mut line).expect("wait for the parent");
    // Every connection must still be open: a non-blocking read finds nothing (not EOF).
    let mut open = 0;
    for stream in &connections {
        stream.set_nonblocking(true).expect("non-blocking");
        let mut byte = [0u8; 1];
        match (&*stream).read(&mut byte) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => open += 1,
            other => panic!("an idle connection is no longer open: {other:?}"),
        }
        stream.set_nonblocking(false).expect("blocking");
    }
    // And usable: every hundredth sends a second request.
    for stream in connections.iter_mut().step_by(100) {
        stream.write_all(request).expect("second request");
        read_response(stream, expected_body).expect("second response");
    }
    println!("{CHECKED} {open} open");
}

/// Reads one small `content-length` response and checks its status and body.
fn read_response(stream: &mut TcpStream, expected_body: &[u8]) -> Result<(), String> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    loop {
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!("closed after {:?}", String::from_utf8_lossy(&buf)));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = server_support::find(&buf, b"\r\n\r\n") {
            if buf.len() >= end + 4 + expected_body.len() {
                if !buf.starts_with(b"HTTP/1.1 200 OK\r\n") || &buf[end + 4..] != expected_body {
                    return Err(format!("unexpected response {:?}", String::from_utf8_lossy(&buf)));
                }
                return Ok(());
            }
        }
    }
}
