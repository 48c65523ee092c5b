//! Entry points for the fuzz targets in `fuzz/`: the parsers that are internal to the
//! crate, reachable from outside without making their types public.
//!
//! The fuzz crate is a separate package, so it sees only `pub` items. Making the client's
//! response head and body framing public would freeze types that exist to be changed;
//! these functions instead take bytes and return plain values, which is all a fuzzer
//! needs. Hidden from the documentation: they are not part of rasgi's API.

use crate::client::{parse_head, Framing};

/// What the client made of a response head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseSummary {
    /// Bytes the head took from the start of the buffer.
    pub len: usize,
    /// The status code.
    pub status: u16,
    /// Header fields kept (after the framing checks).
    pub headers: usize,
    /// The body framing the head chose: `empty`, `length`, `chunked` or `close`.
    pub framing: &'static str,
    /// The length, when the framing is `length`.
    pub content_length: Option<u64>,
    /// Whether the connection would go back to the pool.
    pub keep_alive: bool,
}

/// Parses a response head the way the client does: `Ok(None)` when more bytes are needed.
/// `request_was_head`: the request was `HEAD`, so the response has no body.
pub fn parse_response_head(buf: &[u8], request_was_head: bool) -> Result<Option<ResponseSummary>, String> {
    let Some((head, len)) = parse_head(buf, request_was_head)? else {
        return Ok(None);
    };
    let (framing, content_length) = match head.framing {
        Framing::Empty | Framing::Done => ("empty", None),
        Framing::Length(n) => ("length", Some(n)),
        Framing::Chunked(_) => ("chunked", None),
        Framing::Close => ("close", None),
    };
    Ok(Some(ResponseSummary {
        len,
        status: head.status,
        headers: head.headers.len(),
        framing,
        content_length,
        keep_alive: head.keep_alive,
    }))
}
