//! One connection shared by many tasks, with their queries batched into pipelines.
//!
//! asyncpg allows one query at a time per connection, so a web app needs a pool with a
//! connection per concurrent request. tokio-postgres instead lets many tasks use one
//! connection at once and pipelines their queries. [`SharedConnection`] does the latter
//! with the pieces already here: tasks put their queries in a queue and await a
//! one-shot reply; one driver task takes *everything queued* as a single
//! [`Pipeline`](crate::pg::Pipeline) — one write, one stream of replies — and hands each
//! result back. While a batch is in flight, new queries gather for the next one, so the
//! busier the server, the larger the batches: 64 concurrent requests cost a handful of
//! round trips instead of 64.
//!
//! Each query still ends in its own Sync, so one failing query fails alone. Transactions
//! need a connection of their own (use a [`Pool`](crate::pg::Pool)): queries from other
//! tasks would land inside them.

use std::borrow::Cow;
use std::rc::Rc;

use rasgi_executor::sync::{mpsc, oneshot};

use crate::pg::conn::{Connection, QueryResult};
use crate::pg::error::PgError;
use crate::pg::pipeline::Pipeline;
use crate::pg::types::ToSql;

/// Queries a batch may hold; more wait for the next batch.
const MAX_BATCH: usize = 512;

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
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        drop(rasgi_executor::spawn_named("pg shared connection", drive(conn, rx)));
        SharedConnection { queue: Rc::new(tx) }
    }

    /// Queues a query and waits for its result. The query is queued when this is
    /// *called*, so starting several queries before awaiting any batches them.
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

/// The driver: batch whatever is queued, run it as one pipeline, deliver, repeat.
async fn drive(mut conn: Connection, mut queue: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::new();
    while let Some(first) = queue.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Some(job) => batch.push(job),
                None => break,
            }
        }
        let params: Vec<Vec<&dyn ToSql>> = batch.iter().map(|job| job.params.iter().map(|p| &**p).collect()).collect();
        let mut pipeline = Pipeline::new();
        for (job, params) in batch.iter().zip(&params) {
            pipeline.push(&job.sql, params);
        }
        let results = conn.pipeline(&pipeline).await;
        drop(pipeline);
        drop(params);
        match results {
            Ok(results) => {
                for (job, result) in batch.drain(..).zip(results) {
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                // The connection itself failed: the first query gets the error, the others
                // learn the connection is gone, and so does every later query.
                let mut jobs = batch.drain(..);
                if let Some(job) = jobs.next() {
                    let _ = job.reply.send(Err(e));
                }
                for job in jobs {
                    let _ = job.reply.send(Err(closed()));
                }
                if conn.is_closed() {
                    queue.close();
                }
            }
        }
    }
}

fn closed() -> PgError {
    PgError::Closed("the shared connection failed; its driver task has stopped".into())
}
