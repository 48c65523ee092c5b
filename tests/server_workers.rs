//! Scaling and load shedding: with `workers: 2` both event loops (each its own thread
//! with its own `SO_REUSEPORT` listener) take connections and serve them independently
//! — a loop busy with a slow request does not hold up the other — and with
//! `limit_concurrency` the connections beyond the limit are answered 503.

mod server_support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rasgi_http::server::Config;
use rasgi_http::{App, AppError, Receive, Scope, Sender};
use server_support::{assert_error_response, config, eventually, exchange, Echo, TestServer};

/// How long `/block` holds its loop.
const BLOCK: Duration = Duration::from_secs(3);

/// Answers with the name of the worker thread that ran it; `/block` first holds its
/// loop without yielding (the anti-pattern, used here on purpose to show that the other
/// loop carries on), raising `blocking` while it does.
#[derive(Clone, Default)]
struct WhoAmI {
    blocking: Arc<AtomicBool>,
}

impl App for WhoAmI {
    async fn call(&self, scope: &Scope, _receive: &Receive<'_>, send: &Sender<'_>) -> Result<(), AppError> {
        if scope.path() == "/block" {
            self.blocking.store(true, Ordering::SeqCst);
            std::thread::sleep(BLOCK);
        }
        let name = std::thread::current().name().unwrap_or("unnamed").to_owned();
        send.respond(200, vec![], name.as_bytes()).await?;
        Ok(())
    }
}

#[test]
fn two_workers_both_serve() {
    let server = TestServer::start(Config { workers: 2, ..config() }, WhoAmI::default);
    // The kernel spreads new connections over the two listeners by a hash of the
    // client's address; 100 connections all landing on one would be a 2^-99 chance.
    let mut served: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..100 {
        let response = exchange(server.addr, "GET / HTTP/1.1\r\nHost: test\r\n\r\n");
        assert_eq!(response.status, 200);
        *served.entry(response.text()).or_default() += 1;
    }
    eprintln!("connections per worker: {served:?}");
    assert_eq!(served.keys().map(String::as_str).collect::<Vec<_>>(), ["rasgi-worker-0", "rasgi-worker-1"]);
}

#[test]
fn one_blocked_worker_does_not_stop_the_other() {
    let app = WhoAmI::default();
    let blocking = app.blocking.clone();
    let server = TestServer::start(Config { workers: 2, ..config() }, move || app.clone());
    let addr = server.addr;
    // Block whichever loop takes this connection.
    let blocker = std::thread::spawn(move || exchange(addr, "GET /block HTTP/1.1\r\nHost: test\r\n\r\n").text());
    assert!(eventually(Duration::from_secs(10), || blocking.load(Ordering::SeqCst)));
    // Connections keep being served meanwhile — the ones the kernel gives the other loop
    // at once; the ones it gives the blocked loop after the block.
    let (tx, rx) = std::sync::mpsc::channel();
    for _ in 0..20 {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let _ = tx.send(exchange(addr, "GET / HTTP/1.1\r\nHost: test\r\n\r\n").text());
        });
    }
    let first = rx.recv_timeout(BLOCK / 2).expect("a request served while one loop is blocked");
    let blocked = blocker.join().expect("the blocking request is answered");
    assert_ne!(first, blocked, "the first answer came from the loop that was not blocked");
    for _ in 1..20 {
        rx.recv_timeout(Duration::from_secs(10)).expect("every request is answered in the end");
    }
}

#[test]
fn connections_beyond_the_concurrency_limit_get_503() {
    let server = TestServer::start(Config { limit_concurrency: Some(2), ..config() }, || Echo);
    // Two kept-alive connections fill the limit.
    let mut held: Vec<_> = (0..2)
        .map(|i| {
            let mut client = server.connect();
            client.send(format!("GET /held{i} HTTP/1.1\r\nHost: test\r\n\r\n"));
            assert_eq!(client.response().text(), format!("/held{i}"));
            client
        })
        .collect();
    // A third is refused, politely and at once.
    let mut third = server.connect();
    third.send("GET /third HTTP/1.1\r\nHost: test\r\n\r\n");
    let refused = assert_error_response(&third.read_until_close(), 503, "a third connection");
    assert_eq!(refused.status_line, "HTTP/1.1 503 Service Unavailable");
    // The held connections are unaffected.
    held[0].send("GET /again HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(held[0].response().text(), "/again");
    // Once one closes, there is room again.
    drop(held.pop());
    assert!(
        eventually(Duration::from_secs(5), || exchange(server.addr, "GET /room HTTP/1.1\r\nHost: test\r\n\r\n").status
            == 200),
        "a slot was freed by the close"
    );
}
