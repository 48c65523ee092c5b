//! Pure ASGI-like middleware: an application that wraps another.
//!
//! Starlette distinguishes two kinds of middleware. The *pure ASGI* kind, shown here,
//! is itself an application: it receives `scope, receive, send`, may wrap `send` to see
//! the response events go by, and calls the inner application. It never buffers the
//! body, so it is safe for streaming responses. (The FastAPI-style `call_next` kind,
//! which sees a whole response object, lives in the app layer.)
//!
//! Pure middleware wraps WebSocket applications too, as in Starlette: the `websocket`
//! scope goes through the same wrapper, which may wrap the channel's `send`.

use crate::asgi::{App, AppError, Header, LifespanEvent, Scope, SendEvent, State, WebSocketScope, WebSocketSendEvent};
use crate::server::conn::{Receive, Sender};
use crate::server::websocket::WebSocketChannel;
use std::future::Future;
use std::rc::Rc;

/// Adds fixed headers to every response of the inner application, WebSocket handshake
/// answers (`101`, denial responses) included.
pub struct DefaultHeaders<A> {
    /// The wrapped application.
    inner: A,
    /// Added after the application's own headers.
    headers: Vec<Header>,
}

impl<A: App> DefaultHeaders<A> {
    /// Wraps `inner`, adding `headers` to each response start.
    pub fn new(inner: A, headers: Vec<Header>) -> DefaultHeaders<A> {
        DefaultHeaders { inner, headers }
    }
}

impl<A: App> App for DefaultHeaders<A> {
    async fn call(&self, scope: &Scope, receive: &Receive<'_>, send: &Sender<'_>) -> Result<(), AppError> {
        // The transform sees each event before the server does.
        let add = |event: &mut SendEvent<'_>| {
            if let SendEvent::Start { headers, .. } = event {
                headers.extend(self.headers.iter().cloned());
            }
        };
        let send = send.wrap(&add);
        self.inner.call(scope, receive, &send).await
    }

    fn lifespan(&self, event: LifespanEvent, state: &Rc<State>) -> impl Future<Output = Result<(), String>> {
        self.inner.lifespan(event, state)
    }

    async fn websocket(&self, scope: &WebSocketScope, socket: &WebSocketChannel<'_>) -> Result<(), AppError> {
        let add = |event: &mut WebSocketSendEvent<'_>| {
            if let WebSocketSendEvent::Accept { headers, .. } | WebSocketSendEvent::HttpResponseStart { headers, .. } =
                event
            {
                headers.extend(self.headers.iter().cloned());
            }
        };
        let socket = socket.wrap(&add);
        self.inner.websocket(scope, &socket).await
    }
}
