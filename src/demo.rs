//! The seed's FastAPI application, route for route, on rasgi.
//!
//! | seed (Python) | here |
//! |---|---|
//! | `@app.get("/")` → `{"Hello": "World"}` | [`read_root`] |
//! | `await asyncio.sleep(1)` in `/async-route` | [`async_route`]: a reactor timer |
//! | `run_in_executor(None, cpu_bound_task)` in `/cpu-task` | [`cpu_task`]: the blocking pool |
//! | `try: ... except ValueError` in `/error-handling` | [`error_handling`]: a `Result` matched |
//! | asyncpg in `/db-data` | [`db_data`]: the `pg` wire client |
//! | httpx in `/external-api` | [`external_api`]: the HTTPS client |
//! | the anti-pattern: blocking the loop | [`blocking`]: `std::thread::sleep` on the loop |
//! | `@app.middleware("http")` adding `X-Process-Time` | [`middleware::process_time`] |
//!
//! Plus the FastAPI tutorial's `/items` routes, to show path, query and body
//! parameters and their 422 errors, and a streamed response.

use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rasgi_executor::{log_error, sleep, spawn_blocking};
use rasgi_http::client::{redact, Client, Timeouts};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::app::{middleware, App, HttpException, Json, Request, Response};
use crate::pg::{Config as PgConfig, Pool};

/// Where `/external-api` fetches from when `EXTERNAL_API_URL` is not set: a public JSON
/// API (the seed's `https://api.example.com/data` does not exist).
pub const DEFAULT_EXTERNAL_API_URL: &str = "https://jsonplaceholder.typicode.com/todos/1";

/// What the demo needs from outside: a database and an API to call.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The Postgres URL for `/db-data`, or why there is none (shown in the 503).
    pub database: Result<String, String>,
    /// The URL `/external-api` fetches.
    pub external_api_url: String,
}

impl Settings {
    /// From the environment only: `DATABASE_URL` and `EXTERNAL_API_URL`. (The demo
    /// binary also starts a throwaway PostgreSQL when `DATABASE_URL` is unset.)
    pub fn from_env() -> Settings {
        Settings {
            database: std::env::var("DATABASE_URL").map_err(|_| {
                "no database: set DATABASE_URL=postgres://user:password@host:port/db, or install \
                 PostgreSQL (apt-get install -y postgresql) and the demo starts its own"
                    .to_owned()
            }),
            external_api_url: std::env::var("EXTERNAL_API_URL").unwrap_or_else(|_| DEFAULT_EXTERNAL_API_URL.to_owned()),
        }
    }
}

/// Why `/db-data` cannot answer, kept in the state when there is no database.
struct NoDatabase(String);

/// The URL `/external-api` fetches, kept in the state.
struct ExternalApiUrl(String);

/// Builds the demo application from the environment's settings.
pub fn app() -> App {
    app_with(Arc::new(Settings::from_env()))
}

/// Builds the demo application, with the live loop view at `/_rasgi/`
/// ([`crate::loopview`]). Each worker loop calls this and, at lifespan startup, creates
/// its own database pool and HTTPS client — where FastAPI apps open theirs.
pub fn app_with(settings: Arc<Settings>) -> App {
    let app = App::new()
        .on_startup(move |state| {
            let settings = settings.clone();
            async move {
                match &settings.database {
                    Ok(url) => {
                        let config: PgConfig = url.parse().map_err(|e| format!("DATABASE_URL: {e}"))?;
                        // Connections open on first use: a database that is down makes
                        // `/db-data` fail, not the whole server.
                        state.insert(Pool::builder(config).max_size(8).build());
                    }
                    Err(reason) => state.insert(NoDatabase(reason.clone())),
                }
                let client = Client::new().map_err(|e| format!("cannot create the HTTPS client: {e}"))?;
                state.insert(client);
                state.insert(ExternalApiUrl(settings.external_api_url.clone()));
                Ok(())
            }
        })
        .on_shutdown(|state| async move {
            if let Some(pool) = state.remove::<Pool>() {
                pool.close();
            }
            Ok(())
        })
        .middleware(middleware::process_time)
        .get("/", read_root)
        .get("/async-route", async_route)
        .get("/cpu-task", cpu_task)
        .get("/error-handling", error_handling)
        .get("/db-data", db_data)
        .get("/external-api", external_api)
        .get("/blocking", blocking)
        .get("/items/{item_id}", read_item)
        .post("/items", create_item)
        .get("/stream", stream_numbers);
    crate::loopview::mount(app)
}

/// `GET /`: the seed's `read_root`.
pub async fn read_root(_request: Request) -> Json<Value> {
    Json(json!({ "Hello": "World" }))
}

/// `GET /async-route`: waits one second on a timer. While it waits, the loop serves
/// everyone else — a hundred of these at once still take about one second in all.
pub async fn async_route(_request: Request) -> Json<Value> {
    sleep(Duration::from_secs(1)).await;
    Json(json!({ "message": "This is an async route" }))
}

/// The seed's `cpu_bound_task`: a loop long enough to matter.
pub fn cpu_bound_task() -> u64 {
    (0..1_000_000u64).sum()
}

/// `GET /cpu-task`: runs the CPU-bound loop on the blocking pool (`run_in_executor`),
/// so the event loop stays free while it runs.
pub async fn cpu_task(_request: Request) -> Result<Json<Value>, HttpException> {
    match spawn_blocking(cpu_bound_task).await {
        Ok(result) => Ok(Json(json!({ "result": result }))),
        Err(e) => {
            rasgi_executor::log_error!("cpu task failed: {e}");
            Err(HttpException::internal())
        }
    }
}

