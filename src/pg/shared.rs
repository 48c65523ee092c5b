//! One connection shared by many tasks, their queries pipelined as they arrive.
//!
//! asyncpg allows one query at a time per connection, so a web app needs a pool with a
//! connection per concurrent request. tokio-postgres lets many tasks use one connection
//! at once and pipelines their queries; [`SharedConnection`] does the same. Tasks put
//! their queries in a queue and await a one-shot reply. One driver task owns the
//! connection and does two things side by side:
//!
//! - **writes**: every query that arrives is encoded (Bind, Execute, Sync) and sent at
//!   once, while earlier queries are still running — no waiting for a batch to finish;
//! - **reads**: replies come back in the order the queries went out, so each message
//!   belongs to the oldest query still in flight; its ReadyForQuery completes it.
//!
//! With 64 concurrent requests, the server always has the next queries queued on its
//! socket instead of idling for a round trip between batches. Each query still ends in
//! its own Sync, so one failing query fails alone. A statement not prepared yet needs a
//! round trip of its own (its parameter types decide the encoding): the driver lets what
//! is in flight finish, prepares it through [`Connection::pipeline`], and from then on it
//! is cached. Transactions need a connection of their own (use a
//! [`Pool`](crate::pg::Pool)): other tasks' queries would land inside them.
//!
//! # Waiting for replies
//!
//! While any query is in flight and no reply is buffered, the driver busy-polls as a lone
//! round trip does (`io.rs`, "Waiting for the reply"): it wakes itself before returning
//! `Pending`, so the loop turns without sleeping, and the PostgreSQL backend's `send` of
//! the next reply finds a thread awake instead of paying a wake-up interrupt for it. The
//! window ([`Config::busy_poll`](crate::pg::Config::busy_poll), 50 µs by default) reopens
//! with every query the driver sends and every reply message it reads, so it ends 50 µs
//! after the last thing that happened on the connection: a stream of replies keeps the
//! loop awake, a slow query lets it sleep. The other tasks run on every turn in between.
//!
//! This is where the window pays most, because a web app's driver waits for PostgreSQL
//! between bursts of 20-query requests. Measured with the benchmark harness's server suite
//! and its ablation contender, the same binary with the window off (`run.sh --suite server
//! --contenders rasgi,rasgi-no-busy-poll,hyper,fastapi --rounds 5 --duration 8 --warmup 1`,
//! PostgreSQL and wrk sharing the other core), the window took `/updates?queries=20` from
//! 1,039 to 1,307 requests/s and `/queries?queries=20` from 3,827 to 4,448; `/db` (43.4k →
//! 46.0k) and `/fortunes` (40.8k → 42.1k) moved less than the run's spread. It costs the
//! server's own CPU per request: 416 → 725 µs for `/updates`, 18.1 → 20.1 µs for `/db`,
//! time the loop spends polling a socket that has nothing yet. Turn it off
//! (`?busy_poll_us=0`) when other processes need that core.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Context, Poll};

use rasgi_executor::sync::{mpsc, oneshot};

use crate::pg::conn::{Connection, QueryResult};
use crate::pg::error::PgError;
use crate::pg::frontend::write_bind_execute;
use crate::pg::io::{BusyPoll, Routed};
use crate::pg::pipeline::Pipeline;
use crate::pg::reply::Executed;
use crate::pg::types::ToSql;

/// Queries waiting for the driver; beyond this, `query` waits (backpressure).
const QUEUE: usize = 2048;

/// One queued query.
struct Job {
    /// The SQL text (usually a `&'static str`, so no allocation).
    sql: Cow<'static, str>,
    /// Owned parameters: the query outlives the caller's stack frame in the queue.
    params: Vec<Box<dyn ToSql>>,
    /// Where the result goes.
    reply: oneshot::Sender<Result<QueryResult, PgError>>,
}

/// A connection many tasks use at once; see the module docs. Cloning gives another
/// handle to the same connection.
#[derive(Clone)]
pub struct SharedConnection {
    /// The driver's queue.
    queue: Rc<mpsc::Sender<Job>>,
}

