//! The ASGI-like contract between the server and an application.
//!
//! ASGI (the interface uvicorn speaks to FastAPI) reduces a web application to one
//! coroutine: `app(scope, receive, send)`. The *scope* describes the connection and
//! request; `await receive()` yields events from the client (`http.request` with body
//! bytes, then `http.disconnect`); `await send(event)` emits the response
//! (`http.response.start` with status and headers, then `http.response.body`). A
//! separate *lifespan* scope tells the application when the server starts and stops.
//!
//! Here the same shape is a trait, [`App`], whose `call` gets a [`Scope`], a
//! [`Receive`] and a [`Sender`]. Events are Rust enums instead of dicts, so a typo in an
//! event type is a compile error rather than a runtime one, but the order rules are the
//! spec's: start before body, nothing after the last body, and the server answers 500 if
//! the application returns without responding.
//!
//! The `websocket` scope is the second protocol of the same contract: the server calls
//! [`App::websocket`] with a [`WebSocketScope`] and a [`WebSocketChannel`], whose
//! `receive` yields [`WebSocketReceiveEvent`]s (`websocket.connect`, `websocket.receive`,
//! `websocket.disconnect`) and whose `send` takes [`WebSocketSendEvent`]s
//! (`websocket.accept`, `websocket.send`, `websocket.close`, and the denial-response
//! extension's `websocket.http.response.start/body`). Where ASGI passes one callable and a
//! `scope["type"]` to switch on, the trait has one method per scope type; an application
//! that does not implement `websocket` refuses every upgrade with 403, which is what a
//! Starlette app without a websocket route does.

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::ops::Range;
use std::rc::Rc;

// The contract names the server's handles, but does not re-export them: they are the
// server's types, exported from the crate root beside the contract.
use crate::server::conn::{Receive, Sender};
use crate::server::websocket::WebSocketChannel;
use crate::ws::Message;

/// A header as the application sends it: lowercase name, raw value. Static strings
/// borrow, computed ones own — `Cow` lets both share one type without an allocation for
/// the common `("content-type", "application/json")`.
pub type Header = (Cow<'static, str>, Cow<'static, [u8]>);

/// Builds a [`Header`] from anything string-like.
pub fn header(name: impl Into<Cow<'static, str>>, value: impl Into<HeaderValue>) -> Header {
    (name.into(), value.into().0)
}

/// A header value under construction; accepts `&'static str`, `String`, and bytes.
pub struct HeaderValue(pub Cow<'static, [u8]>);

impl From<&'static str> for HeaderValue {
    fn from(s: &'static str) -> Self {
        HeaderValue(Cow::Borrowed(s.as_bytes()))
    }
}
impl From<String> for HeaderValue {
    fn from(s: String) -> Self {
        HeaderValue(Cow::Owned(s.into_bytes()))
    }
}
impl From<&'static [u8]> for HeaderValue {
    fn from(b: &'static [u8]) -> Self {
        HeaderValue(Cow::Borrowed(b))
    }
}
impl From<Vec<u8>> for HeaderValue {
    fn from(b: Vec<u8>) -> Self {
        HeaderValue(Cow::Owned(b))
    }
}

/// The HTTP version of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpVersion {
    /// HTTP/1.0: one request per connection unless the client asks for keep-alive.
    Http10,
    /// HTTP/1.1: keep-alive by default, chunked bodies, `Host` required.
    Http11,
}

impl HttpVersion {
    /// `"1.0"` or `"1.1"`, as the ASGI scope spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Http10 => "1.0",
            HttpVersion::Http11 => "1.1",
        }
    }
}

/// The `http` scope of one request: ASGI's `scope` dict as a struct.
///
/// The server fills one `Scope` per connection and refills it for every request, so
/// its buffers are allocated once per connection, not once per request. The request
/// head is copied into `head` and every string field is a range into it.
///
/// `clone_from` reuses the target's buffers: an application that must own a copy (the
/// app layer hands each handler an owned request) can recycle old copies and allocate
/// nothing per request.
pub struct Scope {
    /// The request line and headers as received, header names lowercased in place.
    pub(crate) head: Vec<u8>,
    /// The method, uppercase as sent (`GET`).
    pub(crate) method: Range<usize>,
    /// The method as a static string when it is a standard one (the common case):
    /// `method()` then costs nothing.
    pub(crate) known_method: Option<&'static str>,
    /// The path as sent, before percent-decoding, without the query.
    pub(crate) raw_path: Range<usize>,
    /// The query string without `?`, still percent-encoded; empty if none.
    pub(crate) query: Range<usize>,
    /// The percent-decoded path; equals the raw path when it had no `%`.
    pub(crate) path: String,
    /// `(name, value)` ranges into `head`, in order, duplicates kept.
    pub(crate) headers: Vec<(Range<usize>, Range<usize>)>,
    /// The request's HTTP version.
    pub(crate) version: HttpVersion,
    /// `"http"` (TLS termination is a proxy's job in this server, as in uvicorn's
    /// default set-up).
    pub(crate) scheme: &'static str,
    /// The mount point of the application (`--root-path`).
    pub(crate) root_path: Rc<str>,
    /// The peer's address.
    pub(crate) client: Option<SocketAddr>,
    /// The address the connection was accepted on.
    pub(crate) server: Option<SocketAddr>,
    /// State the application set up during lifespan startup.
    pub(crate) state: Rc<State>,
}

