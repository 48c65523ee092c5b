//! Building and sending a request — httpx's `client.get(...)`, `client.post(json=...)`,
//! `client.send(request)`, with httpcore's connection handling underneath.
//!
//! [`RequestBuilder::send`] is where the pieces meet, in this order:
//!
//! 1. **pool**: wait for a permit of the origin's pool (pool timeout);
//! 2. **connection**: the freshest idle connection that passes the staleness check, or a
//!    new one (resolve, connect, TLS — connect timeout);
//! 3. **write** the request head and body (write timeout);
//! 4. **read** the response head (read timeout), skipping `100 Continue`-style interim
//!    responses; the body is left for the caller to read.
//!
//! **The safe retry.** A server may close an idle keep-alive connection at the very moment
//! we reuse it: the staleness check passed, the request went into the kernel, and then the
//! server's FIN or RST arrives instead of a response. Nothing was processed, so trying again
//! on a new connection is right — but only if the request is *idempotent* (GET, HEAD, PUT,
//! DELETE, OPTIONS, TRACE: RFC 9110 §9.2.2) and only if *no byte* of a response arrived.
//! A POST is never retried: the server may have acted on it before the connection broke.
//! This is the rule of urllib3, Go's net/http and hyper; httpcore retries only the
//! connect.
//!
//! **Redirects** are httpx's: not followed unless asked for (`follow_redirects(true)`), so a
//! 3xx comes back as the response it is, with its `Location`; when followed, at most
//! `max_redirects` hops ([`DEFAULT_MAX_REDIRECTS`], 20, as in httpx), and one more is
//! [`Error::TooManyRedirects`]. A 303 (except to HEAD), or a 301/302 answering a POST,
//! turns the request into a GET without body (RFC 9110 §15.4, and what every browser
//! does); 307 and 308 repeat the method and the body as they were. Credentials
//! (`Authorization`, `Cookie`) are never sent on to another origin — scheme, host or port
//! changed — since the caller gave them to the first server only. (httpx keeps
//! `Authorization` on an http→https upgrade of the same host; rasgi drops it there too, as
//! curl does: one rule that needs no exceptions.)
//!
//! # What a keep-alive GET costs
//!
//! The client's own work per request is small next to the network's, but it is on every
//! request, so it is kept in check and measured: `src/bin/httpsbench.rs --requests N` against
//! a local nginx over TLS 1.3 (AES-256-GCM), user-space instructions counted by callgrind as
//! (Ir(5000) − Ir(1000)) / 4000, so that start-up and the TLS handshakes cancel out, and
//! system calls by `strace -c -f` the same way. `hyper` is hyper 1 + hyper-rustls on tokio
//! sending the same fields (`benches/peers/hyper/src/bin/httpsbench.rs`).
//!
//! | per GET | 1 at a time | 16 at a time | allocations | system calls (1 / 16 at a time) |
//! |---|---:|---:|---:|---|
//! | rasgi, before | 24,777 | 26,675 | 32 | writev + recvfrom + epoll_wait / writev + recvfrom |
//! | rasgi, fewer allocations | 18,567 | 18,685 | 9 | the same |
//! | rasgi, now (URL parsed by bytes) | 18,235 | 18,358 | 9 | the same |
//! | hyper | 35,271 | 36,330 | 19 | the same |
//!
//! The system calls were already the fewest possible: the request leaves in one TLS record
//! and one `writev`; the response (one record) arrives in one `recvfrom`; the staleness
//! check of the pooled connection and the read after a short read cost no system call,
//! since the reactor remembers that the socket was drained. What went were allocations
//! (measured: 32 → 9), each noted where it was: a response's header fields and their
//! list (about 12 → 3, `headers.rs`) and its reason phrase (1, `response.rs`), the origin's
//! name in the clock and its clone (2, `timeouts.rs`), the pool's key (1, `pool.rs`),
//! copies of the method and the URL (2, here), lowercasing the scheme and uppercasing the
//! method (2, `url.rs` and here), the `Host` value (2, `url.rs`), the URL copied into the
//! response (2, here), the request head's buffer (1, `connect.rs`). What is left: the URL's
//! host and path, the three buffers of the response's fields, the body, and three inside
//! rustls (a record's plaintext in each direction, and its ciphertext).

use std::borrow::Cow;
use std::cell::Cell;
use std::rc::Rc;

use rasgi_executor::log_debug;
use serde::Serialize;

