//! Transactions and savepoints — asyncpg's `async with conn.transaction():`.
//!
//! ```no_run
//! # async fn demo(conn: &mut rasgi::pg::Connection) -> Result<(), rasgi::pg::PgError> {
//! let mut tx = conn.transaction().await?;              // BEGIN
//! tx.execute("UPDATE accounts SET balance = balance - 10 WHERE id = $1", &[&1]).await?;
//! {
//!     let mut inner = tx.transaction().await?;         // SAVEPOINT rasgi_sp1
//!     inner.execute("INSERT INTO audit VALUES ($1)", &[&"debit"]).await?;
//! }                                                    // dropped: ROLLBACK TO SAVEPOINT
//! tx.commit().await?;                                  // COMMIT
//! # Ok(()) }
//! ```
//!
//! A [`Transaction`] borrows the connection mutably and derefs to it, so queries run on it
//! directly and nothing else can use the connection meanwhile. Opening a transaction inside one
//! makes a savepoint, as asyncpg's nested transactions do.
//!
//! **Rollback on drop.** Python's `async with` can await in `__aexit__`; Rust's `Drop` cannot
//! await. So a guard dropped without `commit`/`rollback` (an early `return`, a `?`, a panic,
//! a cancelled task) *queues* the ROLLBACK in the connection's write buffer and counts the
//! ReadyForQuery it will bring. The next request on the connection sends it first and drains
//! its reply (`Connection::settle`); a pool does that at release, so the transaction's locks
//! are released at once rather than when the connection is next used. The rejected
//! alternative — spawning a task to roll back — would need the connection, which the guard
//! only borrows.

use std::ops::{Deref, DerefMut};

use crate::pg::conn::{Connection, TransactionStatus};
use crate::pg::error::{DbError, PgError};

/// An open transaction (or savepoint). Commit or roll back explicitly; dropping it rolls back.
#[must_use = "a transaction rolls back when dropped; call commit()"]
pub struct Transaction<'c> {
    /// The connection, borrowed for the transaction's lifetime.
    conn: &'c mut Connection,
    /// `None` for a top-level transaction; the savepoint name for a nested one.
    savepoint: Option<String>,
    /// Set once committed or rolled back: nothing left to undo.
    finished: bool,
}

impl Connection {
    /// Starts a transaction (`BEGIN`), or a savepoint when one is already open.
    pub async fn transaction(&mut self) -> Result<Transaction<'_>, PgError> {
        self.begin_call();
        self.settle().await?;
        let savepoint = match self.tx_status {
            TransactionStatus::Idle => None,
            // Named after how deep it is: guards nest strictly (each borrows its parent), so
            // no two live savepoints share a depth.
            _ => Some(format!("rasgi_sp{}", self.savepoint_depth + 1)),
        };
        match &savepoint {
            None => self.execute_script("BEGIN").await?,
            Some(name) => self.execute_script(&format!("SAVEPOINT {name}")).await?,
        }
        if savepoint.is_some() {
            self.savepoint_depth += 1;
        }
        Ok(Transaction { conn: self, savepoint, finished: false })
    }
}

impl Transaction<'_> {
    /// Makes the transaction's changes permanent (`COMMIT`, or `RELEASE SAVEPOINT`).
    ///
    /// Committing a transaction that an earlier error aborted is an error (SQLSTATE 25P02):
    /// PostgreSQL would answer `COMMIT` with a silent rollback.
    pub async fn commit(mut self) -> Result<(), PgError> {
        self.finished = true;
        let failed = self.conn.tx_status == TransactionStatus::Failed;
        match &self.savepoint {
            None if failed => {
                self.conn.execute_script("ROLLBACK").await?;
                return Err(aborted());
            }
            None => self.conn.execute_script("COMMIT").await?,
            Some(name) if failed => {
                self.conn.execute_script(&format!("ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}")).await?;
                return Err(aborted());
            }
            Some(name) => self.conn.execute_script(&format!("RELEASE SAVEPOINT {name}")).await?,
        }
        Ok(())
    }

    /// Undoes the transaction (`ROLLBACK`, or back to the savepoint).
    pub async fn rollback(mut self) -> Result<(), PgError> {
        self.finished = true;
        let sql = self.undo_sql();
        self.conn.execute_script(&sql).await
    }

    /// The savepoint's name, for a nested transaction.
    pub fn savepoint_name(&self) -> Option<&str> {
        self.savepoint.as_deref()
    }

    fn undo_sql(&self) -> String {
        match &self.savepoint {
            None => "ROLLBACK".to_string(),
            Some(name) => format!("ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}"),
        }
    }
}

fn aborted() -> PgError {
    PgError::Server(Box::new(DbError {
        severity: "ERROR".to_string(),
        code: "25P02".to_string(),
        message: "the transaction was aborted by an earlier error; it was rolled back, not committed".to_string(),
        ..DbError::default()
    }))
}

impl Deref for Transaction<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl DerefMut for Transaction<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if self.savepoint.is_some() {
            self.conn.savepoint_depth = self.conn.savepoint_depth.saturating_sub(1);
        }
        if self.finished {
            return;
        }
        // Nothing to undo if the server is known to be outside any transaction already
        // (someone ran COMMIT by hand); otherwise queue the undo, see the module docs.
        if self.conn.is_idle() && self.conn.tx_status == TransactionStatus::Idle {
            return;
        }
        let sql = self.undo_sql();
        self.conn.queue_simple(&sql);
    }
}