impl Clone for Scope {
    fn clone(&self) -> Scope {
        let mut copy = Scope::new(self.root_path.clone(), self.state.clone(), self.client, self.server);
        copy.clone_from(self);
        copy
    }

    fn clone_from(&mut self, source: &Scope) {
        // The three buffers keep their capacity; everything else is a copy or an `Rc`.
        self.head.clone_from(&source.head);
        self.path.clone_from(&source.path);
        self.headers.clone_from(&source.headers);
        self.method = source.method.clone();
        self.known_method = source.known_method;
        self.raw_path = source.raw_path.clone();
        self.query = source.query.clone();
        self.version = source.version;
        self.scheme = source.scheme;
        self.root_path.clone_from(&source.root_path);
        self.client = source.client;
        self.server = source.server;
        self.state.clone_from(&source.state);
    }
}

impl Scope {
    /// An empty scope; the server fills it in.
    pub(crate) fn new(
        root_path: Rc<str>,
        state: Rc<State>,
        client: Option<SocketAddr>,
        server: Option<SocketAddr>,
    ) -> Scope {
        Scope {
            head: Vec::new(),
            method: 0..0,
            known_method: None,
            raw_path: 0..0,
            query: 0..0,
            path: String::new(),
            headers: Vec::new(),
            version: HttpVersion::Http11,
            scheme: "http",
            root_path,
            client,
            server,
            state,
        }
    }

    /// Builds a scope by hand, for tests and for middleware that forwards a modified
    /// request to an inner application.
    pub fn build(method: &str, target: &str, headers: &[(&str, &[u8])]) -> Scope {
        let mut scope = Scope::new(Rc::from(""), Rc::new(State::default()), None, None);
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut head = Vec::new();
        let mut push = |bytes: &[u8]| {
            let start = head.len();
            head.extend_from_slice(bytes);
            start..head.len()
        };
        scope.method = push(method.as_bytes());
        scope.raw_path = push(path.as_bytes());
        scope.query = push(query.as_bytes());
        for (name, value) in headers {
            let n = push(name.to_ascii_lowercase().as_bytes());
            let v = push(value);
            scope.headers.push((n, v));
        }
        scope.head = head;
        scope.path = crate::head::percent_decode(path.as_bytes());
        scope
    }

    fn text(&self, range: &Range<usize>) -> &str {
        // Every range points at bytes httparse validated as tokens or a request target,
        // which are ASCII; a failure here would be a server bug, so fall back to "".
        std::str::from_utf8(&self.head[range.clone()]).unwrap_or("")
    }

    /// The request method, uppercase (`"GET"`).
    pub fn method(&self) -> &str {
        match self.known_method {
            Some(method) => method,
            None => self.text(&self.method),
        }
    }

    /// The percent-decoded path (`"/items/a b"`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path exactly as sent (`b"/items/a%20b"`).
    pub fn raw_path(&self) -> &[u8] {
        &self.head[self.raw_path.clone()]
    }

    /// The query string, still encoded, without `?` (`b"q=1&x=%20"`).
    pub fn query_string(&self) -> &[u8] {
        &self.head[self.query.clone()]
    }

    /// `"1.0"` or `"1.1"`.
    pub fn http_version(&self) -> HttpVersion {
        self.version
    }

    /// `"http"`.
    pub fn scheme(&self) -> &str {
        self.scheme
    }

    /// Where the application is mounted (usually `""`).
    pub fn root_path(&self) -> &str {
        &self.root_path
    }

    /// The headers in the order received, names lowercased, duplicates kept.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.headers.iter().map(|(n, v)| (&self.head[n.clone()], &self.head[v.clone()]))
    }

    /// The first header called `name` (give it lowercase).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers().find(|(n, _)| *n == name.as_bytes()).map(|(_, v)| v)
    }

    /// The peer's address.
    pub fn client(&self) -> Option<SocketAddr> {
        self.client
    }

    /// The server's address for this connection.
    pub fn server(&self) -> Option<SocketAddr> {
        self.server
    }

    /// The lifespan state.
    pub fn state(&self) -> &Rc<State> {
        &self.state
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("type", &"http")
            .field("http_version", &self.version.as_str())
            .field("method", &self.method())
            .field("path", &self.path())
            .field("query_string", &String::from_utf8_lossy(self.query_string()))
            .field(
                "headers",
                &self
                    .headers()
                    .map(|(n, v)| (String::from_utf8_lossy(n), String::from_utf8_lossy(v)))
                    .collect::<Vec<_>>(),
            )
            .field("client", &self.client)
            .finish()
    }
}

