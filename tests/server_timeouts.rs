//! The server's clocks: a request head must arrive within `timeout_header` of the
//! connection's start (408 and close otherwise — the slowloris defence), an idle
//! kept-alive connection is closed after `timeout_keep_alive`, a body that stops
//! arriving gets 408 after `timeout_body`, a client that reads nothing is closed after
//! `timeout_send` — while slow but steady clients are never cut — and a slowloris
//! client being cut off does not stop anyone else from being served meanwhile. The timeouts are set short in `Config` so
//! the tests take about a second; the bounds on when things happen are generous, the
//! bytes exact.

mod server_support;

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use rasgi_http::server::Config;
use rasgi_http::{App, AppError, Receive, Scope, SendEvent, Sender};
use server_support::{assert_error_response, assert_still_serving, config, exchange, Echo, TestServer};

fn server(timeout_header: Duration, timeout_keep_alive: Duration) -> TestServer {
    TestServer::start(Config { timeout_header, timeout_keep_alive, ..config() }, || Echo)
}

#[test]
fn an_incomplete_head_gets_408_at_the_header_timeout() {
    let server = server(Duration::from_millis(500), Duration::from_secs(30));
    let mut client = server.connect();
    let started = Instant::now();
    client.send("GET / HTTP/1.1\r\nHost: test\r\n");
    let raw = client.read_until_close();
    let waited = started.elapsed();
    assert_error_response(&raw, 408, "an unfinished head");
    assert!(waited >= Duration::from_millis(450), "408 came too early, after {waited:?}");
    assert!(waited < Duration::from_secs(5), "408 came too late, after {waited:?}");
    assert_still_serving(server.addr);
}

#[test]
fn a_head_started_on_a_kept_alive_connection_gets_408_too() {
    // The keep-alive timeout covers the wait for a first byte; once a head has begun,
    // the (here shorter) header timeout applies to it.
    let server = server(Duration::from_millis(500), Duration::from_secs(30));
    let mut client = server.connect();
    client.send("GET /first HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(client.response().text(), "/first");
    let started = Instant::now();
    client.send("GET /second HTTP/1.1\r\n");
    let raw = client.read_until_close();
    let waited = started.elapsed();
    assert_error_response(&raw, 408, "an unfinished second head");
    assert!(waited >= Duration::from_millis(450) && waited < Duration::from_secs(5), "408 after {waited:?}");
}

#[test]
fn a_connection_that_never_sends_is_closed_silently_at_the_header_timeout() {
    let server = server(Duration::from_millis(500), Duration::from_secs(30));
    let mut client = server.connect();
    let started = Instant::now();
    client.assert_closed();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(450) && waited < Duration::from_secs(5), "closed after {waited:?}");
}

