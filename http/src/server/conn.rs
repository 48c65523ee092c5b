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

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use rasgi_executor::reactor::net::TcpStream;
use rasgi_executor::{log_error, log_info, log_warn, sleep_until, Sleep};

use super::buffer::ReadBuf;
use super::receive::BodyState;
use super::respond::ResponseState;
use super::shutdown::ConnectionGuard;
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

/// The state of one connection, shared (by reference) between the connection loop, the
/// application's `receive` and `send`, and the disconnect watch. Each `RefCell` is
/// borrowed only inside a synchronous `poll_*` step, never across an `.await`, so the
/// three can never trip over each other.
pub(crate) struct Conn {
    /// The socket.
    pub(crate) stream: TcpStream,
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
}

impl Conn {
    fn new(stream: TcpStream, max_body: u64) -> Conn {
        Conn {
            stream,
            rbuf: RefCell::new(ReadBuf::new(0, READ_CAP)),
            wbuf: RefCell::new(Vec::new()),
            wpos: Cell::new(0),
            body: RefCell::new(BodyState::default()),
            response: RefCell::new(ResponseState::default()),
            disconnected: Cell::new(false),
            max_body,
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

    /// Writes the write buffer out; `Ready(Ok)` once it is empty.
    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut wbuf = self.wbuf.borrow_mut();
        while self.wpos.get() < wbuf.len() {
            match self.stream.poll_write(cx, &wbuf[self.wpos.get()..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.wpos.set(self.wpos.get() + n),
                Poll::Ready(Err(e)) => {
                    self.disconnected.set(true);
                    return Poll::Ready(Err(e));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
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

/// Serves one connection until it closes. This is the task the accept loop spawns.
pub(crate) async fn serve_connection<A: App>(ctx: Rc<LoopContext<A>>, stream: TcpStream, peer: SocketAddr) {
    let server_addr = stream.local_addr().ok();
    // Small responses are written in one piece already; Nagle would only delay them.
    let _ = stream.set_nodelay(true);
    let conn = Conn::new(stream, ctx.config.limit_body);
    let guard = ctx.connections.add();
    let mut scope = Scope::new(ctx.root_path.clone(), ctx.state.clone(), Some(peer), server_addr);
    let mut idle_timer: Option<Sleep> = None;
    let mut first = true;

    loop {
        let info = match next_request(&ctx, &guard, &conn, &mut scope, first, &mut idle_timer).await {
            NextRequest::Request(info) => info,
            NextRequest::Close => break,
            NextRequest::Reject(reject) => {
                log_info!("{peer} - malformed request: {} {}", reject.status, reject.reason);
                let mut response = conn.response.borrow_mut();
                // The error answers the refused request, not the one before it: reset the
                // state, or a previous `HEAD` would strip this error's body and leave the
                // client waiting for `content-length` bytes that never come.
                response.start(false, false, HttpVersion::Http11);
                response.write_error(&conn, reject.status, reject.reason);
                break;
            }
        };
        first = false;
        let started = Instant::now();
        // Each request starts under the connection's own name; the application may
        // rename the task after its route. (The name stays until the next request, so
        // the slow-poll detector, which reads it after the poll, sees the route's.)
        rasgi_executor::task::set_name(ctx.task_name.clone());
        conn.body.borrow_mut().start(&info);
        let keep_alive = info.keep_alive && !guard.is_stopping();
        conn.response.borrow_mut().start(info.is_head, keep_alive, scope.http_version());

        if super::websocket::wants_upgrade(&ctx.config, &scope) {
            return super::websocket::serve(&ctx, &guard, &conn, &scope, peer).await;
        }
        let over_limit = ctx.config.limit_concurrency.is_some_and(|limit| ctx.connections.open() > limit);
        if over_limit {
            conn.response.borrow_mut().write_error(&conn, 503, "server at its concurrency limit, try again");
        } else {
            run_app(&ctx.app, &scope, &conn).await;
        }

        let (status, keep_alive) = conn.response.borrow().outcome();
        if ctx.config.access_log {
            log_access(peer, &scope, status, started);
        }
        if conn.disconnected.get() {
            return;
        }
        // The connection may carry another request only if this one's body was read to
        // the end (or can be skipped in the buffer) and the response framing is sound.
        let body_finished = conn.body.borrow_mut().skip_buffered_rest(&mut conn.rbuf.borrow_mut());
        if !keep_alive || !body_finished || guard.is_stopping() {
            break;
        }
        // Flush now only if a write is already large; otherwise `next_request` flushes
        // when it runs out of buffered input — which batches pipelined responses.
        if conn.wbuf.borrow().len() >= WRITE_HIGH_WATER && conn.flush().await.is_err() {
            return;
        }
    }
    // Best effort: send what is buffered, then FIN. A client that is gone makes these
    // fail, which is fine.
    let _ = conn.flush().await;
    let _ = conn.stream.shutdown(std::net::Shutdown::Write);
}

/// Waits for and parses the next request head, enforcing the idle (keep-alive) and
/// header (slowloris) timeouts.
async fn next_request<A: App>(
    ctx: &LoopContext<A>,
    guard: &ConnectionGuard,
    conn: &Conn,
    scope: &mut Scope,
    first: bool,
    idle_timer: &mut Option<Sleep>,
) -> NextRequest {
    // When did this head start arriving? Set at the first byte.
    let mut head_started: Option<Instant> = None;
    loop {
        {
            let mut rbuf = conn.rbuf.borrow_mut();
            if !rbuf.is_empty() {
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
                    Ok(None) => head_started = head_started.or_else(|| Some(Instant::now())),
                    Err(reject) => return NextRequest::Reject(reject),
                }
            }
        }
        // Out of buffered input: this is the end of a pipelined batch, so send every
        // response accumulated so far before waiting for more.
        if conn.flush().await.is_err() {
            return NextRequest::Close;
        }
        if guard.is_stopping() && head_started.is_none() {
            return NextRequest::Close;
        }
        // The deadline: a fresh connection or a started head gets the header timeout;
        // an idle kept-alive connection gets the keep-alive timeout.
        let deadline = match head_started {
            Some(started) => started + ctx.config.timeout_header,
            None if first => Instant::now() + ctx.config.timeout_header,
            None => Instant::now() + ctx.config.timeout_keep_alive,
        };
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
        let woke = poll_fn(|cx| {
            match conn.poll_fill(cx) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(Woke::Eof),
                Poll::Ready(Ok(_)) => return Poll::Ready(Woke::Data),
                Poll::Pending => {}
            }
            if std::pin::Pin::new(&mut *timer).poll(cx).is_ready() {
                return Poll::Ready(Woke::Deadline);
            }
            if head_started.is_none() && guard.poll_stopping(cx).is_ready() {
                return Poll::Ready(Woke::Shutdown);
            }
            Poll::Pending
        })
        .await;
        match woke {
            Woke::Data => {}
            Woke::Eof => {
                conn.disconnected.set(true);
                return NextRequest::Close;
            }
            Woke::Deadline if head_started.is_some() => {
                return NextRequest::Reject(Reject { status: 408, reason: "request head not received in time" })
            }
            Woke::Deadline | Woke::Shutdown => return NextRequest::Close,
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
            match catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(cx))) {
                Ok(Poll::Ready(Ok(()))) => return Poll::Ready(Ok(())),
                Ok(Poll::Ready(Err(e))) => return Poll::Ready(Err(e.message)),
                Err(payload) => {
                    let msg = rasgi_executor::panic_message(payload.as_ref()).unwrap_or("(no message)").to_owned();
                    return Poll::Ready(Err(format!("the application panicked: {msg}")));
                }
                Ok(Poll::Pending) => {}
            }
            // The handler is waiting. Once the body is fully read, watch the socket so that a
            // client hanging up cancels the handler. (Handlers that finish on their first
            // poll — most of them — never get here, which saves a read system call.)
            if conn.body.borrow().is_done() && !conn.response.borrow().is_done() && conn.poll_disconnect(cx).is_ready()
            {
                return Poll::Ready(Err(String::new()));
            }
            Poll::Pending
        })
        .await
    };
    // A body refused while the application read it (too large, malformed) gets its
    // status if no response head is on the wire yet. This comes first: the application
    // saw `http.disconnect` and may well return without answering, which must not turn
    // the client's 413 or 400 into a 500.
    let rejected = conn.body.borrow().rejection();
    if let Some(reject) = rejected {
        let mut response = conn.response.borrow_mut();
        if !response.head_written() {
            response.write_error(conn, reject.status, reject.reason);
        }
        response.force_close();
    }
    match outcome {
        Ok(()) if conn.disconnected.get() => {}
        Ok(()) => {
            let mut response = conn.response.borrow_mut();
            if !response.is_started() {
                log_error!("{} {}: the application returned without sending a response", scope.method(), scope.path());
                response.write_error(conn, 500, "Internal Server Error");
            } else if !response.is_done() {
                log_error!(
                    "{} {}: the application returned before finishing its response body",
                    scope.method(),
                    scope.path()
                );
                response.force_close();
            }
        }
        Err(msg) if conn.disconnected.get() => {
            if !msg.is_empty() {
                log_warn!("{} {}: {msg} (client disconnected)", scope.method(), scope.path());
            }
        }
        Err(msg) => {
            log_error!("{} {}: {msg}", scope.method(), scope.path());
            let mut response = conn.response.borrow_mut();
            if response.is_started() {
                response.force_close();
            } else {
                response.write_error(conn, 500, "Internal Server Error");
            }
        }
    }
}

/// One access-log line, uvicorn's format plus the time taken.
fn log_access(peer: SocketAddr, scope: &Scope, status: u16, started: Instant) {
    let query = scope.query_string();
    let (sep, query) = if query.is_empty() { ("", "") } else { ("?", std::str::from_utf8(query).unwrap_or("")) };
    log_info!(
        "{peer} - \"{} {}{sep}{query} HTTP/{}\" {status} {:.2}ms",
        scope.method(),
        String::from_utf8_lossy(scope.raw_path()),
        scope.http_version().as_str(),
        started.elapsed().as_secs_f64() * 1000.0
    );
}
