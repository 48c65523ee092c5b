//! GZip middleware: responses compressed when the client accepts it — Starlette's
//! `GZipMiddleware(app, minimum_size=500, compresslevel=9)`.
//!
//! It is pure ASGI-like middleware (see [`crate::middleware`]), but a transform of each event
//! in place is not enough: the response start must wait for the first body piece (only then
//! is it known whether the body is worth compressing, and whether `content-length` must be
//! fixed or dropped), and the body pieces it sends are bytes of its own. So it installs a
//! [`SendHook`] for the request. Per response:
//!
//! | the response | what goes out |
//! |---|---|
//! | the request's `Accept-Encoding` does not allow gzip (absent, or `gzip;q=0`) | unchanged |
//! | already has a `Content-Encoding`, or is `text/event-stream` | unchanged |
//! | one body piece shorter than `minimum_size` | unchanged |
//! | one body piece | gzip, `content-length` of the compressed body, `vary: accept-encoding` |
//! | a stream | gzip, no `content-length` (so chunked), `vary`; each piece compressed and sync-flushed |
//!
//! The sync flush is what makes it streaming-safe: each piece the application sends is
//! decodable by the client as soon as it arrives, instead of sitting in the compressor until
//! enough data has gathered (Starlette's `GzipFile` holds it back; for server-sent events,
//! which are skipped for that reason, the wait would be the bug). It costs about five bytes
//! per piece. Event streams are skipped anyway, as in Starlette: a proxy may buffer them.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use crate::asgi::{header, App, AppError, Header, LifespanEvent, Scope, SendEvent, State, WebSocketScope};
use crate::compress::GzipEncoder;
use crate::error::SendError;
use crate::server::conn::{Receive, Sender};
use crate::server::respond::SendHook;
use crate::server::websocket::WebSocketChannel;

/// Starlette's default: bodies shorter than this are sent as they are.
pub const DEFAULT_MINIMUM_SIZE: usize = 500;
/// Starlette's default `compresslevel`.
pub const DEFAULT_LEVEL: u8 = 9;

/// Compresses the responses of the inner application with gzip.
pub struct GZipMiddleware<A> {
    /// The wrapped application.
    inner: A,
    /// Single-piece bodies shorter than this are not compressed.
    minimum_size: usize,
    /// The compression level, 0..=9.
    level: u8,
}

impl<A: App> GZipMiddleware<A> {
    /// Wraps `inner` with Starlette's defaults: `minimum_size` 500, level 9.
    pub fn new(inner: A) -> GZipMiddleware<A> {
        GZipMiddleware { inner, minimum_size: DEFAULT_MINIMUM_SIZE, level: DEFAULT_LEVEL }
    }

    /// Single-piece bodies shorter than `bytes` are sent uncompressed.
    pub fn minimum_size(mut self, bytes: usize) -> Self {
        self.minimum_size = bytes;
        self
    }

    /// The compression level (0..=9; 9, the default, is smallest and slowest).
    pub fn level(mut self, level: u8) -> Self {
        self.level = level.min(9);
        self
    }
}

impl<A: App> App for GZipMiddleware<A> {
    async fn call(&self, scope: &Scope, receive: &Receive<'_>, send: &Sender<'_>) -> Result<(), AppError> {
        let accepts = scope.headers().filter(|(n, _)| *n == b"accept-encoding").any(|(_, v)| accepts_gzip(v));
        if !accepts {
            return self.inner.call(scope, receive, send).await;
        }
        let responder =
            Responder { minimum_size: self.minimum_size, level: self.level, state: RefCell::new(Phase::AwaitingStart) };
        let send = send.intercept(&responder);
        self.inner.call(scope, receive, &send).await
    }

    fn lifespan(&self, event: LifespanEvent, state: &Rc<State>) -> impl Future<Output = Result<(), String>> {
        self.inner.lifespan(event, state)
    }

