//! One Postgres round trip as a hand-written future — what asyncpg's protocol does between
//! `self._write(...)` and the waiter future its `data_received` callback completes.
//!
//! A request is a batch of frontend messages already encoded in the connection's write
//! buffer, each query ending in Sync (or a simple Query). The server answers each Sync with a
//! ReadyForQuery after the messages of that query. [`RoundTrip`] is the leaf future that
//! carries one such exchange:
//!
//! ```text
//!            ┌──────────┐ buffer written ┌─────────┐ last ReadyForQuery ┌──────┐
//!  start ──▶ │ Flushing │ ─────────────▶ │ Reading │ ─────────────────▶ │ Done │
//!            └──────────┘                └─────────┘                    └──────┘
//!   Pending: no room in the socket        Pending: no whole message buffered
//!            (reads meanwhile, see below)          and the socket has no more bytes
//! ```
//!
//! Reading is check-then-parse over the read buffer (`message::parse_message`): a whole
//! message buffered? parse it, advance; otherwise read more. Each reply message goes to a
//! [`Reply`], the part that differs between requests (collect rows, remember parameter types,
//! count affected rows). Messages the server may send at any time — notices, parameter status
//! changes, notifications — are handled here, whatever the request.
//!
//! # One router
//!
//! [`Connection::route`] is the only place that decides what a backend message means for the
//! connection: it settles the owed-ReadyForQuery count, the transaction status, FATAL errors,
//! COPY and the asynchronous messages, and hands the rest to the request's [`Reply`]. The
//! round trip below, the shared connection's pipelining driver (`shared.rs`) and the pool's
//! liveness check of an idle connection (`pool.rs`) all call it, so they cannot drift apart —
//! three hand-written copies did, and one of them failed every task on a shared connection
//! when a second `COPY ... TO STDOUT` arrived.
//!
//! # Waiting for the reply
//!
//! Once the request is written, the reply is usually tens of microseconds away. Letting the
//! loop sleep in `epoll_wait` at once looks free, but it is paid for on the other side: the
//! server's `send` of the reply must then wake a sleeping thread, and on a virtual machine
//! waking an idle CPU is an inter-processor interrupt and a trip through the hypervisor,
//! charged to the *server's* CPU. At 16 connections the server's core is the bottleneck, so
//! that cost is the client's throughput. So a round trip first *busy-polls* for a short window
//! ([`Config::busy_poll`](crate::pg::Config::busy_poll), 50 µs by default): while no reply
//! is buffered it wakes its own task before returning `Pending`, so the loop turns again
//! without sleeping (a non-blocking `epoll_wait`, every other ready task run in between),
//! and only after the window lets the loop sleep. This is what Linux's `cpuidle-haltpoll` does
//! for a guest CPU about to halt, and the socket option `SO_BUSY_POLL` for a network card's
//! queue (which loopback does not have).
//!
//! Measured with `pgbench --only roundtrips_c16 --ops 60000`, the server pinned to one core
//! and the client to the other, the server's CPU read from the postmaster's reaped children:
//! without the window (`busy_poll_us=0`) the client switched out 1.39 times per query, the
//! server sent 0.34 wake-up interrupts per query (`perf stat -e ipi:ipi_send_cpu`) and spent
//! 31-32.5 µs of CPU per query, for 31,900-33,200 queries/s; with the 50 µs window the client
//! switched out 0.09 times per query, the server sent 0.007 interrupts and spent 27.3-28.3 µs,
//! for 36,700-38,700 queries/s. At one connection the gain is larger still (8,300 → 15,900
//! queries/s in one pair of runs): there every reply used to find the client asleep.
//! asyncpg gets much the same effect by accident, because its Python is busy most of the
//! time: 0.22 switches and 0.03 interrupts per query in the same measurement.
//! The price is the client's CPU while a reply is due.
//!
//! The window closes one window after the last thing that happened on the connection
//! ([`BusyPoll`]): every reply message read reopens it. A long reply (100,000 rows, a
//! `COPY ... TO STDOUT`) reaches the client as a stream of 8 KiB sends, and a window fixed
//! when the request was written had closed after the first of them, so the client slept
//! between the others and PostgreSQL paid a wake-up for each. Measured against a throwaway
//! PostgreSQL 15 pinned to core 1 (`taskset -c 1 pg_ctl ... start`), the client pinned to
//! core 0 (`taskset -c 0 pgbench --database-url URL --duration 4 --only rows,copy_out`),
//! three alternating rounds each: the window fixed at the write decoded 2.53-2.66M rows/s
//! and received 2.55-2.61M COPY rows/s, reopened by every message 3.02-3.10M and
//! 2.93-3.18M (tokio-postgres in the same rounds: 2.68-2.92M and 2.54-2.66M). Round trips,
//! whose replies come in one read, measured the same either way. The client then spends the
//! whole stream awake: 6.3 s of CPU for the 8 s run instead of 2.5 s.
//! [`SharedConnection`](crate::pg::SharedConnection)'s driver polls the same way while any of
//! its pipelined queries is in flight (`shared.rs`, "Waiting for replies").
//!
//! The connection's bookkeeping (the [`Wire`]'s `pending`: ReadyForQuerys still owed) lives
//! in the connection, not in the future, so a round trip that is dropped half-way (a timeout, an
//! aborted task) leaves an exact record of what is still on the wire: the next request first
//! finishes writing and reads the leftovers up to the last owed ReadyForQuery.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use postgres_protocol::message::frontend;
use rasgi_executor::reactor::net::TcpStream;
use rasgi_http::tls::TlsStream;

