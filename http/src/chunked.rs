//! Chunked transfer coding: a body sent as a series of `size-in-hex CRLF data CRLF`
//! pieces, ended by a zero-size chunk and optional trailer fields.
//!
//! The decoder is a state machine fed whatever bytes have arrived; it never needs the
//! whole body at once, so a 10 GB upload streams through a 64 KiB buffer. It is shared
//! by the server (request bodies) and the client (response bodies).
//!
//! ```text
//!  Size ──"1a;ext\r\n"──▶ Data(26) ──26 bytes──▶ DataEnd ──"\r\n"──▶ Size
//!  Size ──"0\r\n"──▶ Trailers ──"name: value\r\n"*──"\r\n"──▶ Done
//! ```

use std::ops::Range;

use crate::headers::hex_value;

/// A chunk-size line (size, extensions, CRLF) longer than this is refused: nobody needs
/// kilobytes of chunk extensions, and unbounded lines are a memory attack.
const MAX_SIZE_LINE: usize = 1024;
/// Trailer section limit, like the head's.
const MAX_TRAILERS: usize = 16 * 1024;

/// Where the decoder is within the coded body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// After a chunk's data, expecting its CRLF.
    DataEnd,
    /// After the last (zero) chunk: trailer lines until an empty line. The number is how
    /// many trailer bytes were seen so far.
    Trailers(usize),
    /// The body ended.
    Done,
}

/// The chunked body was malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkedError(pub &'static str);

impl std::fmt::Display for ChunkedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed chunked body: {}", self.0)
    }
}

impl std::error::Error for ChunkedError {}

/// What one [`ChunkedDecoder::decode`] call found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes of `buf` used up (framing and data); drop them from the buffer.
    pub consumed: usize,
    /// Body bytes found, as a range of `buf` (within the consumed part).
    pub data: Range<usize>,
    /// True when the terminating chunk and trailers were read.
    pub done: bool,
}

/// Incremental decoder of one chunked body.
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    /// Current position in the grammar.
    stage: Stage,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub fn new() -> ChunkedDecoder {
        ChunkedDecoder { stage: Stage::Size }
    }

    /// True once the whole body was decoded.
    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Decodes from the start of `buf` up to and including the first run of body bytes.
    /// `consumed == 0` and an empty `data` with `done == false` mean: read more bytes.
    pub fn decode(&mut self, buf: &[u8]) -> Result<Decoded, ChunkedError> {
        let mut pos = 0;
        loop {
            match self.stage {
                Stage::Size => {
                    let Some(line_len) = line_length(&buf[pos..], MAX_SIZE_LINE, "chunk-size line too long")? else {
                        return Ok(Decoded { consumed: pos, data: pos..pos, done: false });
                    };
                    let size = parse_size(&buf[pos..pos + line_len - 2])?;
                    pos += line_len;
                    self.stage = if size == 0 { Stage::Trailers(0) } else { Stage::Data(size) };
                }
                Stage::Data(left) => {
                    let available = (buf.len() - pos) as u64;
                    let take = left.min(available) as usize;
                    if take == 0 {
                        return Ok(Decoded { consumed: pos, data: pos..pos, done: false });
                    }
                    self.stage = if take as u64 == left { Stage::DataEnd } else { Stage::Data(left - take as u64) };
                    return Ok(Decoded { consumed: pos + take, data: pos..pos + take, done: false });
                }
                Stage::DataEnd => {
                    match &buf[pos..] {
                        [b'\r', b'\n', ..] => pos += 2,
                        [] | [b'\r'] => return Ok(Decoded { consumed: pos, data: pos..pos, done: false }),
                        _ => return Err(ChunkedError("chunk data not followed by CRLF")),
                    }
                    self.stage = Stage::Size;
                }
                Stage::Trailers(seen) => {
                    let Some(line_len) = line_length(&buf[pos..], MAX_TRAILERS - seen, "trailer section too large")?
                    else {
                        return Ok(Decoded { consumed: pos, data: pos..pos, done: false });
                    };
                    pos += line_len;
                    if line_len == 2 {
                        self.stage = Stage::Done;
                    } else {
                        // Trailer fields are read past, not delivered: ASGI has no event
                        // for request trailers.
                        self.stage = Stage::Trailers(seen + line_len);
                    }
                }
                Stage::Done => return Ok(Decoded { consumed: pos, data: pos..pos, done: true }),
            }
        }
    }
}

