//! The Postgres wire client — asyncpg's role in the seed (`await conn.fetch(...)`,
//! `dict(row)`), written on rasgi's own event loop.
//!
//! A query becomes bytes in a write buffer (Parse/Bind/Execute/Sync, encoded with
//! postgres-protocol), leaves in one `write`, and comes back as messages that a hand-written
//! future parses out of the read buffer (check-then-parse), ending with ReadyForQuery. Rows
//! keep the bytes they arrived in and decode a column when asked.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rasgi::pg::PgError> {
//! use rasgi::pg::{Config, Pool};
//! let pool = Pool::new(Config::from_url("postgres://app:secret@127.0.0.1/app")?);
//! let rows = pool.fetch("SELECT * FROM mytable WHERE value > $1", &[&1.0]).await?;
//! let body = rasgi::pg::rows_to_json(&rows)?; // `[{"id":1,...}]`, columns in order
//! # let _ = body;
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! | file | concept | asyncpg |
//! |---|---|---|
//! | `config.rs` | [`Config`]: URL and `PG*` variables, several hosts, [`TargetSessionAttrs`], [`SslMode`]; the password never shown | `connect_utils` |
//! | `startup.rs` | startup and authentication (trust, password, md5, SCRAM-SHA-256, -PLUS over TLS) | `connect_utils`, `coreproto` |
//! | `tls.rs` | `sslmode`: SSLRequest, the certificate checks per mode, `tls-server-end-point` | `connect_utils._negotiate_ssl_connection` |
//! | `message.rs` | backend message framing: check-then-parse | `coreproto.pyx` |
//! | `io.rs` | **the round trip**, a hand-written future over the read buffer that busy-polls briefly for its reply, and **the one router** of backend messages | `protocol.pyx` waiters |
//! | `conn.rs` | [`Connection`]: execute, fetch, fetch_one, fetch_value, scripts, notices | `Connection` |
//! | `frontend.rs` | the frontend encoder: Parse/Describe, Bind/Execute/Sync, byte-exact tests | `coreproto` |
//! | `reply.rs` | the reply decoders: prepared, executed, simple-query results | `coreproto` |
//! | `copy.rs` | [`CopyOut`], [`CopyIn`]: COPY out and in as streams, with backpressure | `copy_from_query`, `copy_records_to_table` |
//! | `statement.rs` | prepared statements and their LRU cache | `_StatementCache` |
//! | `types.rs` | [`Type`], [`ToSql`], [`FromSql`]: binary codecs of the common types | `codecs/` |
//! | `numeric.rs`, `temporal.rs`, `array.rs` | [`Numeric`]; [`Date`], [`Time`], [`Timestamp`], [`TimestampTz`]; arrays | `codecs/` |
//! | `json.rs` | a value as JSON text, faithful to what the server sent (`dict(row)` made JSON-ready) | `jsonable_encoder` |
//! | `row.rs` | [`Row`], [`Column`]: values by index or name, `to_json`, [`rows_to_json`] | `Record` |
//! | `error.rs` | [`PgError`], [`DbError`]: SQLSTATE and every server field | `exceptions` |
//! | `transaction.rs` | [`Transaction`]: commit, rollback, savepoints, rollback on drop | `transaction.py` |
//! | `pipeline.rs` | [`Pipeline`]: many queries, one write, one Sync each | `executemany` |
//! | `cancel.rs` | query timeouts: CancelRequest on a new connection, then drain | `_cancel` |
//! | `listen.rs` | [`Listener`]: LISTEN/NOTIFY as a stream on a dedicated connection that reconnects | `add_listener` |
//! | `pool.rs` | [`Pool`]: size, FIFO waiters, acquire timeout, safe release | `pool.py` |
//! | `shared.rs` | [`SharedConnection`]: one connection for many tasks, their queries pipelined as they arrive | (tokio-postgres's model) |
//! | `cluster.rs` | [`cluster::Cluster`]: a throwaway PostgreSQL for the demo and tests | `asyncpg.cluster` |

mod array;
mod cancel;
pub mod cluster;
mod config;
mod conn;
mod copy;
mod error;
mod frontend;
mod io;
mod json;
mod listen;
mod message;
mod numeric;
mod pipeline;
mod pool;
mod reply;
mod row;
mod shared;
mod startup;
mod statement;
mod temporal;
mod tls;
mod transaction;
mod types;

pub use cancel::cancel_query;
pub use config::{Config, SslMode, TargetSessionAttrs};
pub use conn::{BackendKey, Connection, Notification, QueryResult, TransactionStatus};
pub use copy::{CopyIn, CopyOut};
pub use error::{DbError, Notice, PgError};
pub use listen::Listener;
pub use numeric::Numeric;
pub use pipeline::Pipeline;
pub use pool::{Pool, PoolBuilder, PoolStatus, PooledConnection};
pub use row::{rows_to_json, Column, ColumnIndex, Row};
pub use shared::SharedConnection;
pub use temporal::{Date, Time, Timestamp, TimestampTz};
pub use transaction::Transaction;
pub use types::{result_format, Encoded, Format, FromSql, ToSql, Type, Uuid};

/// Entry points for the fuzz targets `pg_message` and `pg_values` in `fuzz/`: the
/// backend-message decoder and the value decoders, reachable without making their types
/// public. Not part of the API.
#[doc(hidden)]
pub mod fuzzing {
    use super::array::{self, TextItem};
    use super::message::{parse_message, ReadBuffer};
    use super::types::Format;
    use super::PgError;

    /// Parses an array's text form as the JSON conversion does; the tree comes back as
    /// JSON (strings, nulls and arrays).
    pub fn parse_array_text(text: &str, delimiter: u8) -> Result<serde_json::Value, String> {
        fn tree(items: &[TextItem<'_>]) -> serde_json::Value {
            let items = items.iter().map(|item| match item {
                TextItem::Null => serde_json::Value::Null,
                TextItem::Value(text) => serde_json::Value::String(text.to_string()),
                TextItem::Array(inner) => tree(inner),
            });
            serde_json::Value::Array(items.collect())
        }
        array::parse_text(text, delimiter).map(|items| tree(&items))
    }

    /// Parses a binary array's header and element slices: the dimensions, and how many
    /// elements (NULLs included) followed.
    pub fn parse_binary_array(raw: &[u8]) -> Result<(Vec<usize>, usize), String> {
        array::parse(raw).map(|array| (array.dims, array.items.len()))
    }

    /// Decodes a binary `numeric` to its decimal text.
    pub fn decode_numeric(raw: &[u8]) -> Result<String, String> {
        super::numeric::decode(Format::Binary, raw)
    }

    /// Splits `bytes` into backend messages as the connection's reader does and returns
    /// how many whole messages it decoded and how many bytes were left over (an
    /// incomplete last message).
    pub fn parse_backend_messages(bytes: &[u8]) -> Result<(usize, usize), PgError> {
        let mut buf = ReadBuffer::holding(bytes);
        let mut needed = 0;
        let mut count = 0;
        while parse_message(&mut buf, &mut needed)?.is_some() {
            count += 1;
        }
        Ok((count, buf.len()))
    }
}