use super::connect::{connect, Connection};
use super::error::{Error, TimeoutKind};
use super::headers::Headers;
use super::pool::{Checkout, OriginPool};
use super::response::{parse_head, Response, ResponseHead};
use super::timeouts::{Clock, Timeouts};
use super::url::{redact, Url};
use super::Client;
use crate::headers::write_decimal;

/// How many redirects are followed, when following is on, before
/// [`Error::TooManyRedirects`]: httpx's default.
pub const DEFAULT_MAX_REDIRECTS: usize = 20;

/// The methods whose name a request borrows rather than copies.
const METHODS: [&str; 9] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT"];

/// Sent unless the request sets its own.
const USER_AGENT: &str = concat!("rasgi/", env!("CARGO_PKG_VERSION"));

/// A request under construction; finish it with [`RequestBuilder::send`].
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    /// The client whose pool and TLS settings the request uses.
    client: Client,
    /// The method as given; validated and uppercased by `send`. The usual methods are
    /// borrowed, not copied.
    method: Cow<'static, str>,
    /// The URL, parsed; an error is kept for `send` to return, so that every error comes
    /// out of one place.
    url: Result<Url, Error>,
    /// Header fields set by the caller.
    headers: Headers,
    /// The body, if any.
    body: Option<Vec<u8>>,
    /// Time limits (the client's unless overridden).
    timeouts: Timeouts,
    /// Whether 3xx responses with a `Location` are followed.
    follow_redirects: bool,
    /// The most redirects followed before [`Error::TooManyRedirects`].
    max_redirects: usize,
    /// An error found while building (a body that would not serialize), reported by `send`.
    error: Option<Error>,
}

impl RequestBuilder {
    pub(crate) fn new(client: Client, method: &str, url: &str) -> Self {
        let (timeouts, follow_redirects, max_redirects) =
            (client.inner.timeouts, client.inner.follow_redirects, client.inner.max_redirects);
        // Parsed here, from the caller's string, rather than copied for `send` to parse;
        // the usual methods are borrowed. 2 allocations per request.
        let url = Url::parse(url).map_err(|error| Error::Url { url: redact(url), error });
        let method = match METHODS.iter().find(|known| **known == method) {
            Some(known) => Cow::Borrowed(*known),
            None => Cow::Owned(method.to_string()),
        };
        RequestBuilder {
            client,
            method,
            url,
            headers: Headers::new(),
            body: None,
            timeouts,
            follow_redirects,
            max_redirects,
            error: None,
        }
    }

    /// Adds a header field. `Host`, `User-Agent` and `Accept` replace the client's defaults;
    /// `Content-Length` and `Transfer-Encoding` are ignored, because the client frames the
    /// body itself (a wrong length would corrupt the connection for the next request).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        let name = name.into();
        if !name.eq_ignore_ascii_case("content-length") && !name.eq_ignore_ascii_case("transfer-encoding") {
            self.headers.append(name, value);
        }
        self
    }

    /// Sets the body, sent with a `Content-Length`.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sets a JSON body and `Content-Type: application/json` (unless already set).
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => {
                if !self.headers.contains("content-type") {
                    self.headers.append("content-type", "application/json");
                }
                self.body = Some(body);
            }
            Err(e) => self.error = Some(Error::InvalidRequest(format!("the JSON body could not be serialized: {e}"))),
        }
        self
    }

    /// Overrides the client's time limits for this request.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Whether to follow redirects for this request (the client's setting otherwise; off
    /// by default). Off, a 3xx is returned as the response it is.
    pub fn follow_redirects(mut self, follow: bool) -> Self {
        self.follow_redirects = follow;
        self
    }

    /// The most redirects to follow for this request (the client's setting otherwise,
    /// [`DEFAULT_MAX_REDIRECTS`] by default).
    pub fn max_redirects(mut self, max: usize) -> Self {
        self.max_redirects = max;
        self
    }

    /// Sends the request and waits for the response head. The body is read afterwards,
    /// through the [`Response`].
    pub async fn send(self) -> Result<Response, Error> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let mut url = self.url?;
        let decompress = self.client.inner.decompress;
        let mut request =
            Prepared { method: valid_method(self.method)?, headers: self.headers, body: self.body, decompress };
        check_headers(&request.headers)?;
        let mut origin = self.client.inner.pool.origin(&url);
        let mut clock = Clock::start(self.timeouts, origin.name());
        let mut redirects = 0;
        loop {
            // The URL moves into the response (which hands it out as `Response::url`)
            // rather than being copied there: 2 allocations per request.
            let response = send_once(&self.client, &origin, url, &request, &clock).await?;
            let location = match response.header("location") {
                Some(location) if self.follow_redirects && is_redirect(response.status()) => location.to_string(),
                _ => return response.decoded(decompress),
            };
            let next = response.url().join(&location).map_err(|error| Error::Url { url: redact(&location), error })?;
            if redirects == self.max_redirects {
                return Err(Error::TooManyRedirects { limit: self.max_redirects, url: next.redacted() });
            }
            request.redirect(response.status(), response.url(), &next);
            // Read the redirect's (small) body so that its connection returns to the pool;
            // if that fails, the connection is closed, which is fine too.
            let _ = response.bytes().await;
            redirects += 1;
            origin = self.client.inner.pool.origin(&next);
            clock = clock.for_origin(origin.name());
            url = next;
        }
    }
}

