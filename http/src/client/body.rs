//! Reading a response body off the connection — httpx's `Response.aread()` /
//! `aiter_bytes()`, and h11's body framing underneath.
//!
//! A body ends in one of three ways (RFC 9112 §6.3), decided by the head:
//! - **Content-Length**: after exactly that many bytes;
//! - **chunked**: at the zero-size chunk ([`ChunkedDecoder`], shared with the server);
//! - **close-delimited**: when the server closes the connection (no length, no chunking;
//!   old or minimal servers). Such a connection can never be reused.
//!
//! The moment the last byte is read, the connection goes back to the pool (if the server
//! allows keep-alive), so a caller that stops after the final chunk does not waste it.
//! A `Response` dropped before its body ended closes its connection instead: what is left
//! of the body would otherwise be read as the next response.
//!
//! # An end of stream without TLS `close_notify`
//!
//! Over TLS, a server should end the session with a `close_notify` alert before closing
//! the socket; a bare TCP close might be an attacker cutting the connection. rasgi follows
//! RFC 9112 §9.8: a response whose framing says it is complete (all Content-Length bytes,
//! or the last chunk) *is* complete, whatever happens to the connection afterwards — such a
//! connection is simply not reused. A body delimited by the connection's end is accepted
//! only with `close_notify`; without it, truncation cannot be ruled out and reading fails.
//! A plain-HTTP close-delimited body has no such protection, and ends at the TCP close.

use std::io;

use super::error::{Error, TimeoutKind};
use super::pool::Checkout;
use super::timeouts::Clock;
use crate::chunked::ChunkedDecoder;

/// How the body is delimited, and how far reading has got.
#[derive(Debug)]
pub(crate) enum Framing {
    /// No body: HEAD, 1xx, 204, 304, or `Content-Length: 0`.
    Empty,
    /// This many bytes are still to come.
    Length(u64),
    /// Chunked; the decoder knows where it is in the grammar.
    Chunked(ChunkedDecoder),
    /// Until the server closes the connection.
    Close,
    /// The body ended (and the connection went back to the pool or was closed).
    Done,
}

/// The body of one response and the connection it arrives on.
pub(crate) struct Body {
    /// Where the body ends.
    framing: Framing,
    /// The connection; `None` once the body ended.
    checkout: Option<Checkout>,
    /// The response allows reusing the connection after the body.
    keep_alive: bool,
    /// The request's time limits (the read timeout and the total deadline).
    clock: Clock,
    /// Body bytes received so far, for error messages.
    received: u64,
}

impl Body {
    pub(crate) fn new(framing: Framing, checkout: Checkout, keep_alive: bool, clock: Clock) -> Body {
        let mut body = Body { framing, checkout: Some(checkout), keep_alive, clock, received: 0 };
        if matches!(body.framing, Framing::Empty | Framing::Length(0)) {
            // Nothing to read: the connection is free right away.
            body.finish();
        }
        body
    }

    /// How many bytes a buffer for the rest of the body should reserve: the length the
    /// head announced, up to a limit (a length is the server's word, not memory we owe
    /// it), and 0 when the framing does not say.
    pub(crate) fn reserve_hint(&self) -> usize {
        const MOST: u64 = 1 << 20;
        match self.framing {
            Framing::Length(left) => left.min(MOST) as usize,
            _ => 0,
        }
    }

    /// True once the whole body was read.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.framing, Framing::Done)
    }

    /// Appends the next piece of the body to `out`. `Ok(false)`: the body had ended and
    /// nothing was appended.
    pub(crate) async fn next(&mut self, out: &mut Vec<u8>) -> Result<bool, Error> {
        loop {
            let Some(checkout) = self.checkout.as_mut() else { return Ok(false) };
            let conn = &mut checkout.conn;
            // First, whatever is already buffered.
            let mut finished = false;
            let appended = match &mut self.framing {
                Framing::Empty | Framing::Done => {
                    finished = true;
                    0
                }
                Framing::Length(left) => {
                    let take = (*left).min(conn.buf.len() as u64) as usize;
                    out.extend_from_slice(&conn.buf.filled()[..take]);
                    conn.buf.consume(take);
                    *left -= take as u64;
                    finished = *left == 0;
                    take
                }
                Framing::Chunked(decoder) => {
                    let mut appended = 0;
                    // Framing without data (a chunk-size line, the CRLF after a chunk)
                    // is consumed until data, the end, or a need for more bytes.
                    loop {
                        let decoded = decoder.decode(conn.buf.filled()).map_err(|e| Error::Protocol {
                            origin: self.clock.origin().to_string(),
                            reason: e.to_string(),
                        })?;
                        out.extend_from_slice(&conn.buf.filled()[decoded.data.clone()]);
                        appended += decoded.data.len();
                        conn.buf.consume(decoded.consumed);
                        if decoded.done {
                            finished = true;
                            break;
                        }
                        if appended > 0 || decoded.consumed == 0 {
                            break;
                        }
                    }
                    appended
                }
                Framing::Close => {
                    let n = conn.buf.len();
                    out.extend_from_slice(conn.buf.filled());
                    conn.buf.consume(n);
                    n
                }
            };
            self.received += appended as u64;
            if finished {
                self.finish();
                return Ok(appended > 0);
            }
            if appended > 0 {
                return Ok(true);
            }

            // Then, more bytes from the server.
            let read = self.clock.run(TimeoutKind::Read, "reading the response body", conn.fill()).await?;
            let close_delimited = matches!(self.framing, Framing::Close);
            match read {
                Ok(0) if close_delimited => {
                    // A clean end: TCP end of stream on plain HTTP, or TLS close_notify.
                    self.finish();
                    return Ok(false);
                }
                Ok(0) => return Err(self.truncated("the server closed the connection")),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && close_delimited => {
                    return Err(self.read_error(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection without TLS close_notify, and this body \
                         ends only when the connection does: it may be truncated (RFC 9112 §9.8)",
                    )))
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    return Err(self.truncated("the server closed the connection (without TLS close_notify)"))
                }
                Err(e) => return Err(self.read_error(e)),
            }
        }
    }

    /// The body is complete: the connection goes back to the pool if the response allows
    /// and nothing unexpected follows it in the buffer; otherwise it is closed.
    fn finish(&mut self) {
        self.framing = Framing::Done;
        if let Some(checkout) = self.checkout.take() {
            if self.keep_alive && checkout.conn.buf.is_empty() {
                checkout.release();
            }
        }
    }

    fn truncated(&self, what: &str) -> Error {
        let expected = match &self.framing {
            Framing::Length(left) => format!(" of {}", self.received + left),
            _ => String::new(),
        };
        let reason = format!("{what} after {}{expected} body bytes, before the body was complete", self.received);
        self.read_error(io::Error::new(io::ErrorKind::UnexpectedEof, reason))
    }

    fn read_error(&self, error: io::Error) -> Error {
        Error::Read { origin: self.clock.origin().to_string(), error }
    }
}
