//! The lifespan protocol: startup runs to completion before the first connection is
//! accepted (a request sent the moment `start` returns sees the state startup set), a
//! failed startup makes `start` return `ServerError::Startup(message)` — and a server
//! process exit non-zero with the message — and shutdown runs when the server stops,
//! once per worker loop.

mod server_support;

use std::rc::Rc;
use std::time::{Duration, Instant};

use rasgi_http::server::Config;
use rasgi_http::{App, AppError, LifespanEvent, Receive, Scope, Sender, ServerError, State};
use server_support::{config, example_binary, exchange, Journal, TestServer};

/// What startup leaves for requests.
struct Greeting(&'static str);

/// Startup takes a while (300 ms), then stores a [`Greeting`] — or fails if told to.
#[derive(Clone, Default)]
struct LifespanApp {
    journal: Journal,
    fail_with: Option<&'static str>,
}

impl App for LifespanApp {
    async fn call(&self, scope: &Scope, _receive: &Receive<'_>, send: &Sender<'_>) -> Result<(), AppError> {
        let greeting = scope.state().get::<Greeting>().map_or("no state", |g| g.0);
        self.journal.push(format!("request sees {greeting:?}"));
        send.respond(200, vec![], greeting.as_bytes()).await?;
        Ok(())
    }

    async fn lifespan(&self, event: LifespanEvent, state: &Rc<State>) -> Result<(), String> {
        match event {
            LifespanEvent::Startup => {
                self.journal.push("startup begins");
                rasgi_executor::sleep(Duration::from_millis(300)).await;
                if let Some(message) = self.fail_with {
                    self.journal.push("startup fails");
                    return Err(message.to_owned());
                }
                state.insert(Greeting("hello from startup"));
                self.journal.push("startup complete");
            }
            LifespanEvent::Shutdown => {
                // The state startup made is still there to clean up.
                let greeting = state.get::<Greeting>().map_or("no state", |g| g.0);
                self.journal.push(format!("shutdown sees {greeting:?}"));
            }
        }
        Ok(())
    }
}

#[test]
fn startup_completes_before_the_first_request_and_shutdown_runs_on_stop() {
    let app = LifespanApp::default();
    let journal = app.journal.clone();
    let asked = Instant::now();
    let server = TestServer::start(config(), move || app.clone());
    assert!(asked.elapsed() >= Duration::from_millis(300), "start returned before startup finished");
    // The very first request already sees the state.
    let response = exchange(server.addr, "GET / HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(response.text(), "hello from startup");
    assert_eq!(journal.entries(), ["startup begins", "startup complete", r#"request sees "hello from startup""#]);
    server.stop().expect("a clean stop");
    assert_eq!(journal.entries().last().map(String::as_str), Some(r#"shutdown sees "hello from startup""#));
}

#[test]
fn every_worker_loop_runs_its_own_startup_and_shutdown() {
    let app = LifespanApp::default();
    let journal = app.journal.clone();
    let server = TestServer::start(Config { workers: 2, ..config() }, move || app.clone());
    assert_eq!(exchange(server.addr, "GET / HTTP/1.1\r\nHost: test\r\n\r\n").text(), "hello from startup");
    server.stop().expect("a clean stop");
    let entries = journal.entries();
    let count = |what: &str| entries.iter().filter(|e| e.as_str() == what).count();
    assert_eq!(count("startup complete"), 2, "{entries:?}");
    assert_eq!(count(r#"shutdown sees "hello from startup""#), 2, "{entries:?}");
}

#[test]
fn a_failed_startup_is_an_error_from_start_and_nothing_is_served() {
    for workers in [1, 2] {
        let app = LifespanApp { fail_with: Some("cannot reach the database"), ..LifespanApp::default() };
        let journal = app.journal.clone();
        let result = rasgi_http::server::start(Config { workers, ..config() }, move || app.clone());
        match result {
            Err(ServerError::Startup(message)) => assert_eq!(message, "cannot reach the database"),
            Err(other) => panic!("expected a startup error, got {other}"),
            Ok(handle) => panic!("the server started on {} despite a failed startup", handle.local_addr()),
        }
        // Only the first worker got as far as startup; nothing else ran.
        assert_eq!(journal.entries(), ["startup begins", "startup fails"], "{workers} worker(s)");
    }
}

#[test]
fn a_server_process_whose_startup_fails_exits_non_zero_with_the_message() {
    let binary = example_binary("lifespan");
    let output = std::process::Command::new(binary)
        .args(["--port", "0"])
        .env("LIFESPAN_FAIL", "cannot reach the database")
        .output()
        .expect("run the example");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.lines().any(|l| l == "application startup failed: cannot reach the database"), "stderr: {stderr}");
    assert!(!stderr.contains("running on"), "it never listened: {stderr}");
}
