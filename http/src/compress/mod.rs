//! Compression by hand: DEFLATE (RFC 1951) and its gzip (RFC 1952) and zlib (RFC 1950)
//! wrappers — Python's `zlib` and `gzip` modules, used by rasgi's client to decode
//! `Content-Encoding` (as httpx does) and by `GZipMiddleware` to encode
//! (as Starlette's `GZipMiddleware` does).
//!
//! # How DEFLATE works
//!
//! DEFLATE is two ideas stacked.
//!
//! **LZ77.** Text repeats itself. Instead of a repeated string, write a *match*: "copy
//! `length` bytes from `distance` bytes back". Lengths run from 3 to 258 and distances from 1
//! to 32768, so both sides keep the last 32 KiB of data, the *window*. A match may overlap
//! its own output: distance 1, length 100 is a run of 100 copies of the last byte. What is
//! not matched goes out as *literal* bytes.
//!
//! **Huffman coding.** The literals and matches are then written with prefix codes: frequent
//! symbols get short codes. Literals and lengths share one alphabet (0–255 bytes, 256 end of
//! block, 257–285 lengths), distances have another (0–29); large values are a symbol plus
//! extra raw bits ([`alphabet`]).
//!
//! The stream is a sequence of **blocks**, each starting with three bits: "last block?" and
//! its type:
//!
//! | type | content | used for |
//! |---|---|---|
//! | 0 stored | byte-aligned LEN, NLEN (= !LEN), then LEN raw bytes (≤ 65535) | incompressible data; the sync flush |
//! | 1 fixed | symbols in codes defined by the RFC, no tables | short blocks |
//! | 2 dynamic | the code lengths of both codes (themselves Huffman- and run-length-coded), then symbols | everything else |
//!
//! Only code lengths are ever sent: the codes are *canonical*, derived from the lengths by a
//! fixed rule ([`huffman`]). The decoder ([`inflate`]) is therefore small — Mark Adler's
//! `puff` does it in a few hundred lines — and the encoder ([`deflate`]) is where the effort
//! and the freedom are: how hard to search for matches (the level) and where to end blocks.
//!
//! # Layout
//!
//! | file | concept |
//! |---|---|
//! | `bits.rs` | the bit reader (with marks, for streaming) and the bit writer |
//! | `alphabet.rs` | the symbol alphabets: length and distance bases, extra bits, the fixed code |
//! | `huffman.rs` | canonical codes: the table-driven decoder, length-limited code building |
//! | `inflate.rs` | [`Inflater`]: the streaming decoder, output limit, window bits |
//! | `deflate.rs` | [`Deflater`]: hash chains, lazy matching, block choice, levels 0–9, sync flush |
//! | `crc32.rs`, `adler32.rs` | the check values of gzip and zlib |
//! | `gzip.rs`, `zlib.rs` | the wrappers: [`GzipEncoder`]/[`GzipDecoder`], [`ZlibEncoder`]/[`ZlibDecoder`] |
//! | `error.rs` | [`CompressError`]: what is wrong with a stream |
//!
//! For permessage-deflate (RFC 7692) the raw [`Inflater`] and [`Deflater`] are used directly:
//! [`Deflater::flush`] ends each message on `00 00 ff ff`, the window carries over between
//! messages unless [`Deflater::reset`] / [`Inflater::reset`] is called, and
//! [`Deflater::with_window_bits`] / [`Inflater::with_window_bits`] honour `*_max_window_bits`.
//!
//! ```
//! use rasgi_http::compress::{compress, decompress, Format};
//!
//! let body = br#"{"message":"Hello, World!","message2":"Hello, World!"}"#;
//! let packed = compress(Format::Gzip, 9, body);
//! assert_eq!(decompress(Format::Gzip, &packed, 1 << 20).unwrap(), body);
//! ```

pub mod adler32;
pub mod alphabet;
mod bits;
pub mod crc32;
pub mod deflate;
mod error;
pub mod gzip;
pub mod huffman;
pub mod inflate;
pub mod zlib;

pub use adler32::{adler32, Adler32};
pub use crc32::{crc32, Crc32};
pub use deflate::Deflater;
pub use error::CompressError;
pub use gzip::{GzipDecoder, GzipEncoder};
pub use inflate::{Inflater, Status};
pub use zlib::{ZlibDecoder, ZlibEncoder};

/// The three containers of a DEFLATE stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Bare DEFLATE (Python's `wbits=-15`).
    Raw,
    /// zlib: 2-byte header, Adler-32 (`wbits=15`); HTTP's `deflate`.
    Zlib,
    /// gzip: 10-byte header, CRC-32 and length (`wbits=31`); HTTP's `gzip`.
    Gzip,
}

/// A streaming decoder of any [`Format`].
pub enum Decoder {
    /// Bare DEFLATE.
    Raw(Inflater),
    /// zlib.
    Zlib(ZlibDecoder),
    /// gzip.
    Gzip(GzipDecoder),
}

impl Decoder {
    /// A decoder of `format` that fails once the output would exceed `limit` bytes.
    pub fn new(format: Format, limit: u64) -> Decoder {
        match format {
            Format::Raw => Decoder::Raw(Inflater::new().with_limit(limit)),
            Format::Zlib => Decoder::Zlib(ZlibDecoder::new(limit)),
            Format::Gzip => Decoder::Gzip(GzipDecoder::new(limit)),
        }
    }

    /// Decodes what it can of `input` into `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Status, CompressError> {
        match self {
            Decoder::Raw(d) => {
                let status = d.inflate(input, out)?;
                let extra = if status == Status::Done { d.take_remainder().len() } else { 0 };
                if extra > 0 {
                    return Err(CompressError::TrailingData(extra));
                }
                Ok(status)
            }
            Decoder::Zlib(d) => d.decode(input, out),
            Decoder::Gzip(d) => d.decode(input, out),
        }
    }

    /// Call at the end of the input: an error unless the whole stream arrived.
    pub fn finish(&self) -> Result<(), CompressError> {
        match self {
            Decoder::Raw(d) if d.is_done() => Ok(()),
            Decoder::Raw(_) => Err(CompressError::Truncated("the deflate data")),
            Decoder::Zlib(d) => d.finish(),
            Decoder::Gzip(d) => d.finish(),
        }
    }
}

/// Compresses `data` whole into `format` at `level` 0..=9.
pub fn compress(format: Format, level: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    match format {
        Format::Raw => {
            let mut d = Deflater::new(level);
            d.compress(data, &mut out);
            d.finish(&mut out);
        }
        Format::Zlib => {
            let mut e = ZlibEncoder::new(level);
            e.compress(data, &mut out);
            e.finish(&mut out);
        }
        Format::Gzip => {
            let mut e = GzipEncoder::new(level);
            e.compress(data, &mut out);
            e.finish(&mut out);
        }
    }
    out
}

/// Decompresses a whole `format` stream, refusing more than `limit` bytes of output.
pub fn decompress(format: Format, data: &[u8], limit: u64) -> Result<Vec<u8>, CompressError> {
    let mut out = Vec::new();
    let mut decoder = Decoder::new(format, limit);
    decoder.decode(data, &mut out)?;
    decoder.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests;
