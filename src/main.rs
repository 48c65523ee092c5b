//! The demo server: `cargo run --release`, then try the seed's routes.
//!
//! Accepts uvicorn's flags (`--host`, `--port`, `--workers`, `--timeout-keep-alive`,
//! `--limit-concurrency`, `--log-level`, `--no-access-log`, …; `--help` lists them).
//!
//! `/db-data` needs PostgreSQL: `DATABASE_URL` if set; otherwise, when PostgreSQL's
//! binaries are installed, the demo starts a private cluster under `target/demo-postgres`
//! (or `RASGI_DEMO_PG_DIR`; stopped when the demo exits, its data kept for the next run)
//! and creates `mytable`. `RASGI_DEMO_DATABASE=off` skips it.
//! `/external-api` fetches `EXTERNAL_API_URL` (a public JSON API by default).
//!
//! `RASGI_TRACE_FILE=/path/trace.json` records the loops' timeline and writes it when the
//! server has shut down (SIGINT, SIGTERM): one Trace Event Format file, each worker loop
//! a process in it, for Perfetto or `chrome://tracing` ([`rasgi::timeline`]).
//!
//! `--reload` (uvicorn's `--reload`) runs a supervisor instead ([`rasgi::reload`]): it
//! holds the socket and the throwaway database, and rebuilds and replaces the server on
//! every source change.

use std::path::PathBuf;
use std::sync::Arc;

use rasgi::demo::Settings;
use rasgi::pg::cluster::{create_demo_table, Cluster, ClusterOptions};
use rasgi::pg::Connection;
use rasgi_executor::{log_info, log_warn};
use rasgi_http::gzip::GZipMiddleware;
use rasgi_http::server::{self, Config, USAGE};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!(
            "rasgi demo server: the seed's FastAPI app on rasgi\n\nUsage: rasgi [OPTIONS]\n\n{USAGE}{}{DEMO_USAGE}",
            rasgi::reload::USAGE
        );
        return;
    }
    if rasgi::reload::requested(&args) {
        supervise(args);
    }
    // The demo's own flag; the rest are the server's.
    let live_view_flag = take_flag(&mut args, "--live-view").or(take_flag(&mut args, "--no-live-view").map(|_| false));
    let config = match Config::from_args(args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    rasgi_executor::log::set_level(config.log_level);
    let mut settings = Settings::from_env();
    settings.live_view = live_view_flag.unwrap_or_else(|| rasgi::demo::live_view_by_default(&config.host));
    if !settings.live_view {
        log_info!(
            "the live loop view /_rasgi/ is off: {} is not a loopback address (--live-view mounts it)",
            config.host
        );
    }
    // Kept alive until the end of `main`: dropping it stops the cluster.
    let _cluster = if settings.database.is_err() { start_throwaway_database(&mut settings) } else { None };
    let settings = Arc::new(settings);
    // Switched on before the loops start, so that their first polls are recorded too.
    let trace_file = rasgi::timeline::trace_file_from_env();
    // Starlette's GZipMiddleware with its defaults, around the whole app.
    let handle = match server::start(config, move || GZipMiddleware::new(rasgi::demo::app_with(settings.clone()))) {
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
         curl {base}/panic        (a 500, and one log line saying where)\n    \
         curl '{base}/items/42?q=hello'\n    curl -X POST {base}/items -H 'content-type: application/json' -d '{{\"name\":\"Hammer\",\"price\":9.5}}'\n    \
         curl -N {base}/stream\n    open {base}/_rasgi/ to watch the loop\n    \
         open {base}/chat in two tabs to chat over a WebSocket"
    );
    let joined = handle.join();
    if let Some(path) = trace_file {
        match rasgi::timeline::write_trace_file(&path) {
            Ok(events) => log_info!("wrote the loops' timeline ({events} events) to {}", path.display()),
            Err(e) => log_warn!("cannot write the timeline to {}: {e}", path.display()),
        }
    }
    if let Err(e) = joined {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// `--reload`: the supervisor owns the throwaway database too, so that every server it
/// starts shares one (each starting its own on one data directory would collide).
fn supervise(args: Vec<String>) -> ! {
    // Misused flags are reported before a database is started for nothing.
    if let Err(e) = rasgi::reload::split_args(args.clone()) {
        eprintln!("error: {e}\n\n{}", rasgi::reload::USAGE);
        std::process::exit(2);
    }
    // Before the database's processes start: a SIGINT must reach the supervisor's loop,
    // never a thread that would let it kill the process with its children orphaned.
    if let Err(e) = rasgi::reload::signals::block() {
        eprintln!("error: cannot block SIGINT/SIGTERM: {e}");
        std::process::exit(1);
    }
    let mut settings = Settings::from_env();
    let _cluster = if settings.database.is_err() { start_throwaway_database(&mut settings) } else { None };
    if let Ok(url) = &settings.database {
        std::env::set_var("DATABASE_URL", url);
    }
    let outcome = rasgi::reload::run(args, &["--live-view", "--no-live-view"]);
    // The cluster stops here, after the last server has exited.
    drop(_cluster);
    match outcome {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

/// The demo's flags, after the server's in `--help`.
const DEMO_USAGE: &str =
    "  --live-view / --no-live-view     mount the live loop view /_rasgi/ (default: only on a loopback --host)\n";

/// Removes `flag` from `args`; `Some(true)` if it was there.
fn take_flag(args: &mut Vec<String>, flag: &str) -> Option<bool> {
    let at = args.iter().position(|a| a == flag)?;
    args.remove(at);
    Some(true)
}

/// Starts (or restarts) the demo's private PostgreSQL and fills `mytable`. Blocking, so
/// it runs before any event loop starts. On failure the reason goes into the settings,
/// and `/db-data` answers 503 with it.
fn start_throwaway_database(settings: &mut Settings) -> Option<Cluster> {
    if std::env::var("RASGI_DEMO_DATABASE").is_ok_and(|v| v == "off") {
        settings.database = Err("the demo's database is switched off (RASGI_DEMO_DATABASE=off)".to_owned());
        return None;
    }
    let dir = std::env::var_os("RASGI_DEMO_PG_DIR").map_or_else(|| target_dir().join("demo-postgres"), PathBuf::from);
    log_info!("DATABASE_URL is not set: starting a throwaway PostgreSQL in {}", dir.display());
    // The watchdog stops the server even if the demo is killed rather than interrupted.
    let options = ClusterOptions { stop_with_process: true, ..ClusterOptions::default() };
    let cluster = match Cluster::start(&dir, options) {
        Ok(cluster) => cluster,
        Err(e) => {
            log_warn!("/db-data will answer 503: {e}");
            settings.database = Err(e.to_string());
            return None;
        }
    };
    let url = cluster.url();
    let filled = rasgi_executor::block_on(async {
        let mut conn = Connection::connect(&url).await?;
        create_demo_table(&mut conn).await?;
        conn.close().await
    });
    match filled {
        Ok(()) => {
            log_info!("PostgreSQL is up on 127.0.0.1:{} with mytable; it stops when the demo exits", cluster.port());
            settings.database = Ok(url);
        }
        Err(e) => {
            log_warn!("/db-data will answer 503: cannot create mytable: {e}");
            settings.database = Err(format!("cannot create mytable: {e}"));
        }
    }
    Some(cluster)
}

/// The `target` directory this binary was built into (`target/release/rasgi` → `target`),
/// falling back to `./target`.
fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from("target"))
}
