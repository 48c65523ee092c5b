//! COPY in and out as streams — asyncpg's `copy_from_query` / `copy_from_table` (out) and
//! `copy_to_table` / `copy_records_to_table` (in).
//!
//! `COPY ... TO STDOUT` answers a simple Query with CopyOutResponse, then one CopyData per
//! row, CopyDone, CommandComplete and ReadyForQuery. [`CopyOut::next_chunk`] hands the rows
//! over one CopyData at a time and reads the socket only when asked, so a slow consumer (an
//! HTTP client downloading a CSV) holds the server back through TCP instead of filling memory:
//! that is the backpressure.
//!
//! `COPY ... FROM STDIN` answers with CopyInResponse and waits. [`CopyIn`] gathers the
//! caller's rows in a buffer of its own and sends them as one CopyData message whenever 64 KiB
//! have gathered, waiting for the socket when the server reads slower than we produce. COPY
//! treats its data as one stream, so where the messages are cut does not matter to it; their
//! number does. The server handles each CopyData on its own (read the header, copy the body
//! out, refill its parse buffer), and with one message per row that was about a fifth of its
//! work per row: one 35-byte row per message cost the server 0.49 µs of CPU per row of
//! `pgbench --only copy_in --ops 30`, 64 KiB messages 0.39-0.43 µs, level with asyncpg's
//! `copy_records_to_table` (which sends up to 512 KiB per message) at 0.40-0.44 µs.
//! [`CopyIn::finish`] sends CopyDone and returns the row count; [`CopyIn::abort`] sends
//! CopyFail, which rolls the whole COPY back. [`CopyIn::send_row`] writes one row in COPY's
//! text format (tab-separated, `\N` for NULL, backslash escapes), and
//! [`CopyIn::send_binary_row`] in COPY's binary format (typed values, each encoded as for a
//! query parameter), which is what asyncpg's `copy_records_to_table` sends.
//!
//! Both hold the connection (`&mut`) for as long as the COPY runs. Dropping either half-way is
//! safe: the connection is marked abandoned, and its next request cancels what is left and
//! drains it, as after any interrupted query.

use std::future::poll_fn;
use std::task::Poll;

use bytes::{BufMut, Bytes, BytesMut};
use postgres_protocol::message::frontend;

use crate::pg::conn::Connection;
use crate::pg::error::{DbError, PgError};
use crate::pg::io::{BusyPoll, Reply, Routed};
use crate::pg::message::{rows_affected, Message};
use crate::pg::reply::unexpected;
use crate::pg::types::{Encoded, ToSql, Type};

/// Cut a CopyData message, and write it out, once this much row data has gathered. Bigger
/// messages save the server little more (it parses COPY data in 64 KiB pieces anyway) and
/// cost memory on both sides, since the server reads each message whole.
const FLUSH_AT: usize = 64 * 1024;

/// What a COPY's reply holds while it is being read.
#[derive(Default)]
struct CopyReply {
    /// The CopyData not yet handed to the caller (at most one: reading stops at each).
    chunk: Option<Bytes>,
    /// The count from CommandComplete (`COPY 42`).
    rows: u64,
    /// The first error; the server ends the COPY after it.
    error: Option<DbError>,
    /// True for COPY FROM STDIN, which this request feeds.
    copy_in: bool,
}

impl Reply for CopyReply {
    fn message(&mut self, message: Message) -> Result<(), PgError> {
        match message {
            Message::CommandComplete { tag } => self.rows = rows_affected(&tag),
            // A statement that is not a COPY still completes normally; so does an empty one.
            Message::RowDescription { .. } | Message::DataRow { .. } | Message::EmptyQueryResponse => {}
            other => return Err(unexpected(&other, "running a COPY")),
        }
        Ok(())
    }

    fn error(&mut self, error: DbError) {
        self.error.get_or_insert(error);
    }

    fn copy_data(&mut self, data: Bytes) -> Result<(), PgError> {
        self.chunk = Some(data);
        Ok(())
    }

    fn accepts_copy_in(&self) -> bool {
        self.copy_in
    }
}

/// `COPY ... TO STDOUT` in progress; see the module docs.
pub struct CopyOut<'c> {
    /// The connection, busy until the COPY's ReadyForQuery.
    conn: &'c mut Connection,
    /// The reply so far.
    reply: CopyReply,
    /// True once ReadyForQuery arrived: the COPY is over and the connection free.
    done: bool,
    /// The busy-poll window while rows stream in (`io.rs`, "Waiting for the reply").
    busy: BusyPoll,
}

