//! The streaming DEFLATE decoder (RFC 1951) — what `zlib.decompressobj(-15)` does in Python.
//!
//! Input arrives in pieces (network reads), so decoding may stop anywhere: inside a block
//! header, between a length and its distance, in the middle of a stored block. Rather than a
//! state machine with a state per field (zlib's `inflate.c` has thirty), each *step* — one
//! block header with its code tables, or one symbol with its extra bits — is decoded from a
//! mark; if the input runs out inside it, the reader goes back to the
//! mark, the unread bytes are kept, and the step starts over when more arrive. The same
//! check-then-parse that reads HTTP heads. Only the bytes of one unfinished step are kept
//! (at most a few hundred, for a dynamic header), so memory stays bounded by the window.
//!
//! Output goes into a sliding window first, because a match may copy from anything in the
//! last 32 KiB, including output that an earlier call already handed out. The window is
//! handed to the caller whenever it has grown by `HAND_OUT_AT` and at the end of every
//! call, then trimmed to the last 32 KiB. The output limit is checked at each hand-out: a
//! stream that would produce more than the limit gets exactly the limit's worth out, and
//! fails there.
//!
//! Faults are reported in stream order, whatever the pieces. When a call meets a corrupt
//! symbol, what it decoded before the symbol is still handed out, and a stream that had
//! already passed its limit fails on the limit, not on the corruption after it. Otherwise
//! the verdict would depend on where the network cut the input: a call given the whole
//! stream would find the corruption before its hand-out, and a call given a piece would
//! hand out first and find the limit. A caller that checks the output as it comes (a
//! WebSocket text message's UTF-8) sees its own fault first too, if it came first.

use std::sync::OnceLock;

use super::alphabet::{
    fixed_distance_lengths, fixed_literal_lengths, CODE_LENGTH_ORDER, DISTANCE_BASE, DISTANCE_EXTRA, END_OF_BLOCK,
    LENGTH_BASE, LENGTH_EXTRA, WINDOW,
};
use super::bits::BitReader;
use super::error::{CompressError, Halt};
use super::huffman::Decoder;

/// The window is handed out and trimmed once it holds this many bytes.
const HAND_OUT_AT: usize = 256 * 1024;

/// Where a decoder is after a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Everything given was used; the stream is not over yet.
    NeedsInput,
    /// The final block ended. Bytes after it are kept (see [`Inflater::take_remainder`]).
    Done,
}

/// The two codes of a Huffman block.
#[derive(Clone)]
struct Codes {
    /// Literals, end of block, and lengths.
    literal: Decoder,
    /// Distances.
    distance: Decoder,
}

/// What the next step of decoding is.
enum State {
    /// A block header (3 bits, and for dynamic blocks the code tables) is next.
    Header,
    /// Inside a stored block, with this many bytes still to copy.
    Stored(usize),
    /// Inside a Huffman block.
    Huffman(Box<Codes>),
    /// The final block ended.
    Done,
    /// The stream was malformed; every later call repeats the error.
    Failed(CompressError),
}

/// A raw DEFLATE decoder, fed in pieces.
///
/// ```
/// use rasgi_http::compress::{Inflater, Status};
///
/// // "hello" as one fixed-Huffman block, as zlib writes it.
/// let stream = [0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
/// let mut inflater = Inflater::new();
/// let mut out = Vec::new();
/// assert_eq!(inflater.inflate(&stream[..3], &mut out).unwrap(), Status::NeedsInput);
/// assert_eq!(inflater.inflate(&stream[3..], &mut out).unwrap(), Status::Done);
/// assert_eq!(out, b"hello");
/// ```
pub struct Inflater {
    /// The next step.
    state: State,
    /// The block being decoded is the final one (BFINAL was set).
    last_block: bool,
    /// Input not yet decoded: the start of an unfinished step, or after `Done`, what
    /// followed the stream.
    pending: Vec<u8>,
    /// Bits of a partly consumed byte before `pending` (fewer than 8, in the low bits).
    bit_buf: u64,
    /// How many bits `bit_buf` holds (< 8).
    bit_count: u32,
    /// Recent output: at least the last `min(window_size, total)` bytes, ending with the
    /// newest. Bytes from `handed_out` on have not reached the caller yet.
    window: Vec<u8>,
    /// Index in `window` of the first byte not yet handed out.
    handed_out: usize,
    /// The farthest back a match may reach: 2^window_bits.
    window_size: usize,
    /// The most bytes the stream may decode to, counted in `total_out`.
    limit: u64,
    /// `total_out` when the limit was set, so that an error names the budget that was given.
    limit_from: u64,
    /// Bytes handed to the caller so far.
    total_out: u64,
}

