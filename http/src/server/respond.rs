//! The response side of the contract: `await send(event)`.
//!
//! The application sends `Start` (status and headers), then one or more `Body` pieces.
//! The server chooses the framing, because only it knows what the connection can carry:
//!
//! - the whole body in the first piece → `content-length`, head and body in one write;
//! - the application set `content-length` itself → that, checked against what it sends;
//! - otherwise (a stream) → `transfer-encoding: chunked` on HTTP/1.1, or on HTTP/1.0
//!   (which has no chunking) a body delimited by closing the connection;
//! - `HEAD`, 1xx, 204 and 304 → no body at all, whatever the application sends.
//!
//! Nothing is written until the first `Body` event, since the framing depends on it.
//! The final piece of a response stays in the write buffer: the connection loop flushes
//! it when it runs out of pipelined requests to answer.

use std::future::{poll_fn, Future};
use std::pin::Pin;

use super::conn::{Conn, WRITE_HIGH_WATER};
use crate::asgi::{Header, HttpVersion, SendEvent};
use crate::chunked::encode_chunk;
use crate::error::SendError;

/// The application's handle for answering; ASGI's `send` callable.
///
/// Pure ASGI-like middleware wraps it with [`Sender::wrap`] to see (and change) every
/// event on its way out, as Starlette middleware wraps `send`.
pub struct Sender<'a> {
    /// The connection written to.
    conn: &'a Conn,
    /// A middleware's event transform and the sender it wraps, innermost first.
    layer: Option<Layer<'a>>,
    /// A middleware that takes each event over (after any `layer` transforms) and sends
    /// what it decides to the sender it wraps.
    hook: Option<(&'a dyn SendHook, &'a Sender<'a>)>,
}

/// One middleware's wrapping of a [`Sender`]: its transform and the sender inside.
type Layer<'a> = (&'a dyn Fn(&mut SendEvent<'_>), &'a Sender<'a>);

/// Middleware that needs more than a transform of each event in place: to hold an event
/// back, to replace a body with bytes of its own, or to send several events for one (a
/// compressor does all three). Installed with [`Sender::intercept`].
pub trait SendHook {
    /// Handles one event, sending whatever it decides through `inner`.
    fn send<'s>(
        &'s self,
        event: SendEvent<'s>,
        inner: &'s Sender<'s>,
    ) -> Pin<Box<dyn Future<Output = Result<(), SendError>> + 's>>;
}

/// Where the response stands.
#[derive(Debug, Default)]
pub(crate) struct ResponseState {
    phase: Phase,
    /// The request was `HEAD`: headers only.
    is_head: bool,
    /// Whether the connection may carry another request after this response.
    keep_alive: bool,
    /// The request's version, which limits the framings available.
    version: Option<HttpVersion>,
    /// The status sent (0 until start).
    status: u16,
}

/// Response progress.
#[derive(Debug, Default)]
enum Phase {
    /// Nothing sent yet.
    #[default]
    NotStarted,
    /// `Start` received; the head waits for the first body piece to choose framing.
    Started {
        /// Application headers.
        headers: Vec<Header>,
        /// Trailers announced.
        trailers: bool,
    },
    /// Head written; body pieces flowing.
    Body {
        /// How the body is delimited.
        framing: Framing,
        /// Trailers announced.
        trailers: bool,
    },
    /// Body finished; waiting for the announced trailers.
    AwaitingTrailers,
    /// The response is complete.
    Done,
}

/// How the response body is delimited on the wire.
#[derive(Debug, Clone, Copy)]
enum Framing {
    /// `content-length`, with this many bytes still to send.
    Length(u64),
    /// `transfer-encoding: chunked`.
    Chunked,
    /// Until the connection closes (HTTP/1.0 streaming).
    Close,
    /// No body may be sent (HEAD, 1xx, 204, 304); pieces are discarded.
    None,
}

impl ResponseState {
    /// Resets for a new request.
    pub(crate) fn start(&mut self, is_head: bool, keep_alive: bool, version: HttpVersion) {
        *self = ResponseState { phase: Phase::NotStarted, is_head, keep_alive, version: Some(version), status: 0 };
    }