/// The seed's `ValueError`.
#[derive(Debug)]
pub struct ValueError(pub String);

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ValueError {}

/// Waits, then fails — the body of the seed's `try` block.
async fn sleep_then_fail() -> Result<(), ValueError> {
    sleep(Duration::from_secs(1)).await;
    Err(ValueError("Something went wrong".into()))
}

/// `GET /error-handling`: Python's `try/except ValueError as e` around an `await` is a
/// `match` on the `Result` the awaited future returns.
pub async fn error_handling(_request: Request) -> Json<Value> {
    match sleep_then_fail().await {
        Ok(()) => Json(json!({ "message": "no error" })),
        Err(e) => Json(json!({ "error": e.to_string() })),
    }
}

/// `GET /db-data`: the rows of `mytable` as a JSON array of objects — the seed's
/// `[dict(row) for row in rows]`. The pool plays asyncpg's part; a connection is borrowed
/// for the query and returned, rather than opened and closed per request as in the seed.
pub async fn db_data(request: Request) -> Result<Json<Value>, HttpException> {
    let Some(pool) = request.state::<Pool>() else {
        let reason = request.state::<NoDatabase>().map_or_else(|| "no database configured".to_owned(), |r| r.0.clone());
        return Err(HttpException::new(503, reason));
    };
    let rows = pool.fetch("SELECT * FROM mytable ORDER BY id", &[]).await.map_err(|e| {
        log_error!("/db-data: {e}");
        HttpException::new(503, format!("database error: {e}"))
    })?;
    let rows: Result<Vec<Value>, _> = rows.iter().map(|row| row.to_json()).collect();
    rows.map(|rows| Json(Value::Array(rows))).map_err(|e| HttpException::new(500, format!("cannot decode a row: {e}")))
}

/// The longest `/external-api` waits for the upstream, body included, whatever each step's
/// own 5 s limit allows: a server trickling a byte every 4 s never trips a read timeout.
pub const EXTERNAL_API_DEADLINE: Duration = Duration::from_secs(10);

/// `GET /external-api`: the JSON at `EXTERNAL_API_URL`, fetched with the loop's shared
/// client — the seed's `httpx.AsyncClient`. A failure answers as a gateway would: 504 when
/// the upstream took too long, 502 otherwise (an unreachable or misbehaving upstream, a
/// redirect, a non-2xx status, a body that is not JSON), naming the step that failed. The
/// URL in the answer and in the log is redacted: an `?api_key=` stays out of both.
pub async fn external_api(request: Request) -> Result<Json<Value>, HttpException> {
    let (Some(client), Some(url)) = (request.state::<Client>(), request.state::<ExternalApiUrl>()) else {
        return Err(HttpException::new(503, "the HTTPS client was not set up at startup"));
    };
    fetch_json(&client, &url.0).await.map(Json).map_err(|e| {
        let status = if e.step() == "timeout" { 504 } else { 502 };
        let message = format!("GET {} failed at step '{}': {e}", redact(&url.0), e.step());
        log_error!("/external-api: {message}");
        HttpException::new(status, message)
    })
}

async fn fetch_json(client: &Rc<Client>, url: &str) -> Result<Value, rasgi_http::client::Error> {
    let timeouts = Timeouts { total: Some(EXTERNAL_API_DEADLINE), ..Timeouts::default() };
    client.get(url).timeouts(timeouts).send().await?.error_for_status()?.json::<Value>().await
}

/// `GET /blocking`: the anti-pattern. `std::thread::sleep` blocks the whole loop thread
/// for 300 ms: no other request on this loop moves meanwhile, and the slow-poll detector
/// logs a warning naming this route. (`rasgi_executor::sleep` would have waited without
/// blocking; `spawn_blocking` would have moved the wait to another thread.)
pub async fn blocking(_request: Request) -> Json<Value> {
    std::thread::sleep(Duration::from_millis(300));
    Json(json!({ "message": "blocked the event loop for 300 ms: see the slow-poll warning in the log" }))
}

/// `GET /items/{item_id}?q=...`: FastAPI's first tutorial route. `item_id` must be an
/// integer (422 otherwise); `q` is optional.
pub async fn read_item(request: Request) -> Result<Json<Value>, HttpException> {
    let item_id: i64 = request.path_param("item_id")?;
    let q: Option<String> = request.query_opt("q")?;
    Ok(Json(json!({ "item_id": item_id, "q": q })))
}

/// The tutorial's pydantic model.
#[derive(Debug, Deserialize, Serialize)]
pub struct Item {
    /// Required.
    pub name: String,
    /// Required, a number.
    pub price: f64,
    /// Optional.
    pub description: Option<String>,
    /// Optional, a number.
    pub tax: Option<f64>,
}

/// `POST /items`: a JSON body validated into [`Item`] (422 naming the field otherwise).
pub async fn create_item(request: Request) -> Result<Response, HttpException> {
    let item: Item = request.json()?;
    Ok(Response::json(201, &item))
}

/// `GET /stream`: a response produced piece by piece (sent chunked), one line every
/// 100 ms — FastAPI's `StreamingResponse`.
pub async fn stream_numbers(_request: Request) -> Response {
    Response::stream(200, "text/plain; charset=utf-8", |tx| async move {
        for i in 1..=5 {
            if tx.send(format!("line {i}\n").into_bytes()).await.is_err() {
                return; // the client left
            }
            sleep(Duration::from_millis(100)).await;
        }
    })
}
