//! The seed's FastAPI application, route for route, on rasgi.
//!
//! | seed (Python) | here |
//! |---|---|
//! | `@app.get("/")` → `{"Hello": "World"}` | [`read_root`] |
//! | `await asyncio.sleep(1)` in `/async-route` | [`async_route`]: a reactor timer |
//! | `run_in_executor(None, cpu_bound_task)` in `/cpu-task` | [`cpu_task`]: the blocking pool |
//! | `try: ... except ValueError` in `/error-handling` | [`error_handling`]: a `Result` matched |
//! | asyncpg in `/db-data` | [`db_data`]: the `pg` wire client |
//! | asyncpg's `copy_from_table` | [`export_csv`]: `GET /export.csv`, COPY streamed into a chunked response |
//! | asyncpg's `add_listener` | [`notifications`]: `GET /notifications`, NOTIFY as Server-Sent Events |
//! | httpx in `/external-api` | [`external_api`]: the HTTPS client |
//! | the anti-pattern: blocking the loop | [`blocking`]: `std::thread::sleep` on the loop |
//! | an exception nobody catches → 500 | [`uncaught`]: `GET /panic`, a handler that panics |
//! | `@app.middleware("http")` adding `X-Process-Time` | [`middleware::process_time`] |
//!
//! Plus the FastAPI tutorial's `/items` routes, to show path, query and body
//! parameters and their 422 errors, a streamed response, and the WebSocket routes of
//! [`crate::chat`] (`/ws/echo`, `/ws/chat/{room}`, the `/chat` page).

use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rasgi_executor::{log_error, sleep, spawn_blocking};
use rasgi_http::client::{redact, Client, Timeouts};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::app::{middleware, App, HttpException, Json, Request, Response};
use crate::pg::{rows_to_json, Config as PgConfig, Listener, Pool};

/// Where `/external-api` fetches from when `EXTERNAL_API_URL` is not set: a public JSON
/// API (the seed's `https://api.example.com/data` does not exist).
pub const DEFAULT_EXTERNAL_API_URL: &str = "https://jsonplaceholder.typicode.com/todos/1";

/// What the demo needs from outside: a database and an API to call.
#[derive(Clone)]
pub struct Settings {
    /// The Postgres URL for `/db-data`, or why there is none (shown in the 503).
    pub database: Result<String, String>,
    /// The URL `/external-api` fetches.
    pub external_api_url: String,
    /// Mount the live loop view at `/_rasgi/`. It shows every task, socket and timer to
    /// whoever asks, so the demo binary mounts it only when it listens on a loopback
    /// address, unless `--live-view` says otherwise ([`live_view_by_default`]).
    pub live_view: bool,
}

/// The database URL carries a password, so it is never printed: `Debug` shows only
/// whether there is one.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("database", &self.database.as_ref().map(|_| "[a URL, not shown]"))
            .field("external_api_url", &"[not shown: its query may hold a key]")
            .field("live_view", &self.live_view)
            .finish()
    }
}

