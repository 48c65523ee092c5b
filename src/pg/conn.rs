//! A connection to PostgreSQL — asyncpg's `Connection`: `execute`, `fetch`, `fetchrow`,
//! `fetchval`, scripts, transactions, pipelines, notices.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rasgi::pg::PgError> {
//! use rasgi::pg::Connection;
//! let mut conn = Connection::connect("postgres://app:secret@127.0.0.1:5432/app").await?;
//! conn.execute("INSERT INTO mytable (name, value) VALUES ($1, $2)", &[&"pi", &3.14]).await?;
//! for row in conn.fetch("SELECT id, name FROM mytable WHERE id > $1", &[&0]).await? {
//!     let id: i32 = row.get("id")?;
//!     println!("{id}: {}", row.to_json()?);
//! }
//! # Ok(()) }
//! ```
//!
//! Every query uses the *extended* protocol: the statement is prepared once (Parse + Describe,
//! cached per connection), then each execution is Bind + Execute + Sync — written with one
//! `write`, answered by one reply. Multi-statement scripts use the *simple* protocol (Query),
//! which allows several statements but no parameters and returns text.
//!
//! A `Connection` is `!Send` and belongs to the loop thread that opened it, like every socket
//! in rasgi. Methods take `&mut self`: one request at a time, the same rule asyncpg enforces
//! at run time with "another operation is in progress".

use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use postgres_protocol::message::frontend;
use rasgi_executor::timeout_at;

use crate::pg::config::Config;
use crate::pg::error::{DbError, Notice, PgError};
use crate::pg::frontend::{write_bind_execute, write_prepare};
use crate::pg::io::{Drain, Reply, RoundTrip, Stream, Wire};
use crate::pg::message::Message;
use crate::pg::reply::{Executed, Prepared, SimpleReply};
use crate::pg::row::Row;
use crate::pg::statement::{Statement, StatementCache};
use crate::pg::types::ToSql;

/// The transaction state the server reported in its last ReadyForQuery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransactionStatus {
    /// Not in a transaction block (`I`).
    Idle,
    /// In a transaction block (`T`).
    InTransaction,
    /// In a failed transaction block (`E`): every statement fails until ROLLBACK.
    Failed,
}

impl TransactionStatus {
    pub(crate) fn from_byte(status: u8) -> Result<TransactionStatus, PgError> {
        match status {
            b'I' => Ok(TransactionStatus::Idle),
            b'T' => Ok(TransactionStatus::InTransaction),
            b'E' => Ok(TransactionStatus::Failed),
            other => Err(PgError::protocol(format!("unknown transaction status '{}'", other as char))),
        }
    }
}

/// The process id and secret key a CancelRequest must quote (BackendKeyData).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendKey {
    /// The server process serving this connection (`pg_backend_pid()`).
    pub process_id: i32,
    /// The secret that proves a cancel comes from this connection's owner.
    pub secret_key: i32,
}

/// A `NOTIFY` received on a channel this connection `LISTEN`s to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The notifying backend's process id.
    pub process_id: i32,
    /// The channel.
    pub channel: String,
    /// The payload.
    pub payload: String,
}

/// The outcome of one query of a [`crate::pg::Pipeline`].
#[derive(Debug, Default)]
pub struct QueryResult {
    /// The rows it returned.
    pub rows: Vec<Row>,
    /// The count from its command tag (rows inserted, updated, deleted or selected).
    pub rows_affected: u64,
}

/// A callback for server notices.
type NoticeHandler = Box<dyn FnMut(&Notice)>;

/// An open connection to a PostgreSQL server.
pub struct Connection {
    /// The socket and what is in transit on it: buffers, owed ReadyForQuerys, the reason it
    /// broke. Its fields are private to `io.rs`; everything here goes through its methods.
    pub(crate) wire: Wire,
    /// The server's address, for CancelRequests (which go to a new connection).
    pub(crate) addr: SocketAddr,
    /// True when a round trip was dropped before its end: a query may still run on the
    /// server, so the next request sends a cancel before draining.
    pub(crate) abandoned: bool,
    /// From the last ReadyForQuery.
    pub(crate) tx_status: TransactionStatus,
    /// ParameterStatus values: `server_version`, `TimeZone`, `client_encoding`, ...
    pub(crate) parameters: HashMap<String, String>,
    /// For cancelling; `None` only if the server sent no BackendKeyData.
    pub(crate) backend_key: Option<BackendKey>,
    /// Prepared statements by SQL text.
    pub(crate) cache: StatementCache,
    /// Next server-side statement name suffix; never reused, so a statement left half-made by
    /// an abandoned request cannot collide with a new one.
    pub(crate) next_statement: u64,
    /// True when the login used SCRAM-SHA-256-PLUS, bound to this TLS channel.
    pub(crate) channel_bound: bool,
    /// How many savepoint guards are open (names the next one, see `transaction.rs`).
    pub(crate) savepoint_depth: u32,
    /// Called with every notice; `None` logs it.
    pub(crate) notice_handler: Option<NoticeHandler>,
    /// Notifications received and not yet taken.
    pub(crate) notifications: Vec<Notification>,
    /// The settings it was opened with (timeouts for cancel and drain).
    pub(crate) config: Rc<Config>,
    /// Limit for each public call; `None` = no limit.
    pub(crate) query_timeout: Option<Duration>,
    /// The deadline of the call in progress, set at its start from `query_timeout`.
    pub(crate) deadline: Option<Instant>,
}

