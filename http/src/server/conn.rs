//! One HTTP/1.1 connection: the task uvicorn's `HttpToolsProtocol` is, written as a
//! plain loop.
//!
//! ```text
//!  ┌─▶ read a request head ── malformed? ──▶ answer 4xx/5xx, close
//!  │        │ (idle too long, client gone, server stopping? close quietly)
//!  │        ▼
//!  │   call the application with scope / receive / send
//!  │        │ (client gone meanwhile? drop the application's future)
//!  │        ▼
//!  │   complete the response (500 if none was sent), log it
//!  └── keep-alive and nothing forbids it?
//! ```
//!
//! Pipelining falls out of the buffer: a client may send many requests before reading
//! any response; each loop iteration parses the next one from the read buffer, and the
//! responses accumulate in the write buffer, which is flushed only when the server must
//! wait for more input. So every response of one read batch leaves in one write.
//!
//! Four clocks guard the connection, each against a different way of holding it
//! without using it (`head.rs` has the table of defaults):
//!
//! | clock | runs while | on expiry |
//! |---|---|---|
//! | header | a request head is awaited: from the connection's first moment, or from the end of the previous response | 408 if a head had begun, else close quietly |
//! | keep-alive | a kept-alive connection waits for its next request's first byte | close quietly |
//! | body | the application waits for body bytes that do not come (`stall.rs`) | 408, close |
//! | send | the client takes none of the response bytes (`stall.rs`) | close |
//!
//! Shutting down, a connection closes only at a clean point: after a response that said
//! `connection: close`, or after a short silence. A kept-alive client may have sent its
//! next request just before the signal, and closing under it would lose that request.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rasgi_executor::{log_error, log_info, log_warn, sleep_until, Sleep};

use super::buffer::ReadBuf;
use super::receive::BodyState;
use super::respond::ResponseState;
use super::shutdown::ConnectionGuard;
use super::socket::{PeerName, Socket};
use super::stall::StallTimer;
use super::LoopContext;
use crate::asgi::{App, HttpVersion, Scope};
use crate::head::{self, BodyFraming, HeadInfo, Reject};

pub use super::receive::Receive;
pub use super::respond::Sender;

/// Read buffer growth limit: the largest head plus a generous body window.
const READ_CAP: usize = head::MAX_HEAD + 64 * 1024;
/// A write buffer above this is flushed before more is added: the bound on how much a
/// slow reader can make us hold.
pub(crate) const WRITE_HIGH_WATER: usize = 64 * 1024;
/// Shutting down, how long an idle connection waits for a request that may already be
/// on its way. Long enough for a busy client on the same network to send the request it
/// decided on before the signal; short enough that silent keep-alive connections do not
/// hold the shutdown up.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);
/// After the last response, how long to read and discard what the client still sends
/// before closing. Closing a socket with unread input makes the kernel send RST, which
/// can destroy the response the client has not read yet (nginx's `lingering_close`).
const LINGER: Duration = Duration::from_secs(1);

/// The state of one connection, shared (by reference) between the connection loop, the
/// application's `receive` and `send`, and the disconnect watch. Each `RefCell` is
/// borrowed only inside a synchronous `poll_*` step, never across an `.await`, so the
/// three can never trip over each other.
pub(crate) struct Conn {
    /// The socket.
    pub(crate) stream: Socket,
    /// Received bytes not yet parsed or delivered.
    pub(crate) rbuf: RefCell<ReadBuf>,
    /// Response bytes not yet written; `wpos` of them are already written.
    pub(crate) wbuf: RefCell<Vec<u8>>,
    /// How much of `wbuf` the kernel has taken.
    wpos: Cell<usize>,
    /// The request body's framing and progress.
    pub(crate) body: RefCell<BodyState>,
    /// The response's progress.
    pub(crate) response: RefCell<ResponseState>,
    /// Set once the client is known to be gone (EOF, reset, write error).
    pub(crate) disconnected: Cell<bool>,
    /// Largest request body accepted (413 beyond).
    pub(crate) max_body: u64,
    /// The peer, for log lines (`None` on a Unix-domain socket).
    pub(crate) peer: Option<SocketAddr>,
    /// This connection's entry in the loop's registry; says when the server stops.
    pub(crate) guard: ConnectionGuard,
    /// Armed while the application waits for request body bytes (`--timeout-body`).
    pub(crate) body_stall: RefCell<StallTimer>,
    /// Armed while response bytes wait for the client to take them (`--timeout-send`).
    send_stall: RefCell<StallTimer>,
}