/// Whether the live view is mounted when no flag says: only when the server listens on
/// a loopback address, where nobody but this machine's users can reach it.
pub fn live_view_by_default(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
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
            live_view: true,
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
/// ([`crate::loopview`]) if `settings.live_view`. Each worker loop calls this and, at lifespan startup, creates
/// its own database pool and HTTPS client — where FastAPI apps open theirs.
pub fn app_with(settings: Arc<Settings>) -> App {
    let live_view = settings.live_view;
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
        .get("/panic", uncaught)
        .get("/items/{item_id}", read_item)
        .post("/items", create_item)
        .get("/stream", stream_numbers)
        .get("/export.csv", export_csv)
        .get("/notifications", notifications);
    // WebSocket: `/ws/echo`, `/ws/chat/{room}` and the `/chat` page.
    let app = crate::chat::mount(app);
    if live_view {
        crate::loopview::mount(app)
    } else {
        app
    }
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
///
/// `black_box` hides each step from the optimizer; without it `(0..n).sum()` folds to
/// the closed form `n(n-1)/2` at compile time and the route would burn no CPU at all.
pub fn cpu_bound_task() -> u64 {
    (0..1_000_000u64).fold(0, |total, i| std::hint::black_box(total + i))
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

/// `GET /panic`: the exception nobody catches. The handler panics after an `.await`; the
/// app layer turns the panic into a 500, logs one line naming the route and the line that
/// panicked, and the server goes on serving — even this connection, which stays open.
/// (`rasgi_executor::panic` lists the three places rasgi catches panics.)
pub async fn uncaught(_request: Request) -> Json<Value> {
    sleep(Duration::from_millis(10)).await;
    panic!("an exception nobody caught")
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
pub async fn db_data(request: Request) -> Result<Json<Box<RawValue>>, HttpException> {
    let Some(pool) = request.state::<Pool>() else {
        let reason = request.state::<NoDatabase>().map_or_else(|| "no database configured".to_owned(), |r| r.0.clone());
        return Err(HttpException::new(503, reason));
    };
    let rows = pool.fetch("SELECT * FROM mytable ORDER BY id", &[]).await.map_err(|e| {
        log_error!("/db-data: {e}");
        HttpException::new(503, format!("database error: {e}"))
    })?;
    // Columns in table order and json values exactly as stored; a value that cannot be
    // converted is logged with its reason (the column and type, never the value) and answers 500.
    rows_to_json(&rows).map(Json).map_err(|e| {
        log_error!("/db-data: {e}");
        HttpException::new(500, format!("cannot convert a row to JSON: {e}"))
    })
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

/// `GET /export.csv`: `mytable` as CSV, streamed from `COPY ... TO STDOUT` into a chunked
/// response — asyncpg's `copy_from_table` feeding a `StreamingResponse`. Rows go out in
/// batches of about 16 KiB as they arrive; the table is never held in memory, and a slow
/// client slows the COPY down (the response channel and then TCP push back).
pub async fn export_csv(request: Request) -> Result<Response, HttpException> {
    let Some(pool) = request.state::<Pool>() else {
        let reason = request.state::<NoDatabase>().map_or_else(|| "no database configured".to_owned(), |r| r.0.clone());
        return Err(HttpException::new(503, reason));
    };
    // Borrow the connection before the 200 goes out, so that a database that is down is
    // still a 503 rather than an empty file.
    let mut conn = pool.acquire().await.map_err(|e| {
        log_error!("/export.csv: {e}");
        HttpException::new(503, format!("database error: {e}"))
    })?;
    let response = Response::stream(200, "text/csv; charset=utf-8", move |tx| async move {
        const BATCH: usize = 16 * 1024;
        let mut out =
            match conn.copy_out("COPY (SELECT * FROM mytable ORDER BY id) TO STDOUT (FORMAT csv, HEADER)").await {
                Ok(out) => out,
                Err(e) => {
                    log_error!("/export.csv: {e}");
                    return;
                }
            };
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            match out.next_chunk().await {
                Ok(Some(row)) => batch.extend_from_slice(&row),
                Ok(None) => break,
                // The status is already sent: all that is left is to say why the file is short.
                Err(e) => {
                    log_error!("/export.csv: the COPY failed part-way: {e}");
                    return;
                }
            }
            if batch.len() >= BATCH && tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))).await.is_err()
            {
                return; // the client left; dropping the COPY cancels it on the server
            }
        }
        if !batch.is_empty() {
            let _ = tx.send(batch).await;
        }
    });
    Ok(response.with_header("content-disposition", "attachment; filename=\"mytable.csv\""))
}

/// The channel `GET /notifications` relays: `NOTIFY rasgi_demo, 'hello'` from any session.
pub const NOTIFY_CHANNEL: &str = "rasgi_demo";

/// `GET /notifications`: the payloads NOTIFY'd on [`NOTIFY_CHANNEL`], as Server-Sent Events
/// (`text/event-stream`, one `data:` event per notification) — asyncpg's `add_listener`
/// feeding a `StreamingResponse`. Each subscriber gets its own [`Listener`] connection,
/// which reconnects by itself; a production fan-out would share one listener per process.
pub async fn notifications(request: Request) -> Result<Response, HttpException> {
    let Some(pool) = request.state::<Pool>() else {
        let reason = request.state::<NoDatabase>().map_or_else(|| "no database configured".to_owned(), |r| r.0.clone());
        return Err(HttpException::new(503, reason));
    };
    // LISTEN before the 200, so a database that is down is a 503 and an event NOTIFY'd right
    // after the response head arrived is not missed.
    let mut listener = async {
        let mut listener = Listener::connect(pool.config().clone()).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        Ok::<_, crate::pg::PgError>(listener)
    }
    .await
    .map_err(|e| {
        log_error!("/notifications: {e}");
        HttpException::new(503, format!("database error: {e}"))
    })?;
    let response = Response::stream(200, "text/event-stream", move |tx| async move {
        if tx.send(format!(": listening on {NOTIFY_CHANNEL}\n\n").into_bytes()).await.is_err() {
            return;
        }
        loop {
            let notification = match listener.recv().await {
                Ok(notification) => notification,
                Err(e) => {
                    log_error!("/notifications: {e}");
                    return;
                }
            };
            // A payload line is one `data:` line; a blank line ends the event.
            let mut event = String::with_capacity(notification.payload.len() + 8);
            for line in notification.payload.split('\n') {
                event.push_str("data: ");
                event.push_str(line);
                event.push('\n');
            }
            event.push('\n');
            if tx.send(event.into_bytes()).await.is_err() {
                return; // the client left; dropping the listener closes its connection
            }
        }
    });
    Ok(response.with_header("cache-control", "no-cache"))
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