impl Connection {
    /// Connects with a `postgres://` URL (missing parts from `PG*` variables), like
    /// `asyncpg.connect(dsn)`.
    pub async fn connect(url: &str) -> Result<Connection, PgError> {
        let config = Config::from_url(url)?;
        Connection::connect_with(&config).await
    }

    /// Connects with explicit settings.
    pub async fn connect_with(config: &Config) -> Result<Connection, PgError> {
        crate::pg::startup::connect(config).await
    }

    /// A connection around a connected socket, before startup (used by `startup.rs`).
    pub(crate) fn new(stream: Stream, addr: SocketAddr, config: &Config) -> Connection {
        Connection {
            wire: Wire::new(stream),
            addr,
            abandoned: false,
            tx_status: TransactionStatus::Idle,
            parameters: HashMap::new(),
            backend_key: None,
            cache: StatementCache::new(config.statement_cache_capacity),
            next_statement: 1,
            savepoint_depth: 0,
            channel_bound: false,
            notice_handler: None,
            notifications: Vec::new(),
            config: Rc::new(config.clone()),
            query_timeout: config.query_timeout,
            deadline: None,
        }
    }

    // ---- queries ----

    /// Runs a statement and returns how many rows it affected (asyncpg's `execute` with
    /// arguments). `params` fill `$1`, `$2`, ...: `&[&id, &"name"]`.
    pub async fn execute(&mut self, sql: &str, params: &[&dyn ToSql]) -> Result<u64, PgError> {
        self.begin_call();
        Ok(self.query(sql, params, Wanted::Count).await?.rows_affected)
    }

    /// Runs a query and returns all its rows.
    pub async fn fetch(&mut self, sql: &str, params: &[&dyn ToSql]) -> Result<Vec<Row>, PgError> {
        self.begin_call();
        Ok(self.query(sql, params, Wanted::All).await?.rows)
    }

    /// Runs a query and returns its first row, or `None` (asyncpg's `fetchrow`). Like
    /// asyncpg, it asks the server for one row only (Execute with a row limit), so a large
    /// result is not computed and sent just to be thrown away.
    pub async fn fetch_one(&mut self, sql: &str, params: &[&dyn ToSql]) -> Result<Option<Row>, PgError> {
        self.begin_call();
        Ok(self.query(sql, params, Wanted::First).await?.rows.into_iter().next())
    }

    /// Runs a query and returns the first column of its first row (asyncpg's `fetchval`).
    /// No row at all is [`PgError::NoRows`]; a NULL needs `T = Option<_>`.
    pub async fn fetch_value<T>(&mut self, sql: &str, params: &[&dyn ToSql]) -> Result<T, PgError>
    where
        T: for<'a> crate::pg::FromSql<'a>,
    {
        let row = self.fetch_one(sql, params).await?.ok_or(PgError::NoRows)?;
        row.get::<T>(0)
    }

    /// Runs one or more `;`-separated statements with the simple protocol and returns the
    /// rows of all of them (in text format). No parameters: never put user input in `sql`.
    pub async fn simple_query(&mut self, sql: &str) -> Result<Vec<Row>, PgError> {
        self.begin_call();
        self.settle().await?;
        self.encode_request(|buf| frontend::query(sql, buf).map_err(|e| PgError::Config(e.to_string())))?;
        let reply = self.run(SimpleReply::default()).await?;
        match reply.error {
            Some(e) => Err(PgError::Server(Box::new(e))),
            None => Ok(reply.rows),
        }
    }

