//! What can be wrong with a compressed stream, as values a caller can report.
//!
//! Every malformed input maps to one variant that names the fault (zlib's `msg` strings play
//! the same role: "invalid distance too far back", "incorrect data check"). The codec never
//! panics on input: a decoder that can be crashed by a crafted body is a denial of service.

use std::fmt;

/// Why a stream could not be decoded (or, for [`CompressError::OutputLimit`], was refused).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompressError {
    /// The input stopped before the stream was complete; names the part that was cut.
    Truncated(&'static str),
    /// A block header with the reserved block type 3.
    BadBlockType,
    /// A stored block whose length and its ones' complement disagree.
    StoredLength {
        /// The LEN field.
        len: u16,
        /// The NLEN field (should be `!len`).
        nlen: u16,
    },
    /// The code lengths of a dynamic block do not describe a usable prefix code.
    BadCodeLengths(&'static str),
    /// A bit pattern that is no code, or a symbol the alphabet reserves (286, 287, 30, 31).
    BadSymbol(&'static str),
    /// A back-reference to before the start of the output or beyond the window.
    DistanceTooFar {
        /// The distance the stream asked for.
        distance: usize,
        /// How far back the decoder can reach at that point.
        available: usize,
    },
    /// A gzip or zlib header that is not one.
    BadHeader(&'static str),
    /// The checksum in the trailer does not match the decoded data.
    Checksum {
        /// "CRC-32" or "Adler-32".
        kind: &'static str,
        /// The value in the trailer.
        expected: u32,
        /// The value of the data decoded.
        computed: u32,
    },
    /// The gzip ISIZE field disagrees with the decoded length (modulo 2^32).
    SizeMismatch {
        /// The value in the trailer.
        expected: u32,
        /// The decoded length modulo 2^32.
        actual: u32,
    },
    /// Bytes after the end of a complete stream.
    TrailingData(usize),
    /// The stream would decode to more than the caller allowed (a decompression bomb, or
    /// simply more than the application wants to hold).
    OutputLimit(u64),
    /// A valid feature this codec does not implement (a zlib preset dictionary).
    Unsupported(&'static str),
}

impl fmt::Display for CompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompressError::Truncated(what) => write!(f, "compressed stream truncated: it ends inside {what}"),
            CompressError::BadBlockType => f.write_str("invalid deflate block type 3 (reserved)"),
            CompressError::StoredLength { len, nlen } => {
                write!(f, "stored block length {len} does not match its complement {nlen}")
            }
            CompressError::BadCodeLengths(why) => write!(f, "invalid code lengths in a dynamic block: {why}"),
            CompressError::BadSymbol(why) => write!(f, "invalid code in deflate data: {why}"),
            CompressError::DistanceTooFar { distance, available } => write!(
                f,
                "back-reference distance {distance} reaches beyond the {available} bytes of history available"
            ),
            CompressError::BadHeader(why) => write!(f, "invalid header: {why}"),
            CompressError::Checksum { kind, expected, computed } => {
                write!(f, "{kind} mismatch: trailer says {expected:#010x}, data gives {computed:#010x}")
            }
            CompressError::SizeMismatch { expected, actual } => {
                write!(f, "gzip length mismatch: trailer says {expected} bytes, decoded {actual}")
            }
            CompressError::TrailingData(n) => write!(f, "{n} unexpected bytes after the end of the compressed stream"),
            CompressError::OutputLimit(limit) => write!(f, "decompressed data exceeds the limit of {limit} bytes"),
            CompressError::Unsupported(what) => write!(f, "unsupported: {what}"),
        }
    }
}

impl std::error::Error for CompressError {}

/// Why the decoder stopped inside a step: not enough input yet (an expected state, not an
/// error: the step is retried from its start when more bytes arrive), or a real fault.
#[derive(Debug)]
pub(crate) enum Halt {
    /// The step needs more bytes than were given.
    NeedInput,
    /// The stream is malformed.
    Fail(CompressError),
}

impl From<CompressError> for Halt {
    fn from(e: CompressError) -> Halt {
        Halt::Fail(e)
    }
}