use crate::pg::conn::{Connection, TransactionStatus};
use crate::pg::error::{DbError, PgError};
use crate::pg::message::{parse_message, Message, ReadBuffer};

/// The smallest read: enough for a typical round trip's reply in one system call.
const MIN_READ: usize = 8 * 1024;
/// The largest read, reached by doubling while reads keep filling the buffer (bulk results).
const MAX_READ: usize = 256 * 1024;

/// What one request does with its reply messages.
pub(crate) trait Reply {
    /// A message of the reply (anything but ErrorResponse, ReadyForQuery and the
    /// asynchronous messages). An `Err` means the message makes no sense here — a protocol
    /// violation, after which the connection is closed.
    fn message(&mut self, message: Message) -> Result<(), PgError>;

    /// The server rejected the current query. It now skips everything up to the next Sync,
    /// then says ReadyForQuery as usual.
    fn error(&mut self, error: DbError);

    /// One Sync's worth of reply is complete (a ReadyForQuery arrived).
    fn ready(&mut self) {}

    /// A chunk of `COPY ... TO STDOUT` data. Requests that did not ask for COPY drop it.
    fn copy_data(&mut self, _data: bytes::Bytes) -> Result<(), PgError> {
        Ok(())
    }

    /// True for the one request that feeds `COPY ... FROM STDIN` (`copy.rs`); for any other
    /// the router refuses the COPY with CopyFail.
    fn accepts_copy_in(&self) -> bool {
        false
    }

    /// True when the request used the extended protocol (Bind/Execute/Sync). A server in
    /// COPY-in mode ignores the Sync that was already sent, so after a CopyFail it needs
    /// another one before it answers ReadyForQuery; a simple Query needs none.
    fn extended_protocol(&self) -> bool {
        false
    }
}

/// The socket and what is in transit on it. The fields are private to this file: the rest
/// of the client sends requests (`encode_request`) and awaits their replies (`RoundTrip`,
/// `route`), and cannot make the owed-ReadyForQuery count disagree with what was written.
pub(crate) struct Wire {
    /// The socket (registered with this thread's reactor), plain or under TLS.
    stream: Stream,
    /// Bytes received and not yet parsed (always beginning at a message boundary), and room
    /// for the next read.
    read_buf: ReadBuffer,
    /// Encoded messages not yet (completely) written; always ends at a message boundary.
    write_buf: BytesMut,
    /// How much to read next (grows while reads fill it, see `poll_fill`).
    read_chunk: usize,
    /// ReadyForQuerys the server still owes: one per Sync or simple Query queued or sent.
    /// Raised only by `encode_request`, lowered only by `route`. Zero with an empty
    /// `write_buf` means the connection is idle and in sync.
    pending: usize,
    /// The last FATAL error the server sent, until a failed read reports it (the server hangs
    /// up right after one). Set only by `route`.
    fatal: Option<DbError>,
    /// Why the connection is unusable, once it is (I/O error, protocol violation, hang-up).
    broken: Option<String>,
}