/// Length of the CRLF-terminated line at the start of `buf`, CRLF included; `None` if
/// the line is not complete yet. A bare LF or a line longer than `limit` is an error.
fn line_length(buf: &[u8], limit: usize, too_long: &'static str) -> Result<Option<usize>, ChunkedError> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(0) => Err(ChunkedError("line ends with a bare LF")),
        Some(lf) if buf[lf - 1] != b'\r' => Err(ChunkedError("line ends with a bare LF")),
        Some(lf) if lf + 1 > limit => Err(ChunkedError(too_long)),
        Some(lf) => Ok(Some(lf + 1)),
        None if buf.len() >= limit => Err(ChunkedError(too_long)),
        None => Ok(None),
    }
}

/// Parses `1*16HEXDIG [ ";" extensions ]`. More than 16 digits cannot fit in 64 bits.
fn parse_size(line: &[u8]) -> Result<u64, ChunkedError> {
    let digits_end = line.iter().position(|&b| !b.is_ascii_hexdigit()).unwrap_or(line.len());
    let (digits, rest) = line.split_at(digits_end);
    if digits.is_empty() {
        return Err(ChunkedError("chunk size is not hexadecimal"));
    }
    if digits.len() > 16 {
        return Err(ChunkedError("chunk size has more than 16 hex digits"));
    }
    let rest = crate::headers::trim(rest);
    if !rest.is_empty() && rest[0] != b';' {
        return Err(ChunkedError("chunk size is not hexadecimal"));
    }
    if rest.iter().any(|&b| b == b'\r' || (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(ChunkedError("control character in a chunk extension"));
    }
    Ok(digits.iter().fold(0u64, |n, &d| n << 4 | u64::from(hex_value(d).unwrap_or(0))))
}

/// Appends the chunked framing of one piece of body to `out` (nothing for an empty
/// piece: a zero-size chunk would end the body).
pub fn encode_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    write_hex(out, data.len());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Writes `n` in lowercase hex without allocating.
fn write_hex(out: &mut Vec<u8>, n: usize) {
    let digits = (usize::BITS - n.leading_zeros()).div_ceil(4).max(1);
    for i in (0..digits).rev() {
        out.push(b"0123456789abcdef"[(n >> (i * 4)) & 0xf]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` one byte at a time, the worst case for an incremental decoder.
    fn decode_bytewise(input: &[u8]) -> Result<(Vec<u8>, bool), ChunkedError> {
        let mut decoder = ChunkedDecoder::new();
        let mut buf = Vec::new();
        let mut body = Vec::new();
        for &b in input {
            buf.push(b);
            loop {
                let d = decoder.decode(&buf)?;
                body.extend_from_slice(&buf[d.data.clone()]);
                buf.drain(..d.consumed);
                if d.done || d.consumed == 0 {
                    break;
                }
            }
        }
        Ok((body, decoder.is_done()))
    }

    #[test]
    fn decodes_chunks_extensions_and_trailers() {
        let input = b"5;name=val\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n";
        assert_eq!(decode_bytewise(input), Ok((b"hello world".to_vec(), true)));
    }

    #[test]
    fn rejects_malformed_framing() {
        assert_eq!(decode_bytewise(b"zz\r\n"), Err(ChunkedError("chunk size is not hexadecimal")));
        assert_eq!(
            decode_bytewise(b"00000000000000001\r\n"),
            Err(ChunkedError("chunk size has more than 16 hex digits"))
        );
        assert_eq!(decode_bytewise(b"3\r\nabcX\r\n"), Err(ChunkedError("chunk data not followed by CRLF")));
        assert_eq!(decode_bytewise(b"3\nabc"), Err(ChunkedError("line ends with a bare LF")));
    }

    #[test]
    fn encodes_hex_sizes() {
        let mut out = Vec::new();
        encode_chunk(&mut out, &[b'x'; 26]);
        assert!(out.starts_with(b"1a\r\n"));
        let mut out = Vec::new();
        encode_chunk(&mut out, b"");
        assert!(out.is_empty());
    }
}