    /// WebSockets pass straight through: their compression is permessage-deflate, which
    /// the session negotiates itself. (Without this, the trait's default would refuse
    /// every WebSocket behind the middleware.)
    fn websocket(
        &self,
        scope: &WebSocketScope,
        socket: &WebSocketChannel<'_>,
    ) -> impl Future<Output = Result<(), AppError>> {
        self.inner.websocket(scope, socket)
    }
}

/// True if an `Accept-Encoding` value allows gzip (RFC 9110 §12.5.3): `gzip` (or `x-gzip`)
/// with a nonzero q-value, or, when gzip is not named, `*` with a nonzero q-value.
pub fn accepts_gzip(value: &[u8]) -> bool {
    let mut star = None;
    for item in value.split(|&b| b == b',') {
        let mut parts = item.split(|&b| b == b';');
        let coding = String::from_utf8_lossy(parts.next().unwrap_or_default()).trim().to_ascii_lowercase();
        let mut q_positive = true;
        for param in parts {
            let param = String::from_utf8_lossy(param).trim().to_ascii_lowercase();
            if let Some(q) = param.strip_prefix("q=") {
                // "0", "0.", "0.000" are zero; anything unparsable is treated as zero too,
                // since a client that wrote garbage did not clearly ask for gzip.
                q_positive = q.parse::<f32>().is_ok_and(|q| q > 0.0);
            }
        }
        match coding.as_str() {
            "gzip" | "x-gzip" => return q_positive,
            "*" => star = Some(q_positive),
            _ => {}
        }
    }
    star.unwrap_or(false)
}

/// Where one response is.
enum Phase {
    /// No `Start` yet.
    AwaitingStart,
    /// The `Start` event, held until the first body piece.
    Held {
        /// Its status.
        status: u16,
        /// Its headers.
        headers: Vec<Header>,
        /// Its trailers flag.
        trailers: bool,
    },
    /// Everything passes unchanged.
    Passing,
    /// Body pieces are compressed; `None` after the last one.
    Compressing(Option<Box<GzipEncoder>>),
}

/// The send hook of one request.
struct Responder {
    /// As [`GZipMiddleware::minimum_size`].
    minimum_size: usize,
    /// As [`GZipMiddleware::level`].
    level: u8,
    /// Where the response is; borrowed only between awaits, never across one.
    state: RefCell<Phase>,
}

/// What the hook decided to send for one event.
enum Out<'s> {
    /// Nothing yet (the start is held).
    Nothing,
    /// The event, unchanged.
    Forward(SendEvent<'s>),
    /// The held start (changed or not), then the body piece as it came.
    StartThenBody(SendEvent<'static>, &'s [u8], bool),
    /// The held start, changed, then a compressed body piece.
    StartThenOwned(SendEvent<'static>, Vec<u8>, bool),
    /// A compressed body piece.
    Owned(Vec<u8>, bool),
}

impl SendHook for Responder {
    fn send<'s>(
        &'s self,
        event: SendEvent<'s>,
        inner: &'s Sender<'s>,
    ) -> Pin<Box<dyn Future<Output = Result<(), SendError>> + 's>> {
        let out = self.decide(event);
        Box::pin(async move {
            match out {
                Out::Nothing => Ok(()),
                Out::Forward(event) => inner.send(event).await,
                Out::StartThenBody(start, body, more_body) => {
                    inner.send(start).await?;
                    inner.send(SendEvent::Body { body, more_body }).await
                }
                Out::StartThenOwned(start, body, more_body) => {
                    inner.send(start).await?;
                    inner.send(SendEvent::Body { body: &body, more_body }).await
                }
                Out::Owned(body, more_body) => inner.send(SendEvent::Body { body: &body, more_body }).await,
            }
        })
    }
}