/// The bytes under the protocol: a plain socket, or TLS over one (see `tls.rs`).
pub(crate) enum Stream {
    /// Unencrypted.
    Plain(TcpStream),
    /// Encrypted, after a completed handshake. Boxed: rustls's state is large.
    Tls(Box<TlsStream>),
}

impl Stream {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
        match self {
            Stream::Plain(tcp) => tcp.poll_read(cx, buf),
            Stream::Tls(tls) => tls.poll_read(cx, buf),
        }
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self {
            Stream::Plain(tcp) => tcp.poll_write(cx, buf),
            Stream::Tls(tls) => tls.poll_write(cx, buf),
        }
    }

    /// TLS may hold encrypted records after a write returned; a plain socket holds nothing.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self {
            Stream::Plain(_) => Poll::Ready(Ok(())),
            Stream::Tls(tls) => tls.poll_flush(cx),
        }
    }

    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.tcp(),
        }
    }
}

impl Wire {
    /// A fresh wire around a connected (and, if asked for, encrypted) stream.
    pub(crate) fn new(stream: Stream) -> Wire {
        Wire {
            stream,
            read_buf: ReadBuffer::with_capacity(16 * 1024),
            write_buf: BytesMut::with_capacity(4 * 1024),
            read_chunk: MIN_READ,
            pending: 0,
            fatal: None,
            broken: None,
        }
    }
}

impl std::fmt::Debug for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wire")
            .field("pending", &self.pending)
            .field("unsent", &self.write_buf.len())
            .field("broken", &self.broken)
            .finish()
    }
}

/// What [`Connection::route`] made of a message, for the caller's state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Routed {
    /// A ReadyForQuery: one Sync's worth of reply is complete.
    Ready,
    /// The router queued bytes in the write buffer (a CopyFail): flush before reading on.
    Flush,
    /// The server waits for `COPY ... FROM STDIN` data, which the request will send.
    CopyIn,
    /// Anything else; nothing for the caller to do.
    Handled,
}

/// The busy-poll window of a wait for replies (see "Waiting for the reply"): until when a
/// read that finds nothing wakes the task again instead of letting the loop sleep. Progress
/// (a request written, a reply message read) reopens it, so it closes one window after the
/// last thing that happened on the connection: a reply that streams for a long time keeps the
/// loop awake for as long as it streams, and a slow query lets it sleep. The round trip, the
/// shared connection's driver and `COPY ... TO STDOUT` all wait through one of these.
#[derive(Debug, Default)]
pub(crate) struct BusyPoll {
    /// The end of the open window; `None` until the first wait.
    until: Option<Instant>,
    /// Something happened since the window was last opened.
    progressed: bool,
}

impl BusyPoll {
    /// Something happened on the connection: the next wait reopens the window. A flag, not
    /// a clock read: this runs once per message, 100,000 times for a bulk query, and the
    /// clock is read only when a wait finds nothing.
    pub(crate) fn progressed(&mut self) {
        self.progressed = true;
    }

    /// Called where a wait for replies returns `Pending`, with the socket's waker already
    /// left with the reactor: inside the window, wakes the task as well, so that the loop
    /// polls its sockets without sleeping and comes back on its next turn. A zero `window`
    /// turns busy-polling off.
    pub(crate) fn before_pending(&mut self, window: Duration, cx: &Context<'_>) {
        if window.is_zero() {
            return;
        }
        let now = Instant::now();
        if self.progressed || self.until.is_none() {
            self.until = Some(now + window);
            self.progressed = false;
        }
        if self.until.is_some_and(|until| now < until) {
            cx.waker().wake_by_ref();
        }
    }

    /// Nothing is due any more: the next wait opens a fresh window.
    pub(crate) fn close(&mut self) {
        *self = BusyPoll::default();
    }
}