impl Conn {
    fn new(stream: Socket, peer: Option<SocketAddr>, guard: ConnectionGuard, config: &super::Config) -> Conn {
        Conn {
            stream,
            rbuf: RefCell::new(ReadBuf::new(0, READ_CAP)),
            wbuf: RefCell::new(Vec::new()),
            wpos: Cell::new(0),
            body: RefCell::new(BodyState::default()),
            response: RefCell::new(ResponseState::default()),
            disconnected: Cell::new(false),
            max_body: config.limit_body,
            peer,
            guard,
            body_stall: RefCell::new(StallTimer::new(config.timeout_body)),
            send_stall: RefCell::new(StallTimer::new(config.timeout_send)),
        }
    }

    /// Reads once into the read buffer. `Ok(0)` is end of stream; a full buffer also
    /// reads zero bytes but is not end of stream, so callers check `is_full` first.
    pub(crate) fn poll_fill(&self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut rbuf = self.rbuf.borrow_mut();
        let spare = rbuf.spare();
        if spare.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = std::task::ready!(self.stream.poll_read(cx, spare))?;
        rbuf.filled_by(n);
        Poll::Ready(Ok(n))
    }

    /// Writes the write buffer out; `Ready(Ok)` once it is empty. A client that takes
    /// none of it for `--timeout-send` counts as gone (`TimedOut`).
    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut wbuf = self.wbuf.borrow_mut();
        let mut progressed = false;
        while self.wpos.get() < wbuf.len() {
            match self.stream.poll_write(cx, &wbuf[self.wpos.get()..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.wpos.set(self.wpos.get() + n);
                    progressed = true;
                }
                Poll::Ready(Err(e)) => {
                    self.disconnected.set(true);
                    return Poll::Ready(Err(e));
                }
                Poll::Pending => {
                    let mut stall = self.send_stall.borrow_mut();
                    if stall.poll_stalled(cx, progressed).is_pending() {
                        return Poll::Pending;
                    }
                    let peer = PeerName(self.peer);
                    log_info!("{peer} - closing: the client read none of its response for {:?}", stall.limit());
                    self.disconnected.set(true);
                    return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
                }
            }
        }
        self.send_stall.borrow_mut().disarm();
        wbuf.clear();
        self.wpos.set(0);
        if wbuf.capacity() > 4 * WRITE_HIGH_WATER {
            // One huge response should not pin its buffer for the connection's life.
            wbuf.shrink_to(WRITE_HIGH_WATER);
        }
        Poll::Ready(Ok(()))
    }

    pub(crate) async fn flush(&self) -> io::Result<()> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// Watches for the client going away while the application works: reads ahead into
    /// the buffer (pipelined requests are kept) and resolves once end of stream or an
    /// error shows the client is gone. Pends forever once the buffer is full.
    pub(crate) fn poll_disconnect(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.disconnected.get() {
            return Poll::Ready(());
        }
        loop {
            if self.rbuf.borrow().is_full() {
                return Poll::Pending;
            }
            match self.poll_fill(cx) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                    self.disconnected.set(true);
                    return Poll::Ready(());
                }
                Poll::Ready(Ok(_)) => continue,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// How waiting for the next request ended.
enum NextRequest {
    /// A complete, valid head is in the scope.
    Request(HeadInfo),
    /// Close without a word: end of stream, idle timeout, server shutdown.
    Close,
    /// Answer this status and close.
    Reject(Reject),
}

/// How one call of the application ended: a typed outcome rather than a message
/// that is empty when "the client left".
enum Outcome {
    /// The application returned `Ok`.
    Done,
    /// The application returned an error.
    Failed(String),
    /// The application panicked: its message and where.
    Panicked(rasgi_executor::Panic),
    /// The client hung up while the application was still working; its future was
    /// dropped at the `.await` where it waited.
    ClientGone,
}

/// Serves one connection until it closes. This is the task the accept loop spawns.
///
/// `guard` is the connection's entry in the loop's registry, made by the accept loop
/// before this task first runs: a shutdown that began in between must still wait for
/// the connection (and answer its request), not find it missing and exit under it.
pub(crate) async fn serve_connection<A: App>(
    ctx: Rc<LoopContext<A>>,
    stream: Socket,
    peer: Option<SocketAddr>,
    guard: ConnectionGuard,
) {
    // The header clock of the first request starts now, not at its first byte: a client
    // that waits 9 s and then trickles must not get another full timeout.
    let accepted = Instant::now();
    let server_addr = stream.local_addr();
    stream.set_nodelay();
    let conn = Conn::new(stream, peer, guard, &ctx.config);
    let mut scope = Scope::new(ctx.root_path.clone(), ctx.state.clone(), peer, server_addr);
    let mut idle_timer: Option<Sleep> = None;
    let mut clock_start = Some(accepted);
    // Proxy headers are believed only from a trusted peer, which is known per connection.
    let peer_is_proxy = ctx.config.proxy_headers
        && match peer {
            Some(addr) => ctx.config.forwarded_allow_ips.trusts(addr.ip()),
            None => ctx.config.forwarded_allow_ips.trusts_unix_socket(),
        };
    // The scope is reused per request: one that took a proxy's word must be reset.
    let mut scope_rewritten = false;

    loop {
        let info = match next_request(&ctx, &conn, &mut scope, clock_start.take(), &mut idle_timer).await {
            NextRequest::Request(info) => info,
            NextRequest::Close => break,
            NextRequest::Reject(reject) => {
                log_info!("{} - malformed request: {} {}", PeerName(peer), reject.status, reject.reason);
                let mut response = conn.response.borrow_mut();
                // The error answers the refused request, not the one before it: reset the
                // state, or a previous `HEAD` would strip this error's body and leave the
                // client waiting for `content-length` bytes that never come.
                response.start(false, false, HttpVersion::Http11);
                response.write_error(&conn, reject.status, reject.reason);
                break;
            }
        };
        if peer_is_proxy && info.proxy_headers {
            let forwarded = super::proxy::read(scope.headers(), &ctx.config.forwarded_allow_ips);
            scope.client = forwarded.client.or(peer);
            scope.scheme = forwarded.scheme.unwrap_or("http");
            scope_rewritten = true;
        } else if scope_rewritten {
            (scope.client, scope.scheme) = (peer, "http");
            scope_rewritten = false;
        }
        // Only the access log needs the request's start time: no clock read otherwise.
        let started = ctx.config.access_log.then(Instant::now);
        conn.body.borrow_mut().start(&info);
        conn.response.borrow_mut().start(info.is_head, info.keep_alive, scope.http_version());

        if super::websocket::wants_upgrade(&ctx.config, &scope) {
            return super::websocket::serve(&ctx, &conn, &scope, peer).await;
        }
        let over_limit = ctx.config.limit_concurrency.is_some_and(|limit| ctx.connections.busy() > limit);
        if over_limit {
            conn.response.borrow_mut().write_error(&conn, 503, "server at its concurrency limit, try again");
        } else {
            run_app(&ctx.app, &scope, &conn).await;
        }

        let (status, keep_alive) = conn.response.borrow().outcome();
        if let Some(started) = started {
            log_access(PeerName(scope.client()), &scope, status, started);
        }
        if conn.disconnected.get() {
            return;
        }
        // The connection may carry another request only if this one's body was read to
        // the end (or can be skipped in the buffer) and the response framing is sound.
        // A server that is stopping still goes round once more if the response promised
        // keep-alive (its head went out before the signal): `next_request` then answers
        // whatever request is already on its way, with `connection: close`.
        let body_finished = conn.body.borrow_mut().skip_buffered_rest(&mut conn.rbuf.borrow_mut());
        if !keep_alive || !body_finished {
            break;
        }
        // Flush now only if a write is already large; otherwise `next_request` flushes
        // when it runs out of buffered input — which batches pipelined responses.
        if conn.wbuf.borrow().len() >= WRITE_HIGH_WATER && conn.flush().await.is_err() {
            return;
        }
    }
    // Send what is buffered, then FIN, then read until the client closes too (bounded):
    // see `LINGER`. A client that is gone makes these fail, which is fine.
    if conn.flush().await.is_err() || conn.stream.shutdown(std::net::Shutdown::Write).is_err() {
        return;
    }
    conn.guard.finish();
    linger(&conn).await;
}

/// Reads and discards input until end of stream, an error, or `LINGER` has passed.
async fn linger(conn: &Conn) {
    if conn.disconnected.get() {
        return;
    }
    let mut timer = rasgi_executor::sleep(LINGER);
    poll_fn(|cx| loop {
        {
            let mut rbuf = conn.rbuf.borrow_mut();
            let unread = rbuf.len();
            rbuf.consume(unread);
        }
        match conn.poll_fill(cx) {
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(()),
            Poll::Ready(Ok(_)) => continue,
            Poll::Pending => return std::pin::Pin::new(&mut timer).poll(cx),
        }
    })
    .await
}

/// Waits for and parses the next request head, enforcing the header (slowloris) and
/// keep-alive timeouts, and the shutdown grace.
///
/// `clock_start` is when the header clock started: the connection's accept time for
/// its first request; `None` after a response, meaning "now, if there is anything to
/// wait for" — which a pipelined request, already buffered, never needs, so the fast
/// path reads no clock.
async fn next_request<A: App>(
    ctx: &LoopContext<A>,
    conn: &Conn,
    scope: &mut Scope,
    mut clock_start: Option<Instant>,
    idle_timer: &mut Option<Sleep>,
) -> NextRequest {
    let first = clock_start.is_some();
    // Shutting down: when an idle connection stops waiting for a request.
    let mut grace_ends: Option<Instant> = None;
    loop {
        let head_begun;
        {
            let mut rbuf = conn.rbuf.borrow_mut();
            head_begun = !rbuf.is_empty();
            if head_begun {
                match head::parse(rbuf.filled(), scope) {
                    Ok(Some(info)) => {
                        rbuf.consume(info.len);
                        // A body announced larger than the limit is refused on the head
                        // alone: the client need not send it (nor, with `Expect:
                        // 100-continue`, be invited to), and the application is not run.
                        if matches!(info.body, BodyFraming::Length(n) if n > ctx.config.limit_body) {
                            return NextRequest::Reject(Reject { status: 413, reason: "request body too large" });
                        }
                        return NextRequest::Request(info);
                    }
                    Ok(None) => {}
                    Err(reject) => return NextRequest::Reject(reject),
                }
            }
        }
        // Out of buffered input: this is the end of a pipelined batch, so send every
        // response accumulated so far before waiting for more.
        if conn.flush().await.is_err() {
            return NextRequest::Close;
        }
        // While it waits, the task goes by the connection's name; the application
        // renames it after the route it serves. The rename back takes effect only when
        // this poll parks, so the poll that served the route is reported under the
        // route's name (the slow-poll warning and the timeline read it at the poll's end).
        // Renaming here rather than per request spares pipelined requests two renames.
        rasgi_executor::task::set_name_on_park(ctx.task_name.clone());
        // The loop's clock (read once per turn, when it woke) is exact enough for
        // second-scale deadlines, and this runs once per request on a kept-alive
        // connection: one `clock_gettime` less per request. It lags the real clock by at
        // most the current turn, so a deadline can only come that much early.
        let now = rasgi_reactor::loop_time();
        let started = *clock_start.get_or_insert(now);
        let header_deadline = started + ctx.config.timeout_header;
        let deadline = if head_begun {
            header_deadline
        } else if conn.guard.is_stopping() {
            header_deadline.min(*grace_ends.get_or_insert(now + SHUTDOWN_GRACE))
        } else if first {
            header_deadline
        } else {
            header_deadline.min(started + ctx.config.timeout_keep_alive)
        };
        // Reset, not rebuilt; a later deadline keeps the reactor's timer (`Sleep::reset`).
        let timer = match idle_timer {
            Some(timer) => {
                if timer.deadline() != deadline {
                    timer.reset(deadline);
                }
                timer
            }
            None => idle_timer.insert(sleep_until(deadline)),
        };
        enum Woke {
            Data,
            Eof,
            Deadline,
            Shutdown,
        }
        let watch_shutdown = grace_ends.is_none() && !head_begun;
        let woke = poll_fn(|cx| {
            match conn.poll_fill(cx) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(Woke::Eof),
                Poll::Ready(Ok(_)) => return Poll::Ready(Woke::Data),
                Poll::Pending => {}
            }
            if std::pin::Pin::new(&mut *timer).poll(cx).is_ready() {
                return Poll::Ready(Woke::Deadline);
            }
            if watch_shutdown && conn.guard.poll_stopping(cx).is_ready() {
                return Poll::Ready(Woke::Shutdown);
            }
            Poll::Pending
        })
        .await;
        match woke {
            // Go round: parse what came, or start the shutdown grace.
            Woke::Data | Woke::Shutdown => {}
            Woke::Eof => {
                conn.disconnected.set(true);
                return NextRequest::Close;
            }
            Woke::Deadline if head_begun => {
                return NextRequest::Reject(Reject { status: 408, reason: "request head not received in time" })
            }
            Woke::Deadline => return NextRequest::Close,
        }
    }
}