/// An event from the client, returned by [`Receive::receive`].
#[derive(Debug, PartialEq, Eq)]
pub enum ReceiveEvent {
    /// `http.request`: a piece of the body. `more_body == false` marks the last piece
    /// (a request without a body gives one event with an empty body). Chunked transfer
    /// encoding is already removed.
    Request {
        /// Body bytes.
        body: Vec<u8>,
        /// True if more pieces follow.
        more_body: bool,
    },
    /// `http.disconnect`: the client is gone, or the response was sent.
    Disconnect,
}

/// An event to the client, passed to [`Sender::send`].
#[derive(Debug)]
pub enum SendEvent<'a> {
    /// `http.response.start`: the status and headers. The server adds `server`,
    /// `date` and the framing headers (`content-length` or `transfer-encoding:
    /// chunked`); a `transfer-encoding` from the application is ignored.
    Start {
        /// The status code.
        status: u16,
        /// Lowercase header names with their values.
        headers: Vec<Header>,
        /// True if `Trailers` events will follow the body (forces chunked framing).
        trailers: bool,
    },
    /// `http.response.body`: a piece of the body.
    Body {
        /// The bytes.
        body: &'a [u8],
        /// True if more pieces follow. The server can only use `content-length` when the
        /// whole body arrives in the first piece; otherwise it sends the body chunked.
        more_body: bool,
    },
    /// `http.response.trailers`: trailing headers after a chunked body.
    Trailers {
        /// The trailer fields.
        headers: Vec<Header>,
        /// True if more trailer events follow.
        more_trailers: bool,
    },
}

/// The `websocket` scope: the upgrade request's `http` fields plus the subprotocols the
/// client offered. It derefs to [`Scope`] for `path`, `query_string`, `headers`, `client`
/// and `state`.
#[derive(Clone, Debug)]
pub struct WebSocketScope {
    /// The upgrade request, as an `http` scope would show it.
    pub(crate) http: Scope,
    /// `Sec-WebSocket-Protocol` values in the client's order of preference.
    pub(crate) subprotocols: Vec<String>,
}

impl WebSocketScope {
    /// A scope built by hand, for tests and middleware.
    pub fn new(http: Scope, subprotocols: Vec<String>) -> WebSocketScope {
        WebSocketScope { http, subprotocols }
    }

    /// `"ws"`, or `"wss"` when a trusted proxy says the client spoke TLS to it (TLS is a
    /// proxy's job here, as with `http`).
    pub fn scheme(&self) -> &str {
        if self.http.scheme() == "https" {
            "wss"
        } else {
            "ws"
        }
    }

    /// The subprotocols the client offered, most preferred first.
    pub fn subprotocols(&self) -> &[String] {
        &self.subprotocols
    }

    /// The upgrade request's fields.
    pub fn http(&self) -> &Scope {
        &self.http
    }
}

impl std::ops::Deref for WebSocketScope {
    type Target = Scope;

    fn deref(&self) -> &Scope {
        &self.http
    }
}

/// An event from the WebSocket client, returned by [`WebSocketChannel::receive`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebSocketReceiveEvent {
    /// `websocket.connect`: the client asks to open; answer with `Accept` or `Close`.
    Connect,
    /// `websocket.receive`: one whole message (fragments already joined, text already
    /// checked as UTF-8).
    Receive(Message),
    /// `websocket.disconnect`: the connection is over. `code` is what the client sent
    /// (1005 if it sent none), 1006 if TCP vanished without a close frame, 1001 if the
    /// server is shutting down, or the code the server failed the connection with.
    Disconnect {
        /// The close code.
        code: u16,
        /// The close reason; empty when there was none.
        reason: String,
    },
}