/// The leaf future of one round trip; see the module docs. Resolves to the [`Reply`] once the
/// connection owes no more ReadyForQuery.
pub(crate) struct RoundTrip<'c, R> {
    /// The connection, borrowed for the whole exchange: one request at a time.
    conn: &'c mut Connection,
    /// The reply being filled; taken out when the future completes.
    reply: Option<R>,
    /// Where the exchange is.
    state: State,
    /// The busy-poll window, opened by the first read that finds nothing after the request
    /// is written and reopened by every reply message (see "Waiting for the reply").
    busy: BusyPoll,
}

/// The states of a round trip.
enum State {
    /// Writing the request from the connection's write buffer.
    Flushing,
    /// Reading reply messages until the connection owes no ReadyForQuery.
    Reading,
    /// Resolved. Polling again would be a bug in the caller.
    Done,
}

impl<'c, R: Reply + Unpin> RoundTrip<'c, R> {
    /// Starts the exchange of whatever the write buffer holds (possibly nothing: a drain).
    pub(crate) fn new(conn: &'c mut Connection, reply: R) -> RoundTrip<'c, R> {
        RoundTrip { conn, reply: Some(reply), state: State::Flushing, busy: BusyPoll::default() }
    }

    /// Routes one message; a CopyFail the router queued is written before reading on.
    fn handle(&mut self, message: Message) -> Result<(), PgError> {
        let reply = self.reply.as_mut().ok_or_else(|| PgError::protocol("reply already taken"))?;
        if self.conn.route(message, reply)? == Routed::Flush {
            self.state = State::Flushing;
        }
        Ok(())
    }
}

impl<R: Reply + Unpin> Future for RoundTrip<'_, R> {
    type Output = Result<R, PgError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // The Future contract, as this function keeps it: every `Pending` below is passed up
        // from the socket's `poll_read`/`poll_write`, which first left this task's waker with
        // the reactor (replacing a stale one); and `Done` panics rather than run twice.
        loop {
            match this.state {
                State::Flushing => match this.conn.poll_flush(cx) {
                    Poll::Ready(Ok(())) => this.state = State::Reading,
                    Poll::Ready(Err(e)) => {
                        this.state = State::Done;
                        return Poll::Ready(Err(e));
                    }
                    // The socket is full. The server may be blocked too, writing replies to
                    // earlier queries of a long pipeline that nobody reads: read them into
                    // the buffer meanwhile, or both sides would wait for each other forever.
                    // (Both wakers are now registered; either readiness re-polls us.)
                    Poll::Pending => match this.conn.poll_fill(cx, 0) {
                        Poll::Ready(Ok(())) => continue,
                        Poll::Ready(Err(e)) => {
                            this.state = State::Done;
                            return Poll::Ready(Err(e));
                        }
                        Poll::Pending => return Poll::Pending,
                    },
                },
                State::Reading => {
                    if this.conn.wire.pending == 0 {
                        // Every Sync answered: the connection is clean again.
                        this.conn.abandoned = false;
                        this.state = State::Done;
                        let reply = this.reply.take().ok_or_else(|| PgError::protocol("reply already taken"));
                        return Poll::Ready(reply);
                    }
                    let message = match this.conn.poll_reply_message(cx, &mut this.busy) {
                        Poll::Ready(Ok(message)) => message,
                        // Nothing buffered, and the reactor holds our waker (and, inside the
                        // busy-poll window, so does the loop's ready queue).
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(e)) => {
                            this.state = State::Done;
                            return Poll::Ready(Err(this.conn.explain_hangup(e)));
                        }
                    };
                    if let Err(e) = this.handle(message) {
                        this.state = State::Done;
                        return Poll::Ready(Err(this.conn.fail(e)));
                    }
                }
                State::Done => panic!("RoundTrip polled after it completed"),
            }
        }
    }
}

impl<R> Drop for RoundTrip<'_, R> {
    fn drop(&mut self) {
        // Dropped before the last ReadyForQuery: a query may still be running on the server.
        // The next request cancels it and drains its reply (see `Connection::settle`).
        if !matches!(self.state, State::Done) {
            self.conn.abandoned = true;
        }
    }
}

