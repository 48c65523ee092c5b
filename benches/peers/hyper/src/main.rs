//! `hyper-techempower`: the hyper/tokio peer for rasgi's side-by-side benchmarks.
//!
//! It serves the six TechEmpower routes (`/plaintext`, `/json`, `/db`, `/queries`, `/fortunes`,
//! `/updates`) with the same response shapes as rasgi's `techempower` binary, so that `wrk`
//! measures the runtimes and not two different applications.
//!
//! Why this configuration:
//! - **One thread.** rasgi runs one event loop per thread. A multi-threaded tokio runtime would
//!   bring work stealing and cross-thread wakeups into the comparison and, on the benchmark
//!   machine, fight `wrk` for the second core. `new_current_thread` is tokio's closest equivalent
//!   of "one loop on one core", the same shape as uvicorn with one worker.
//! - **HTTP/1 only, keep-alive, `pipeline_flush`.** TechEmpower's plaintext test pipelines 16
//!   requests per write; `pipeline_flush` lets hyper answer a whole batch in one write instead of
//!   one `write` per response, which is what rasgi does too.
//! - **A handful of Postgres connections, round-robin.** tokio-postgres pipelines every query
//!   issued concurrently on one connection, so a small fixed set keeps Postgres busy without a
//!   pool's checkout bookkeeping. rasgi's app may make a different choice; both are legitimate.
//!
//! Flags: `--port P` (default 8080), `--host H` (default 127.0.0.1), `--database-url URL`
//! (default: the `DATABASE_URL` environment variable), `--db-connections N` (default 4).

mod date;
mod db;
mod fortunes;
mod rng;

use std::convert::Infallible;
use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, DATE, SERVER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

use crate::db::Db;

/// Command-line settings.
struct Args {
    host: String,
    port: u16,
    database_url: Option<String>,
    db_connections: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        host: "127.0.0.1".to_string(),
        port: 8080,
        database_url: std::env::var("DATABASE_URL").ok().filter(|s| !s.is_empty()),
        db_connections: 4,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--host" => args.host = value()?,
            "--port" => args.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--database-url" => args.database_url = Some(value()?),
            "--db-connections" => {
                args.db_connections = value()?
                    .parse()
                    .map_err(|e| format!("--db-connections: {e}"))?
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("hyper-techempower: {e}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot build the tokio runtime");
    if let Err(e) = runtime.block_on(serve(args)) {
        eprintln!("hyper-techempower: {e}");
        std::process::exit(1);
    }
}

async fn serve(args: Args) -> Result<(), Box<dyn Error>> {
    // Without a database the server still answers /plaintext and /json, which is all the
    // memory and instruction-count suites need; the database routes then answer 503.
    let db = match &args.database_url {
        Some(url) => Some(Arc::new(Db::connect(url, args.db_connections).await?)),
        None => {
            eprintln!(
                "hyper-techempower: no --database-url or DATABASE_URL; database routes answer 503"
            );
            None
        }
    };
    let listener = TcpListener::bind((args.host.as_str(), args.port)).await?;
    eprintln!(
        "hyper-techempower: listening on http://{}:{}",
        args.host, args.port
    );

    // Exit cleanly on SIGTERM/SIGINT: returning from main lets tools such as callgrind write
    // their counters, which a process killed by the default signal action may not.
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;

    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends are transient under a connection flood: back off
                    // briefly rather than exit, as production servers do.
                    eprintln!("hyper-techempower: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = sigterm.recv() => return Ok(()),
            _ = sigint.recv() => return Ok(()),
        };
        // Small responses must not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let db = db.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, db.clone()));
            // Connection errors (a client resetting mid-request) are normal under load and
            // are not worth a log line per connection.
            let _ = http1::Builder::new()
                .keep_alive(true)
                .pipeline_flush(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

const JSON: &str = "application/json";

/// The body of `/json`; serialized on every request, never cached, per the TechEmpower rules.
#[derive(Serialize)]
struct Message {
    message: &'static str,
}

async fn handle(
    req: Request<Incoming>,
    db: Option<Arc<Db>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    let response = match path {
        "/plaintext" => respond(
            StatusCode::OK,
            "text/plain",
            Bytes::from_static(b"Hello, World!"),
        ),
        "/json" => {
            let body = serde_json::to_vec(&Message {
                message: "Hello, World!",
            })
            .expect("a static struct always serializes");
            respond(StatusCode::OK, JSON, body.into())
        }
        "/db" | "/queries" | "/fortunes" | "/updates" => {
            let Some(db) = db else {
                return Ok(respond(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    Bytes::from_static(b"no database configured"),
                ));
            };
            let count = queries_param(req.uri().query());
            let result = match path {
                "/db" => db.random_world().await.map(|w| json_body(&w)),
                "/queries" => db.random_worlds(count).await.map(|w| json_body(&w)),
                "/updates" => db.update_worlds(count).await.map(|w| json_body(&w)),
                _ => db
                    .fortunes()
                    .await
                    .map(|rows| (fortunes::render(rows).into(), "text/html; charset=utf-8")),
            };
            match result {
                Ok((body, content_type)) => respond(StatusCode::OK, content_type, body),
                Err(e) => respond(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    Bytes::from(format!("database error: {e}")),
                ),
            }
        }
        _ => respond(
            StatusCode::NOT_FOUND,
            "text/plain",
            Bytes::from_static(b"Not Found"),
        ),
    };
    Ok(response)
}

fn json_body<T: Serialize>(value: &T) -> (Bytes, &'static str) {
    let body = serde_json::to_vec(value).expect("World rows always serialize");
    (body.into(), JSON)
}

/// TechEmpower's rule for `?queries=`: missing, empty or not a number means 1, and the value is
/// clamped to 1..=500.
fn queries_param(query: Option<&str>) -> usize {
    query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("queries="))
        .and_then(|v| v.parse::<i64>().ok())
        .map_or(1, |n| n.clamp(1, 500) as usize)
}

/// Builds a response with the four headers every TechEmpower response must carry.
fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let length = HeaderValue::from(body.len());
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(SERVER, HeaderValue::from_static("hyper"));
    headers.insert(DATE, date::now());
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CONTENT_LENGTH, length);
    response
}

#[cfg(test)]
mod tests {
    use super::queries_param;

    #[test]
    fn queries_parameter_follows_the_techempower_rules() {
        assert_eq!(queries_param(None), 1);
        assert_eq!(queries_param(Some("queries=")), 1);
        assert_eq!(queries_param(Some("queries=foo")), 1);
        assert_eq!(queries_param(Some("queries=0")), 1);
        assert_eq!(queries_param(Some("queries=20")), 20);
        assert_eq!(queries_param(Some("x=1&queries=501")), 500);
    }
}
