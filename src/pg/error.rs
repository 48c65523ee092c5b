//! Errors of the Postgres client: asyncpg's `PostgresError` hierarchy (`UniqueViolationError`,
//! `DivisionByZeroError`, …) and its `InterfaceError`s, as one Rust enum.
//!
//! asyncpg maps every SQLSTATE to its own exception class; here a server error is one variant,
//! [`PgError::Server`], carrying a [`DbError`] with the SQLSTATE and every field the server sent,
//! and the code is matched as a string (`e.code() == Some("23505")`). The other variants are the
//! client's own failures: the socket, the protocol, authentication, a timeout, a closed
//! connection, a value that would not decode or encode.

use std::fmt;
use std::io;
use std::time::Duration;

use bytes::Bytes;

/// Everything that can go wrong talking to PostgreSQL.
#[derive(Debug)]
pub enum PgError {
    /// The connection URL or a setting is invalid; the message says which part.
    Config(String),
    /// The socket failed (connection refused, reset, ...).
    Io(io::Error),
    /// The connection is closed: the server hung up, or an earlier failure left it unusable.
    /// The pool drops such connections; a lone `Connection` must be reconnected.
    Closed(String),
    /// The server sent something the protocol does not allow at this point. The connection is
    /// closed, since nobody knows where the next message starts.
    Protocol(String),
    /// Authentication failed on the client side (the server asked for a password none was
    /// given for, or for a method rasgi does not speak). Rejections *by the server* — a wrong
    /// password, an unknown role — arrive as [`PgError::Server`] with SQLSTATE 28P01 / 28000.
    Auth(String),
    /// None of the servers of a multi-host URL would do: each was unreachable, refused the
    /// login, or was of the wrong kind for `target_session_attrs`. The message lists why, per
    /// host.
    NoSuitableServer(String),
    /// TLS could not be set up as the `sslmode` asks: the server has no TLS, the handshake or
    /// a certificate check failed (the message names which), or a certificate file is bad.
    Tls(String),
    /// The server reported an error (ErrorResponse). The connection stays usable unless the
    /// severity is FATAL or PANIC.
    Server(Box<DbError>),
    /// A query ran past its time limit. A CancelRequest was sent on a new connection and the
    /// connection was drained back to ReadyForQuery; `cancelled` says whether the server
    /// confirmed the cancellation (SQLSTATE 57014) rather than finishing on its own.
    Timeout {
        /// The limit that was exceeded.
        after: Duration,
        /// True when the drained reply was the server's "canceling statement" error.
        cancelled: bool,
    },
    /// `Pool::acquire` waited longer than its acquire timeout for a free connection.
    PoolTimeout {
        /// How long it waited.
        after: Duration,
    },
    /// The pool was closed.
    PoolClosed,
    /// A column value could not be converted to the requested Rust type.
    Decode {
        /// The column's name (or index when there is no name).
        column: String,
        /// The column's PostgreSQL type.
        pg_type: String,
        /// Why the conversion failed.
        reason: String,
    },
    /// A parameter could not be encoded for the type the server expects.
    Encode {
        /// The parameter's position, 1-based like `$1`.
        param: usize,
        /// The PostgreSQL type the statement declares for it.
        pg_type: String,
        /// Why the encoding failed.
        reason: String,
    },
    /// `fetch_value` found no row.
    NoRows,
    /// The throwaway cluster helper could not start PostgreSQL; the message says how to fix it.
    Cluster(String),
}

impl PgError {
    /// The SQLSTATE of a server error (`"23505"` for a unique violation), if this is one.
    pub fn code(&self) -> Option<&str> {
        self.as_db_error().map(|e| e.code.as_str())
    }

    /// The server's error, if this is one.
    pub fn as_db_error(&self) -> Option<&DbError> {
        match self {
            PgError::Server(e) => Some(e),
            _ => None,
        }
    }

    /// True for errors after which the connection cannot be used again.
    pub fn is_fatal(&self) -> bool {
        match self {
            PgError::Io(_) | PgError::Closed(_) | PgError::Protocol(_) => true,
            PgError::Server(e) => e.is_fatal(),
            _ => false,
        }
    }

    pub(crate) fn protocol(what: impl Into<String>) -> PgError {
        PgError::Protocol(what.into())
    }
}

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgError::Config(m) => write!(f, "invalid Postgres configuration: {m}"),
            PgError::Io(e) => write!(f, "Postgres connection I/O error: {e}"),
            PgError::Closed(why) => write!(f, "the Postgres connection is closed ({why}); open a new one"),
            PgError::Protocol(m) => write!(f, "Postgres protocol violation: {m}; the connection was closed"),
            PgError::Auth(m) => write!(f, "Postgres authentication failed: {m}"),
            PgError::Tls(m) => write!(f, "Postgres TLS failed: {m}"),
            PgError::NoSuitableServer(m) => write!(f, "no Postgres server would do: {m}"),
            PgError::Server(e) => fmt::Display::fmt(e, f),
            PgError::Timeout { after, cancelled } => write!(
                f,
                "query timed out after {} ms; {}",
                after.as_millis(),
                if *cancelled { "the server cancelled it" } else { "a cancel request was sent" }
            ),
            PgError::PoolTimeout { after } => write!(
                f,
                "no pooled Postgres connection became free within {} ms; raise the pool's max_size \
                 or acquire_timeout, or hold connections for less time",
                after.as_millis()
            ),
            PgError::PoolClosed => f.write_str("the Postgres pool is closed"),
            PgError::Decode { column, pg_type, reason } => {
                write!(f, "cannot decode column \"{column}\" of type {pg_type}: {reason}")
            }
            PgError::Encode { param, pg_type, reason } => {
                write!(f, "cannot encode parameter ${param} as {pg_type}: {reason}")
            }
            PgError::NoRows => f.write_str("the query returned no rows"),
            PgError::Cluster(m) => write!(f, "cannot start a throwaway PostgreSQL: {m}"),
        }
    }
}