/// A reply that keeps nothing but errors: used to drain what an abandoned request left.
#[derive(Default)]
pub(crate) struct Drain {
    /// The errors the drained reply contained (e.g. 57014 for a cancelled query).
    pub(crate) errors: Vec<DbError>,
}

impl Reply for Drain {
    fn message(&mut self, _: Message) -> Result<(), PgError> {
        Ok(())
    }

    fn error(&mut self, error: DbError) {
        self.errors.push(error);
    }
}

impl Connection {
    /// Appends messages to the write buffer; on error takes back whatever was half-written,
    /// so the buffer always ends at a message boundary. For messages that owe no
    /// ReadyForQuery (startup, authentication, a Close riding in front of a request).
    pub(crate) fn encode(&mut self, f: impl FnOnce(&mut BytesMut) -> Result<(), PgError>) -> Result<(), PgError> {
        let start = self.wire.write_buf.len();
        let result = f(&mut self.wire.write_buf);
        if result.is_err() {
            self.wire.write_buf.truncate(start);
        }
        result
    }

    /// [`Connection::encode`] for one request that ends in exactly one Sync (or is one simple
    /// Query): the server will owe one more ReadyForQuery once it is written.
    pub(crate) fn encode_request(
        &mut self,
        f: impl FnOnce(&mut BytesMut) -> Result<(), PgError>,
    ) -> Result<(), PgError> {
        self.encode(f)?;
        self.wire.pending += 1;
        Ok(())
    }

    /// True while the server owes at least one ReadyForQuery.
    pub(crate) fn owes_replies(&self) -> bool {
        self.wire.pending > 0
    }

    /// How many encoded bytes wait to be written.
    pub(crate) fn unsent_len(&self) -> usize {
        self.wire.write_buf.len()
    }

    /// True while encoded bytes wait to be written.
    pub(crate) fn has_unsent(&self) -> bool {
        !self.wire.write_buf.is_empty()
    }

    /// Why the connection is unusable, once it is.
    pub(crate) fn broken_reason(&self) -> Option<&str> {
        self.wire.broken.as_deref()
    }

    /// Ends the session: Terminate (in place of anything unsent), then the socket closes.
    pub(crate) async fn terminate(&mut self) -> Result<(), PgError> {
        self.wire.write_buf.clear();
        frontend::terminate(&mut self.wire.write_buf);
        self.flush().await?;
        self.shutdown_socket();
        Ok(())
    }

    /// Closes the socket at once, both ways (after a failure, or a server that will not answer).
    pub(crate) fn shutdown_socket(&mut self) {
        let _ = self.wire.stream.tcp().shutdown(std::net::Shutdown::Both);
    }

    /// True when the connection is encrypted (TLS).
    pub fn is_encrypted(&self) -> bool {
        matches!(self.wire.stream, Stream::Tls(_))
    }

    /// Routes one backend message; see the module docs. `reply` gets the messages that
    /// belong to the request (rows, completions, its errors) and a `ready` per
    /// ReadyForQuery. An `Err` is a protocol violation: the caller fails the connection.
    pub(crate) fn route(&mut self, message: Message, reply: &mut dyn Reply) -> Result<Routed, PgError> {
        match message {
            // Rows first: a bulk result is almost nothing else, and going straight to the
            // reply skips the asynchronous-message check (41 of 1,380 instructions per row).
            Message::DataRow { .. } => {
                reply.message(message)?;
                Ok(Routed::Handled)
            }
            Message::ReadyForQuery { status } => {
                // checked, not saturating: an unowed ReadyForQuery means our count of what is
                // on the wire is wrong, and every later reply would go to the wrong request.
                self.wire.pending = self
                    .wire
                    .pending
                    .checked_sub(1)
                    .ok_or_else(|| PgError::protocol("ReadyForQuery without a pending Sync"))?;
                self.tx_status = TransactionStatus::from_byte(status)?;
                reply.ready();
                Ok(Routed::Ready)
            }
            Message::ErrorResponse { body } => {
                let error = DbError::parse(&body)?;
                // A FATAL error comes just before the server hangs up: kept as the reason to
                // report instead of a bare "connection closed".
                if error.is_fatal() {
                    self.wire.fatal = Some(error.clone());
                }
                reply.error(error);
                Ok(Routed::Handled)
            }
            // Only a COPY request takes COPY data: any other refuses COPY FROM STDIN (the
            // server then reports an error and carries on) and drops COPY TO STDOUT's data.
            Message::CopyInResponse if reply.accepts_copy_in() => Ok(Routed::CopyIn),
            Message::CopyData { data } => {
                reply.copy_data(data)?;
                Ok(Routed::Handled)
            }
            Message::CopyInResponse => {
                postgres_protocol::message::frontend::copy_fail(
                    "COPY FROM STDIN goes through Connection::copy_in, not fetch or execute",
                    &mut self.wire.write_buf,
                )
                .map_err(|e| PgError::protocol(e.to_string()))?;
                // Replaces the ignored Sync: the owed ReadyForQuery count stays right.
                if reply.extended_protocol() {
                    frontend::sync(&mut self.wire.write_buf);
                }
                Ok(Routed::Flush)
            }
            Message::CopyOutResponse | Message::CopyDone => Ok(Routed::Handled),
            // Closes of evicted statements ride along with requests; their answers need no one.
            Message::CloseComplete => Ok(Routed::Handled),
            other => {
                if let Some(other) = self.handle_asynchronous(other) {
                    reply.message(other)?;
                }
                Ok(Routed::Handled)
            }
        }
    }

