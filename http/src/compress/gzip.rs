//! The gzip format (RFC 1952) — Python's `gzip.compress` / `gzip.decompress`, and HTTP's
//! `Content-Encoding: gzip`.
//!
//! ```text
//! 1f 8b │ 08 │ FLG │ MTIME(4) │ XFL │ OS │ [EXTRA] [NAME\0] [COMMENT\0] [HCRC(2)] │ deflate … │ CRC32 │ ISIZE
//! ```
//!
//! The trailer is little-endian: the CRC-32 of the data and its length modulo 2^32. A file
//! may hold several members back to back; HTTP bodies hold one, so anything after the first
//! member is reported as trailing data rather than silently decoded or dropped.

use super::crc32::Crc32;
use super::deflate::Deflater;
use super::error::CompressError;
use super::inflate::{Inflater, Status};

/// FLG bits.
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
/// A header longer than this (a file name or comment without end) is refused.
const MAX_HEADER: usize = 64 * 1024;

/// A gzip encoder, fed in pieces.
pub struct GzipEncoder {
    /// The DEFLATE stream inside.
    deflater: Deflater,
    /// The CRC-32 of the input so far.
    crc: Crc32,
    /// Input bytes so far (ISIZE is this modulo 2^32).
    size: u64,
    /// The ten header bytes went out.
    header_written: bool,
}

impl GzipEncoder {
    /// An encoder at `level` 0..=9.
    pub fn new(level: u8) -> GzipEncoder {
        GzipEncoder { deflater: Deflater::new(level), crc: Crc32::new(), size: 0, header_written: false }
    }

    fn header(&mut self, out: &mut Vec<u8>) {
        if !self.header_written {
            // No name, no modification time (0: "not available"), so that equal bodies give
            // equal bytes; XFL 2 marks maximum compression, 4 the fastest; OS 255 "unknown".
            let xfl = match self.deflater.level() {
                9 => 2,
                1 => 4,
                _ => 0,
            };
            out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]);
            self.header_written = true;
        }
    }

    /// Takes `input`, appending whatever output is ready.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.header(out);
        self.crc.update(input);
        self.size += input.len() as u64;
        self.deflater.compress(input, out);
    }

    /// Writes everything so far, byte-aligned (a sync flush), so that a streaming reader can
    /// decode all of it now.
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        self.header(out);
        self.deflater.flush(out);
    }

    /// Ends the member with the CRC-32 and ISIZE trailer.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        self.header(out);
        self.deflater.finish(out);
        out.extend_from_slice(&self.crc.value().to_le_bytes());
        out.extend_from_slice(&(self.size as u32).to_le_bytes());
    }
}

/// Where a gzip decoder is.
enum Part {
    /// Buffering the header until it is complete.
    Header(Vec<u8>),
    /// Inside the DEFLATE stream.
    Body,
    /// Buffering the eight trailer bytes.
    Trailer(Vec<u8>),
    /// The member ended and checked out; nothing may follow.
    Done,
}

/// A gzip decoder, fed in pieces.
pub struct GzipDecoder {
    /// The part of the format being read.
    part: Part,
    /// The DEFLATE decoder, with the caller's limit.
    inflater: Inflater,
    /// The CRC-32 of the output so far.
    crc: Crc32,
}

impl GzipDecoder {
    /// A decoder that fails once the output would exceed `limit` bytes.
    pub fn new(limit: u64) -> GzipDecoder {
        GzipDecoder { part: Part::Header(Vec::new()), inflater: Inflater::new().with_limit(limit), crc: Crc32::new() }
    }

    /// Decodes what it can of `input` into `out`.
    pub fn decode(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<Status, CompressError> {
        loop {
            match &mut self.part {
                Part::Header(buf) => {
                    buf.extend_from_slice(input);
                    input = &[];
                    let Some(len) = header_length(buf)? else {
                        if buf.len() > MAX_HEADER {
                            return Err(CompressError::BadHeader("gzip header longer than 64 KiB"));
                        }
                        return Ok(Status::NeedsInput);
                    };
                    let rest = buf.split_off(len);
                    self.part = Part::Body;
                    let start = out.len();
                    let status = self.inflater.inflate(&rest, out)?;
                    self.crc.update(&out[start..]);
                    if status == Status::NeedsInput {
                        return Ok(Status::NeedsInput);
                    }
                    self.part = Part::Trailer(self.inflater.take_remainder());
                }
                Part::Body => {
                    let start = out.len();
                    let status = self.inflater.inflate(input, out)?;
                    self.crc.update(&out[start..]);
                    if status == Status::NeedsInput {
                        return Ok(Status::NeedsInput);
                    }
                    self.part = Part::Trailer(self.inflater.take_remainder());
                    input = &[];
                }
                Part::Trailer(buf) => {
                    buf.extend_from_slice(input);
                    input = &[];
                    if buf.len() < 8 {
                        return Ok(Status::NeedsInput);
                    }
                    if buf.len() > 8 {
                        return Err(CompressError::TrailingData(buf.len() - 8));
                    }
                    let expected = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
                    let computed = self.crc.value();
                    if expected != computed {
                        return Err(CompressError::Checksum { kind: "CRC-32", expected, computed });
                    }
                    let size = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
                    let actual = self.inflater.total_out() as u32;
                    if size != actual {
                        return Err(CompressError::SizeMismatch { expected: size, actual });
                    }
                    self.part = Part::Done;
                }
                Part::Done => {
                    if !input.is_empty() {
                        return Err(CompressError::TrailingData(input.len()));
                    }
                    return Ok(Status::Done);
                }
            }
        }
    }

    /// Call at the end of the input: an error unless the whole member arrived.
    pub fn finish(&self) -> Result<(), CompressError> {
        match self.part {
            Part::Header(_) => Err(CompressError::Truncated("the gzip header")),
            Part::Body => Err(CompressError::Truncated("the deflate data")),
            Part::Trailer(_) => Err(CompressError::Truncated("the gzip trailer")),
            Part::Done => Ok(()),
        }
    }
}

/// The length of the complete header at the start of `buf`, `None` if more bytes are needed.
fn header_length(buf: &[u8]) -> Result<Option<usize>, CompressError> {
    if buf.len() >= 2 && buf[..2] != [0x1f, 0x8b] {
        return Err(CompressError::BadHeader("not gzip data (the magic bytes 1f 8b are missing)"));
    }
    if buf.len() >= 3 && buf[2] != 8 {
        return Err(CompressError::BadHeader("gzip compression method is not 8 (deflate)"));
    }
    if buf.len() < 10 {
        return Ok(None);
    }
    let flags = buf[3];
    if flags & 0xE0 != 0 {
        return Err(CompressError::BadHeader("reserved gzip flag bits are set"));
    }
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let Some(len) = buf.get(at..at + 2) else { return Ok(None) };
        at += 2 + u16::from_le_bytes([len[0], len[1]]) as usize;
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let Some(zero) = buf.get(at..).and_then(|rest| rest.iter().position(|&b| b == 0)) else { return Ok(None) };
            at += zero + 1;
        }
    }
    if flags & FHCRC != 0 {
        let Some(stored) = buf.get(at..at + 2) else { return Ok(None) };
        // HCRC is the low 16 bits of the CRC-32 of the header before it.
        let computed = super::crc32::crc32(&buf[..at]) as u16;
        let stored = u16::from_le_bytes([stored[0], stored[1]]);
        if stored != computed {
            return Err(CompressError::Checksum {
                kind: "gzip header CRC-16",
                expected: stored as u32,
                computed: computed as u32,
            });
        }
        at += 2;
    }
    Ok((at <= buf.len()).then_some(at))
}
