//! Pipelining: many queries written before any reply is read — what asyncpg does inside
//! `executemany`, and libpq's pipeline mode.
//!
//! ```no_run
//! # async fn demo(conn: &mut rasgi::pg::Connection) -> Result<(), rasgi::pg::PgError> {
//! use rasgi::pg::Pipeline;
//! let mut batch = Pipeline::new();
//! batch.push("INSERT INTO t VALUES ($1)", &[&1]);
//! batch.push("SELECT 1 / 0", &[]);                     // fails alone
//! batch.push("SELECT count(*) FROM t", &[]);
//! let results = conn.pipeline(&batch).await?;         // one write, one stream of replies
//! assert!(results[1].is_err() && results[2].is_ok());
//! # Ok(()) }
//! ```
//!
//! Each query is its own Bind + Execute + **Sync**. The Sync is what isolates failures: after
//! an error the server skips messages only up to the next Sync, so the query that failed is
//! the only one lost, and each query outside a transaction block commits on its own. (Without
//! a Sync per query, one error would discard the rest of the batch, which is the right thing
//! only when the batch should be atomic — wrap it in a transaction for that.)
//!
//! Statements not yet prepared are prepared first, all in one round trip (each Parse with its
//! own Sync, so a syntax error in one does not stop the others); then every query goes out in
//! a second round trip. With every statement cached, a whole pipeline is one round trip.

use std::rc::Rc;

use crate::pg::conn::{Connection, QueryResult};
use crate::pg::error::{DbError, PgError};
use crate::pg::frontend::{write_bind_execute, write_prepare};
use crate::pg::io::Reply;
use crate::pg::message::Message;
use crate::pg::reply::{Executed, Prepared};
use crate::pg::statement::Statement;
use crate::pg::types::ToSql;

/// A batch of queries for [`Connection::pipeline`].
#[derive(Default)]
pub struct Pipeline<'a> {
    /// The queries in order: SQL text and parameters.
    queries: Vec<(&'a str, &'a [&'a dyn ToSql])>,
}

impl<'a> Pipeline<'a> {
    /// An empty batch.
    pub fn new() -> Pipeline<'a> {
        Pipeline { queries: Vec::new() }
    }

    /// Adds a query.
    pub fn push(&mut self, sql: &'a str, params: &'a [&'a dyn ToSql]) -> &mut Pipeline<'a> {
        self.queries.push((sql, params));
        self
    }

    /// Number of queries.
    pub fn len(&self) -> usize {
        self.queries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }
}

/// Several Sync-delimited replies read in one round trip: each ReadyForQuery moves on to the
/// next part.
struct Segments<R> {
    parts: Vec<R>,
    current: usize,
}

impl<R: Reply> Reply for Segments<R> {
    fn message(&mut self, message: Message) -> Result<(), PgError> {
        match self.parts.get_mut(self.current) {
            Some(part) => part.message(message),
            None => Err(PgError::protocol("a reply after the pipeline's last ReadyForQuery")),
        }
    }

    fn error(&mut self, error: DbError) {
        if let Some(part) = self.parts.get_mut(self.current) {
            part.error(error);
        }
    }

    fn ready(&mut self) {
        self.current += 1;
    }
}

impl Connection {
    /// Runs every query of `pipeline`, writing them all before reading any reply. The outer
    /// `Result` fails only if the connection does; each query has its own inner `Result`.
    pub async fn pipeline(&mut self, pipeline: &Pipeline<'_>) -> Result<Vec<Result<QueryResult, PgError>>, PgError> {
        self.begin_call();
        self.settle().await?;

        // Phase 1: one statement per distinct SQL text, prepared in one round trip if needed.
        let mut statements: Vec<(&str, Result<Rc<Statement>, DbError>)> = Vec::new();
        let mut to_prepare: Vec<(usize, String)> = Vec::new();
        for &(sql, _) in &pipeline.queries {
            if statements.iter().any(|(s, _)| *s == sql) {
                continue;
            }
            match self.cache.get(sql) {
                Some(statement) => statements.push((sql, Ok(statement))),
                None => {
                    // Always named here, cache or not: several statements must coexist.
                    let name = format!("rasgi_s{}", self.next_statement);
                    self.next_statement += 1;
                    self.encode_request(|buf| write_prepare(buf, &name, sql))?;
                    to_prepare.push((statements.len(), name));
                    statements.push((sql, Err(DbError::default())));
                }
            }
        }
        if !to_prepare.is_empty() {
            let parts = (0..to_prepare.len()).map(|_| Prepared::default()).collect();
            let prepared = self.run(Segments { parts, current: 0 }).await?;
            for ((index, name), reply) in to_prepare.into_iter().zip(prepared.parts) {
                statements[index].1 = match (reply.error, reply.param_types, reply.columns) {
                    (Some(e), _, _) => Err(e),
                    (None, Some(param_types), Some(columns)) => {
                        Ok(Rc::new(Statement { name, param_types, columns: Rc::from(columns) }))
                    }
                    _ => return Err(self.fail(PgError::protocol("Describe answered without a description"))),
                };
            }
        }

        // Phase 2: every query that can run, written back to back.
        let mut results: Vec<Option<Result<QueryResult, PgError>>> = Vec::with_capacity(pipeline.len());
        let mut parts = Vec::new();
        for &(sql, params) in &pipeline.queries {
            let statement = statements.iter().find(|(s, _)| *s == sql).map(|(_, st)| st);
            match statement {
                Some(Ok(statement)) => match self.encode_request(|buf| write_bind_execute(buf, statement, params, 0)) {
                    Ok(()) => {
                        parts.push(Executed::new(statement.columns.clone(), true));
                        results.push(None);
                    }
                    Err(e) => results.push(Some(Err(e))),
                },
                Some(Err(e)) => results.push(Some(Err(PgError::Server(Box::new(e.clone()))))),
                None => results.push(Some(Err(PgError::protocol("pipeline statement missing")))),
            }
        }
        let executed = self.run(Segments { parts, current: 0 }).await?;

        // Remember the new statements (or, with the cache off, close them).
        for (sql, statement) in statements {
            let Ok(statement) = statement else { continue };
            if self.cache.enabled() {
                if self.cache.get(sql).is_none() {
                    if let Some(evicted) = self.cache.insert(sql, statement) {
                        self.queue_close(&evicted.name);
                    }
                }
            } else {
                self.queue_close(&statement.name);
            }
        }

        let mut replies = executed.parts.into_iter();
        let mut out = Vec::with_capacity(results.len());
        for (result, &(sql, _)) in results.into_iter().zip(&pipeline.queries) {
            out.push(match result {
                Some(done) => done,
                None => match replies.next() {
                    Some(reply) => match reply.error {
                        None => Ok(QueryResult { rows: reply.rows, rows_affected: reply.rows_affected }),
                        Some(e) => {
                            // A stale statement is not retried inside a pipeline (the queries
                            // after it already ran); it is re-prepared on next use.
                            if e.is_stale_statement() {
                                self.forget_statement(sql);
                            }
                            Err(PgError::Server(Box::new(e)))
                        }
                    },
                    None => Err(PgError::protocol("fewer replies than queries")),
                },
            });
        }
        Ok(out)
    }
}
