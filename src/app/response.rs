//! Responses: what handlers return and how they become `send` events.
//!
//! FastAPI turns whatever a handler returns — a dict, a model, a `Response` — into a
//! response, JSON by default. [`IntoResponse`] is that conversion as a trait: a
//! handler may return a [`Response`], [`Json`], a `serde_json::Value`, a string (plain
//! text), [`Html`], `Result<_, HttpException>`, or `(status, body)`.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use rasgi_executor::sync::mpsc;
use rasgi_http::spares::{self, Spares};
use serde::Serialize;

use super::error::HttpException;

/// A response under construction.
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Headers, lowercase names.
    pub headers: Vec<rasgi_http::Header>,
    /// The body.
    pub body: Body,
}

/// A response body: bytes known up front, or a stream produced while sending.
pub enum Body {
    /// The whole body (sent with `content-length`).
    Bytes(Cow<'static, [u8]>),
    /// A producer writing pieces into a bounded channel while the response is sent
    /// (sent chunked). The bound gives backpressure: the producer waits while the
    /// client is slow to read.
    Stream(Producer),
}

/// The producer of a streamed body: given the sending end of a channel, a future that
/// writes the pieces into it.
pub type Producer = Box<dyn FnOnce(mpsc::Sender<Vec<u8>>) -> Pin<Box<dyn Future<Output = ()>>>>;

impl Response {
    /// A response with a status, a content type and a body.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Cow<'static, [u8]>>) -> Response {
        Response { status, headers: content_type_only(content_type), body: Body::Bytes(body.into()) }
    }

    /// JSON from any serialisable value. Serialisation cannot fail for the types
    /// handlers return (maps with string keys, structs); if it does, the client gets 500.
    pub fn json<T: Serialize + ?Sized>(status: u16, value: &T) -> Response {
        // Into a body buffer an earlier response gave back (see `recycle_body`), where
        // `serde_json::to_vec` would allocate a fresh one per response.
        let mut bytes = spares::take(&BODIES).unwrap_or_default();
        match serde_json::to_writer(&mut bytes, value) {
            Ok(()) => Response::new(status, "application/json", bytes),
            Err(e) => {
                rasgi_executor::log_error!("response serialisation failed: {e}");
                Response::new(500, "application/json", &b"{\"detail\":\"Internal Server Error\"}"[..])
            }
        }
    }

    /// JSON from a `serde_json::Value`.
    pub fn json_value(status: u16, value: &serde_json::Value) -> Response {
        Response::json(status, value)
    }

    /// Plain text.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response::new(status, "text/plain; charset=utf-8", body.into().into_bytes())
    }

    /// HTML.
    pub fn html(status: u16, body: impl Into<String>) -> Response {
        Response::new(status, "text/html; charset=utf-8", body.into().into_bytes())
    }

    /// A streamed response: `produce` gets a sender and writes pieces into it; the
    /// response ends when `produce` returns.
    pub fn stream<F, Fut>(status: u16, content_type: &'static str, produce: F) -> Response
    where
        F: FnOnce(mpsc::Sender<Vec<u8>>) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        Response {
            status,
            headers: content_type_only(content_type),
            body: Body::Stream(Box::new(move |tx| Box::pin(produce(tx)))),
        }
    }

    /// Adds (or replaces) a header.
    pub fn with_header(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<rasgi_http::asgi::HeaderValue>,
    ) -> Response {
        self.set_header(name, value);
        self
    }

    /// Sets a header, replacing one of the same name: FastAPI's
    /// `response.headers["X-Process-Time"] = ...`.
    pub fn set_header(&mut self, name: impl Into<Cow<'static, str>>, value: impl Into<rasgi_http::asgi::HeaderValue>) {
        let (name, value) = rasgi_http::header(name, value);
        match self.headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(&name)) {
            Some(existing) => existing.1 = value,
            None => self.headers.push((name, value)),
        }
    }

    /// The value of a header, if set.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_ref())
    }

    /// The body bytes (empty for a stream).
    pub fn body_bytes(&self) -> &[u8] {
        match &self.body {
            Body::Bytes(b) => b,
            Body::Stream(_) => &[],
        }
    }
}

/// A header list holding only `content-type`, in a list the server gave back
/// ([`rasgi_http::spares`]): 48 bytes that are not allocated per response.
fn content_type_only(content_type: &'static str) -> Vec<rasgi_http::Header> {
    let mut headers = rasgi_http::spares::header_list();
    headers.push(rasgi_http::header("content-type", content_type));
    headers
}

/// A body buffer up to this size is kept for the next response; a larger one is freed,
/// so that one big response does not pin its memory for the loop's lifetime.
const SMALL_BODY: usize = 16 * 1024;

thread_local! {
    /// Body buffers of responses already sent, emptied, for [`Response::json`]. At most
    /// 64 of at most 16 KiB: a megabyte per loop at the very worst.
    static BODIES: Spares<Vec<u8>> = const { Spares::new(64) };
}

/// Gives a sent response's body buffer back for a later [`Response::json`], when it
/// is owned and small.
pub(crate) fn recycle_body(body: Cow<'static, [u8]>) {
    if let Cow::Owned(mut bytes) = body {
        if bytes.capacity() > 0 && bytes.capacity() <= SMALL_BODY {
            bytes.clear();
            spares::give(&BODIES, bytes);
        }
    }
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("body", &String::from_utf8_lossy(self.body_bytes()))
            .finish()
    }
}

/// Serialises its content as the JSON body: the return type of most handlers.
pub struct Json<T>(pub T);

/// An HTML body.
pub struct Html<T>(pub T);

/// Converts a handler's return value into a response.
pub trait IntoResponse {
    /// The response.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        Response::json(200, &self.0)
    }
}

impl IntoResponse for serde_json::Value {
    fn into_response(self) -> Response {
        Response::json(200, &self)
    }
}

impl<T: Into<String>> IntoResponse for Html<T> {
    fn into_response(self) -> Response {
        Response::html(200, self.0)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::text(200, self)
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        Response::new(200, "text/plain; charset=utf-8", self.as_bytes())
    }
}

impl IntoResponse for HttpException {
    fn into_response(self) -> Response {
        self.to_response()
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(value) => value.into_response(),
            Err(error) => error.into_response(),
        }
    }
}

impl<T: IntoResponse> IntoResponse for (u16, T) {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        response.status = self.0;
        response
    }
}