impl SharedConnection {
    /// Takes over `conn` and starts its driver task on the current loop.
    pub fn new(conn: Connection) -> SharedConnection {
        let (tx, rx) = mpsc::channel(QUEUE);
        drop(rasgi_executor::spawn_named("pg shared connection", drive(conn, rx)));
        SharedConnection { queue: Rc::new(tx) }
    }

    /// Queues a query and waits for its result. The query is queued when this is
    /// *called*, so several queries started before any is awaited go out together.
    pub fn query(
        &self,
        sql: impl Into<Cow<'static, str>>,
        params: Vec<Box<dyn ToSql>>,
    ) -> impl std::future::Future<Output = Result<QueryResult, PgError>> + 'static {
        let (reply, result) = oneshot::channel();
        let job = Job { sql: sql.into(), params, reply };
        // Queue now if there is room (the common case); otherwise wait for room inside
        // the returned future.
        let pending = match self.queue.try_send(job) {
            Ok(()) => None,
            Err(mpsc::SendError(job)) => Some((self.queue.clone(), job)),
        };
        async move {
            if let Some((queue, job)) = pending {
                queue.send(job).await.map_err(|_| closed())?;
            }
            result.await.map_err(|_| closed())?
        }
    }
}

/// A query whose Bind/Execute/Sync went out, with its reply being collected.
struct InFlight {
    /// The query, and where its result goes.
    job: Job,
    /// Its reply so far.
    reply: Executed,
}

/// Why one stretch of driving stopped.
enum Stop {
    /// This query's statement is not prepared yet: prepare and run it the slow way.
    Prepare(Job),
    /// Every handle is gone and nothing is in flight.
    Finished,
    /// The connection failed.
    Failed(PgError),
}

/// The driver task's state: the connection and the queries around it. One struct, so the
/// step function reads as the three phases of the module docs instead of a six-argument call.
struct Driver {
    /// The connection; only the driver touches it.
    conn: Connection,
    /// Queries not yet taken from the handles.
    queue: mpsc::Receiver<Job>,
    /// Queries written and not yet answered, oldest first: the order replies come back in.
    in_flight: VecDeque<InFlight>,
    /// A query whose statement must be prepared first; while it is set, nothing behind it
    /// is taken from the queue, so replies stay in queue order.
    unprepared: Option<Job>,
    /// True once every handle is gone and the queue is empty.
    finished: bool,
    /// The round trip's busy-poll window (see `io.rs`, "Waiting for the reply"), reopened by
    /// every query sent and every reply message received, and used only while something is
    /// in flight.
    busy: BusyPoll,
}

/// The driver task.
async fn drive(conn: Connection, queue: mpsc::Receiver<Job>) {
    let driver = Driver {
        conn,
        queue,
        in_flight: VecDeque::new(),
        unprepared: None,
        finished: false,
        busy: BusyPoll::default(),
    };
    driver.run().await;
}

impl Driver {
    async fn run(mut self) {
        loop {
            match poll_fn(|cx| self.poll_step(cx)).await {
                Stop::Prepare(job) => {
                    // Nothing is in flight now; the classic path prepares, caches and runs.
                    let params: Vec<&dyn ToSql> = job.params.iter().map(|p| &**p).collect();
                    let mut single = Pipeline::new();
                    single.push(&job.sql, &params);
                    let result = self.conn.pipeline(&single).await;
                    drop(single);
                    drop(params);
                    match result {
                        Ok(mut results) => {
                            let _ =
                                job.reply.send(results.pop().unwrap_or_else(|| Err(PgError::protocol("no result"))));
                        }
                        Err(e) => {
                            let _ = job.reply.send(Err(e));
                            self.fail_all();
                            return;
                        }
                    }
                }
                Stop::Finished => return,
                Stop::Failed(e) => {
                    if let Some(first) = self.in_flight.pop_front() {
                        let _ = first.job.reply.send(Err(e));
                    }
                    self.fail_all();
                    return;
                }
            }
        }
    }