impl Default for Inflater {
    fn default() -> Inflater {
        Inflater::new()
    }
}

impl Inflater {
    /// A decoder with the full 32 KiB window and no output limit.
    pub fn new() -> Inflater {
        Inflater {
            state: State::Header,
            last_block: false,
            pending: Vec::new(),
            bit_buf: 0,
            bit_count: 0,
            window: Vec::with_capacity(2 * WINDOW),
            handed_out: 0,
            window_size: WINDOW,
            limit: u64::MAX,
            limit_from: 0,
            total_out: 0,
        }
    }

    /// Fails the stream once it would decode to more than `limit` bytes.
    pub fn with_limit(mut self, limit: u64) -> Inflater {
        self.limit = self.total_out.saturating_add(limit);
        self.limit_from = self.total_out;
        self
    }

    /// Allows at most `bytes` more output from now on: a per-message limit for a decoder that
    /// lives across messages (permessage-deflate with context takeover, where uvicorn's
    /// `--ws-max-size` bounds each message).
    pub fn limit_further(&mut self, bytes: u64) {
        self.limit = self.total_out.saturating_add(bytes);
        self.limit_from = self.total_out;
    }

    /// Refuses matches farther back than 2^`bits` (8..=15), as permessage-deflate's
    /// `*_max_window_bits` and zlib's header promise.
    pub fn with_window_bits(mut self, bits: u8) -> Inflater {
        self.window_size = 1 << bits.clamp(8, 15);
        self
    }

    /// Forgets the stream and its history, keeping the settings: a new stream follows
    /// (permessage-deflate without context takeover calls this between messages).
    pub fn reset(&mut self) {
        self.state = State::Header;
        self.last_block = false;
        self.pending.clear();
        self.bit_buf = 0;
        self.bit_count = 0;
        self.window.clear();
        self.handed_out = 0;
        self.limit = self.limit.saturating_sub(self.limit_from);
        self.limit_from = 0;
        self.total_out = 0;
    }

    /// Bytes decoded and handed out so far.
    pub fn total_out(&self) -> u64 {
        self.total_out
    }

    /// True once the final block ended.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The input that followed the end of the stream (a wrapper's trailer), taken out.
    pub fn take_remainder(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }

    /// Decodes what it can of `input`, appending the output to `out`.
    pub fn inflate(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Status, CompressError> {
        match &self.state {
            State::Done => {
                self.pending.extend_from_slice(input);
                return Ok(Status::Done);
            }
            State::Failed(e) => return Err(e.clone()),
            _ => {}
        }
        let result = if self.pending.is_empty() {
            let mut bits = BitReader::new(input, self.bit_buf, self.bit_count);
            let result = self.run(&mut bits, out);
            self.pending.extend_from_slice(bits.rest());
            (self.bit_buf, self.bit_count) = bits.leftover();
            result
        } else {
            let mut data = std::mem::take(&mut self.pending);
            data.extend_from_slice(input);
            let mut bits = BitReader::new(&data, self.bit_buf, self.bit_count);
            let result = self.run(&mut bits, out);
            let used = bits.pos;
            (self.bit_buf, self.bit_count) = bits.leftover();
            data.drain(..used);
            self.pending = data;
            result
        };
        let result = match result {
            Ok(status) => self.hand_out(out).map(|()| status),
            // Stream order (see the module docs): the output before the fault goes out
            // first, and if it passed the limit, the limit is the fault.
            Err(fault) => Err(self.hand_out(out).err().unwrap_or(fault)),
        };
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
        }
        result
    }