    /// The error to report for a failed read: the server's FATAL message when it sent one
    /// before hanging up, else the I/O error itself.
    pub(crate) fn explain_hangup(&mut self, error: PgError) -> PgError {
        match self.wire.fatal.take() {
            Some(fatal) if matches!(error, PgError::Closed(_) | PgError::Io(_)) => PgError::Server(Box::new(fatal)),
            _ => error,
        }
    }

    /// Check-then-parse one message off the read buffer, reading from the socket while the
    /// buffer holds no whole message.
    pub(crate) fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Result<Message, PgError>> {
        loop {
            let mut needed = 0;
            match parse_message(&mut self.wire.read_buf, &mut needed) {
                Ok(Some(message)) => return Poll::Ready(Ok(message)),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Err(self.fail(e))),
            }
            ready!(self.poll_fill(cx, needed))?;
        }
    }

    /// [`Connection::poll_message`] for a wait for replies: a message reopens the busy-poll
    /// window, and finding none wakes the task again while the window is open (see "Waiting
    /// for the reply"). The round trip and `COPY ... TO STDOUT` read through this.
    pub(crate) fn poll_reply_message(
        &mut self,
        cx: &mut Context<'_>,
        busy: &mut BusyPoll,
    ) -> Poll<Result<Message, PgError>> {
        let polled = self.poll_message(cx);
        match polled {
            Poll::Ready(Ok(_)) => busy.progressed(),
            Poll::Pending => busy.before_pending(self.config.busy_poll, cx),
            Poll::Ready(Err(_)) => {}
        }
        polled
    }

    /// Awaits the next message (used by startup, which has no `Reply`).
    pub(crate) async fn next_message(&mut self) -> Result<Message, PgError> {
        poll_fn(|cx| self.poll_message(cx)).await
    }

    /// Reads once from the socket into the read buffer, making room for at least `needed`
    /// buffered bytes in total (a large DataRow arrives in as few reads as possible).
    ///
    /// The socket is edge-triggered: `Ready(Ok)` means bytes arrived and the caller must try
    /// again (parse, or read more) — only `Pending` has registered the waker.
    pub(crate) fn poll_fill(&mut self, cx: &mut Context<'_>, needed: usize) -> Poll<Result<(), PgError>> {
        if let Some(reason) = &self.wire.broken {
            return Poll::Ready(Err(PgError::Closed(reason.clone())));
        }
        let want = needed.saturating_sub(self.wire.read_buf.len()).max(self.wire.read_chunk);
        let room = self.wire.read_buf.room(want);
        // The room is already initialised (see `ReadBuffer`), so reading costs no zeroing;
        // `read_chunk` keeps the room in proportion to what reads return.
        let offered = room.len();
        match self.wire.stream.poll_read(cx, room) {
            Poll::Ready(Ok(0)) => {
                Poll::Ready(Err(self.fail(PgError::Closed("the server closed the connection".to_string()))))
            }
            Poll::Ready(Ok(n)) => {
                self.wire.read_buf.commit(n);
                self.wire.read_chunk = if n == offered {
                    (self.wire.read_chunk * 2).min(MAX_READ)
                } else {
                    n.next_power_of_two().clamp(MIN_READ, MAX_READ)
                };
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.fail(PgError::Io(e)))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Writes the write buffer out, as far as the socket takes it. Usually one `write` call
    /// sends a whole request: the batching is the point of building requests in a buffer.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), PgError>> {
        while !self.wire.write_buf.is_empty() {
            if let Some(reason) = &self.wire.broken {
                return Poll::Ready(Err(PgError::Closed(reason.clone())));
            }
            match ready!(self.wire.stream.poll_write(cx, &self.wire.write_buf)) {
                Ok(0) => return Poll::Ready(Err(self.fail(PgError::Closed("the socket accepts no more data".into())))),
                Ok(n) => self.wire.write_buf.advance(n),
                Err(e) => return Poll::Ready(Err(self.fail(PgError::Io(e)))),
            }
        }
        // TLS: the last records may still wait in rustls for room in the socket.
        match ready!(self.wire.stream.poll_flush(cx)) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(e) => Poll::Ready(Err(self.fail(PgError::Io(e)))),
        }
    }

    /// Awaits [`Connection::poll_flush`].
    pub(crate) async fn flush(&mut self) -> Result<(), PgError> {
        poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// Marks the connection unusable after an error that leaves the stream in an unknown
    /// state, and passes the error through.
    pub(crate) fn fail(&mut self, error: PgError) -> PgError {
        if self.wire.broken.is_none() {
            self.wire.broken = Some(match &error {
                PgError::Closed(reason) => reason.clone(),
                other => other.to_string(),
            });
        }
        error
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Wake, Waker};
    use std::thread::sleep;
    use std::time::Duration;

    use super::BusyPoll;

    /// A waker that counts its wakes: a busy-polling wait wakes its own task.
    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Calls `before_pending` once and says whether the task was woken (kept busy).
    fn keeps_awake(busy: &mut BusyPoll, window: Duration) -> bool {
        let counter = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        busy.before_pending(window, &Context::from_waker(&waker));
        counter.0.load(Ordering::SeqCst) == 1
    }

    /// Expires within the test; waits past it sleep for `PAST`.
    const SHORT: Duration = Duration::from_millis(30);
    const PAST: Duration = Duration::from_millis(40);
    /// Cannot expire within the test, however loaded the machine.
    const LONG: Duration = Duration::from_secs(600);

    #[test]
    fn the_window_closes_one_window_after_the_last_progress() {
        let mut busy = BusyPoll::default();
        assert!(keeps_awake(&mut busy, SHORT), "the first wait opens the window");
        sleep(PAST);
        assert!(!keeps_awake(&mut busy, SHORT), "no progress for a whole window: the loop may sleep");
        // A message read reopens it: a reply that streams keeps the loop awake however long it
        // streams (before, the window was fixed when the request was written).
        busy.progressed();
        assert!(keeps_awake(&mut busy, LONG));
        assert!(keeps_awake(&mut busy, LONG), "no progress, but still inside the reopened window");
        busy.progressed();
        assert!(keeps_awake(&mut busy, SHORT));
        sleep(PAST);
        assert!(!keeps_awake(&mut busy, SHORT));
    }

    #[test]
    fn a_closed_window_opens_afresh_and_a_zero_window_never_polls() {
        let mut busy = BusyPoll::default();
        assert!(keeps_awake(&mut busy, SHORT));
        sleep(PAST);
        assert!(!keeps_awake(&mut busy, SHORT));
        // Nothing in flight any more: the next query's wait starts its own window.
        busy.close();
        assert!(keeps_awake(&mut busy, SHORT));

        let mut off = BusyPoll::default();
        off.progressed();
        assert!(!keeps_awake(&mut off, Duration::ZERO));
        assert!(!keeps_awake(&mut off, Duration::ZERO));
    }
}
