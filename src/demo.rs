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
use std::time::Duration;

use rasgi_executor::{sleep, spawn_blocking};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::app::{middleware, App, HttpException, Json, Request, Response};

/// Builds the demo application.
pub fn app() -> App {
    App::new()
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
        .get("/stream", stream_numbers)
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

/// `GET /db-data`: the rows of `mytable`.
pub async fn db_data(_request: Request) -> Response {
    HttpException::new(503, "the Postgres client is not wired into the demo yet").to_response()
}

/// `GET /external-api`: the JSON at `EXTERNAL_API_URL`.
pub async fn external_api(_request: Request) -> Response {
    HttpException::new(503, "the HTTPS client is not wired into the demo yet").to_response()
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
