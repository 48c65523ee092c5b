//! Backend messages: turning the bytes the server sent into [`Message`]s — the part of
//! asyncpg's Cython `protocol/coreproto.pyx` that reads the read buffer.
//!
//! Every backend message is framed the same way: one tag byte, a big-endian `i32` length that
//! counts itself and the body but not the tag, then the body. Framing is *check-then-parse*:
//! [`parse_message`] first checks whether a whole message is buffered and, only if it is, splits
//! it off the front of the read buffer and decodes it. An incomplete message is not an error but
//! the normal state "read more bytes", reported as `Ok(None)`.
//!
//! Bodies stay in the `Bytes` the read buffer was split into, so a DataRow's column values are
//! never copied: a [`crate::pg::Row`] keeps the slice and decodes a column only when asked.
//! (postgres-protocol has a parser for these messages too; this one is written out because
//! watching a reply become messages is half of what a learner comes here for, and because its
//! bodies iterate with `fallible-iterator`, one more dependency.)
//!
//! Frontend messages are written with postgres-protocol's `message::frontend`, except Bind,
//! which [`crate::pg::conn`] writes itself so each parameter's format can be chosen while its
//! value is encoded.

use bytes::{Buf, Bytes, BytesMut};

use crate::pg::error::PgError;

/// A message from the server, its body still in the read buffer's memory.
#[derive(Debug)]
pub(crate) enum Message {
    /// `R`: an authentication request or result; `code` 0 = OK, 3 = cleartext, 5 = MD5
    /// (`data` = salt), 10 = SASL (`data` = mechanism list), 11/12 = SASL continue/final.
    Authentication { code: i32, data: Bytes },
    /// `K`: the process id and secret a CancelRequest must quote.
    BackendKeyData { process_id: i32, secret_key: i32 },
    /// `2`: Bind succeeded.
    BindComplete,
    /// `3`: Close succeeded.
    CloseComplete,
    /// `C`: a statement finished; the tag is like `SELECT 3` or `INSERT 0 1`.
    CommandComplete { tag: Bytes },
    /// `d`: a chunk of COPY data (for `COPY ... TO STDOUT`, one row per message).
    CopyData { data: Bytes },
    /// `c`: end of COPY OUT data.
    CopyDone,
    /// `G`: the server waits for COPY IN data.
    CopyInResponse,
    /// `H`: COPY OUT data follows.
    CopyOutResponse,
    /// `D`: one row; the body is the column count and the (length, bytes) pairs.
    DataRow { body: Bytes },
    /// `I`: the query string was empty.
    EmptyQueryResponse,
    /// `E`: an error; the body is a list of fields, see `DbError::parse`.
    ErrorResponse { body: Bytes },
    /// `n`: the statement returns no rows (answer to Describe).
    NoData,
    /// `N`: a notice (a warning, `RAISE NOTICE`, ...), same layout as an error.
    NoticeResponse { body: Bytes },
    /// `A`: a `NOTIFY` on a channel this session `LISTEN`s to.
    NotificationResponse { process_id: i32, channel: String, payload: String },
    /// `t`: the parameter types of a prepared statement.
    ParameterDescription { body: Bytes },
    /// `S`: a run-time parameter's current value (`server_version`, `TimeZone`, ...).
    ParameterStatus { name: String, value: String },
    /// `1`: Parse succeeded.
    ParseComplete,
    /// `s`: Execute stopped at its row limit (never requested here).
    PortalSuspended,
    /// `Z`: the server is ready for the next query; `status` is `I` (idle), `T` (in a
    /// transaction) or `E` (in a failed transaction).
    ReadyForQuery { status: u8 },
    /// `T`: the columns of the rows that follow (or of a described statement).
    RowDescription { body: Bytes },
}

/// The bytes received from the server and not yet parsed, followed by room for the next read.
///
/// The room is initialised memory that each read overwrites: a socket read takes a `&mut [u8]`,
/// and zeroing fresh room before every read (`BytesMut::resize`) cost an 8 KiB `memset` per
/// round trip — 16,500 of the 21,500 instructions a one-row round trip took (callgrind). Here
/// the room is zeroed once, when it is made, and reused by the reads after it; the alternative,
/// reading into uninitialised capacity, needs `unsafe` and a socket API that takes it.
pub(crate) struct ReadBuffer {
    /// `bytes[..filled]` were received and not parsed yet, and begin at a message boundary;
    /// `bytes[filled..]` is room for the next read: stale bytes, never parsed.
    bytes: BytesMut,
    /// How many bytes at the front are received data; at most `bytes.len()`.
    filled: usize,
}