/// Runs the application for one request, watching for the client going away, and
/// completes the response whatever the application did.
async fn run_app<A: App>(app: &A, scope: &Scope, conn: &Conn) {
    let receive = Receive::new(conn);
    let send = Sender::new(conn);
    // The application's future lives in this block only: leaving the block drops it,
    // which for a client that left cancels the handler at the `.await` where it waits.
    let outcome = {
        let mut call = pin!(app.call(scope, &receive, &send));
        poll_fn(|cx| {
            // A panicking handler must become a 500 for this request, not a dead loop: catch
            // the unwind at the poll that raised it.
            // (The middle one of the three catch points in `rasgi_executor::panic`.)
            match rasgi_executor::catch(|| call.as_mut().poll(cx)) {
                Ok(Poll::Ready(Ok(()))) => return Poll::Ready(Outcome::Done),
                Ok(Poll::Ready(Err(e))) => return Poll::Ready(Outcome::Failed(e.message)),
                Err(panic) => return Poll::Ready(Outcome::Panicked(panic)),
                Ok(Poll::Pending) => {}
            }
            // The handler is waiting. Once the body is fully read, watch the socket so that a
            // client hanging up cancels the handler. (Handlers that finish on their first
            // poll — most of them — never get here, which saves a read system call.)
            if conn.body.borrow().is_done() && !conn.response.borrow().is_done() && conn.poll_disconnect(cx).is_ready()
            {
                return Poll::Ready(Outcome::ClientGone);
            }
            Poll::Pending
        })
        .await
    };
    conn.body_stall.borrow_mut().disarm();
    // A body refused while the application read it (too large, malformed, stalled) gets
    // its status if no response head is on the wire yet. This comes first: the
    // application saw `http.disconnect` and may well return without answering, which
    // must not turn the client's 413, 400 or 408 into a 500.
    let rejected = conn.body.borrow().rejection();
    if let Some(reject) = rejected {
        let mut response = conn.response.borrow_mut();
        if !response.head_written() {
            response.write_error(conn, reject.status, reject.reason);
        }
        response.force_close();
    }
    let (method, path) = (scope.method(), scope.path());
    let failure = match outcome {
        Outcome::ClientGone => return,
        Outcome::Done if conn.disconnected.get() => return,
        Outcome::Done => {
            let mut response = conn.response.borrow_mut();
            if !response.is_started() {
                log_error!("{method} {path}: the application returned without sending a response");
                response.write_error(conn, 500, "Internal Server Error");
            } else if !response.is_done() {
                log_error!("{method} {path}: the application returned before finishing its response body");
                response.force_close();
            }
            return;
        }
        Outcome::Failed(message) => message,
        Outcome::Panicked(panic) => format!("the application {panic}"),
    };
    if conn.disconnected.get() {
        log_warn!("{method} {path}: {failure} (client disconnected)");
        return;
    }
    log_error!("{method} {path}: {failure}");
    let mut response = conn.response.borrow_mut();
    if response.is_started() {
        response.force_close();
    } else {
        response.write_error(conn, 500, "Internal Server Error");
    }
}

/// One access-log line, uvicorn's format plus the time taken. `client` is the scope's:
/// behind a trusted proxy, the address the proxy reported.
fn log_access(client: PeerName, scope: &Scope, status: u16, started: Instant) {
    let query = scope.query_string();
    let (sep, query) = if query.is_empty() { ("", "") } else { ("?", std::str::from_utf8(query).unwrap_or("")) };
    log_info!(
        "{client} - \"{} {}{sep}{query} HTTP/{}\" {status} {:.2}ms",
        scope.method(),
        String::from_utf8_lossy(scope.raw_path()),
        scope.http_version().as_str(),
        started.elapsed().as_secs_f64() * 1000.0
    );
}