    pub(crate) fn is_started(&self) -> bool {
        !matches!(self.phase, Phase::NotStarted)
    }

    /// True once the status line and headers are in the write buffer.
    pub(crate) fn head_written(&self) -> bool {
        !matches!(self.phase, Phase::NotStarted | Phase::Started { .. })
    }

    pub(crate) fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    /// The status sent and whether the connection stays open.
    pub(crate) fn outcome(&self) -> (u16, bool) {
        (self.status, self.keep_alive && self.is_done())
    }

    /// Marks the connection for closing after this response.
    pub(crate) fn force_close(&mut self) {
        self.keep_alive = false;
    }

    /// Writes a complete plain-text response of the server's own (an error) and marks
    /// the connection for closing.
    pub(crate) fn write_error(&mut self, conn: &Conn, status: u16, reason: &str) {
        self.keep_alive = false;
        self.status = status;
        self.phase = Phase::Done;
        let body = format!("{status} {}: {reason}\n", reason_phrase(status));
        let mut wbuf = conn.wbuf.borrow_mut();
        let version = self.version.unwrap_or(HttpVersion::Http11);
        write_head(
            &mut wbuf,
            version,
            status,
            &[(b"content-type", b"text/plain; charset=utf-8")],
            Framing::Length(body.len() as u64),
            false,
        );
        if !self.is_head {
            wbuf.extend_from_slice(body.as_bytes());
        }
    }

    /// Applies one event to the write buffer. Returns whether the buffer should be
    /// flushed now (a streamed piece should reach the client without waiting).
    fn apply(&mut self, conn: &Conn, event: SendEvent<'_>) -> Result<bool, SendError> {
        // The hot case first: another piece of a body already under way.
        if let (Phase::Body { .. }, SendEvent::Body { body, more_body }) = (&self.phase, &event) {
            return self.write_body(conn, body, *more_body);
        }
        let version = self.version.unwrap_or(HttpVersion::Http11);
        match (std::mem::take(&mut self.phase), event) {
            (Phase::NotStarted, SendEvent::Start { status, headers, trailers }) => {
                validate(&headers)?;
                if !(100..=999).contains(&status) {
                    return Err(SendError::OutOfOrder("status must be a three-digit code"));
                }
                self.status = status;
                self.phase = Phase::Started { headers, trailers };
                Ok(false)
            }
            (Phase::Started { headers, trailers }, SendEvent::Body { body, more_body }) => {
                let no_body = self.is_head || matches!(self.status, 100..=199 | 204 | 304);
                let declared = declared_length(&headers);
                let framing = if no_body {
                    Framing::None
                } else if let Some(n) = declared.filter(|_| !trailers) {
                    Framing::Length(n)
                } else if !more_body && !trailers {
                    Framing::Length(body.len() as u64)
                } else if version == HttpVersion::Http11 {
                    Framing::Chunked
                } else {
                    Framing::Close
                };
                // Delimiting by close, or the application asking for it, ends the
                // connection after this response (and the head says so).
                let app_closes = headers.iter().any(|(name, value)| {
                    name.eq_ignore_ascii_case("connection")
                        && value
                            .split(|&b| b == b',')
                            .any(|token| crate::head::trim(token).eq_ignore_ascii_case(b"close"))
                });
                if matches!(framing, Framing::Close) || app_closes {
                    self.keep_alive = false;
                }
                // HEAD keeps the length the GET would have had, when it is known.
                let announced = match framing {
                    Framing::None if self.is_head => {
                        declared.or((!more_body).then_some(body.len() as u64)).map(Framing::Length)
                    }
                    other => Some(other),
                };
                let mut wbuf = conn.wbuf.borrow_mut();
                write_head_with(
                    &mut wbuf,
                    version,
                    self.status,
                    &headers,
                    announced.unwrap_or(Framing::None),
                    self.keep_alive,
                );
                drop(wbuf);
                self.phase = Phase::Body { framing, trailers };
                self.write_body(conn, body, more_body)
            }
            (Phase::AwaitingTrailers, SendEvent::Trailers { headers, more_trailers }) => {
                validate(&headers)?;
                let mut wbuf = conn.wbuf.borrow_mut();
                for (name, value) in &headers {
                    write_field(&mut wbuf, name.as_bytes(), value);
                }
                if more_trailers {
                    self.phase = Phase::AwaitingTrailers;
                } else {
                    wbuf.extend_from_slice(b"\r\n");
                    self.phase = Phase::Done;
                }
                Ok(false)
            }
            (phase, event) => {
                let what = match (&phase, &event) {
                    (Phase::NotStarted, _) => "the first event must be Start",
                    (Phase::Started { .. }, _) => "Start was already sent; send Body next",
                    (Phase::Done, _) => "the response is already complete",
                    (Phase::AwaitingTrailers, _) => "the body is complete; only Trailers may follow",
                    (Phase::Body { .. }, _) => "Start was already sent",
                };
                self.phase = phase;
                self.keep_alive = false;
                Err(SendError::OutOfOrder(what))
            }
        }
    }

