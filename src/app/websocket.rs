//! WebSocket routes and the [`WebSocket`] value a handler gets: FastAPI's
//! `@app.websocket("/ws/{room}")` and Starlette's `WebSocket`.
//!
//! ```
//! use rasgi::app::{App, WebSocket, WebSocketError, Received};
//!
//! async fn echo(ws: WebSocket<'_>) -> Result<(), WebSocketError> {
//!     ws.accept().await?;
//!     loop {
//!         match ws.receive().await {
//!             Received::Text(text) => ws.send_text(&text).await?,
//!             Received::Bytes(bytes) => ws.send_bytes(&bytes).await?,
//!             Received::Disconnect { .. } => return Ok(()),
//!         }
//!     }
//! }
//!
//! let app = App::new().websocket("/ws/echo", echo);
//! # let _ = app;
//! ```
//!
//! Where FastAPI raises `WebSocketDisconnect` out of `receive_text()`, [`WebSocket::receive`]
//! returns the disconnect as a value, and the typed helpers (`receive_text`,
//! `receive_json`) return it as [`WebSocketError::Disconnected`], which `?` carries out of
//! the handler; the app layer treats that ending as normal, as Starlette does.
//!
//! Handlers are `async fn`s taking `WebSocket<'_>`: the value borrows the server's session
//! for exactly the handler's run, so sending writes straight into the connection's buffer
//! with no channel in between. (A closure returning an `async` block cannot borrow its
//! argument like that on this crate's minimum Rust version; a plain `async fn` can.)

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::str::FromStr;

use rasgi_http::{
    Message, SendError, State, WebSocketChannel, WebSocketReceiveEvent, WebSocketScope, WebSocketSendEvent,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::request::form_decode;

/// What [`WebSocket::receive`] returns: a message, or the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// A text message.
    Text(String),
    /// A binary message.
    Bytes(Vec<u8>),
    /// The connection is over (`websocket.disconnect`): 1000 from a client that closed
    /// normally, 1001 when the server shuts down, 1006 when TCP vanished.
    Disconnect {
        /// The close code.
        code: u16,
        /// The close reason (often empty).
        reason: String,
    },
}

/// Why a WebSocket operation failed.
#[derive(Debug)]
pub enum WebSocketError {
    /// The client is gone (FastAPI's `WebSocketDisconnect`): a normal way for a handler
    /// to end.
    Disconnected {
        /// The close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// A message of the other kind arrived (bytes where text was expected, or the
    /// reverse).
    UnexpectedMessage(&'static str),
    /// A JSON message did not decode into the expected type.
    Json(serde_json::Error),
    /// A path or query parameter was missing or did not convert.
    Param(String),
    /// The server refused the event (wrong order, invalid header, a closed socket).
    Send(SendError),
}

impl fmt::Display for WebSocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebSocketError::Disconnected { code, .. } => write!(f, "the WebSocket client disconnected ({code})"),
            WebSocketError::UnexpectedMessage(what) => write!(f, "unexpected WebSocket message: {what}"),
            WebSocketError::Json(e) => write!(f, "a WebSocket message is not the expected JSON: {e}"),
            WebSocketError::Param(e) => write!(f, "bad WebSocket route parameter: {e}"),
            WebSocketError::Send(e) => write!(f, "WebSocket send failed: {e}"),
        }
    }
}

impl std::error::Error for WebSocketError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WebSocketError::Json(e) => Some(e),
            WebSocketError::Send(e) => Some(e),
            _ => None,
        }
    }
}

impl From<SendError> for WebSocketError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Disconnected => WebSocketError::Disconnected { code: 1006, reason: String::new() },
            other => WebSocketError::Send(other),
        }
    }
}

/// One WebSocket connection, as a handler sees it.
pub struct WebSocket<'a> {
    /// The `websocket` scope: path, query, headers, subprotocols, state.
    scope: &'a WebSocketScope,
    /// The server's session.
    channel: &'a WebSocketChannel<'a>,
    /// `{name}` parameters of the matched route, in pattern order.
    params: Vec<(Rc<str>, String)>,
    /// True once `accept` was sent (receiving before it is an error).
    accepted: Cell<bool>,
}

