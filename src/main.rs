//! The demo server: `cargo run --release`, then try the seed's routes.
//!
//! Accepts uvicorn's flags (`--host`, `--port`, `--workers`, `--timeout-keep-alive`,
//! `--limit-concurrency`, `--log-level`, `--no-access-log`, …; `--help` lists them).

use rasgi_http::server::{self, Config, USAGE};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("rasgi demo server: the seed's FastAPI app on rasgi\n\nUsage: rasgi [OPTIONS]\n\n{USAGE}");
        return;
    }
    let config = match Config::from_args(args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let handle = match server::start(config, rasgi::demo::app) {
        Ok(handle) => handle,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let base = format!("http://{}", handle.local_addr());
    rasgi_executor::log_info!(
        "try:\n    curl {base}/\n    curl {base}/async-route\n    curl {base}/cpu-task\n    curl {base}/error-handling\n    \
         curl {base}/db-data\n    curl {base}/external-api\n    curl {base}/blocking     (watch this log: a slow-poll warning)\n    \
         curl '{base}/items/42?q=hello'\n    curl -X POST {base}/items -H 'content-type: application/json' -d '{{\"name\":\"Hammer\",\"price\":9.5}}'\n    \
         curl -N {base}/stream"
    );
    if let Err(e) = handle.join() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