/// A request that passed validation, as it goes on the wire.
struct Prepared {
    /// Uppercase method.
    method: Cow<'static, str>,
    /// Caller's header fields.
    headers: Headers,
    /// The body, if any.
    body: Option<Vec<u8>>,
    /// Ask for compressed bodies (the client decodes them).
    decompress: bool,
}

impl Prepared {
    /// RFC 9110 §9.2.2: repeating these has the same effect as sending them once.
    fn is_idempotent(&self) -> bool {
        matches!(&*self.method, "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS" | "TRACE")
    }

    /// Rewrites the request for the next hop of a redirect from `from` to `to`.
    fn redirect(&mut self, status: u16, from: &Url, to: &Url) {
        let becomes_get =
            (status == 303 && self.method != "HEAD") || (matches!(status, 301 | 302) && self.method == "POST");
        if becomes_get {
            self.method = "GET".into();
            self.body = None;
            self.headers.remove("content-type");
        }
        if from.origin() != to.origin() {
            self.headers.remove("authorization");
            self.headers.remove("cookie");
            self.headers.remove("host");
        }
    }

    /// Appends the request head: request line, the default fields the caller did not set,
    /// the body's length, the caller's fields.
    fn write_head(&self, url: &Url, out: &mut Vec<u8>) {
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(url.target().as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        if !self.headers.contains("host") {
            out.extend_from_slice(b"host: ");
            url.write_authority(out);
            out.extend_from_slice(b"\r\n");
        }
        if !self.headers.contains("user-agent") {
            field(out, "user-agent", USER_AGENT.as_bytes());
        }
        if !self.headers.contains("accept") {
            field(out, "accept", b"*/*");
        }
        if self.decompress && !self.headers.contains("accept-encoding") {
            field(out, "accept-encoding", b"gzip, deflate");
        }
        // A body always gets a length. So does a POST/PUT/PATCH without one: some servers
        // answer 411 Length Required to a bodiless POST that does not say so.
        let length = match &self.body {
            Some(body) => Some(body.len()),
            None if matches!(&*self.method, "POST" | "PUT" | "PATCH") => Some(0),
            None => None,
        };
        if let Some(length) = length {
            out.extend_from_slice(b"content-length: ");
            write_decimal(out, length as u64);
            out.extend_from_slice(b"\r\n");
        }
        for (name, value) in self.headers.iter() {
            field(out, name, value);
        }
        out.extend_from_slice(b"\r\n");
    }
}

fn field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// 301, 302, 303, 307 and 308 carry a `Location` to follow.
fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// A token (RFC 9110 §5.6.2): letters, digits and ``!#$%&'*+-.^_`|~``.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn valid_method(method: Cow<'static, str>) -> Result<Cow<'static, str>, Error> {
    if !is_token(&method) {
        return Err(Error::InvalidRequest(format!("{method:?} is not a valid method")));
    }
    if method.bytes().any(|b| b.is_ascii_lowercase()) {
        return Ok(Cow::Owned(method.to_ascii_uppercase()));
    }
    Ok(method)
}

/// Header names must be tokens and values may not hold CR, LF or NUL: either would let a
/// value end the field early and inject fields (or a whole request) of its own.
fn check_headers(headers: &Headers) -> Result<(), Error> {
    for (name, value) in headers.iter() {
        if !is_token(name) {
            return Err(Error::InvalidRequest(format!("{name:?} is not a valid header name")));
        }
        if value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(Error::InvalidRequest(format!("the value of header {name:?} contains CR, LF or NUL")));
        }
    }
    Ok(())
}

