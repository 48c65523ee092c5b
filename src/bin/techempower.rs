//! The TechEmpower benchmark routes on rasgi, for the side-by-side comparison in
//! `benches/` (see `benches/harness/run.sh`).
//!
//! `cargo run --release --bin techempower -- --port 8080 [--workers N]`
//!
//! Written with the app layer, as a FastAPI user would write it — the comparison is
//! framework to framework, not a hand-tuned raw handler against a framework.

use rasgi::app::{App, Json, Request, Response};
use rasgi_http::server::{self, Config, USAGE};
use serde::Serialize;

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

fn app() -> App {
    App::new()
        .get("/plaintext", |_req: Request| async { Response::new(200, "text/plain", &b"Hello, World!"[..]) })
        .get("/json", |_req: Request| async { Json(Message { message: "Hello, World!" }) })
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("Usage: techempower [OPTIONS]\n\n{USAGE}");
        return;
    }
    // Benchmarks measure the server, not the terminal: no access log unless asked for.
    if !args.iter().any(|a| a == "--access-log") {
        args.push("--no-access-log".into());
    }
    let config = match Config::from_args(args) {
        Ok(config) => Config { port: if config.port == 8000 { 8080 } else { config.port }, ..config },
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = server::run(config, app) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