    /// Runs steps until the input ends or the stream does. Leaves `bits` unread to a byte
    /// boundary, so that the caller can keep `bits.rest()`.
    fn run(&mut self, bits: &mut BitReader<'_>, out: &mut Vec<u8>) -> Result<Status, CompressError> {
        loop {
            let mark = bits.mark();
            let step = match std::mem::replace(&mut self.state, State::Header) {
                State::Header => self.header(bits),
                State::Stored(left) => self.stored(bits, left),
                State::Huffman(codes) => self.huffman(bits, codes, out),
                State::Done => {
                    self.state = State::Done;
                    bits.align();
                    bits.unread();
                    return Ok(Status::Done);
                }
                State::Failed(e) => Err(Halt::Fail(e)),
            };
            match step {
                Ok(()) => {}
                Err(Halt::NeedInput) => {
                    // A block header is redone from its start; stored and Huffman blocks keep
                    // what they decoded and have already put their own state back.
                    if matches!(self.state, State::Header) {
                        bits.reset(mark);
                    }
                    bits.unread();
                    return Ok(Status::NeedsInput);
                }
                Err(Halt::Fail(e)) => return Err(e),
            }
        }
    }

    /// One block header: the next state is set only once the whole header was read.
    fn header(&mut self, bits: &mut BitReader<'_>) -> Result<(), Halt> {
        let last = bits.take(1)? == 1;
        let next = match bits.take(2)? {
            0 => {
                bits.align();
                let len = bits.take(16)? as u16;
                let nlen = bits.take(16)? as u16;
                if len != !nlen {
                    return Err(CompressError::StoredLength { len, nlen }.into());
                }
                State::Stored(len as usize)
            }
            1 => State::Huffman(Box::new(fixed_codes().clone())),
            2 => State::Huffman(Box::new(dynamic_codes(bits)?)),
            _ => return Err(CompressError::BadBlockType.into()),
        };
        self.last_block = last;
        self.state = next;
        Ok(())
    }

    /// Copies what is there of a stored block.
    fn stored(&mut self, bits: &mut BitReader<'_>, left: usize) -> Result<(), Halt> {
        bits.unread();
        let bytes = bits.take_bytes(left);
        self.window.extend_from_slice(bytes);
        let left = left - bytes.len();
        if left > 0 {
            // The state is committed byte by byte: no step to redo, so mark it done here.
            self.state = State::Stored(left);
            return Err(Halt::NeedInput);
        }
        self.end_block();
        Ok(())
    }

    fn end_block(&mut self) {
        self.state = if self.last_block { State::Done } else { State::Header };
    }

