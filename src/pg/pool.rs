//! A connection pool — asyncpg's `Pool` (`create_pool`, `pool.acquire()`, `pool.fetch(...)`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), rasgi::pg::PgError> {
//! use rasgi::pg::{Config, Pool};
//! let pool = Pool::builder(Config::from_url("postgres://app@127.0.0.1/app")?).max_size(4).build();
//! let rows = pool.fetch("SELECT * FROM mytable", &[]).await?;      // acquire, query, release
//! let mut conn = pool.acquire().await?;                            // or hold one for a while
//! conn.execute("UPDATE mytable SET value = value + 1", &[]).await?;
//! # Ok(()) }                                                       // released when dropped
//! ```
//!
//! **Size and fairness.** At most `max_size` connections exist. The count is an executor
//! [`Semaphore`] with `max_size` permits: a permit is the right to hold one connection, taken
//! before a connection is reused or opened and given back when the guard is dropped. The
//! semaphore hands released permits to waiters in arrival order, so waiters are served first
//! come, first served, and `acquire_timeout` bounds the wait ([`PgError::PoolTimeout`]).
//!
//! **Release.** Dropping a [`PooledConnection`] returns its connection, but only in a known
//! state:
//! - broken (I/O error, server hang-up, protocol error), or the pool is closed: dropped;
//! - a query cut off mid-flight (its task was aborted, its future dropped): dropped, and a
//!   CancelRequest is sent in the background so the server stops working on it. Nobody knows
//!   how much of the reply is still to come, and waiting for it could take as long as the query;
//! - left inside a transaction, or holding a queued rollback, or the pool has a `reset_query`:
//!   cleaned up by a background task (ROLLBACK, then the reset query) *holding the permit*, and
//!   only then made idle — so the transaction's locks go at once, and a waiter never gets a
//!   dirty connection;
//! - otherwise: idle at once, no I/O at all.
//!
//! asyncpg runs `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;` on every
//! release — a round trip each time. Here that is opt-in ([`PoolBuilder::reset_query`]) because
//! most applications never change session state; `DISCARD ALL` would also drop the prepared
//! statements the cache relies on (the cache would then re-prepare, SQLSTATE 26000).
//!
//! **Dead idle connections.** An idle connection whose server went away (restart,
//! `pg_terminate_backend`, idle timeout) has a FATAL error and an end of stream waiting in its
//! socket. `acquire` reads whatever is there without blocking and replaces such a connection
//! with a new one.
//!
//! The pool is `Rc`-based and `!Send`: one pool per event loop, like each uvicorn worker
//! process having its own asyncpg pool.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use rasgi_executor::reactor::Reactor;
use rasgi_executor::sync::{Permit, Semaphore};
use rasgi_executor::{log_warn, spawn, timeout};

use crate::pg::cancel::cancel_bounded;
use crate::pg::config::Config;
use crate::pg::conn::{Connection, TransactionStatus};
use crate::pg::error::{DbError, PgError};
use crate::pg::io::Reply;
use crate::pg::message::Message;
use crate::pg::row::Row;
use crate::pg::types::{FromSql, ToSql};

/// A pool of connections to one database. Cheap to clone (clones share the pool).
#[derive(Clone)]
pub struct Pool {
    shared: Rc<Shared>,
}

/// The pool's state, shared by the handle, the guards and release tasks.
struct Shared {
    /// How to open connections.
    config: Config,
    /// The most connections that may exist at once.
    max_size: usize,
    /// The longest `acquire` waits (for a permit and, if needed, a new connection).
    acquire_timeout: Duration,
    /// Run on every release when set.
    reset_query: Option<String>,
    /// One permit per connection that may exist; held by every guard and release task.
    permits: Semaphore,
    /// Connections ready for reuse, most recently used last (reused first: its buffers and
    /// the server process's caches are warm).
    idle: RefCell<Vec<Connection>>,
    /// Connections that exist: idle, in use, or being cleaned up.
    open: Cell<usize>,
    /// Set by `close`.
    closed: Cell<bool>,
}

/// Settings for a [`Pool`]; from [`Pool::builder`].
pub struct PoolBuilder {
    config: Config,
    max_size: usize,
    acquire_timeout: Duration,
    reset_query: Option<String>,
}

impl PoolBuilder {
    /// The most connections (default 10, like asyncpg).
    pub fn max_size(mut self, max_size: usize) -> PoolBuilder {
        self.max_size = max_size.max(1);
        self
    }

    /// How long `acquire` may wait (default 30 s).
    pub fn acquire_timeout(mut self, timeout: Duration) -> PoolBuilder {
        self.acquire_timeout = timeout;
        self
    }

