//! An application with a lifespan, to watch startup, graceful shutdown and the exit
//! code of a real server process (`tests/server_shutdown.rs` and
//! `tests/server_lifespan.rs` drive it).
//!
//! - startup puts a greeting into the lifespan state, or fails with a message when the
//!   environment variable `LIFESPAN_FAIL` is set (the process then exits 1 with it);
//! - `GET /` answers the greeting; `GET /slow?ms=N` sleeps N milliseconds first, so a
//!   test can send SIGTERM while a request is in flight;
//! - shutdown prints `lifespan shutdown complete` on stderr.
//!
//! `cargo run -p rasgi-http --example lifespan -- --port 8001`, then press CTRL+C during
//! `curl 'localhost:8001/slow?ms=3000'`: the request finishes before the process exits.

use std::rc::Rc;
use std::time::Duration;

use rasgi_http::{header, App, AppError, LifespanEvent, Receive, Scope, Sender, State};

/// What startup leaves in the state for every request to read.
struct Greeting(String);

struct Lifespan;

impl App for Lifespan {
    async fn call(&self, scope: &Scope, _receive: &Receive<'_>, send: &Sender<'_>) -> Result<(), AppError> {
        if scope.path() == "/slow" {
            let ms = std::str::from_utf8(scope.query_string())
                .ok()
                .and_then(|q| q.strip_prefix("ms="))
                .and_then(|ms| ms.parse().ok())
                .unwrap_or(1000);
            // Said out loud so that a watcher (a person or a test) knows the request is
            // in flight before sending a signal.
            eprintln!("slow request started: sleeping {ms} ms");
            rasgi_executor::sleep(Duration::from_millis(ms)).await;
            send.respond(200, vec![header("content-type", "text/plain")], format!("slept {ms} ms").as_bytes()).await?;
            return Ok(());
        }
        let greeting = scope.state().get::<Greeting>().ok_or_else(|| AppError::new("startup did not run"))?;
        send.respond(200, vec![header("content-type", "text/plain")], greeting.0.as_bytes()).await?;
        Ok(())
    }

    async fn lifespan(&self, event: LifespanEvent, state: &Rc<State>) -> Result<(), String> {
        match event {
            LifespanEvent::Startup => {
                if let Ok(message) = std::env::var("LIFESPAN_FAIL") {
                    return Err(message);
                }
                state.insert(Greeting("hello from startup".into()));
            }
            LifespanEvent::Shutdown => eprintln!("lifespan shutdown complete"),
        }
        Ok(())
    }
}

fn main() {
    let config = match rasgi_http::server::Config::from_args(std::env::args().skip(1)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}\n{}", rasgi_http::server::USAGE);
            std::process::exit(2);
        }
    };
    if let Err(e) = rasgi_http::server::run(config, || Lifespan) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