impl CopyOut<'_> {
    /// The next chunk of data (one row, for the text and CSV formats), or `None` at the end.
    /// An error the server reports mid-way (a failing expression in a `COPY (SELECT ...)`)
    /// comes back here, after the chunks that preceded it.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, PgError> {
        if self.done {
            return Ok(None);
        }
        let reply = &mut self.reply;
        let conn = &mut *self.conn;
        let busy = &mut self.busy;
        let ended = poll_fn(|cx| loop {
            let message = match conn.poll_reply_message(cx, busy) {
                Poll::Ready(Ok(message)) => message,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(conn.explain_hangup(e))),
                Poll::Pending => return Poll::Pending,
            };
            match conn.route(message, reply) {
                Ok(Routed::Ready) => return Poll::Ready(Ok(true)),
                Ok(_) if reply.chunk.is_some() => return Poll::Ready(Ok(false)),
                Ok(_) => {}
                Err(e) => return Poll::Ready(Err(conn.fail(e))),
            }
        })
        .await?;
        if let Some(chunk) = self.reply.chunk.take() {
            return Ok(Some(chunk));
        }
        if ended {
            self.done = true;
            if let Some(error) = self.reply.error.take() {
                return Err(PgError::Server(Box::new(error)));
            }
        }
        Ok(None)
    }

    /// The row count from the server's CommandComplete; meaningful once `next_chunk` returned
    /// `None`.
    pub fn rows(&self) -> u64 {
        self.reply.rows
    }
}

impl Drop for CopyOut<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.conn.abandoned = true;
        }
    }
}

/// The binary COPY format's 19-byte header: the signature, 32 bits of flags (none), and the
/// length of the header extension (none).
const BINARY_HEADER: &[u8; 19] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// `COPY ... FROM STDIN` in progress; see the module docs.
pub struct CopyIn<'c> {
    /// The connection, busy until `finish` or `abort`.
    conn: &'c mut Connection,
    /// True once CopyDone or CopyFail was sent and answered.
    done: bool,
    /// True once a binary row (and so the binary header) was sent: `finish` then sends the
    /// binary trailer before CopyDone.
    binary: bool,
    /// Row data not yet framed as a CopyData message: always whole rows (or whole `send`
    /// slices), less than `FLUSH_AT` bytes between calls. Kept apart from the connection's
    /// write buffer so that the write buffer only ever holds complete messages, whatever
    /// happens to this COPY.
    rows: BytesMut,
}