/// Sends one request (no redirects) and returns once the response head is in, retrying
/// once on a fresh connection when a reused one turns out to be dead.
async fn send_once(
    client: &Client,
    origin: &Rc<OriginPool>,
    url: Url,
    request: &Prepared,
    clock: &Clock,
) -> Result<Response, Error> {
    let mut retried = false;
    loop {
        // 1. A permit of the origin's pool.
        let permit = clock
            .run(TimeoutKind::PoolAcquire, "waiting for a free connection in the pool", origin.acquire())
            .await?
            .map_err(|_| Error::InvalidRequest("the connection pool was closed".into()))?;

        // 2. A connection: idle (after the staleness check) or new. A retry always opens
        //    a new one: the idle ones are as old as the one that just failed.
        let idle = if retried { None } else { origin.take_idle().await };
        let reused = idle.is_some();
        let conn = match idle {
            Some(conn) => conn,
            None => {
                let phase = Cell::new("connecting");
                match clock.run(TimeoutKind::Connect, "connecting", connect(&url, &client.inner.tls, &phase)).await {
                    Ok(result) => result?,
                    Err(Error::Timeout { kind, after, origin, .. }) => {
                        return Err(Error::Timeout { kind, after, origin, during: phase.get() })
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let mut checkout = Checkout::new(conn, origin.clone(), permit);

        // 3 and 4. The exchange.
        match exchange(&mut checkout.conn, &url, request, clock).await {
            Ok(head) => return Ok(Response::new(head, checkout, url, clock.clone())),
            Err(failure) if failure.retryable && reused && !retried && request.is_idempotent() => {
                log_debug!("client: reused connection to {} failed ({}); retrying once", url.origin(), failure.error);
                retried = true;
                // `checkout` drops here: the dead connection closes, its permit is freed.
            }
            Err(failure) => return Err(failure.error),
        }
    }
}

/// An exchange that failed, and whether it failed early enough to be retried: before any
/// byte of a response arrived, with an I/O error rather than a timeout.
struct Failure {
    /// What went wrong.
    error: Error,
    /// True if the server cannot have answered (it may still have read the request).
    retryable: bool,
}

/// Writes the request and reads the final response head.
async fn exchange(
    conn: &mut Connection,
    url: &Url,
    request: &Prepared,
    clock: &Clock,
) -> Result<ResponseHead, Failure> {
    let origin = || clock.origin().to_string();
    // The connection's buffer from the previous request, rather than a new one each time
    // (1 allocation per request).
    let mut head = std::mem::take(&mut conn.request_head);
    head.clear();
    request.write_head(url, &mut head);
    let body = request.body.as_deref().unwrap_or_default();
    let written = clock.run(TimeoutKind::Write, "sending the request", conn.write_all(&head, body)).await;
    conn.request_head = head;
    match written {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(Failure { error: Error::Write { origin: origin(), error }, retryable: true }),
        Err(timeout) => return Err(Failure { error: timeout, retryable: false }),
    }

    let is_head = request.method == "HEAD";
    let mut interim_seen = false;
    loop {
        match parse_head(conn.buf.filled(), is_head) {
            Ok(Some((head, len))) => {
                conn.buf.consume(len);
                if (100..200).contains(&head.status) {
                    // `100 Continue`, `103 Early Hints`: the final response follows.
                    interim_seen = true;
                    continue;
                }
                return Ok(head);
            }
            Ok(None) => {}
            Err(reason) => {
                return Err(Failure { error: Error::Protocol { origin: origin(), reason }, retryable: false })
            }
        }
        let nothing_yet = conn.buf.is_empty() && !interim_seen;
        let read = match clock.run(TimeoutKind::Read, "waiting for the response head", conn.fill()).await {
            Ok(read) => read,
            Err(timeout) => return Err(Failure { error: timeout, retryable: false }),
        };
        let error = match read {
            Ok(0) if nothing_yet => std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection without sending a response",
            ),
            Ok(0) => std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection in the middle of the response head",
            ),
            Ok(_) => continue,
            Err(error) => error,
        };
        return Err(Failure { error: Error::Read { origin: origin(), error }, retryable: nothing_yet });
    }
}