impl ReadBuffer {
    /// An empty buffer that can take `capacity` bytes before it first grows.
    pub(crate) fn with_capacity(capacity: usize) -> ReadBuffer {
        ReadBuffer { bytes: BytesMut::with_capacity(capacity), filled: 0 }
    }

    /// A buffer holding `received`, as if it had just been read (tests and the fuzz target).
    pub(crate) fn holding(received: &[u8]) -> ReadBuffer {
        ReadBuffer { bytes: BytesMut::from(received), filled: received.len() }
    }

    /// How many received bytes wait to be parsed.
    pub(crate) fn len(&self) -> usize {
        self.filled
    }

    /// Room for at least `want` more bytes after the received ones, for a read to fill (then
    /// [`ReadBuffer::commit`] what it read). It may be larger than `want`.
    pub(crate) fn room(&mut self, want: usize) -> &mut [u8] {
        if self.bytes.len() - self.filled < want {
            if self.bytes.capacity() < self.filled + want {
                // The buffer must grow (or move its bytes to the front): the stale room goes
                // first, so that only received bytes are copied, and the new room is zeroed.
                self.bytes.truncate(self.filled);
            }
            // Zeroes only the room that did not exist yet.
            self.bytes.resize(self.filled + want, 0);
        }
        &mut self.bytes[self.filled..]
    }

    /// Counts `n` bytes a read wrote at the start of [`ReadBuffer::room`] as received.
    pub(crate) fn commit(&mut self, n: usize) {
        self.filled = (self.filled + n).min(self.bytes.len());
    }

    /// Appends received bytes (tests that feed a message piece by piece).
    #[cfg(test)]
    fn extend_from_slice(&mut self, received: &[u8]) {
        self.room(received.len())[..received.len()].copy_from_slice(received);
        self.commit(received.len());
    }
}

/// Check-then-parse: if `buf` starts with a whole message, split it off and decode it.
///
/// Returns `Ok(None)` when more bytes are needed, and the number of bytes the whole message
/// needs through `needed` (so the reader can make room for a large DataRow in one go).
pub(crate) fn parse_message(buf: &mut ReadBuffer, needed: &mut usize) -> Result<Option<Message>, PgError> {
    // Check: the 5-byte header, then the whole body.
    let received = &buf.bytes[..buf.filled];
    if received.len() < 5 {
        *needed = 5;
        return Ok(None);
    }
    let tag = received[0];
    let len = i32::from_be_bytes([received[1], received[2], received[3], received[4]]);
    if len < 4 {
        return Err(PgError::protocol(format!("message '{}' has an invalid length {len}", tag as char)));
    }
    let total = 1 + len as usize;
    if received.len() < total {
        *needed = total;
        return Ok(None);
    }
    // Parse: the message is complete; split it off the front (the buffer advances) and keep
    // the body as reference-counted `Bytes`, without copying.
    buf.filled -= total;
    let mut frame = buf.bytes.split_to(total);
    frame.advance(5);
    let body = frame.freeze();
    decode(tag, body).map(Some)
}

/// Decodes one complete message body.
fn decode(tag: u8, mut body: Bytes) -> Result<Message, PgError> {
    let message = match tag {
        b'R' => {
            let code = get_i32(&mut body)?;
            Message::Authentication { code, data: body }
        }
        b'K' => Message::BackendKeyData { process_id: get_i32(&mut body)?, secret_key: get_i32(&mut body)? },
        b'2' => Message::BindComplete,
        b'3' => Message::CloseComplete,
        b'C' => Message::CommandComplete { tag: cstr_bytes(&mut body)? },
        b'd' => Message::CopyData { data: body },
        b'c' => Message::CopyDone,
        b'G' => Message::CopyInResponse,
        b'H' => Message::CopyOutResponse,
        b'D' => Message::DataRow { body },
        b'I' => Message::EmptyQueryResponse,
        b'E' => Message::ErrorResponse { body },
        b'n' => Message::NoData,
        b'N' => Message::NoticeResponse { body },
        b'A' => Message::NotificationResponse {
            process_id: get_i32(&mut body)?,
            channel: cstr_string(&mut body)?,
            payload: cstr_string(&mut body)?,
        },
        b't' => Message::ParameterDescription { body },
        b'S' => Message::ParameterStatus { name: cstr_string(&mut body)?, value: cstr_string(&mut body)? },
        b'1' => Message::ParseComplete,
        b's' => Message::PortalSuspended,
        b'Z' => {
            let status = *body.first().ok_or_else(|| PgError::protocol("empty ReadyForQuery"))?;
            Message::ReadyForQuery { status }
        }
        b'T' => Message::RowDescription { body },
        other => return Err(PgError::protocol(format!("unknown message tag '{}' (0x{other:02x})", other as char))),
    };
    Ok(message)
}