    /// A script run on every release, e.g. asyncpg's
    /// `"SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;"`. Off by default.
    pub fn reset_query(mut self, sql: impl Into<String>) -> PoolBuilder {
        self.reset_query = Some(sql.into());
        self
    }

    /// Creates the pool. No connection is opened until the first `acquire`.
    pub fn build(self) -> Pool {
        Pool {
            shared: Rc::new(Shared {
                config: self.config,
                max_size: self.max_size,
                acquire_timeout: self.acquire_timeout,
                reset_query: self.reset_query,
                permits: Semaphore::new(self.max_size),
                idle: RefCell::new(Vec::with_capacity(self.max_size)),
                open: Cell::new(0),
                closed: Cell::new(false),
            }),
        }
    }
}

/// A snapshot of a pool's counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStatus {
    /// The size limit.
    pub max_size: usize,
    /// Connections that exist (idle + in use + being cleaned up).
    pub open: usize,
    /// Connections idle in the pool.
    pub idle: usize,
    /// Permits free right now: how many more connections could be handed out at once.
    pub available: usize,
    /// Tasks waiting in `acquire`.
    pub waiting: usize,
}

impl Pool {
    /// A pool with default settings (10 connections, 30 s acquire timeout).
    pub fn new(config: Config) -> Pool {
        Pool::builder(config).build()
    }

    /// A pool builder.
    pub fn builder(config: Config) -> PoolBuilder {
        PoolBuilder { config, max_size: 10, acquire_timeout: Duration::from_secs(30), reset_query: None }
    }

    /// Takes a connection, waiting (first come, first served) while all are in use, for at
    /// most the acquire timeout.
    pub async fn acquire(&self) -> Result<PooledConnection, PgError> {
        let limit = self.shared.acquire_timeout;
        match timeout(limit, self.acquire_unbounded()).await {
            Ok(result) => result,
            Err(_) => Err(PgError::PoolTimeout { after: limit }),
        }
    }

    async fn acquire_unbounded(&self) -> Result<PooledConnection, PgError> {
        let shared = &self.shared;
        let permit = shared.permits.acquire().await.map_err(|_| PgError::PoolClosed)?;
        // The permit is a slot: reuse an idle connection if a live one is there...
        loop {
            let candidate = shared.idle.borrow_mut().pop();
            let Some(mut conn) = candidate else { break };
            if conn.check_alive().await {
                return Ok(PooledConnection { conn: Some(conn), permit: Some(permit), pool: shared.clone() });
            }
            shared.discard(conn);
        }
        // ...or open a new one. If this fails (or the acquire times out meanwhile), the
        // permit is dropped and the slot is free again.
        let conn = Connection::connect_with(&shared.config).await?;
        shared.open.set(shared.open.get() + 1);
        Ok(PooledConnection { conn: Some(conn), permit: Some(permit), pool: shared.clone() })
    }

    /// Runs a statement on a pooled connection; see [`Connection::execute`].
    pub async fn execute(&self, sql: &str, params: &[&dyn ToSql]) -> Result<u64, PgError> {
        self.acquire().await?.execute(sql, params).await
    }

    /// Runs a query on a pooled connection; see [`Connection::fetch`].
    pub async fn fetch(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Vec<Row>, PgError> {
        self.acquire().await?.fetch(sql, params).await
    }

    /// First row or `None`; see [`Connection::fetch_one`].
    pub async fn fetch_one(&self, sql: &str, params: &[&dyn ToSql]) -> Result<Option<Row>, PgError> {
        self.acquire().await?.fetch_one(sql, params).await
    }

    /// First column of the first row; see [`Connection::fetch_value`].
    pub async fn fetch_value<T>(&self, sql: &str, params: &[&dyn ToSql]) -> Result<T, PgError>
    where
        T: for<'a> FromSql<'a>,
    {
        self.acquire().await?.fetch_value(sql, params).await
    }

    /// The settings its connections are opened with (for a dedicated connection to the same
    /// database, such as a [`crate::pg::Listener`]).
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The pool's counters.
    pub fn status(&self) -> PoolStatus {
        let shared = &self.shared;
        PoolStatus {
            max_size: shared.max_size,
            open: shared.open.get(),
            idle: shared.idle.borrow().len(),
            available: shared.permits.available_permits(),
            waiting: shared.permits.waiting(),
        }
    }

    /// Closes the pool: waiting and future `acquire`s fail, idle connections close now,
    /// connections in use close when released.
    pub fn close(&self) {
        self.shared.closed.set(true);
        self.shared.permits.close();
        let idle = std::mem::take(&mut *self.shared.idle.borrow_mut());
        for conn in idle {
            self.shared.discard(conn);
        }
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("config", &self.shared.config).field("status", &self.status()).finish()
    }
}

impl Shared {
    /// Forgets a connection for good (closing its socket).
    fn discard(&self, conn: Connection) {
        self.open.set(self.open.get().saturating_sub(1));
        drop(conn);
    }

