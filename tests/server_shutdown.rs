//! Graceful shutdown. In a real server process: SIGTERM during an in-flight request stops
//! new connections, lets the request finish (the client gets the whole response), runs
//! lifespan shutdown and exits 0; a second SIGTERM exits at once. In-process: idle
//! keep-alive connections are closed at once, and in-flight requests get at most the
//! graceful-shutdown bound.
//!
//! The process tests run `http/examples/lifespan.rs`, built on demand with Cargo (see
//! `server_support::example_binary`): a test process cannot receive SIGTERM itself
//! without the test harness dying of it.

mod server_support;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use rasgi_http::server::Config;
use rasgi_http::{App, AppError, Receive, Scope, Sender};
use server_support::{config, eventually, example_binary, Client, Journal, ServerProcess, TestServer};

/// Waits until the process has written a stderr line containing `text`.
fn wait_for_line(server: &ServerProcess, text: &str) {
    assert!(
        eventually(Duration::from_secs(10), || server.stderr_text().contains(text)),
        "the server never said {text:?}; stderr:\n{}",
        server.stderr_text()
    );
}

#[test]
fn sigterm_lets_an_in_flight_request_finish_and_the_process_exit_0() {
    let binary = example_binary("lifespan");
    let mut server = ServerProcess::start(&binary, &["--port", "0", "--timeout-graceful-shutdown", "20"], &[]);
    let mut client = Client::connect(server.addr);
    client.send("GET /slow?ms=2000 HTTP/1.1\r\nHost: test\r\n\r\n");
    wait_for_line(&server, "slow request started");

    server.signal(libc::SIGTERM);
    // The listener closes: new clients are refused while the slow request still runs.
    let addr = server.addr;
    assert!(
        eventually(Duration::from_secs(5), || TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err()),
        "the server kept accepting after SIGTERM"
    );
    assert!(server.child.try_wait().expect("try_wait").is_none(), "the process must wait for the request");

    // The request completes in full, then the connection closes.
    let response = client.response();
    assert_eq!(
        response.normalized(),
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nserver: rasgi\r\ndate: <DATE>\r\ncontent-length: 13\r\n\
         connection: close\r\n\r\nslept 2000 ms",
        "a response finished after the signal says that the connection closes"
    );
    client.assert_closed();

    let status = server.wait_exit(Duration::from_secs(15)).expect("the process exits after draining");
    assert_eq!(status.code(), Some(0), "stderr:\n{}", server.stderr_text());
    let stderr = server.stderr_text();
    assert!(stderr.contains("SIGTERM received"), "{stderr}");
    assert!(stderr.contains("lifespan shutdown complete"), "lifespan shutdown ran: {stderr}");
    // The access log has the request, with its status and latency.
    let access =
        stderr.lines().find(|l| l.contains(r#""GET /slow?ms=2000 HTTP/1.1" 200 "#)).expect("an access log line");
    assert!(access.starts_with("INFO:") && access.ends_with("ms"), "{access}");
}

#[test]
fn a_second_sigterm_exits_at_once() {
    let binary = example_binary("lifespan");
    let mut server = ServerProcess::start(&binary, &["--port", "0", "--timeout-graceful-shutdown", "60"], &[]);
    let mut client = Client::connect(server.addr);
    client.send("GET /slow?ms=60000 HTTP/1.1\r\nHost: test\r\n\r\n");
    wait_for_line(&server, "slow request started");

    server.signal(libc::SIGTERM);
    // Two signals sent back to back may merge into one; wait until the first was seen.
    wait_for_line(&server, "shutting down gracefully");
    let second = Instant::now();
    server.signal(libc::SIGTERM);
    let status = server.wait_exit(Duration::from_secs(5)).expect("the second SIGTERM ends the process");
    eprintln!("exited {:?} after the second SIGTERM", second.elapsed());
    assert_eq!(status.code(), Some(1), "an interrupted drain is not a clean exit; stderr:\n{}", server.stderr_text());
    // The in-flight request was abandoned.
    assert!(client.read_until_close().is_empty());
}

#[test]
fn sigint_shuts_down_like_sigterm() {
    let binary = example_binary("lifespan");
    let mut server = ServerProcess::start(&binary, &["--port", "0"], &[]);
    let mut client = Client::connect(server.addr);
    client.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(client.response().text(), "hello from startup");
    server.signal(libc::SIGINT);
    // The idle kept-alive connection is closed, and the process ends cleanly.
    client.assert_closed();
    let status = server.wait_exit(Duration::from_secs(10)).expect("exits");
    assert_eq!(status.code(), Some(0), "stderr:\n{}", server.stderr_text());
}

/// `/slow` sleeps as many milliseconds as its query says, recording when it starts and
/// ends; anything else answers at once.
#[derive(Clone, Default)]
struct SlowApp {
    journal: Journal,
}

impl App for SlowApp {
    async fn call(&self, scope: &Scope, _receive: &Receive<'_>, send: &Sender<'_>) -> Result<(), AppError> {
        if scope.path() == "/slow" {
            let ms: u64 = std::str::from_utf8(scope.query_string()).ok().and_then(|q| q.parse().ok()).unwrap_or(500);
            self.journal.push("started");
            rasgi_executor::sleep(Duration::from_millis(ms)).await;
            self.journal.push("finished");
        }
        send.respond(200, vec![], scope.path().as_bytes()).await?;
        Ok(())
    }
}

#[test]
fn shutdown_closes_idle_connections_at_once() {
    let server =
        TestServer::start(Config { timeout_graceful_shutdown: Duration::from_secs(30), ..config() }, SlowApp::default);
    // Three connections idle between requests, and one that never sent anything.
    let mut idle: Vec<Client> = (0..3)
        .map(|i| {
            let mut client = server.connect();
            client.send(format!("GET /idle{i} HTTP/1.1\r\nHost: test\r\n\r\n"));
            assert_eq!(client.response().text(), format!("/idle{i}"));
            client
        })
        .collect();
    idle.push(server.connect());

    let asked = Instant::now();
    server.begin_shutdown();
    for client in &mut idle {
        client.assert_closed();
    }
    let addr = server.addr;
    server.stop().expect("a clean stop");
    let took = asked.elapsed();
    // Far below the 30 s bound: nothing was in flight.
    assert!(took < Duration::from_secs(5), "shutting down with idle connections took {took:?}");
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(), "nothing listens any more");
}

#[test]
fn shutdown_waits_for_in_flight_requests_up_to_the_bound() {
    let app = SlowApp::default();
    let journal = app.journal.clone();
    let server =
        TestServer::start(Config { timeout_graceful_shutdown: Duration::from_secs(1), ..config() }, move || {
            app.clone()
        });
    // One request that fits in the bound, one that does not.
    let mut quick = server.connect();
    quick.send("GET /slow?300 HTTP/1.1\r\nHost: test\r\n\r\n");
    let mut endless = server.connect();
    endless.send("GET /slow?60000 HTTP/1.1\r\nHost: test\r\n\r\n");
    journal.wait_for(2);

    let asked = Instant::now();
    server.begin_shutdown();
    let response = quick.response();
    assert_eq!((response.status, response.text().as_str()), (200, "/slow"));
    quick.assert_closed();
    server.stop().expect("stops");
    let took = asked.elapsed();
    assert!(took >= Duration::from_millis(900), "stopped before the bound: {took:?}");
    assert!(took < Duration::from_secs(6), "stopped long after the bound: {took:?}");
    // The endless request was cut when the loop ended.
    assert!(endless.read_until_close().is_empty());
    assert_eq!(journal.entries().iter().filter(|e| e.as_str() == "finished").count(), 1);
}

/// A count from wrk's `Socket errors: connect 0, read 0, write 0, timeout 0` line; 0 when
/// the line is absent (wrk prints it only when there were errors).
fn wrk_socket_errors(report: &str, kind: &str) -> u64 {
    let Some(line) = report.lines().find(|l| l.trim_start().starts_with("Socket errors:")) else { return 0 };
    line.split(',')
        .find_map(|part| part.trim().trim_start_matches("Socket errors:").trim().strip_prefix(kind))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {kind} count in {line:?}"))
}

#[test]
fn sigterm_under_wrk_load_breaks_no_client() {
    assert!(server_support::have_tool("wrk"), "this test needs wrk (apt-get install wrk; .ci/test-all does)");
    let binary = example_binary("lifespan");
    let mut server = ServerProcess::start(&binary, &["--port", "0", "--timeout-graceful-shutdown", "10"], &[]);
    // 64 kept-alive connections, each always with one request in flight: at the
    // signal, every connection is either mid-request or about to send the next one.
    let url = format!("http://{}/slow?ms=20", server.addr);
    let wrk = std::process::Command::new("wrk")
        .args(["-t1", "-c64", "-d3s", &url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start wrk");
    std::thread::sleep(Duration::from_millis(1000));
    server.signal(libc::SIGTERM);
    let status = server.wait_exit(Duration::from_secs(15)).expect("the process exits after draining");
    assert_eq!(status.code(), Some(0), "stderr:\n{}", server.stderr_text());
    let output = wrk.wait_with_output().expect("wrk finishes");
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    eprintln!("{report}");
    let completed = report
        .lines()
        .find_map(|l| l.trim().split_once(" requests in ").and_then(|(n, _)| n.parse::<u64>().ok()))
        .unwrap_or(0);
    assert!(completed >= 64, "wrk completed only {completed} requests:\n{report}");
    // No client saw a connection die under a request, and every answer was a 2xx. (Once
    // the listener is closed, wrk reconnects as fast as it can and is refused. Its
    // connect is non-blocking, so a refusal surfaces at the first write of the new
    // socket and is counted as a *write* error: those say the server is gone, not that
    // a request was lost, and are not asserted. The exact count below is the proof.)
    assert_eq!(wrk_socket_errors(&report, "read"), 0, "{report}");
    assert_eq!(wrk_socket_errors(&report, "timeout"), 0, "{report}");
    assert!(!report.contains("Non-2xx"), "{report}");
    // Every request the server began was answered and counted by wrk.
    let started = server.stderr_text().matches("slow request started").count() as u64;
    assert_eq!(started, completed, "requests started by the server vs completed at wrk:\n{report}");
}