/// Reads a big-endian `i32` off the front of `body`.
pub(crate) fn get_i32(body: &mut impl Buf) -> Result<i32, PgError> {
    if body.remaining() < 4 {
        return Err(PgError::protocol("message body too short"));
    }
    Ok(body.get_i32())
}

/// Reads a big-endian `i16` off the front of `body`.
pub(crate) fn get_i16(body: &mut impl Buf) -> Result<i16, PgError> {
    if body.remaining() < 2 {
        return Err(PgError::protocol("message body too short"));
    }
    Ok(body.get_i16())
}

/// Splits a NUL-terminated string off the front of `body`, without the NUL.
pub(crate) fn cstr_bytes(body: &mut Bytes) -> Result<Bytes, PgError> {
    let end = body.iter().position(|&b| b == 0).ok_or_else(|| PgError::protocol("unterminated string"))?;
    let s = body.split_to(end);
    body.advance(1);
    Ok(s)
}

/// Like [`cstr_bytes`], as an owned `String` (invalid UTF-8 is replaced, never trusted).
pub(crate) fn cstr_string(body: &mut Bytes) -> Result<String, PgError> {
    cstr_bytes(body).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// The row count at the end of a CommandComplete tag: `INSERT 0 5` → 5, `UPDATE 3` → 3,
/// `SELECT 2` → 2; tags without a count (`CREATE TABLE`) → 0.
pub(crate) fn rows_affected(tag: &[u8]) -> u64 {
    let tag = std::str::from_utf8(tag).unwrap_or("");
    tag.rsplit(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_messages_wait_for_more_bytes() {
        // ReadyForQuery 'I' is: 'Z', length 5, 'I'. Feed it one byte at a time.
        let whole = [b'Z', 0, 0, 0, 5, b'I', b'Z'];
        let mut buf = ReadBuffer::with_capacity(0);
        let mut needed = 0;
        for &byte in &whole[..5] {
            buf.extend_from_slice(&[byte]);
            assert!(parse_message(&mut buf, &mut needed).unwrap().is_none());
        }
        assert_eq!(needed, 6);
        buf.extend_from_slice(&whole[5..]);
        assert!(matches!(parse_message(&mut buf, &mut needed).unwrap(), Some(Message::ReadyForQuery { status: b'I' })));
        // The next message's first byte stays buffered.
        assert_eq!(buf.len(), 1);
        assert_eq!(&buf.bytes[..1], b"Z");
    }

    #[test]
    fn only_committed_bytes_are_parsed_and_the_room_is_reused() {
        let mut buf = ReadBuffer::with_capacity(64);
        // A read that wrote a whole ReadyForQuery into the room but reported 3 bytes.
        buf.room(16)[..6].copy_from_slice(&[b'Z', 0, 0, 0, 5, b'I']);
        buf.commit(3);
        let mut needed = 0;
        assert!(parse_message(&mut buf, &mut needed).unwrap().is_none());
        assert_eq!(needed, 5);
        buf.commit(3);
        assert!(matches!(parse_message(&mut buf, &mut needed).unwrap(), Some(Message::ReadyForQuery { status: b'I' })));
        assert_eq!(buf.len(), 0);
        // The room left over is reused as it is: its stale bytes are there, but not received.
        assert!(buf.room(8).len() >= 8);
        assert!(parse_message(&mut buf, &mut needed).unwrap().is_none());
        assert_eq!(needed, 5);
    }

    #[test]
    fn bad_length_is_a_protocol_error() {
        let mut buf = ReadBuffer::holding(&[b'Z', 0, 0, 0, 2]);
        assert!(matches!(parse_message(&mut buf, &mut 0), Err(PgError::Protocol(_))));
    }

    #[test]
    fn command_tags() {
        assert_eq!(rows_affected(b"INSERT 0 5"), 5);
        assert_eq!(rows_affected(b"UPDATE 3"), 3);
        assert_eq!(rows_affected(b"CREATE TABLE"), 0);
    }
}