    /// Takes a connection back from a guard; see "Release" in the module docs.
    fn release(self: &Rc<Shared>, conn: Connection, permit: Option<Permit>) {
        // Spawning needs a running loop; during a runtime's teardown there may be none.
        let on_loop = Reactor::try_current().is_some();
        if self.closed.get() || conn.is_closed() {
            self.discard(conn);
            return;
        }
        if conn.abandoned {
            if let (Some((addr, key)), true) = (conn.cancel_token(), on_loop) {
                spawn(cancel_bounded(addr, key, self.config.cancel_timeout));
            }
            self.discard(conn);
            return;
        }
        let clean = conn.is_idle() && conn.tx_status == TransactionStatus::Idle && self.reset_query.is_none();
        if clean {
            self.idle.borrow_mut().push(conn);
            drop(permit); // after the push: the waiter it wakes finds the connection
            return;
        }
        if !on_loop {
            self.discard(conn);
            return;
        }
        let shared = self.clone();
        let mut conn = conn;
        spawn(async move {
            let limit = shared.config.cancel_timeout.max(Duration::from_secs(5));
            match timeout(limit, shared.reset(&mut conn)).await {
                Ok(Ok(())) if !shared.closed.get() => shared.idle.borrow_mut().push(conn),
                Ok(Ok(())) => shared.discard(conn),
                Ok(Err(e)) => {
                    log_warn!("postgres pool: dropping a connection that could not be reset: {e}");
                    shared.discard(conn);
                }
                Err(_) => {
                    log_warn!("postgres pool: dropping a connection whose reset took over {limit:?}");
                    shared.discard(conn);
                }
            }
            drop(permit);
        });
    }

    /// Brings a released connection back to a clean session.
    async fn reset(&self, conn: &mut Connection) -> Result<(), PgError> {
        conn.begin_call();
        conn.settle().await?;
        if conn.tx_status != TransactionStatus::Idle {
            conn.execute_script("ROLLBACK").await?;
        }
        if let Some(sql) = &self.reset_query {
            conn.execute_script(sql).await?;
        }
        Ok(())
    }
}

/// A connection on loan from a [`Pool`]; derefs to [`Connection`], goes back when dropped.
pub struct PooledConnection {
    /// `Some` until dropped.
    conn: Option<Connection>,
    /// The slot this connection occupies; released with it.
    permit: Option<Permit>,
    pool: Rc<Shared>,
}

impl Deref for PooledConnection {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        // `conn` is only taken in `drop`, after which no method can run.
        self.conn.as_ref().expect("PooledConnection used after release")
    }
}

impl DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("PooledConnection used after release")
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.release(conn, self.permit.take());
        }
    }
}

impl std::fmt::Debug for PooledConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PooledConnection").field(&self.conn).finish()
    }
}

impl Connection {
    /// For an idle connection: handles whatever arrived while it sat in the pool, without
    /// blocking. False when the server has gone (FATAL error, end of stream) or anything else
    /// makes the connection unfit for reuse.
    pub(crate) async fn check_alive(&mut self) -> bool {
        if self.is_closed() || !self.is_idle() {
            return false;
        }
        poll_fn(|cx| Poll::Ready(self.poll_alive(cx))).await
    }

    fn poll_alive(&mut self, cx: &mut Context<'_>) -> bool {
        let mut idle = IdleReply::default();
        loop {
            let message = match self.poll_message(cx) {
                Poll::Ready(Ok(message)) => message,
                // End of stream, an I/O error, a malformed message: `poll_message` has
                // already marked the connection broken.
                Poll::Ready(Err(_)) => return false,
                // Nothing more to read: alive. (The waker just registered may cause one
                // spurious wake-up of this task later, which every future tolerates.)
                Poll::Pending => return true,
            };
            // Through the one router: notices and parameter changes are absorbed as in any
            // request; anything that belongs to a request is a violation on an idle connection.
            if let Err(e) = self.route(message, &mut idle) {
                self.fail(e);
                return false;
            }
            if let Some(error) = idle.error.take() {
                self.fail(PgError::Closed(format!("the server ended the session: {error}")));
                return false;
            }
        }
    }
}

/// The "request" of an idle connection: nothing is owed, so a request's message is a
/// protocol violation, and an error can only be the server ending the session (FATAL).
#[derive(Default)]
struct IdleReply {
    /// The error the server sent, if any.
    error: Option<DbError>,
}

impl Reply for IdleReply {
    fn message(&mut self, _: Message) -> Result<(), PgError> {
        Err(PgError::protocol("a reply arrived on an idle connection"))
    }

    fn error(&mut self, error: DbError) {
        self.error = Some(error);
    }
}