    /// One poll of the driver: take new queries and write them, flush, read replies.
    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Stop> {
        let conn = &mut self.conn;
        let mut progressed = false;
        // 1. Encode every query that has arrived (unless one waits to be prepared: then the
        //    queries behind it wait too, to keep replies in order of the queue).
        while self.unprepared.is_none() && !self.finished {
            match self.queue.poll_recv(cx) {
                Poll::Ready(Some(job)) => match conn.cache.get(&job.sql) {
                    Some(statement) => {
                        let params: Vec<&dyn ToSql> = job.params.iter().map(|p| &**p).collect();
                        match conn.encode_request(|buf| write_bind_execute(buf, &statement, &params, 0)) {
                            Ok(()) => {
                                let reply = Executed::new(statement.columns.clone(), true);
                                self.in_flight.push_back(InFlight { job, reply });
                                progressed = true;
                            }
                            // A parameter that cannot be encoded fails its own query only;
                            // nothing of it was written.
                            Err(e) => drop(job.reply.send(Err(e))),
                        }
                    }
                    None => self.unprepared = Some(job),
                },
                Poll::Ready(None) => self.finished = true,
                Poll::Pending => break,
            }
        }
        // 2. Send what was encoded. A full socket is fine: reading below keeps the server
        //    from blocking on its own replies, and writability will wake us.
        if conn.has_unsent() {
            if let Poll::Ready(Err(e)) = conn.poll_flush(cx) {
                return Poll::Ready(Stop::Failed(e));
            }
        }
        // 3. Route replies to the oldest query in flight, through the connection's one router.
        while let Some(front) = self.in_flight.front_mut() {
            let message = match conn.poll_message(cx) {
                Poll::Ready(Ok(message)) => message,
                Poll::Ready(Err(e)) => return Poll::Ready(Stop::Failed(conn.explain_hangup(e))),
                Poll::Pending => break,
            };
            progressed = true;
            match conn.route(message, &mut front.reply) {
                Ok(Routed::Ready) => {
                    if let Some(done) = self.in_flight.pop_front() {
                        finish(conn, done);
                    }
                }
                Ok(Routed::Flush) => {
                    if let Poll::Ready(Err(e)) = conn.poll_flush(cx) {
                        return Poll::Ready(Stop::Failed(e));
                    }
                }
                Ok(Routed::Handled | Routed::CopyIn) => {}
                Err(e) => return Poll::Ready(Stop::Failed(conn.fail(e))),
            }
        }
        if self.in_flight.is_empty() && !conn.has_unsent() {
            if let Some(job) = self.unprepared.take() {
                return Poll::Ready(Stop::Prepare(job));
            }
            if self.finished {
                return Poll::Ready(Stop::Finished);
            }
        }
        // 4. Replies are due: inside the window, come back on the loop's next turn rather
        //    than let it sleep (the socket's waker is registered either way).
        if self.in_flight.is_empty() {
            self.busy.close();
        } else {
            if progressed {
                self.busy.progressed();
            }
            self.busy.before_pending(conn.config.busy_poll, cx);
        }
        Poll::Pending
    }

    /// After the connection failed: every query in flight or queued learns it.
    fn fail_all(&mut self) {
        for lost in self.in_flight.drain(..) {
            let _ = lost.job.reply.send(Err(closed()));
        }
        self.queue.close();
        while let Some(job) = self.queue.try_recv() {
            let _ = job.reply.send(Err(closed()));
        }
    }
}

/// Hands a completed query its result.
fn finish(conn: &mut Connection, done: InFlight) {
    let result = match done.reply.error {
        None => Ok(QueryResult { rows: done.reply.rows, rows_affected: done.reply.rows_affected }),
        Some(error) => {
            // A statement invalidated by a schema change is prepared afresh next time.
            if error.is_stale_statement() {
                conn.forget_statement(&done.job.sql);
            }
            Err(PgError::Server(Box::new(error)))
        }
    };
    let _ = done.job.reply.send(result);
}

fn closed() -> PgError {
    PgError::Closed("the shared connection failed; its driver task has stopped".into())
}