    /// Writes one body piece under the phase's framing.
    fn write_body(&mut self, conn: &Conn, body: &[u8], more_body: bool) -> Result<bool, SendError> {
        let Phase::Body { framing, trailers } = &mut self.phase else {
            return Err(SendError::OutOfOrder("Start must come before Body"));
        };
        let trailers = *trailers;
        let mut wbuf = conn.wbuf.borrow_mut();
        match framing {
            Framing::Length(left) => {
                if body.len() as u64 > *left {
                    self.keep_alive = false;
                    return Err(SendError::ContentLengthExceeded { declared: *left });
                }
                *left -= body.len() as u64;
                wbuf.extend_from_slice(body);
                if !more_body && *left > 0 {
                    // The client will wait for bytes that never come unless we close.
                    self.keep_alive = false;
                }
            }
            Framing::Chunked => {
                encode_chunk(&mut wbuf, body);
                if !more_body && !trailers {
                    wbuf.extend_from_slice(b"0\r\n\r\n");
                } else if !more_body {
                    wbuf.extend_from_slice(b"0\r\n");
                }
            }
            Framing::Close => wbuf.extend_from_slice(body),
            Framing::None => {}
        }
        if !more_body {
            self.phase =
                if trailers && matches!(framing, Framing::Chunked) { Phase::AwaitingTrailers } else { Phase::Done };
        }
        Ok(more_body || wbuf.len() >= WRITE_HIGH_WATER)
    }
}

impl<'a> Sender<'a> {
    pub(crate) fn new(conn: &'a Conn) -> Sender<'a> {
        Sender { conn, layer: None, hook: None }
    }

    /// A sender that passes every event through `transform` before this sender sees it.
    pub fn wrap(&'a self, transform: &'a dyn Fn(&mut SendEvent<'_>)) -> Sender<'a> {
        Sender { conn: self.conn, layer: Some((transform, self)), hook: None }
    }

    /// A sender that hands every event to `hook`, which sends on through this sender.
    pub fn intercept(&'a self, hook: &'a dyn SendHook) -> Sender<'a> {
        Sender { conn: self.conn, layer: None, hook: Some((hook, self)) }
    }

    /// Sends one event. Waits while the client is slow to read (backpressure), so a
    /// streaming application produces no faster than the network drains.
    pub async fn send(&self, mut event: SendEvent<'_>) -> Result<(), SendError> {
        let mut sender = self;
        while let Some((transform, outer)) = sender.layer {
            transform(&mut event);
            sender = outer;
        }
        if let Some((hook, inner)) = sender.hook {
            return hook.send(event, inner).await;
        }
        let conn = self.conn;
        if conn.disconnected.get() {
            return Err(SendError::Disconnected);
        }
        let flush = conn.response.borrow_mut().apply(conn, event)?;
        if flush {
            poll_fn(|cx| conn.poll_flush(cx)).await.map_err(|_| SendError::Disconnected)?;
        }
        Ok(())
    }

    /// Shorthand: `Start` then one final `Body`.
    pub async fn respond(&self, status: u16, headers: Vec<Header>, body: &[u8]) -> Result<(), SendError> {
        self.send(SendEvent::Start { status, headers, trailers: false }).await?;
        self.send(SendEvent::Body { body, more_body: false }).await
    }
}

/// Names must be tokens; values may not contain CR, LF or NUL (header injection).
fn validate(headers: &[Header]) -> Result<(), SendError> {
    for (name, value) in headers {
        let name_ok =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        let value_ok = !value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0);
        if !name_ok || !value_ok {
            return Err(SendError::InvalidHeader(format!("{name}: {}", String::from_utf8_lossy(value))));
        }
    }
    Ok(())
}

/// The application's own `content-length`, if it set a valid one.
fn declared_length(headers: &[Header]) -> Option<u64> {
    headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| std::str::from_utf8(value).ok()?.trim().parse().ok())
}