impl CopyIn<'_> {
    /// Sends raw COPY data, in the format the statement names (text by default, or CSV):
    /// any split of the stream into calls is fine. Waits while the socket is full.
    pub async fn send(&mut self, data: &[u8]) -> Result<(), PgError> {
        if data.len() < FLUSH_AT {
            self.rows.extend_from_slice(data);
        } else {
            // Already a message's worth: framed straight from the caller's slice, after what
            // was gathered before it, without a copy into `rows` first.
            self.frame_rows()?;
            self.frame(data)?;
        }
        self.flush_if_full().await
    }

    /// Frames `data` as CopyData messages in the connection's write buffer: 'd', an i32
    /// length (itself included), the bytes. The length is an i32, so a huge slice goes as
    /// several messages, which COPY joins back into one stream.
    fn frame(&mut self, data: &[u8]) -> Result<(), PgError> {
        for piece in data.chunks(1 << 30) {
            self.conn.encode(|buf| {
                buf.put_u8(b'd');
                buf.put_i32(piece.len() as i32 + 4);
                buf.put_slice(piece);
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Frames the gathered rows as one CopyData message (none if nothing gathered).
    fn frame_rows(&mut self) -> Result<(), PgError> {
        if !self.rows.is_empty() {
            let rows = std::mem::take(&mut self.rows);
            self.frame(&rows)?;
            // The allocation goes back for the next message.
            self.rows = rows;
            self.rows.clear();
        }
        Ok(())
    }

    /// Once `FLUSH_AT` bytes have gathered: frames them and writes everything out, waiting
    /// while the socket is full.
    async fn flush_if_full(&mut self) -> Result<(), PgError> {
        if self.rows.len() >= FLUSH_AT {
            self.frame_rows()?;
        }
        if self.conn.unsent_len() >= FLUSH_AT {
            self.conn.flush().await?;
        }
        Ok(())
    }

    /// Sends one row in COPY's text format: fields separated by tabs, `None` as `\N`, and
    /// backslash, tab, newline and carriage return escaped inside values.
    pub async fn send_row(&mut self, fields: &[Option<&str>]) -> Result<(), PgError> {
        let line = &mut self.rows;
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                line.put_u8(b'\t');
            }
            match field {
                None => line.extend_from_slice(b"\\N"),
                Some(value) => {
                    for &b in value.as_bytes() {
                        match b {
                            b'\\' => line.extend_from_slice(b"\\\\"),
                            b'\t' => line.extend_from_slice(b"\\t"),
                            b'\n' => line.extend_from_slice(b"\\n"),
                            b'\r' => line.extend_from_slice(b"\\r"),
                            b => line.put_u8(b),
                        }
                    }
                }
            }
        }
        line.put_u8(b'\n');
        self.flush_if_full().await
    }

    /// Sends one row in COPY's binary format, for a statement that says `(FORMAT binary)`:
    /// each value encoded as for a query parameter of the column's type in `types` (binary
    /// COPY carries no type names, so the caller states them, as asyncpg reads them from the
    /// table first). `None` is NULL. The first row also sends the format's header.
    ///
    /// ```no_run
    /// # async fn demo(conn: &mut rasgi::pg::Connection) -> Result<(), rasgi::pg::PgError> {
    /// use rasgi::pg::Type;
    /// let mut copy = conn.copy_in("COPY mytable (name, value) FROM STDIN (FORMAT binary)").await?;
    /// copy.send_binary_row(&[Type::TEXT, Type::FLOAT8], &[&"zeta", &6.5]).await?;
    /// copy.send_binary_row(&[Type::TEXT, Type::FLOAT8], &[&"eta", &None::<f64>]).await?;
    /// assert_eq!(copy.finish().await?, 2);
    /// # Ok(()) }
    /// ```
    pub async fn send_binary_row(&mut self, types: &[Type], values: &[&dyn ToSql]) -> Result<(), PgError> {
        let encode_error = |param: usize, ty: Option<Type>, reason: String| PgError::Encode {
            param,
            pg_type: ty.map_or_else(|| "-".to_string(), Type::name),
            reason,
        };
        if types.len() != values.len() {
            let reason = format!("{} column type(s) but {} value(s)", types.len(), values.len());
            return Err(encode_error(values.len(), None, reason));
        }
        let count = i16::try_from(values.len())
            .map_err(|_| encode_error(values.len(), None, "more than 32767 columns".into()))?;
        let header = !self.binary;
        // Straight into the gathered rows; on an error the half-written row is cut off again,
        // so `rows` keeps holding whole rows only.
        let buf = &mut self.rows;
        let start = buf.len();
        let encoded = (|| {
            if header {
                buf.put_slice(BINARY_HEADER);
            }
            buf.put_i16(count);
            for (i, (value, &ty)) in values.iter().zip(types).enumerate() {
                let len_at = buf.len();
                buf.put_i32(0);
                let len = match value.to_sql(ty, buf).map_err(|reason| encode_error(i + 1, Some(ty), reason))? {
                    Encoded::Null => -1,
                    Encoded::Binary => i32::try_from(buf.len() - len_at - 4)
                        .map_err(|_| encode_error(i + 1, Some(ty), "value over 2 GiB".into()))?,
                    Encoded::Text => {
                        let reason = "this value only has a text form, and binary COPY takes none".to_string();
                        return Err(encode_error(i + 1, Some(ty), reason));
                    }
                };
                buf[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
            }
            Ok(())
        })();
        if let Err(e) = encoded {
            buf.truncate(start);
            return Err(e);
        }
        self.binary = true;
        self.flush_if_full().await
    }

    /// Ends the data (CopyDone) and returns how many rows the server stored. A row the
    /// server could not parse fails the whole COPY here, with its line number in the error.
    pub async fn finish(mut self) -> Result<u64, PgError> {
        if self.binary {
            // The binary format's trailer: a field count of -1.
            self.rows.put_i16(-1);
        }
        self.frame_rows()?;
        self.conn.encode(|buf| {
            frontend::copy_done(buf);
            Ok(())
        })?;
        self.end().await
    }

    /// Abandons the COPY (CopyFail with `reason`): nothing of it is stored. Returns the
    /// server's acknowledgement, the error it reports for the failed COPY.
    pub async fn abort(mut self, reason: &str) -> Result<DbError, PgError> {
        // What was gathered and not yet sent would be thrown away by the server anyway.
        self.rows.clear();
        self.conn.encode(|buf| {
            frontend::copy_fail(reason, buf).map_err(|e| PgError::Config(format!("COPY abort reason: {e}")))
        })?;
        match self.end().await {
            Err(PgError::Server(error)) => Ok(*error),
            Err(other) => Err(other),
            Ok(_) => Err(PgError::protocol("the server accepted a COPY the client failed")),
        }
    }

    async fn end(&mut self) -> Result<u64, PgError> {
        let reply = self.conn.run(CopyReply::default()).await?;
        self.done = true;
        match reply.error {
            Some(error) => Err(PgError::Server(Box::new(error))),
            None => Ok(reply.rows),
        }
    }
}

impl Drop for CopyIn<'_> {
    fn drop(&mut self) {
        if !self.done {
            // The server still waits for data: the next request's settle cancels the COPY.
            self.conn.abandoned = true;
        }
    }
}

impl Connection {
    /// Starts `COPY ... TO STDOUT` (or any statement that answers with COPY data) and returns
    /// the stream of its data. `sql` is sent as a simple query: no parameters.
    ///
    /// ```no_run
    /// # async fn demo(conn: &mut rasgi::pg::Connection) -> Result<(), rasgi::pg::PgError> {
    /// let mut out = conn.copy_out("COPY mytable TO STDOUT (FORMAT csv, HEADER)").await?;
    /// while let Some(chunk) = out.next_chunk().await? {
    ///     print!("{}", String::from_utf8_lossy(&chunk));
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn copy_out(&mut self, sql: &str) -> Result<CopyOut<'_>, PgError> {
        self.begin_call();
        self.settle().await?;
        self.encode_request(|buf| frontend::query(sql, buf).map_err(|e| PgError::Config(e.to_string())))?;
        self.flush().await?;
        Ok(CopyOut { conn: self, reply: CopyReply::default(), done: false, busy: BusyPoll::default() })
    }

    /// Starts `COPY ... FROM STDIN` and returns the sink for its data, once the server is
    /// ready for it. An error before that (no such table) is returned here.
    ///
    /// ```no_run
    /// # async fn demo(conn: &mut rasgi::pg::Connection) -> Result<(), rasgi::pg::PgError> {
    /// let mut copy = conn.copy_in("COPY mytable (name, value) FROM STDIN").await?;
    /// copy.send_row(&[Some("zeta"), Some("6.5")]).await?;
    /// copy.send_row(&[Some("eta"), None]).await?;
    /// assert_eq!(copy.finish().await?, 2);
    /// # Ok(()) }
    /// ```
    pub async fn copy_in(&mut self, sql: &str) -> Result<CopyIn<'_>, PgError> {
        self.begin_call();
        self.settle().await?;
        self.encode_request(|buf| frontend::query(sql, buf).map_err(|e| PgError::Config(e.to_string())))?;
        self.flush().await?;
        let mut reply = CopyReply { copy_in: true, ..CopyReply::default() };
        let started = poll_fn(|cx| loop {
            let message = match self.poll_message(cx) {
                Poll::Ready(Ok(message)) => message,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(self.explain_hangup(e))),
                Poll::Pending => return Poll::Pending,
            };
            match self.route(message, &mut reply) {
                Ok(Routed::CopyIn) => return Poll::Ready(Ok(true)),
                Ok(Routed::Ready) => return Poll::Ready(Ok(false)),
                Ok(_) => {}
                Err(e) => return Poll::Ready(Err(self.fail(e))),
            }
        })
        .await?;
        if !started {
            return Err(match reply.error {
                Some(error) => PgError::Server(Box::new(error)),
                None => PgError::Config(format!("{sql:?} is not a COPY ... FROM STDIN statement")),
            });
        }
        Ok(CopyIn { conn: self, done: false, binary: false, rows: BytesMut::new() })
    }
}
