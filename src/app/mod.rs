//! The FastAPI-like application layer.
//!
//! ```
//! use rasgi::app::{App, Json, Request, middleware};
//! use serde_json::json;
//!
//! let app = App::new()
//!     .middleware(middleware::process_time)
//!     .get("/", |_req: Request| async { Json(json!({"Hello": "World"})) })
//!     .get("/items/{item_id}", |req: Request| async move {
//!         let item_id: u32 = req.path_param("item_id")?;
//!         let q: Option<String> = req.query_opt("q")?;
//!         Ok::<_, rasgi::app::HttpException>(Json(json!({"item_id": item_id, "q": q})))
//!     });
//! # let _ = app;
//! ```
//!
//! An [`App`] is an ASGI-like application (it implements [`rasgi_http::App`]), so the
//! server runs it like uvicorn runs a FastAPI app. For each request it:
//!
//! 1. finds the route (so the request's task can be named after it — the slow-poll
//!    warning then says `GET /blocking`, not "some task");
//! 2. reads the body (up to a limit, 413 beyond);
//! 3. runs the `call_next` middleware chain, which ends at the handler — or at a 404 /
//!    405 / 422 / 500 answer in FastAPI's JSON shape;
//! 4. sends the response, streaming it if the handler asked for that.
//!
//! # Layout
//!
//! | file | concept |
//! |---|---|
//! | `mod.rs` | [`App`]: registration, dispatch, the ASGI-like entry point |
//! | `router.rs` | patterns like `/items/{item_id}` and matching |
//! | `handler.rs` | a route's handler, and the reused boxes its calls' futures run in |
//! | `request.rs` | [`Request`] and typed extraction (path, query, JSON body) |
//! | `response.rs` | [`Response`], [`IntoResponse`], [`Json`], [`Html`], streaming |
//! | `middleware.rs` | `call_next` middleware, [`Next`], the seed's `X-Process-Time` |
//! | `error.rs` | [`HttpException`] and 422 validation details |
//! | `websocket.rs` | `@app.websocket` routes and the [`WebSocket`] a handler gets |

mod error;
mod handler;
pub mod middleware;
mod request;
mod response;
mod router;
mod websocket;

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::Poll;

use rasgi_executor::sync::mpsc;
use rasgi_executor::{join, log_error};
use rasgi_http::{AppError, LifespanEvent, Receive, ReceiveEvent, Scope, SendEvent, Sender, State};
use rasgi_http::{WebSocketChannel, WebSocketReceiveEvent, WebSocketScope, WebSocketSendEvent};

pub use error::HttpException;
pub use middleware::Next;
pub use request::{form_decode, Request};
pub use response::{Body, Html, IntoResponse, Json, Response};
pub use websocket::{Received, WebSocket, WebSocketError, WebSocketHandler};

use handler::Handler;
use router::{lookup, lookup_ws, Lookup, Route, WsRoute};

/// A boxed lifespan hook.
type Hook = Rc<dyn Fn(Rc<State>) -> Pin<Box<dyn Future<Output = Result<(), String>>>>>;

/// The default limit on a request body the app layer reads for a handler.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;

/// A FastAPI-like application: routes, middleware, lifespan hooks.
#[derive(Clone)]
pub struct App {
    inner: Rc<Inner>,
}