#[test]
fn an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout() {
    let server = server(Duration::from_secs(30), Duration::from_millis(800));
    let mut client = server.connect();
    client.send("GET /one HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(client.response().text(), "/one");
    // Well within the timeout the connection is still usable, and using it restarts the
    // idle clock.
    thread::sleep(Duration::from_millis(200));
    client.send("GET /two HTTP/1.1\r\nHost: test\r\n\r\n");
    let second = client.response();
    assert_eq!((second.text().as_str(), second.header("connection")), ("/two", None));
    let idle_from = Instant::now();
    // Then it is closed without a word: no 408, since no request was under way.
    client.assert_closed();
    let idle = idle_from.elapsed();
    assert!(idle >= Duration::from_millis(700), "closed too early, after {idle:?} idle");
    assert!(idle < Duration::from_secs(6), "closed too late, after {idle:?} idle");
    assert_still_serving(server.addr);
}

#[test]
fn a_connection_busy_for_many_keep_alive_periods_is_never_cut() {
    // The idle timer is not moved on every request: it fires at an earlier deadline and
    // is re-armed at the real one (`Sleep::reset`). A connection used every
    // 300 ms for three times the 800 ms timeout crosses several such early firings, and
    // each must re-arm rather than close.
    let server = server(Duration::from_secs(30), Duration::from_millis(800));
    let mut client = server.connect();
    let started = Instant::now();
    let mut served = 0;
    while started.elapsed() < Duration::from_millis(2400) {
        client.send(format!("GET /n{served} HTTP/1.1\r\nHost: test\r\n\r\n"));
        assert_eq!(client.response().text(), format!("/n{served}"));
        served += 1;
        thread::sleep(Duration::from_millis(300));
    }
    assert!(served >= 6, "only {served} requests in 2.4 s");
    let idle_from = Instant::now();
    client.assert_closed();
    let idle = idle_from.elapsed();
    assert!(idle >= Duration::from_millis(450), "closed too early, after {idle:?} idle");
    assert!(idle < Duration::from_secs(6), "closed too late, after {idle:?} idle");
}

#[test]
fn a_slowloris_client_is_cut_at_the_header_timeout_while_others_are_served() {
    let server = server(Duration::from_secs(1), Duration::from_secs(30));
    let addr = server.addr;

    // The slowloris: a head that keeps growing by one byte every 50 ms and never ends.
    let mut slow = server.connect();
    let mut trickle = slow.stream.try_clone().expect("clone the socket");
    let started = Instant::now();
    trickle.write_all(b"GET / HTTP/1.1\r\nHost: test\r\nX-Slow: ").expect("send the head's start");
    let trickler = thread::spawn(move || {
        // Stops when the server has closed (the write fails) or after a bound.
        while started.elapsed() < Duration::from_secs(5) && trickle.write_all(b"z").is_ok() {
            thread::sleep(Duration::from_millis(50));
        }
    });

    // Meanwhile, ordinary clients come and go, and each is answered promptly.
    let others = thread::spawn(move || {
        let mut latencies = Vec::new();
        while started.elapsed() < Duration::from_millis(1500) {
            let asked = Instant::now();
            let response = exchange(addr, "GET /other HTTP/1.1\r\nHost: test\r\n\r\n");
            assert_eq!((response.status, response.text().as_str()), (200, "/other"));
            latencies.push(asked.elapsed());
            thread::sleep(Duration::from_millis(20));
        }
        latencies
    });

    let raw = slow.read_until_close();
    let cut_after = started.elapsed();
    assert_error_response(&raw, 408, "a slowloris head");
    assert!(cut_after >= Duration::from_millis(950), "cut too early, after {cut_after:?}");
    assert!(cut_after < Duration::from_secs(5), "cut too late, after {cut_after:?}");

    let latencies = others.join().expect("the other clients were served");
    trickler.join().expect("the trickler stops");
    assert!(latencies.len() >= 10, "only {} other requests were served in 1.5 s", latencies.len());
    let worst = latencies.iter().max().copied().unwrap_or_default();
    // Nobody waited for the slowloris's timeout (1 s).
    assert!(worst < Duration::from_millis(900), "an ordinary request took {worst:?}");
}

#[test]
fn the_header_clock_starts_when_the_connection_is_accepted() {
    // A client that idles 700 ms and then trickles a head is cut 1 s after it connected,
    // not 1 s after its first byte (which would be at 1.7 s).
    let server = server(Duration::from_secs(1), Duration::from_secs(30));
    let mut client = server.connect();
    let connected = Instant::now();
    thread::sleep(Duration::from_millis(700));
    let mut trickle = client.stream.try_clone().expect("clone the socket");
    trickle.write_all(b"GET / HTTP/1.1\r\n").expect("send the request line");
    let trickler = thread::spawn(move || {
        while connected.elapsed() < Duration::from_secs(4) && trickle.write_all(b"X-Slow: z\r\n").is_ok() {
            thread::sleep(Duration::from_millis(50));
        }
    });
    let raw = client.read_until_close();
    let cut_after = connected.elapsed();
    assert_error_response(&raw, 408, "a head that began late");
    assert!(cut_after >= Duration::from_millis(950), "cut too early, after {cut_after:?}");
    assert!(cut_after < Duration::from_millis(1600), "the clock restarted at the first byte: cut after {cut_after:?}");
    trickler.join().expect("the trickler stops");
}

/// A server whose body and send stall limits are short.
fn stall_server(timeout_body: Duration, timeout_send: Duration) -> TestServer {
    TestServer::start(Config { timeout_body, timeout_send, ..config() }, || Streamer)
}

/// `/stream?N` answers N pieces of 64 KiB of `x`; anything else is the echo app.
struct Streamer;

impl App for Streamer {
    async fn call(&self, scope: &Scope, receive: &Receive<'_>, send: &Sender<'_>) -> Result<(), AppError> {
        if scope.path() != "/stream" {
            return Echo.call(scope, receive, send).await;
        }
        let pieces: usize = std::str::from_utf8(scope.query_string()).ok().and_then(|q| q.parse().ok()).unwrap_or(1);
        let piece = vec![b'x'; 64 * 1024];
        send.send(SendEvent::Start { status: 200, headers: vec![], trailers: false }).await?;
        for i in 0..pieces {
            send.send(SendEvent::Body { body: &piece, more_body: i + 1 < pieces }).await?;
        }
        Ok(())
    }
}

#[test]
fn a_body_that_stops_arriving_gets_408_at_the_body_timeout() {
    let server = stall_server(Duration::from_millis(400), Duration::from_secs(30));
    let mut client = server.connect();
    client.send("POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n12345678");
    let started = Instant::now();
    let raw = client.read_until_close();
    let waited = started.elapsed();
    let response = assert_error_response(&raw, 408, "a stalled body");
    assert_eq!(response.text(), "408 Request Timeout: request body not received in time\n");
    assert!(waited >= Duration::from_millis(350), "408 came too early, after {waited:?}");
    assert!(waited < Duration::from_secs(5), "408 came too late, after {waited:?}");
    assert_still_serving(server.addr);
}

#[test]
fn a_slow_but_steady_body_is_never_cut() {
    // 10 pieces, 150 ms apart: 1.5 s in all, well over the 400 ms limit, but the body
    // never goes quiet for that long.
    let server = stall_server(Duration::from_millis(400), Duration::from_secs(30));
    let mut client = server.connect();
    client.send("POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n");
    for i in 0..10 {
        thread::sleep(Duration::from_millis(150));
        client.send(format!("{i}").repeat(10));
    }
    let response = client.response();
    let expected: String = (0..10).map(|i| format!("{i}").repeat(10)).collect();
    assert_eq!((response.status, response.text()), (200, expected));
}

#[test]
fn a_client_that_reads_nothing_is_closed_at_the_send_timeout() {
    // 1,600 pieces of 64 KiB = 100 MiB: far more than the socket buffers hold.
    let server = stall_server(Duration::from_secs(30), Duration::from_millis(500));
    let mut client = server.connect();
    client.send("GET /stream?1600 HTTP/1.1\r\nHost: test\r\n\r\n");
    thread::sleep(Duration::from_millis(2500));
    let started = Instant::now();
    let raw = client.read_until_close();
    // The server gave up long before sending it all: what arrives is what the kernel's
    // buffers held when it closed, then end of stream.
    assert!(raw.starts_with(b"HTTP/1.1 200 OK\r\n"), "{:?}", String::from_utf8_lossy(&raw[..raw.len().min(200)]));
    assert!(raw.len() < 50 * 1024 * 1024, "the server kept sending to a client that read nothing: {} bytes", raw.len());
    assert!(started.elapsed() < Duration::from_secs(5), "the connection was still open");
    assert_still_serving(server.addr);
}

#[test]
fn a_slow_but_steady_reader_gets_its_whole_response() {
    // 2 MiB read 64 KiB at a time, 40 ms apart (about 1.3 s), with a 500 ms limit.
    let server = stall_server(Duration::from_secs(30), Duration::from_millis(500));
    let mut client = server.connect();
    client.send("GET /stream?32 HTTP/1.1\r\nHost: test\r\n\r\n");
    let mut raw = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        thread::sleep(Duration::from_millis(40));
        match std::io::Read::read(&mut client.stream, &mut chunk) {
            Ok(n) if n > 0 => raw.extend_from_slice(&chunk[..n]),
            _ => break,
        }
        if server_support::parse_response(&raw, false, false).ok().flatten().is_some() {
            break;
        }
    }
    let (response, _) = server_support::parse_response(&raw, false, false).expect("well-formed").expect("complete");
    assert_eq!((response.status, response.body.len()), (200, 32 * 64 * 1024));
    assert!(response.body.iter().all(|&b| b == b'x'));
}
