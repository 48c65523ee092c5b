//! The demo server as a newcomer runs it: the real `rasgi` binary, every route of the
//! seed with its exact body, the concurrency of `/async-route`, the slow-poll warning of
//! `/blocking` on stderr, and a clean exit on SIGINT.

mod app_support;

use std::thread;
use std::time::{Duration, Instant};

use app_support::{get, Demo};
use serde_json::{json, Value};

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body:?}"))
}

#[test]
fn every_seed_route_answers_like_the_fastapi_app() {
    let demo = Demo::start(&[]);
    let cases = [
        ("/", json!({"Hello": "World"})),
        ("/async-route", json!({"message": "This is an async route"})),
        ("/cpu-task", json!({"result": 499999500000u64})),
        ("/error-handling", json!({"error": "Something went wrong"})),
    ];
    for (path, expected) in cases {
        let reply = get(demo.addr, path);
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(json_of(&reply.body), expected, "{path}");
        assert_eq!(reply.header("content-type"), Some("application/json"), "{path}");
        let seconds: f64 = reply.header("x-process-time").expect("x-process-time").parse().expect("seconds");
        assert!(seconds >= 0.0, "{path}: {seconds}");
    }
    // The exact bodies: serde_json writes compact JSON, as FastAPI does.
    assert_eq!(get(demo.addr, "/").body, r#"{"Hello":"World"}"#);
    assert_eq!(get(demo.addr, "/cpu-task").body, r#"{"result":499999500000}"#);
    assert!(demo.interrupt().success());
}

#[test]
fn a_hundred_concurrent_async_routes_take_about_one_second() {
    let demo = Demo::start(&["--no-access-log"]);
    let started = Instant::now();
    let clients: Vec<_> = (0..100)
        .map(|_| {
            let addr = demo.addr;
            thread::spawn(move || get(addr, "/async-route"))
        })
        .collect();
    for client in clients {
        let reply = client.join().expect("client thread");
        assert_eq!(json_of(&reply.body), json!({"message": "This is an async route"}));
    }
    let elapsed = started.elapsed();
    // One after another they would take 100 s. Concurrently: one timer each, all
    // waiting at once. The upper bound is generous for a loaded machine.
    assert!(elapsed >= Duration::from_millis(990), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "100 sleeps of 1 s took {elapsed:?}: they did not overlap");
    assert!(demo.interrupt().success());
}

#[test]
fn blocking_the_loop_is_reported_with_the_route_name() {
    let demo = Demo::start(&[]);
    assert_eq!(get(demo.addr, "/").status, 200);
    assert!(!demo.log_contains("slow poll"), "a quick route must not trigger the detector");
    let reply = get(demo.addr, "/blocking");
    assert_eq!(reply.status, 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !demo.log_contains("slow poll") && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let log = demo.log.lock().unwrap().clone();
    let warning = log.iter().find(|l| l.contains("slow poll")).expect("a slow-poll warning");
    assert!(warning.starts_with("WARNING:"), "{warning}");
    assert!(warning.contains("task 'GET /blocking'"), "{warning}");
    let ms: f64 = warning
        .split("held the event loop for ")
        .nth(1)
        .and_then(|rest| rest.split(" ms").next())
        .and_then(|n| n.parse().ok())
        .expect("the time blocked");
    assert!((295.0..2000.0).contains(&ms), "{warning}");
    assert_eq!(log.iter().filter(|l| l.contains("slow poll")).count(), 1, "{log:?}");
    drop(log);
    assert!(demo.interrupt().success());
}

#[test]
fn a_slow_poll_on_a_kept_alive_connection_names_the_route_not_the_connection() {
    use std::io::{Read, Write};
    let demo = Demo::start(&[]);
    // One keep-alive request, read by its content-length; the connection stays open, so
    // the connection task is renamed back to 'http connection' within the slow poll.
    let mut stream = std::net::TcpStream::connect(demo.addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    stream.write_all(b"GET /blocking HTTP/1.1\r\nHost: t\r\n\r\n").expect("write");
    let mut raw = Vec::new();
    let mut piece = [0u8; 4096];
    while !String::from_utf8_lossy(&raw).contains("in the log") {
        let n = stream.read(&mut piece).expect("read the response");
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&raw));
        raw.extend_from_slice(&piece[..n]);
    }
    assert!(raw.starts_with(b"HTTP/1.1 200 OK\r\n"), "{:?}", String::from_utf8_lossy(&raw));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !demo.log_contains("slow poll") && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let log = demo.log.lock().unwrap().clone();
    let warnings: Vec<&String> = log.iter().filter(|l| l.contains("slow poll")).collect();
    assert_eq!(warnings.len(), 1, "{log:?}");
    assert!(warnings[0].contains("task 'GET /blocking'"), "{}", warnings[0]);
    drop(log);
    drop(stream);
    assert!(demo.interrupt().success());
}

#[test]
fn a_panicking_handler_is_a_500_logged_once_with_its_route_and_line() {
    use std::io::{Read, Write};
    let demo = Demo::start(&[]);
    let before = demo.log_len();
    // Two requests on one connection: the panic must not cost the connection either.
    let mut stream = std::net::TcpStream::connect(demo.addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    stream
        .write_all(b"GET /panic HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read both responses");
    let (first, second) = raw.split_once("\r\n\r\n").expect("a response head");
    assert!(first.starts_with("HTTP/1.1 500 Internal Server Error\r\n"), "{raw}");
    let second = second.strip_prefix(r#"{"detail":"Internal Server Error"}"#).expect("FastAPI's 500 body");
    assert!(second.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
    assert!(second.ends_with(r#"{"Hello":"World"}"#), "{raw}");

    // Where the `panic!` is in src/demo.rs, read from the source so the test follows edits.
    let source = include_str!("../src/demo.rs");
    let (index, line) =
        source.lines().enumerate().find(|(_, l)| l.contains("panic!(\"an exception")).expect("the panic! in the demo");
    let column = line.find("panic!").expect("column") + 1;
    let expected = format!(
        "ERROR:   GET /panic: handler panicked at src/demo.rs:{}:{column}: an exception nobody caught",
        index + 1
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !demo.log_since(before).iter().any(|l| l.contains("\"GET / HTTP/1.1\" 200")) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let log = demo.log_since(before);
    // One error line, and nothing from std's panic hook ("thread 'x' panicked at ...").
    let panicked: Vec<&String> = log.iter().filter(|l| l.contains("panicked")).collect();
    assert_eq!(panicked, [&expected], "{log:?}");
    assert!(log.iter().any(|l| l.contains("\"GET /panic HTTP/1.1\" 500")), "{log:?}");
    assert!(!log.iter().any(|l| l.starts_with("thread '") || l.contains("RUST_BACKTRACE")), "{log:?}");
    assert!(demo.interrupt().success());
}

#[test]
fn items_routes_show_path_query_and_body_validation() {
    let demo = Demo::start(&["--no-access-log"]);
    assert_eq!(json_of(&get(demo.addr, "/items/42?q=hello").body), json!({"item_id": 42, "q": "hello"}));
    let reply = get(demo.addr, "/items/abc");
    assert_eq!(reply.status, 422);
    assert_eq!(json_of(&reply.body)["detail"][0]["loc"], json!(["path", "item_id"]));
    let reply = app_support::request(demo.addr, "POST", "/items", Some(r#"{"name":"Hammer","price":9.5}"#));
    assert_eq!(reply.status, 201);
    assert_eq!(json_of(&reply.body), json!({"name": "Hammer", "price": 9.5, "description": null, "tax": null}));
    let reply = get(demo.addr, "/stream");
    assert_eq!(reply.body, "line 1\nline 2\nline 3\nline 4\nline 5\n");
    assert!(demo.interrupt().success());
}