    /// Symbols until the end of the block or of the input.
    fn huffman(&mut self, bits: &mut BitReader<'_>, codes: Box<Codes>, out: &mut Vec<u8>) -> Result<(), Halt> {
        loop {
            if self.window.len() >= HAND_OUT_AT {
                self.hand_out(out)?;
            }
            // Literals are most symbols: they take a shortcut that needs no mark, because a
            // literal whose code is in the fast table is either decoded whole or not touched.
            let entry = codes.literal.peek_fast(bits);
            if entry != 0 && entry >> 4 < 256 {
                bits.consume((entry & 15) as u32);
                self.window.push((entry >> 4) as u8);
                continue;
            }
            let mark = bits.mark();
            match self.symbol(bits, &codes) {
                Ok(true) => {}
                Ok(false) => {
                    self.end_block();
                    return Ok(());
                }
                Err(Halt::NeedInput) => {
                    bits.reset(mark);
                    self.state = State::Huffman(codes);
                    return Err(Halt::NeedInput);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One literal or one match: `Ok(false)` at the end of the block. Nothing is written
    /// until every bit of the symbol has been read, so a retry starts clean.
    #[inline]
    fn symbol(&mut self, bits: &mut BitReader<'_>, codes: &Codes) -> Result<bool, Halt> {
        let symbol = codes.literal.decode(bits)?;
        if symbol < 256 {
            self.window.push(symbol as u8);
            return Ok(true);
        }
        if symbol == END_OF_BLOCK {
            return Ok(false);
        }
        let index = (symbol - 257) as usize;
        if index >= LENGTH_BASE.len() {
            return Err(CompressError::BadSymbol("length symbol 286 or 287").into());
        }
        let length = LENGTH_BASE[index] as usize + bits.take(LENGTH_EXTRA[index] as u32)? as usize;
        let symbol = codes.distance.decode(bits)? as usize;
        if symbol >= DISTANCE_BASE.len() {
            return Err(CompressError::BadSymbol("distance symbol 30 or 31").into());
        }
        let distance = DISTANCE_BASE[symbol] as usize + bits.take(DISTANCE_EXTRA[symbol] as u32)? as usize;
        let available = self.window.len().min(self.window_size);
        if distance > available {
            return Err(CompressError::DistanceTooFar { distance, available }.into());
        }
        let start = self.window.len() - distance;
        if distance >= length && length > 32 {
            self.window.extend_from_within(start..start + length);
        } else {
            // Byte by byte: an overlapping match repeats its own output ("abcabcabc" from
            // distance 3) and must be copied forward; and for the short matches that are most
            // of them, this loop beats a call to memmove.
            self.window.reserve(length);
            for i in start..start + length {
                let byte = self.window[i];
                self.window.push(byte);
            }
        }
        Ok(true)
    }

    /// Gives the caller the window's new bytes, then trims the window to what a match
    /// may still reach. Past the limit, only the bytes up to it go out.
    fn hand_out(&mut self, out: &mut Vec<u8>) -> Result<(), CompressError> {
        let fresh = &self.window[self.handed_out..];
        let room = self.limit.saturating_sub(self.total_out);
        if fresh.len() as u64 > room {
            // `room` < `fresh.len()`, so it fits in a usize.
            out.extend_from_slice(&fresh[..room as usize]);
            self.total_out += room;
            self.handed_out += room as usize;
            return Err(CompressError::OutputLimit(self.limit - self.limit_from));
        }
        out.extend_from_slice(fresh);
        self.total_out += fresh.len() as u64;
        self.handed_out = self.window.len();
        if self.window.len() > 2 * WINDOW {
            let cut = self.window.len() - WINDOW;
            self.window.drain(..cut);
            self.handed_out = WINDOW;
        }
        Ok(())
    }
}

/// The codes of block type 1, built once.
fn fixed_codes() -> &'static Codes {
    static FIXED: OnceLock<Codes> = OnceLock::new();
    FIXED.get_or_init(|| Codes {
        literal: Decoder::new(&fixed_literal_lengths()).unwrap_or_else(|_| unreachable!("the fixed code is complete")),
        distance: Decoder::new(&fixed_distance_lengths())
            .unwrap_or_else(|_| unreachable!("the fixed code is complete")),
    })
}

/// Reads a dynamic block's code tables (RFC 1951 §3.2.7): the code lengths are themselves
/// Huffman-coded, with run-length symbols 16 (repeat the previous length 3–6 times), 17 and
/// 18 (3–10 and 11–138 zeros).
fn dynamic_codes(bits: &mut BitReader<'_>) -> Result<Codes, Halt> {
    let literals = bits.take(5)? as usize + 257;
    let distances = bits.take(5)? as usize + 1;
    let code_lengths = bits.take(4)? as usize + 4;
    if literals > 286 {
        return Err(CompressError::BadCodeLengths("more than 286 literal/length codes").into());
    }
    if distances > 30 {
        return Err(CompressError::BadCodeLengths("more than 30 distance codes").into());
    }
    let mut cl_lengths = [0u8; 19];
    for &symbol in &CODE_LENGTH_ORDER[..code_lengths] {
        cl_lengths[symbol] = bits.take(3)? as u8;
    }
    let cl = Decoder::new(&cl_lengths).map_err(|_| CompressError::BadCodeLengths("unusable code-length code"))?;

    let mut lengths = [0u8; 286 + 30];
    let total = literals + distances;
    let mut i = 0;
    while i < total {
        let symbol = cl.decode(bits)?;
        let (value, repeat) = match symbol {
            0..=15 => (symbol as u8, 1),
            16 => {
                if i == 0 {
                    return Err(CompressError::BadCodeLengths("a repeat with no previous length").into());
                }
                (lengths[i - 1], 3 + bits.take(2)? as usize)
            }
            17 => (0, 3 + bits.take(3)? as usize),
            _ => (0, 11 + bits.take(7)? as usize),
        };
        if i + repeat > total {
            return Err(CompressError::BadCodeLengths("a repeat past the last length").into());
        }
        lengths[i..i + repeat].fill(value);
        i += repeat;
    }
    if lengths[END_OF_BLOCK as usize] == 0 {
        return Err(CompressError::BadCodeLengths("no code for the end of the block").into());
    }
    let literal = Decoder::new(&lengths[..literals]).map_err(CompressError::BadCodeLengths)?;
    let distance = Decoder::new(&lengths[literals..total]).map_err(CompressError::BadCodeLengths)?;
    Ok(Codes { literal, distance })
}