/// What the application sends on a WebSocket, passed to [`WebSocketChannel::send`].
#[derive(Clone, Debug)]
pub enum WebSocketSendEvent<'a> {
    /// `websocket.accept`: finish the handshake with `101`, choosing one of the offered
    /// subprotocols (or none) and adding headers.
    Accept {
        /// One of [`WebSocketScope::subprotocols`], or `None`.
        subprotocol: Option<String>,
        /// Extra response headers.
        headers: Vec<Header>,
    },
    /// `websocket.send` with `text`.
    Text(&'a str),
    /// `websocket.send` with `bytes`.
    Bytes(&'a [u8]),
    /// `websocket.close`: before `Accept`, refuse the handshake with 403; after, start
    /// the close handshake with this code (1000 is the usual one) and reason.
    Close {
        /// The close code (only codes allowed on the wire are sent; others become 1011).
        code: u16,
        /// A reason of at most 123 bytes (longer ones are cut).
        reason: String,
    },
    /// `websocket.http.response.start` (the denial-response extension): refuse the
    /// handshake with this HTTP response instead of a bare 403.
    HttpResponseStart {
        /// The status code.
        status: u16,
        /// The response headers.
        headers: Vec<Header>,
    },
    /// `websocket.http.response.body`: a piece of the denial response's body.
    HttpResponseBody {
        /// The bytes.
        body: &'a [u8],
        /// True if more pieces follow.
        more_body: bool,
    },
}

/// What a lifespan event asks of the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LifespanEvent {
    /// `lifespan.startup`: the server is about to accept connections. Open pools here.
    Startup,
    /// `lifespan.shutdown`: the server stopped accepting and drained. Close them here.
    Shutdown,
}

/// Per-loop application state, filled during lifespan startup and visible to every
/// request through [`Scope::state`]: ASGI's `scope["state"]`, typed.
///
/// It is a map from a type to one value of that type, so a database pool is found by
/// asking for `Pool` rather than for a string key that may be misspelt.
#[derive(Default)]
pub struct State {
    /// One value per type.
    values: RefCell<HashMap<TypeId, Rc<dyn Any>>>,
}

impl State {
    /// Stores `value`, replacing a previous value of the same type.
    pub fn insert<T: 'static>(&self, value: T) {
        self.values.borrow_mut().insert(TypeId::of::<T>(), Rc::new(value));
    }

    /// The value of type `T`, if one was stored.
    pub fn get<T: 'static>(&self) -> Option<Rc<T>> {
        let value = self.values.borrow().get(&TypeId::of::<T>())?.clone();
        value.downcast::<T>().ok()
    }

    /// Removes the value of type `T`.
    pub fn remove<T: 'static>(&self) -> Option<Rc<T>> {
        let value = self.values.borrow_mut().remove(&TypeId::of::<T>())?;
        value.downcast::<T>().ok()
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "State({} values)", self.values.borrow().len())
    }
}

/// Why an application failed. The server logs it and answers 500 if no response was
/// started, or closes the connection if one was.
#[derive(Debug)]
pub struct AppError {
    /// What went wrong, for the log.
    pub message: String,
}

impl AppError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> AppError {
        AppError { message: message.into() }
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AppError {}

impl From<crate::error::SendError> for AppError {
    fn from(e: crate::error::SendError) -> Self {
        AppError::new(e.to_string())
    }
}

/// An ASGI-like application.
///
/// The futures need not be `Send`: each server loop is single-threaded and builds its
/// own application (see [`crate::server::start`]), so handlers may use `Rc` and
/// `RefCell` freely.
pub trait App: 'static {
    /// Handles one request: read its body with `receive`, answer through `send`.
    fn call(
        &self,
        scope: &Scope,
        receive: &Receive<'_>,
        send: &Sender<'_>,
    ) -> impl Future<Output = Result<(), AppError>>;

    /// Handles a lifespan event. Returning `Err(message)` at startup is ASGI's
    /// `lifespan.startup.failed`: the server prints the message and exits non-zero.
    fn lifespan(&self, event: LifespanEvent, state: &Rc<State>) -> impl Future<Output = Result<(), String>> {
        let _ = (event, state);
        async { Ok(()) }
    }

    /// Handles one WebSocket connection (the `websocket` scope): read
    /// `websocket.connect`, then accept or refuse. By default every upgrade is refused
    /// with 403, as from an application that serves HTTP only.
    fn websocket(
        &self,
        scope: &WebSocketScope,
        socket: &WebSocketChannel<'_>,
    ) -> impl Future<Output = Result<(), AppError>> {
        let _ = scope;
        async move {
            socket.send(WebSocketSendEvent::Close { code: 1000, reason: String::new() }).await?;
            Ok(())
        }
    }
}

impl<A: App> App for Rc<A> {
    fn call(
        &self,
        scope: &Scope,
        receive: &Receive<'_>,
        send: &Sender<'_>,
    ) -> impl Future<Output = Result<(), AppError>> {
        (**self).call(scope, receive, send)
    }

    fn lifespan(&self, event: LifespanEvent, state: &Rc<State>) -> impl Future<Output = Result<(), String>> {
        (**self).lifespan(event, state)
    }

    fn websocket(
        &self,
        scope: &WebSocketScope,
        socket: &WebSocketChannel<'_>,
    ) -> impl Future<Output = Result<(), AppError>> {
        (**self).websocket(scope, socket)
    }
}