/// Writes the status line, the server's headers, the application's headers and the
/// framing headers.
fn write_head_with(
    wbuf: &mut Vec<u8>,
    version: HttpVersion,
    status: u16,
    headers: &[Header],
    framing: Framing,
    keep_alive: bool,
) {
    write_status_line(wbuf, version, status);
    let mut has_server = false;
    let mut has_date = false;
    for (name, value) in headers {
        let name = name.as_ref();
        // Framing is ours to decide: the application's transfer-encoding is ignored
        // and its content-length is re-emitted below from `framing`.
        if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("connection")
        {
            continue;
        }
        has_server |= name.eq_ignore_ascii_case("server");
        has_date |= name.eq_ignore_ascii_case("date");
        write_field(wbuf, name.as_bytes(), value);
    }
    write_server_fields(wbuf, !has_server, !has_date);
    write_framing(wbuf, version, framing, keep_alive);
}

/// `write_head_with` for the server's own responses, whose headers are static.
fn write_head(
    wbuf: &mut Vec<u8>,
    version: HttpVersion,
    status: u16,
    headers: &[(&[u8], &[u8])],
    framing: Framing,
    keep_alive: bool,
) {
    write_status_line(wbuf, version, status);
    for (name, value) in headers {
        write_field(wbuf, name, value);
    }
    write_server_fields(wbuf, true, true);
    write_framing(wbuf, version, framing, keep_alive);
}

fn write_status_line(wbuf: &mut Vec<u8>, version: HttpVersion, status: u16) {
    wbuf.extend_from_slice(match version {
        HttpVersion::Http10 => b"HTTP/1.0 ",
        HttpVersion::Http11 => b"HTTP/1.1 ",
    });
    write_decimal(wbuf, u64::from(status));
    wbuf.push(b' ');
    wbuf.extend_from_slice(reason_phrase(status).as_bytes());
    wbuf.extend_from_slice(b"\r\n");
}

fn write_server_fields(wbuf: &mut Vec<u8>, server: bool, date: bool) {
    if server {
        wbuf.extend_from_slice(b"server: rasgi\r\n");
    }
    if date {
        wbuf.extend_from_slice(b"date: ");
        crate::date::append_date(wbuf);
        wbuf.extend_from_slice(b"\r\n");
    }
}

fn write_framing(wbuf: &mut Vec<u8>, version: HttpVersion, framing: Framing, keep_alive: bool) {
    match framing {
        Framing::Length(n) => {
            wbuf.extend_from_slice(b"content-length: ");
            write_decimal(wbuf, n);
            wbuf.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => wbuf.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::Close | Framing::None => {}
    }
    match (version, keep_alive) {
        (HttpVersion::Http11, false) => wbuf.extend_from_slice(b"connection: close\r\n"),
        (HttpVersion::Http10, true) => wbuf.extend_from_slice(b"connection: keep-alive\r\n"),
        _ => {}
    }
    wbuf.extend_from_slice(b"\r\n");
}

fn write_field(wbuf: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    wbuf.extend_from_slice(name);
    wbuf.extend_from_slice(b": ");
    wbuf.extend_from_slice(value);
    wbuf.extend_from_slice(b"\r\n");
}

/// Appends `n` in decimal without going through `fmt` (which is measurably slower in a
/// per-response path).
pub(crate) fn write_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// The standard reason phrase of a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}