    /// Runs a script of `;`-separated statements (asyncpg's `execute` without arguments);
    /// they run in one implicit transaction unless the script has its own BEGIN/COMMIT.
    pub async fn execute_script(&mut self, sql: &str) -> Result<(), PgError> {
        self.simple_query(sql).await.map(drop)
    }

    // ---- state ----

    /// The transaction status after the last completed request.
    pub fn transaction_status(&self) -> TransactionStatus {
        self.tx_status
    }

    /// True when the login was SCRAM-SHA-256-PLUS: bound to this TLS channel's server
    /// certificate (`tls-server-end-point`), so no one in the middle could have relayed it.
    pub fn channel_binding_used(&self) -> bool {
        self.channel_bound
    }

    /// True once the connection can no longer be used.
    pub fn is_closed(&self) -> bool {
        self.broken_reason().is_some()
    }

    /// True when nothing is in flight: no unsent bytes, no reply owed.
    pub fn is_idle(&self) -> bool {
        !self.owes_replies() && !self.has_unsent()
    }

    /// A run-time parameter the server reported (`server_version`, `TimeZone`, ...).
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters.get(name).map(String::as_str)
    }

    /// The server process id (`pg_backend_pid()`).
    pub fn backend_pid(&self) -> Option<i32> {
        self.backend_key.map(|k| k.process_id)
    }

    /// What a CancelRequest for this connection needs; see [`crate::pg::cancel_query`].
    pub fn cancel_token(&self) -> Option<(SocketAddr, BackendKey)> {
        self.backend_key.map(|key| (self.addr, key))
    }

    /// Sets the limit for each call from now on (`None` = none). A call that runs past it
    /// is cancelled on the server and fails with [`PgError::Timeout`].
    pub fn set_query_timeout(&mut self, timeout: Option<Duration>) {
        self.query_timeout = timeout;
    }

    /// The current per-call limit.
    pub fn query_timeout(&self) -> Option<Duration> {
        self.query_timeout
    }

    /// Sends every server notice (RAISE NOTICE, warnings) to `handler` instead of the log.
    pub fn set_notice_handler(&mut self, handler: impl FnMut(&Notice) + 'static) {
        self.notice_handler = Some(Box::new(handler));
    }

    /// Takes the notifications received so far (after `LISTEN channel`).
    pub fn take_notifications(&mut self) -> Vec<Notification> {
        std::mem::take(&mut self.notifications)
    }

    /// Number of prepared statements cached.
    pub fn cached_statements(&self) -> usize {
        self.cache.len()
    }

    /// Ends the session politely (Terminate) and closes the socket.
    pub async fn close(mut self) -> Result<(), PgError> {
        if self.is_closed() {
            return Ok(());
        }
        self.terminate().await
    }

    // ---- the machinery under every query ----

    /// Starts a public call: fixes its deadline.
    pub(crate) fn begin_call(&mut self) {
        self.deadline = self.query_timeout.map(|t| Instant::now() + t);
    }

    /// Makes the connection ready for a new request: refuses a broken one, and finishes what
    /// an earlier, abandoned request or a dropped transaction guard left behind — cancel a
    /// query that may still run, write what is unwritten, read what is unread.
    pub(crate) async fn settle(&mut self) -> Result<(), PgError> {
        if let Some(reason) = self.broken_reason() {
            return Err(PgError::Closed(reason.to_string()));
        }
        if !self.owes_replies() {
            return Ok(());
        }
        if self.abandoned {
            self.send_cancel().await;
        }
        let drained = self.run(Drain::default()).await?;
        for error in drained.errors {
            rasgi_executor::log_debug!("postgres: discarded the error of an abandoned request: {error}");
        }
        Ok(())
    }

    /// Exchanges whatever the write buffer holds, under the call's deadline. On expiry the
    /// running query is cancelled on the server and the connection drained (`cancel.rs`).
    pub(crate) async fn run<R: Reply + Unpin>(&mut self, reply: R) -> Result<R, PgError> {
        let Some(deadline) = self.deadline else {
            return RoundTrip::new(self, reply).await;
        };
        match timeout_at(deadline, RoundTrip::new(self, reply)).await {
            Ok(result) => result,
            Err(_) => Err(self.cancel_after_timeout().await),
        }
    }

    /// Prepare-or-reuse, bind, execute; re-prepares once when the cached statement went stale.
    pub(crate) async fn query(
        &mut self,
        sql: &str,
        params: &[&dyn ToSql],
        wanted: Wanted,
    ) -> Result<QueryResult, PgError> {
        self.settle().await?;
        let mut retried = false;
        let max_rows = if wanted == Wanted::First { 1 } else { 0 };
        loop {
            let statement = self.prepare(sql).await?;
            self.encode_request(|buf| write_bind_execute(buf, &statement, params, max_rows))?;
            let reply = self.run(Executed::new(statement.columns.clone(), wanted != Wanted::Count)).await?;
            match reply.error {
                None => return Ok(QueryResult { rows: reply.rows, rows_affected: reply.rows_affected }),
                Some(e) if e.is_stale_statement() => {
                    self.forget_statement(sql);
                    // Outside a transaction nothing was done, so running it again is safe. Inside
                    // one the error has aborted the transaction: the caller must roll back
                    // (asyncpg raises InvalidCachedStatementError in the same case).
                    if !retried && self.tx_status == TransactionStatus::Idle {
                        retried = true;
                        continue;
                    }
                    return Err(PgError::Server(Box::new(e)));
                }
                Some(e) => return Err(PgError::Server(Box::new(e))),
            }
        }
    }

    /// The prepared statement for `sql`: from the cache, or prepared now (one round trip:
    /// Parse, Describe, Sync).
    pub(crate) async fn prepare(&mut self, sql: &str) -> Result<Rc<Statement>, PgError> {
        if let Some(statement) = self.cache.get(sql) {
            return Ok(statement);
        }
        let name = if self.cache.enabled() {
            self.next_statement += 1;
            format!("rasgi_s{}", self.next_statement - 1)
        } else {
            String::new() // the unnamed statement, replaced by the next Parse
        };
        self.encode_request(|buf| write_prepare(buf, &name, sql))?;
        let reply = self.run(Prepared::default()).await?;
        if let Some(e) = reply.error {
            return Err(PgError::Server(Box::new(e)));
        }
        let (Some(param_types), Some(columns)) = (reply.param_types, reply.columns) else {
            return Err(self.fail(PgError::protocol("Describe answered without parameter or row description")));
        };
        let statement = Rc::new(Statement { name, param_types, columns: Rc::from(columns) });
        if self.cache.enabled() {
            if let Some(evicted) = self.cache.insert(sql, statement.clone()) {
                self.queue_close(&evicted.name);
            }
        }
        Ok(statement)
    }

    /// Drops a cached statement here and (with the next request) on the server.
    pub(crate) fn forget_statement(&mut self, sql: &str) {
        if let Some(statement) = self.cache.remove(sql) {
            self.queue_close(&statement.name);
        }
    }

    /// Queues Close for a server-side statement. No Sync of its own: it travels in front of
    /// the next request, and its CloseComplete is skipped by the round trip.
    pub(crate) fn queue_close(&mut self, name: &str) {
        if !name.is_empty() {
            let _ = self.encode(|buf| frontend::close(b'S', name, buf).map_err(|e| PgError::Config(e.to_string())));
        }
    }

    /// Queues a simple Query to run before the next request, without waiting (used by a
    /// dropped transaction guard, which cannot await). Its reply is drained by `settle`.
    pub(crate) fn queue_simple(&mut self, sql: &str) {
        if !self.is_closed() {
            let _ = self.encode_request(|buf| frontend::query(sql, buf).map_err(|e| PgError::Config(e.to_string())));
        }
    }

    /// Takes the messages that can arrive at any moment; returns the others.
    pub(crate) fn handle_asynchronous(&mut self, message: Message) -> Option<Message> {
        match message {
            Message::NoticeResponse { body } => {
                match DbError::parse(&body) {
                    Ok(notice) => match &mut self.notice_handler {
                        Some(handler) => handler(&notice),
                        None => rasgi_executor::log_info!("postgres {}: {}", notice.severity, notice.message),
                    },
                    Err(e) => rasgi_executor::log_warn!("postgres: unreadable notice: {e}"),
                }
                None
            }
            Message::ParameterStatus { name, value } => {
                self.parameters.insert(name, value);
                None
            }
            Message::NotificationResponse { process_id, channel, payload } => {
                self.notifications.push(Notification { process_id, channel, payload });
                None
            }
            other => Some(other),
        }
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("config", &self.config)
            .field("backend_pid", &self.backend_pid())
            .field("transaction_status", &self.tx_status)
            .field("wire", &self.wire)
            .finish()
    }
}

/// How many rows the caller of a query wants back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wanted {
    /// None: only the affected-row count (`execute`).
    Count,
    /// The first row (`fetch_one`): the server is asked for one row only.
    First,
    /// Every row (`fetch`).
    All,
}