impl<'a> WebSocket<'a> {
    pub(crate) fn new(
        scope: &'a WebSocketScope,
        channel: &'a WebSocketChannel<'a>,
        params: Vec<(Rc<str>, String)>,
    ) -> WebSocket<'a> {
        WebSocket { scope, channel, params, accepted: Cell::new(false) }
    }

    /// Accepts the connection (`await websocket.accept()`).
    pub async fn accept(&self) -> Result<(), WebSocketError> {
        self.accept_with(None).await
    }

    /// Accepts, choosing `subprotocol` from [`WebSocket::subprotocols`].
    pub async fn accept_with(&self, subprotocol: Option<&str>) -> Result<(), WebSocketError> {
        let event = WebSocketSendEvent::Accept { subprotocol: subprotocol.map(str::to_owned), headers: Vec::new() };
        self.channel.send(event).await?;
        self.accepted.set(true);
        Ok(())
    }

    /// The next message, or the disconnect as a value.
    pub async fn receive(&self) -> Received {
        loop {
            match self.channel.receive().await {
                WebSocketReceiveEvent::Receive(Message::Text(text)) => return Received::Text(text),
                WebSocketReceiveEvent::Receive(Message::Binary(bytes)) => return Received::Bytes(bytes),
                WebSocketReceiveEvent::Disconnect { code, reason } => return Received::Disconnect { code, reason },
                // The app layer consumed `websocket.connect` before calling the handler.
                WebSocketReceiveEvent::Connect => continue,
            }
        }
    }

    /// The next message as text (`receive_text()`).
    pub async fn receive_text(&self) -> Result<String, WebSocketError> {
        match self.receive().await {
            Received::Text(text) => Ok(text),
            Received::Bytes(_) => Err(WebSocketError::UnexpectedMessage("bytes where text was expected")),
            Received::Disconnect { code, reason } => Err(WebSocketError::Disconnected { code, reason }),
        }
    }

    /// The next message as bytes (`receive_bytes()`).
    pub async fn receive_bytes(&self) -> Result<Vec<u8>, WebSocketError> {
        match self.receive().await {
            Received::Bytes(bytes) => Ok(bytes),
            Received::Text(_) => Err(WebSocketError::UnexpectedMessage("text where bytes were expected")),
            Received::Disconnect { code, reason } => Err(WebSocketError::Disconnected { code, reason }),
        }
    }

    /// The next message, text or bytes, decoded as JSON into `T` (`receive_json()`).
    pub async fn receive_json<T: DeserializeOwned>(&self) -> Result<T, WebSocketError> {
        match self.receive().await {
            Received::Text(text) => serde_json::from_str(&text).map_err(WebSocketError::Json),
            Received::Bytes(bytes) => serde_json::from_slice(&bytes).map_err(WebSocketError::Json),
            Received::Disconnect { code, reason } => Err(WebSocketError::Disconnected { code, reason }),
        }
    }

    /// Sends a text message.
    pub async fn send_text(&self, text: &str) -> Result<(), WebSocketError> {
        Ok(self.channel.send(WebSocketSendEvent::Text(text)).await?)
    }

    /// Sends a binary message.
    pub async fn send_bytes(&self, bytes: &[u8]) -> Result<(), WebSocketError> {
        Ok(self.channel.send(WebSocketSendEvent::Bytes(bytes)).await?)
    }

    /// Sends `value` as a JSON text message.
    pub async fn send_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), WebSocketError> {
        let text = serde_json::to_string(value).map_err(WebSocketError::Json)?;
        self.send_text(&text).await
    }

    /// Closes with `code` and `reason` (before `accept`, this refuses the handshake with
    /// 403, as in Starlette).
    pub async fn close(&self, code: u16, reason: &str) -> Result<(), WebSocketError> {
        Ok(self.channel.send(WebSocketSendEvent::Close { code, reason: reason.to_owned() }).await?)
    }

    /// The path parameter `name`, converted to `T`.
    pub fn path_param<T: FromStr>(&self, name: &str) -> Result<T, WebSocketError> {
        let raw = self
            .params
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| WebSocketError::Param(format!("no path parameter {name:?}")))?;
        raw.parse().map_err(|_| WebSocketError::Param(format!("path parameter {name:?} has the wrong type")))
    }

    /// The query parameter `name`, if present, converted to `T`.
    pub fn query_opt<T: FromStr>(&self, name: &str) -> Result<Option<T>, WebSocketError> {
        match form_decode(self.scope.query_string()).into_iter().find(|(n, _)| n == name) {
            None => Ok(None),
            Some((_, raw)) => raw
                .parse()
                .map(Some)
                .map_err(|_| WebSocketError::Param(format!("query parameter {name:?} has the wrong type"))),
        }
    }

    /// The subprotocols the client offered.
    pub fn subprotocols(&self) -> &[String] {
        self.scope.subprotocols()
    }

    /// The `websocket` scope.
    pub fn scope(&self) -> &WebSocketScope {
        self.scope
    }

    /// A value from lifespan state (a broadcast hub, a database pool).
    pub fn state<T: 'static>(&self) -> Option<Rc<T>> {
        self.scope.state().get::<T>()
    }

    /// The lifespan state itself.
    pub fn lifespan_state(&self) -> &Rc<State> {
        self.scope.state()
    }

    /// True once [`WebSocket::accept`] succeeded.
    pub fn is_accepted(&self) -> bool {
        self.accepted.get()
    }
}

/// A boxed handler future borrowing the session for `'a`.
pub(crate) type WsFuture<'a> = Pin<Box<dyn Future<Output = Result<(), WebSocketError>> + 'a>>;

/// A WebSocket handler: an `async fn(WebSocket<'_>) -> Result<(), WebSocketError>`.
///
/// The trait exists to say "for every lifetime of the session, a future living that
/// long", which `Fn(WebSocket<'_>) -> Fut` cannot (its `Fut` would be one type for every
/// lifetime).
pub trait WebSocketHandler<'a>: Fn(WebSocket<'a>) -> Self::Future {
    /// The handler's future.
    type Future: Future<Output = Result<(), WebSocketError>> + 'a;
}

impl<'a, F, Fut> WebSocketHandler<'a> for F
where
    F: Fn(WebSocket<'a>) -> Fut,
    Fut: Future<Output = Result<(), WebSocketError>> + 'a,
{
    type Future = Fut;
}

/// A registered handler with its type erased.
pub(crate) trait ErasedHandler {
    fn call<'a>(&'a self, ws: WebSocket<'a>) -> WsFuture<'a>;
}

/// Wraps a concrete handler to erase its type.
pub(crate) struct Erased<H>(pub(crate) H);

impl<H> ErasedHandler for Erased<H>
where
    H: for<'a> WebSocketHandler<'a> + 'static,
{
    fn call<'a>(&'a self, ws: WebSocket<'a>) -> WsFuture<'a> {
        Box::pin((self.0)(ws))
    }
}