impl std::error::Error for PgError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PgError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for PgError {
    fn from(e: io::Error) -> PgError {
        PgError::Io(e)
    }
}

/// An ErrorResponse or NoticeResponse from the server: every field PostgreSQL documents under
/// "Error and Notice Message Fields" that a program or a person is likely to use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DbError {
    /// ERROR, FATAL or PANIC for errors; WARNING, NOTICE, DEBUG, INFO or LOG for notices.
    pub severity: String,
    /// The SQLSTATE code, e.g. `23505` (unique_violation), `42601` (syntax_error).
    pub code: String,
    /// The primary message.
    pub message: String,
    /// An optional secondary message with more detail.
    pub detail: Option<String>,
    /// An optional suggestion what to do about it.
    pub hint: Option<String>,
    /// 1-based character position of the error in the query text.
    pub position: Option<u32>,
    /// The call stack context (PL/pgSQL function, SQL statement).
    pub where_: Option<String>,
    /// The schema of the object involved.
    pub schema: Option<String>,
    /// The table involved.
    pub table: Option<String>,
    /// The column involved.
    pub column: Option<String>,
    /// The constraint involved (the unique index of a unique violation).
    pub constraint: Option<String>,
    /// The server source routine that reported it.
    pub routine: Option<String>,
}

/// A NoticeResponse has exactly the fields of an error; only its severity differs.
pub type Notice = DbError;

impl DbError {
    /// Parses the body of an ErrorResponse or NoticeResponse: a list of (field type byte,
    /// NUL-terminated string) pairs ending with a zero byte.
    pub(crate) fn parse(body: &Bytes) -> Result<DbError, PgError> {
        let mut e = DbError::default();
        let mut rest: &[u8] = body;
        loop {
            let (&kind, tail) = rest.split_first().ok_or_else(|| PgError::protocol("truncated error fields"))?;
            if kind == 0 {
                break;
            }
            let end = tail.iter().position(|&b| b == 0).ok_or_else(|| PgError::protocol("unterminated error field"))?;
            let value = String::from_utf8_lossy(&tail[..end]).into_owned();
            rest = &tail[end + 1..];
            match kind {
                // 'V' is the non-localized severity (9.6+); prefer it over the localized 'S'.
                b'V' => e.severity = value,
                b'S' if e.severity.is_empty() => e.severity = value,
                b'C' => e.code = value,
                b'M' => e.message = value,
                b'D' => e.detail = Some(value),
                b'H' => e.hint = Some(value),
                b'P' => e.position = value.parse().ok(),
                b'W' => e.where_ = Some(value),
                b's' => e.schema = Some(value),
                b't' => e.table = Some(value),
                b'c' => e.column = Some(value),
                b'n' => e.constraint = Some(value),
                b'R' => e.routine = Some(value),
                _ => {}
            }
        }
        Ok(e)
    }

    /// True when the server will close the connection after this error.
    pub fn is_fatal(&self) -> bool {
        self.severity == "FATAL" || self.severity == "PANIC"
    }

    /// True for the errors that mean "your cached prepared statement is stale": 0A000
    /// `cached plan must not change result type` (a table's columns changed under a cached
    /// `SELECT *`) and 26000 `prepared statement does not exist` (something ran `DISCARD ALL`
    /// or `DEALLOCATE`). asyncpg calls this `InvalidCachedStatementError`.
    pub fn is_stale_statement(&self) -> bool {
        (self.code == "0A000" && self.message.contains("cached plan")) || self.code == "26000"
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.severity, self.code, self.message)?;
        if let Some(position) = self.position {
            write!(f, " (at character {position})")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, "\nDETAIL: {detail}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\nHINT: {hint}")?;
        }
        // The server never hints at the two commonest set-up mistakes; say what to check.
        match self.code.as_str() {
            "28P01" => f.write_str(
                "\nHINT: check the password in the connection URL (or PGPASSWORD) and the \
                 role's authentication method in pg_hba.conf",
            )?,
            "28000" => f.write_str(
                "\nHINT: check the user name in the connection URL (or PGUSER) and that pg_hba.conf \
                 has a line for this user, database and address",
            )?,
            "3D000" => f.write_str("\nHINT: check the database name in the connection URL (or PGDATABASE)")?,
            _ => {}
        }
        Ok(())
    }
}

impl std::error::Error for DbError {}