impl Responder {
    fn decide<'s>(&self, event: SendEvent<'s>) -> Out<'s> {
        let mut state = self.state.borrow_mut();
        match (&mut *state, event) {
            (Phase::AwaitingStart, SendEvent::Start { status, headers, trailers }) => {
                *state = Phase::Held { status, headers, trailers };
                Out::Nothing
            }
            (Phase::Held { .. }, SendEvent::Body { body, more_body }) => {
                let Phase::Held { status, mut headers, trailers } = std::mem::replace(&mut *state, Phase::Passing)
                else {
                    unreachable!("matched above")
                };
                let skip = has(&headers, "content-encoding")
                    || value_of(&headers, "content-type").is_some_and(|v| v.starts_with(b"text/event-stream"));
                if skip || (!more_body && body.len() < self.minimum_size) {
                    return Out::StartThenBody(SendEvent::Start { status, headers, trailers }, body, more_body);
                }
                let mut encoder = Box::new(GzipEncoder::new(self.level));
                let mut compressed = Vec::with_capacity(body.len() / 3 + 32);
                encoder.compress(body, &mut compressed);
                add_vary(&mut headers);
                headers.retain(|(n, _)| !n.eq_ignore_ascii_case("content-length"));
                headers.push(header("content-encoding", "gzip"));
                if more_body {
                    encoder.flush(&mut compressed);
                    *state = Phase::Compressing(Some(encoder));
                } else {
                    encoder.finish(&mut compressed);
                    headers.push(header("content-length", compressed.len().to_string()));
                    *state = Phase::Compressing(None);
                }
                Out::StartThenOwned(SendEvent::Start { status, headers, trailers }, compressed, more_body)
            }
            (Phase::Compressing(encoder @ Some(_)), SendEvent::Body { body, more_body }) => {
                let mut compressed = Vec::with_capacity(body.len() / 3 + 32);
                if more_body {
                    let Some(e) = encoder.as_mut() else { unreachable!("matched Some") };
                    if body.is_empty() {
                        return Out::Forward(SendEvent::Body { body, more_body });
                    }
                    e.compress(body, &mut compressed);
                    e.flush(&mut compressed);
                } else if let Some(mut e) = encoder.take() {
                    e.compress(body, &mut compressed);
                    e.finish(&mut compressed);
                }
                Out::Owned(compressed, more_body)
            }
            // Out-of-order events, trailers, and passing responses: the server judges them.
            (_, event) => Out::Forward(event),
        }
    }
}

fn value_of<'h>(headers: &'h [Header], name: &str) -> Option<&'h [u8]> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| &v[..])
}

fn has(headers: &[Header], name: &str) -> bool {
    value_of(headers, name).is_some()
}

/// Adds `accept-encoding` to the response's `vary` (caches must key the response on it).
fn add_vary(headers: &mut Vec<Header>) {
    match headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case("vary")) {
        Some((_, value)) => {
            if !String::from_utf8_lossy(value).to_ascii_lowercase().contains("accept-encoding") {
                let mut joined = value.to_vec();
                joined.extend_from_slice(b", Accept-Encoding");
                *value = joined.into();
            }
        }
        None => headers.push(header("vary", "Accept-Encoding")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_with_q_values() {
        assert!(accepts_gzip(b"gzip"));
        assert!(accepts_gzip(b"gzip, deflate, br"));
        assert!(accepts_gzip(b"deflate, GZIP;q=0.5"));
        assert!(accepts_gzip(b"*"));
        assert!(accepts_gzip(b"x-gzip"));
        assert!(!accepts_gzip(b"gzip;q=0"));
        assert!(!accepts_gzip(b"gzip; q=0.000, *"));
        assert!(!accepts_gzip(b"identity"));
        assert!(!accepts_gzip(b"br, *;q=0"));
        assert!(!accepts_gzip(b""));
    }

    #[test]
    fn vary_is_added_once() {
        let mut headers = vec![header("vary", "Origin")];
        add_vary(&mut headers);
        add_vary(&mut headers);
        assert_eq!(&headers[0].1[..], b"Origin, Accept-Encoding");
        let mut headers = Vec::new();
        add_vary(&mut headers);
        assert_eq!(headers, vec![header("vary", "Accept-Encoding")]);
    }
}
