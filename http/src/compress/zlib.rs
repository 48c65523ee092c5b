//! The zlib format (RFC 1950) — Python's `zlib.compress` / `zlib.decompress`, and what HTTP
//! calls `Content-Encoding: deflate`.
//!
//! Two header bytes, the raw DEFLATE stream, and the Adler-32 of the data, big-endian:
//!
//! ```text
//! CMF (method 8, window log2 − 8) │ FLG (level hint, FDICT, check: CMF·256+FLG ≡ 0 mod 31) │ deflate … │ ADLER32
//! ```

use super::adler32::Adler32;
use super::deflate::Deflater;
use super::error::CompressError;
use super::inflate::{Inflater, Status};

/// A zlib encoder, fed in pieces.
pub struct ZlibEncoder {
    /// The DEFLATE stream inside.
    deflater: Deflater,
    /// The Adler-32 of the input so far.
    adler: Adler32,
    /// The two header bytes went out.
    header_written: bool,
}

impl ZlibEncoder {
    /// An encoder at `level` 0..=9.
    pub fn new(level: u8) -> ZlibEncoder {
        ZlibEncoder { deflater: Deflater::new(level), adler: Adler32::new(), header_written: false }
    }

    fn header(&mut self, out: &mut Vec<u8>) {
        if !self.header_written {
            // 0x78: method 8, 32 KiB window. FLG's level hint is what zlib writes; the low
            // five bits make the pair a multiple of 31.
            let flg = match self.deflater.level() {
                0 | 1 => 0x01,
                2..=5 => 0x5E,
                6 => 0x9C,
                _ => 0xDA,
            };
            out.extend_from_slice(&[0x78, flg]);
            self.header_written = true;
        }
    }

    /// Takes `input`, appending whatever output is ready.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.header(out);
        self.adler.update(input);
        self.deflater.compress(input, out);
    }

    /// Writes everything so far, byte-aligned (a sync flush).
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        self.header(out);
        self.deflater.flush(out);
    }

    /// Ends the stream with the Adler-32 trailer.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        self.header(out);
        self.deflater.finish(out);
        out.extend_from_slice(&self.adler.value().to_be_bytes());
    }
}

/// Where a zlib decoder is.
enum Part {
    /// Buffering the two header bytes.
    Header(Vec<u8>),
    /// Inside the DEFLATE stream.
    Body,
    /// Buffering the four trailer bytes.
    Trailer(Vec<u8>),
    /// The checksum matched; nothing may follow.
    Done,
}

/// A zlib decoder, fed in pieces.
pub struct ZlibDecoder {
    /// The part of the format being read.
    part: Part,
    /// The DEFLATE decoder, with the caller's limit.
    inflater: Inflater,
    /// The Adler-32 of the output so far.
    adler: Adler32,
}

impl ZlibDecoder {
    /// A decoder that fails once the output would exceed `limit` bytes.
    pub fn new(limit: u64) -> ZlibDecoder {
        ZlibDecoder {
            part: Part::Header(Vec::new()),
            inflater: Inflater::new().with_limit(limit),
            adler: Adler32::new(),
        }
    }

    /// Decodes what it can of `input` into `out`.
    pub fn decode(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<Status, CompressError> {
        loop {
            match &mut self.part {
                Part::Header(buf) => {
                    let take = (2 - buf.len()).min(input.len());
                    buf.extend_from_slice(&input[..take]);
                    input = &input[take..];
                    if buf.len() < 2 {
                        return Ok(Status::NeedsInput);
                    }
                    let (cmf, flg) = (buf[0], buf[1]);
                    if cmf & 0x0F != 8 {
                        return Err(CompressError::BadHeader("zlib compression method is not 8 (deflate)"));
                    }
                    if cmf >> 4 > 7 {
                        return Err(CompressError::BadHeader("zlib window larger than 32 KiB"));
                    }
                    if !(cmf as u16 * 256 + flg as u16).is_multiple_of(31) {
                        return Err(CompressError::BadHeader("zlib header check bits are wrong"));
                    }
                    if flg & 0x20 != 0 {
                        return Err(CompressError::Unsupported("zlib stream with a preset dictionary"));
                    }
                    // The header's window size is a promise: hold the stream to it.
                    self.inflater = std::mem::take(&mut self.inflater).with_window_bits((cmf >> 4) + 8);
                    self.part = Part::Body;
                }
                Part::Body => {
                    let start = out.len();
                    let status = self.inflater.inflate(input, out)?;
                    self.adler.update(&out[start..]);
                    if status == Status::NeedsInput {
                        return Ok(Status::NeedsInput);
                    }
                    self.part = Part::Trailer(self.inflater.take_remainder());
                    input = &[];
                }
                Part::Trailer(buf) => {
                    buf.extend_from_slice(input);
                    input = &[];
                    if buf.len() < 4 {
                        return Ok(Status::NeedsInput);
                    }
                    if buf.len() > 4 {
                        return Err(CompressError::TrailingData(buf.len() - 4));
                    }
                    let expected = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
                    let computed = self.adler.value();
                    if expected != computed {
                        return Err(CompressError::Checksum { kind: "Adler-32", expected, computed });
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

    /// Call at the end of the input: an error unless the whole stream arrived.
    pub fn finish(&self) -> Result<(), CompressError> {
        match self.part {
            Part::Header(_) => Err(CompressError::Truncated("the zlib header")),
            Part::Body => Err(CompressError::Truncated("the deflate data")),
            Part::Trailer(_) => Err(CompressError::Truncated("the Adler-32 trailer")),
            Part::Done => Ok(()),
        }
    }
}
