//! The server's clocks: a request head must arrive within `timeout_header` (408 and
//! close otherwise — the slowloris defence), an idle kept-alive connection is closed
//! after `timeout_keep_alive`, and a slowloris client being cut off does not stop
//! anyone else from being served meanwhile. The timeouts are set short in `Config` so
//! the tests take about a second; the bounds on when things happen are generous, the
//! bytes exact.

mod server_support;

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use rasgi_http::server::Config;
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