/// Everything registered on an [`App`]; shared by the requests in flight.
#[derive(Clone)]
pub(crate) struct Inner {
    /// Routes, matched in registration order.
    routes: Vec<Route>,
    /// WebSocket routes, matched in registration order.
    ws_routes: Vec<WsRoute>,
    /// `call_next` middleware, outermost first.
    pub(crate) middleware: Vec<middleware::Middleware>,
    /// Run at lifespan startup, in order.
    startup: Vec<Hook>,
    /// Run at lifespan shutdown, in order.
    shutdown: Vec<Hook>,
    /// Largest body read for a handler (413 beyond).
    max_body: usize,
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    /// An application with no routes.
    pub fn new() -> App {
        App {
            inner: Rc::new(Inner {
                routes: Vec::new(),
                ws_routes: Vec::new(),
                middleware: Vec::new(),
                startup: Vec::new(),
                shutdown: Vec::new(),
                max_body: DEFAULT_MAX_BODY,
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> App {
        f(Rc::make_mut(&mut self.inner));
        self
    }

    /// Registers a handler for `method` and `pattern` (`/items/{item_id}`).
    pub fn route<H, Fut, R>(self, method: &str, pattern: &str, handler: H) -> App
    where
        H: Fn(Request) -> Fut + 'static,
        Fut: Future<Output = R> + 'static,
        R: IntoResponse,
    {
        let handler = Handler::new(move |request| {
            let future = handler(request);
            async move { future.await.into_response() }
        });
        let route = Route::new(method, pattern, handler);
        self.edit(|inner| inner.routes.push(route))
    }

    /// `@app.get(pattern)`.
    pub fn get<H, Fut, R>(self, pattern: &str, handler: H) -> App
    where
        H: Fn(Request) -> Fut + 'static,
        Fut: Future<Output = R> + 'static,
        R: IntoResponse,
    {
        self.route("GET", pattern, handler)
    }

    /// `@app.post(pattern)`.
    pub fn post<H, Fut, R>(self, pattern: &str, handler: H) -> App
    where
        H: Fn(Request) -> Fut + 'static,
        Fut: Future<Output = R> + 'static,
        R: IntoResponse,
    {
        self.route("POST", pattern, handler)
    }

    /// `@app.put(pattern)`.
    pub fn put<H, Fut, R>(self, pattern: &str, handler: H) -> App
    where
        H: Fn(Request) -> Fut + 'static,
        Fut: Future<Output = R> + 'static,
        R: IntoResponse,
    {
        self.route("PUT", pattern, handler)
    }

    /// `@app.delete(pattern)`.
    pub fn delete<H, Fut, R>(self, pattern: &str, handler: H) -> App
    where
        H: Fn(Request) -> Fut + 'static,
        Fut: Future<Output = R> + 'static,
        R: IntoResponse,
    {
        self.route("DELETE", pattern, handler)
    }

    /// `@app.websocket(pattern)`: `handler` is an `async fn(WebSocket<'_>) ->
    /// Result<(), WebSocketError>` serving each connection whose path matches. A path
    /// no WebSocket route matches is refused with 403, as Starlette does.
    pub fn websocket<H>(self, pattern: &str, handler: H) -> App
    where
        H: for<'a> WebSocketHandler<'a> + 'static,
    {
        let route = WsRoute::new(pattern, Rc::new(websocket::Erased(handler)));
        self.edit(|inner| inner.ws_routes.push(route))
    }

    /// Adds `call_next` middleware (`@app.middleware("http")`); see
    /// [`middleware`] for the order.
    pub fn middleware<M, Fut>(self, middleware: M) -> App
    where
        M: Fn(Request, Next) -> Fut + 'static,
        Fut: Future<Output = Response> + 'static,
    {
        let middleware: middleware::Middleware = Rc::new(move |request, next| Box::pin(middleware(request, next)));
        self.edit(|inner| inner.middleware.push(middleware))
    }

    /// Runs `hook` at startup, before the server accepts connections: where a database
    /// pool is created and put into the state. An `Err` stops the server with its
    /// message.
    pub fn on_startup<F, Fut>(self, hook: F) -> App
    where
        F: Fn(Rc<State>) -> Fut + 'static,
        Fut: Future<Output = Result<(), String>> + 'static,
    {
        let hook: Hook = Rc::new(move |state| Box::pin(hook(state)));
        self.edit(|inner| inner.startup.push(hook))
    }

    /// Runs `hook` at shutdown, after the last request finished.
    pub fn on_shutdown<F, Fut>(self, hook: F) -> App
    where
        F: Fn(Rc<State>) -> Fut + 'static,
        Fut: Future<Output = Result<(), String>> + 'static,
    {
        let hook: Hook = Rc::new(move |state| Box::pin(hook(state)));
        self.edit(|inner| inner.shutdown.push(hook))
    }

    /// Sets the largest request body the app layer accepts (default 1 MiB).
    pub fn max_body(self, bytes: usize) -> App {
        self.edit(|inner| inner.max_body = bytes)
    }

    /// Runs a request through middleware and routing without a server: what the
    /// server does after reading the body. Useful in tests.
    pub async fn handle(&self, scope: Scope, body: Vec<u8>) -> Response {
        let request = self.inner.route_request(&scope, body);
        let route = request.route_index;
        catch_panics(&self.inner, &scope, route, Next { inner: self.inner.clone(), index: 0 }.run(request)).await
    }
}

impl Inner {
    /// Matches the route of a new request and builds the [`Request`], with its own copy
    /// of `scope`.
    fn route_request(&self, scope: &Scope, body: Vec<u8>) -> Request {
        let mut params = Vec::new();
        let found = lookup(&self.routes, scope.method(), scope.path(), &mut params);
        let index = match found {
            Lookup::Found(index) => Some(index),
            _ => None,
        };
        let mut request = Request::copying(scope, params, body, index.map(|i| self.routes[i].label.clone()));
        request.route_index = index;
        request
    }

    /// The end of the middleware chain: the handler, or FastAPI's 404/405.
    pub(crate) async fn dispatch(&self, request: Request) -> Response {
        if let Some(route) = request.route_index.and_then(|i| self.routes.get(i)) {
            return route.handler.call(request).await;
        }
        match lookup(&self.routes, request.method(), request.path(), &mut Vec::new()) {
            Lookup::MethodNotAllowed(allowed) => {
                HttpException::new(405, "Method Not Allowed").with_header("allow", allowed.join(", ")).to_response()
            }
            // Found can only happen if a middleware rewrote nothing we match on; treat
            // it like a miss rather than guess.
            Lookup::Found(_) | Lookup::NotFound => HttpException::not_found().to_response(),
        }
    }
}

/// Polls `future`, turning a panic into a 500 JSON response (FastAPI's
/// `ServerErrorMiddleware`): the innermost of the three catch points described in
/// [`rasgi_executor::panic`]. It logs the panic once, naming the route (or, when none
/// matched, the request's method and path) and where the code panicked:
/// `GET /panic: handler panicked at src/demo.rs:203:5: ...`.
async fn catch_panics(
    inner: &Inner,
    scope: &Scope,
    route: Option<usize>,
    future: impl Future<Output = Response>,
) -> Response {
    let mut future = pin!(future);
    poll_fn(|cx| match rasgi_executor::catch(|| future.as_mut().poll(cx)) {
        Ok(poll) => poll,
        Err(panic) => {
            // The route's label is looked up only now: a request that does not panic
            // pays nothing for it.
            match route.and_then(|i| inner.routes.get(i)) {
                Some(route) => log_error!("{}: handler {panic}", route.label),
                None => log_error!("{} {}: middleware {panic}", scope.method(), scope.path()),
            }
            Poll::Ready(HttpException::internal().to_response())
        }
    })
    .await
}

impl rasgi_http::App for App {
    async fn call(&self, scope: &Scope, receive: &Receive<'_>, send: &Sender<'_>) -> Result<(), AppError> {
        // 1. Route, and name this task after the route for the diagnostics (the
        //    slow-poll warning then names `GET /blocking`).
        let mut request = self.inner.route_request(scope, Vec::new());
        if let Some(label) = request.route() {
            rasgi_executor::task::set_name(label);
        }

        // 2. Read the body, bounded. A body whose announced length is already over the
        //    limit is refused before the first `receive`, which is what would invite a
        //    client that sent `Expect: 100-continue` to upload it.
        let announced = scope.header("content-length").and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok());
        if announced.is_some_and(|n| n > self.inner.max_body as u64) {
            return send_response(send, HttpException::new(413, "Request body too large").to_response()).await;
        }
        request.body = match read_body(receive, self.inner.max_body).await {
            Ok(body) => body,
            Err(BodyError::Disconnected) => return Ok(()),
            Err(BodyError::TooLarge) => {
                let response = HttpException::new(413, "Request body too large").to_response();
                return send_response(send, response).await;
            }
        };

        // 3. Middleware, then the handler.
        let route = request.route_index;
        let response =
            catch_panics(&self.inner, scope, route, Next { inner: self.inner.clone(), index: 0 }.run(request)).await;

        // 4. Send.
        send_response(send, response).await
    }

    async fn websocket(&self, scope: &WebSocketScope, socket: &WebSocketChannel<'_>) -> Result<(), AppError> {
        // `websocket.connect` always comes first; the handler starts after it.
        if socket.receive().await != WebSocketReceiveEvent::Connect {
            return Ok(());
        }
        let mut params = Vec::new();
        let Some(index) = lookup_ws(&self.inner.ws_routes, scope.path(), &mut params) else {
            socket.send(WebSocketSendEvent::Close { code: 1000, reason: String::new() }).await?;
            return Ok(());
        };
        let route = &self.inner.ws_routes[index];
        // Named after its route, the session shows up as `WS /ws/chat/{room}` in the
        // trace, the live view and slow-poll warnings.
        rasgi_executor::task::set_name(route.label.clone());
        let ws = WebSocket::new(scope, socket, params);
        match route.handler.call(ws).await {
            Ok(()) | Err(WebSocketError::Disconnected { .. }) => Ok(()),
            Err(e) => Err(AppError::new(e.to_string())),
        }
    }

    async fn lifespan(&self, event: LifespanEvent, state: &Rc<State>) -> Result<(), String> {
        let hooks = match event {
            LifespanEvent::Startup => &self.inner.startup,
            LifespanEvent::Shutdown => &self.inner.shutdown,
        };
        for hook in hooks {
            hook(state.clone()).await?;
        }
        Ok(())
    }
}

/// Why the body could not be read.
enum BodyError {
    /// The client left (or the server refused the body itself).
    Disconnected,
    /// Over the app layer's limit.
    TooLarge,
}

/// Collects the request body from `receive` events.
async fn read_body(receive: &Receive<'_>, limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    loop {
        match receive.receive().await {
            ReceiveEvent::Request { body: piece, more_body } => {
                if body.len() + piece.len() > limit {
                    return Err(BodyError::TooLarge);
                }
                if body.is_empty() {
                    body = piece;
                } else {
                    body.extend_from_slice(&piece);
                }
                if !more_body {
                    return Ok(body);
                }
            }
            ReceiveEvent::Disconnect => return Err(BodyError::Disconnected),
        }
    }
}

/// Turns a [`Response`] into `send` events.
async fn send_response(send: &Sender<'_>, response: Response) -> Result<(), AppError> {
    let Response { status, headers, body } = response;
    match body {
        Body::Bytes(bytes) => {
            send.respond(status, headers, &bytes).await?;
            response::recycle_body(bytes);
        }
        Body::Stream(produce) => {
            send.send(SendEvent::Start { status, headers, trailers: false }).await?;
            // The producer and the forwarder run side by side in this task; the bounded
            // channel between them makes the producer wait while the client is slow.
            let (tx, mut rx) = mpsc::channel::<Vec<u8>>(16);
            let forward = async {
                while let Some(piece) = rx.recv().await {
                    send.send(SendEvent::Body { body: &piece, more_body: true }).await?;
                }
                send.send(SendEvent::Body { body: b"", more_body: false }).await
            };
            let ((), sent) = join(produce(tx), forward).await;
            sent?;
        }
    }
    Ok(())
}
