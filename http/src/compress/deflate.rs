//! The DEFLATE encoder (RFC 1951) — `zlib.compressobj(level, wbits=-15)` in Python.
//!
//! Two stages, as in zlib:
//!
//! 1. **LZ77 matching** (`Deflater::lazy_step`, `Deflater::greedy_step`). Every position's
//!    next three bytes are hashed; `head[hash]` is the latest position with that hash and
//!    `prev[pos % 32K]` the one before it, so each hash has a chain of earlier positions,
//!    newest first. `Deflater::longest_match` walks a chain (up to a level-dependent length)
//!    for the longest match. *Lazy matching* then waits one byte before taking a match: if
//!    the next position matches longer, the current byte goes out as a literal instead.
//!    Levels 1–3 skip the wait (greedy) and insert fewer positions, trading ratio for speed.
//! 2. **Block coding** (`Deflater::emit_block`). The symbols of up to 16 K literals and
//!    matches are counted, Huffman code lengths are built for exactly those counts, and the
//!    block is written as whichever is smallest: dynamic Huffman (with its code tables),
//!    fixed Huffman (no tables, good for short blocks), or stored (incompressible data
//!    costs 5 bytes per 64 KiB instead of growing).
//!
//! Level 0 only stores. The input is buffered until a block is written, so a stored block
//! can be copied out of it, and then trimmed to the 32 KiB a later match may reach.
//!
//! [`Deflater::flush`] is zlib's `Z_SYNC_FLUSH`: everything given so far is written and
//! byte-aligned by an empty stored block, which ends on `00 00 ff ff` — the marker
//! permessage-deflate strips from each message. The window survives a flush (context
//! takeover); [`Deflater::reset`] forgets it.

use super::alphabet::{
    distance_code, fixed_distance_lengths, fixed_literal_lengths, length_code, CODE_LENGTH_ORDER, DISTANCE_BASE,
    DISTANCE_EXTRA, END_OF_BLOCK, LENGTH_BASE, LENGTH_EXTRA, MAX_MATCH, MIN_MATCH, WINDOW,
};
use super::bits::BitWriter;
use super::huffman::{canonical_codes, lengths_for, MAX_BITS};

/// Bits of the hash of three bytes.
const HASH_BITS: u32 = 15;
/// Position within the `prev` ring.
const WINDOW_MASK: usize = WINDOW - 1;
/// Lookahead the matcher wants before it works on a position without a flush: one longest
/// match plus the next three bytes to hash.
const MIN_LOOKAHEAD: usize = MAX_MATCH + MIN_MATCH + 1;
/// Symbols per block (zlib's `lit_bufsize − 1` at its default memory level).
const MAX_SYMBOLS: usize = 16 * 1024 - 1;
/// A three-byte match farther than this costs more bits than three literals (zlib's `TOO_FAR`).
const TOO_FAR: usize = 4096;
/// The largest stored block.
const MAX_STORED: usize = 65535;

/// How hard a level searches (zlib's `configuration_table`).
#[derive(Clone, Copy, Debug)]
struct Params {
    /// A match at least this long quarters the chain search for the next one.
    good: usize,
    /// Lazy levels: do not look for a better match after one this long. Greedy levels:
    /// insert the positions inside a match only when it is at most this long.
    lazy: usize,
    /// Stop searching once a match is this long.
    nice: usize,
    /// Chain links followed per search.
    chain: usize,
    /// Lazy matching (levels 4–9) or greedy (1–3).
    lazy_matching: bool,
}

/// The parameters of `level` (1..=9).
fn params(level: u8) -> Params {
    let (good, lazy, nice, chain, lazy_matching) = match level {
        1 => (4, 4, 8, 4, false),
        2 => (4, 5, 16, 8, false),
        3 => (4, 6, 32, 32, false),
        4 => (4, 4, 16, 16, true),
        5 => (8, 16, 32, 32, true),
        6 => (8, 16, 128, 128, true),
        7 => (8, 32, 128, 256, true),
        8 => (32, 128, 258, 1024, true),
        _ => (32, 258, 258, 4096, true),
    };
    Params { good, lazy, nice, chain, lazy_matching }
}

/// A raw DEFLATE encoder, fed in pieces.
///
/// ```
/// use rasgi_http::compress::{Deflater, Inflater};
///
/// let mut deflater = Deflater::new(6);
/// let mut packed = Vec::new();
/// deflater.compress(b"hello hello hello hello", &mut packed);
/// deflater.finish(&mut packed);
/// let mut unpacked = Vec::new();
/// Inflater::new().inflate(&packed, &mut unpacked).unwrap();
/// assert_eq!(unpacked, b"hello hello hello hello");
/// ```
pub struct Deflater {
    /// 0 (store only) to 9.
    level: u8,
    /// The search parameters of `level`.
    params: Params,
    /// The farthest back a match may reach (2^window_bits).
    window_size: usize,
    /// Stream bytes from absolute position `base` on: at least the `window_size` bytes
    /// before `cursor`, the unwritten block, and the lookahead.
    data: Vec<u8>,
    /// Absolute stream position of `data[0]`.
    base: usize,
    /// Absolute position of the next byte to match.
    cursor: usize,
    /// Absolute position of the first byte of the block not yet written.
    block_start: usize,
    /// Per hash: 1 + the latest position with that hash, or 0. Fixed-size arrays, so that
    /// an index masked to their size needs no bounds check.
    head: Box<[usize; 1 << HASH_BITS]>,
    /// Per position modulo the window: 1 + the previous position with the same hash, or 0.
    prev: Box<[usize; WINDOW]>,
    /// The block's symbols: a literal as `byte << 16`, a match as `length << 16 | distance`
    /// (a distance is never 0, which tells them apart).
    symbols: Vec<u32>,
    /// Counts of the block's literal/length symbols.
    literal_freq: [u32; 286],
    /// Counts of the block's distance symbols.
    distance_freq: [u32; 30],
    /// Lazy matching: a match found at `cursor − 1` that waits for the next position to
    /// be tried (its length; below `MIN_MATCH` means none).
    prev_length: usize,
    /// The distance of that match.
    prev_distance: usize,
    /// Lazy matching: the byte at `cursor − 1` is not yet coded.
    pending_literal: bool,
    /// Coded bits not yet handed to the caller.
    writer: BitWriter,
}

impl Deflater {
    /// An encoder at `level`: 0 stores, 1 is fastest, 9 smallest; 6 is zlib's default.
    pub fn new(level: u8) -> Deflater {
        let level = level.min(9);
        Deflater {
            level,
            params: params(level.max(1)),
            window_size: WINDOW,
            data: Vec::new(),
            base: 0,
            cursor: 0,
            block_start: 0,
            head: Box::new([0; 1 << HASH_BITS]),
            prev: Box::new([0; WINDOW]),
            symbols: Vec::with_capacity(MAX_SYMBOLS + 1),
            literal_freq: [0; 286],
            distance_freq: [0; 30],
            prev_length: 0,
            prev_distance: 0,
            pending_literal: false,
            writer: BitWriter::default(),
        }
    }

    /// Never matches farther back than 2^`bits` (8..=15): what a permessage-deflate peer
    /// asks with `*_max_window_bits`.
    pub fn with_window_bits(mut self, bits: u8) -> Deflater {
        self.window_size = 1 << bits.clamp(8, 15);
        self
    }

    /// The level this encoder was made with.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// Takes `input`; whole blocks that are ready are appended to `out`. Most of the
    /// input stays buffered until a block fills or [`flush`](Self::flush) /
    /// [`finish`](Self::finish).
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.data.extend_from_slice(input);
        self.run(false);
        out.append(&mut self.writer.bytes);
    }

    /// Writes everything given so far and aligns the output to a byte with an empty stored
    /// block: `out` then ends on `00 00 ff ff`, and a decoder can produce every byte.
    pub fn flush(&mut self, out: &mut Vec<u8>) {
        self.run(true);
        self.emit_block(false);
        self.writer.put(0, 3);
        self.writer.align();
        self.writer.bytes.extend_from_slice(&[0, 0, 0xff, 0xff]);
        out.append(&mut self.writer.bytes);
    }

    /// Writes everything given so far as the final block. The encoder then starts a new
    /// stream (with no history) if it is given more input.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.run(true);
        self.emit_block(true);
        self.writer.align();
        out.append(&mut self.writer.bytes);
        self.reset();
    }

    /// Forgets the stream and its window; the settings stay. Output not yet flushed is lost.
    pub fn reset(&mut self) {
        self.data.clear();
        self.base = 0;
        self.cursor = 0;
        self.block_start = 0;
        self.head.fill(0);
        self.prev.fill(0);
        self.symbols.clear();
        self.literal_freq = [0; 286];
        self.distance_freq = [0; 30];
        self.prev_length = 0;
        self.pending_literal = false;
        self.writer = BitWriter::default();
    }

    /// Absolute position one past the last byte given.
    fn end(&self) -> usize {
        self.base + self.data.len()
    }

    /// Matches what the lookahead allows (all of it when `flush`), writing full blocks.
    fn run(&mut self, flush: bool) {
        if self.level == 0 {
            // Full stored blocks go out now; the last piece waits for the block that ends
            // the flush or the stream, so that a short input is one final block, as in zlib.
            while self.end() - self.block_start > MAX_STORED {
                self.cursor = self.block_start + MAX_STORED;
                self.emit_block(false);
            }
            self.cursor = self.end();
            return;
        }
        loop {
            let lookahead = self.end() - self.cursor;
            if lookahead == 0 || (!flush && lookahead < MIN_LOOKAHEAD) {
                break;
            }
            if self.symbols.len() >= MAX_SYMBOLS {
                self.emit_block(false);
            }
            if self.params.lazy_matching {
                self.lazy_step();
            } else {
                self.greedy_step();
            }
        }
        if flush && self.pending_literal {
            let byte = self.data[self.cursor - 1 - self.base];
            self.record_literal(byte);
            self.pending_literal = false;
            self.prev_length = 0;
        }
    }

    /// Greedy: take the longest match at the cursor, or a literal.
    fn greedy_step(&mut self) {
        let at = self.cursor;
        let candidate = self.insert(at);
        let (length, distance) = self.longest_match(at, candidate, MIN_MATCH - 1);
        if length >= MIN_MATCH {
            self.record_match(length, distance);
            // Positions inside a long match are rarely the start of a better one; skipping
            // them is most of what makes the fast levels fast.
            if length <= self.params.lazy {
                for p in at + 1..at + length {
                    self.insert(p);
                }
            }
            self.cursor = at + length;
        } else {
            let byte = self.data[at - self.base];
            self.record_literal(byte);
            self.cursor = at + 1;
        }
    }

    /// Lazy: a match found at `cursor − 1` is taken only if the cursor's is not longer.
    fn lazy_step(&mut self) {
        let at = self.cursor;
        let candidate = self.insert(at);
        let (mut length, mut distance) = (0, 0);
        if self.prev_length < self.params.lazy {
            (length, distance) = self.longest_match(at, candidate, self.prev_length.max(MIN_MATCH - 1));
            if length == MIN_MATCH && distance > TOO_FAR {
                length = 0;
            }
        }
        if self.prev_length >= MIN_MATCH && length <= self.prev_length {
            // The previous position's match wins; it covers `at` and more.
            self.record_match(self.prev_length, self.prev_distance);
            let match_end = at - 1 + self.prev_length;
            for p in at + 1..match_end {
                self.insert(p);
            }
            self.cursor = match_end;
            self.pending_literal = false;
            self.prev_length = 0;
            return;
        }
        if self.pending_literal {
            let byte = self.data[at - 1 - self.base];
            self.record_literal(byte);
        }
        self.pending_literal = true;
        if length < MIN_MATCH {
            length = 0;
            distance = 0;
        }
        self.prev_length = length;
        self.prev_distance = distance;
        self.cursor = at + 1;
    }

    /// Adds position `at` to its hash chain; returns the chain's previous head (1 + the
    /// position, or 0 when there is none or too few bytes remain to hash).
    #[inline]
    fn insert(&mut self, at: usize) -> usize {
        let i = at - self.base;
        let Some(three) = self.data.get(i..i + MIN_MATCH) else { return 0 };
        let key = (three[0] as u32) << 16 | (three[1] as u32) << 8 | three[2] as u32;
        let hash = (key.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize;
        let previous = self.head[hash];
        self.prev[at & WINDOW_MASK] = previous;
        self.head[hash] = at + 1;
        previous
    }

    /// The longest match for position `at` along the chain starting at `candidate`, if longer
    /// than `best`: `(length, distance)`, or `(0, 0)`.
    ///
    /// This loop is where compression spends its time, so each candidate is first judged by
    /// two byte pairs, as zlib does: a match longer than `best` must agree at its start and
    /// at `best − 1, best`, and most candidates fail one of the two.
    fn longest_match(&self, at: usize, mut candidate: usize, mut best: usize) -> (usize, usize) {
        let max_length = MAX_MATCH.min(self.end() - at);
        if best >= max_length {
            return (0, 0);
        }
        let data = &self.data[..];
        let oldest = at.saturating_sub(self.window_size).max(self.base);
        let mut chain = if best >= self.params.good { self.params.chain >> 2 } else { self.params.chain };
        let here = &data[at - self.base..at - self.base + max_length];
        let pair = |s: &[u8], i: usize| u16::from_le_bytes([s[i], s[i + 1]]);
        let start = pair(here, 0);
        let mut end = pair(here, best - 1);
        let mut found = (0, 0);
        // `candidate` is 1 + a position; positions before `oldest` are out of reach.
        while candidate > oldest {
            let pos = candidate - 1;
            if pos >= at {
                break;
            }
            let i = pos - self.base;
            let there = &data[i..i + max_length];
            if pair(there, best - 1) == end && pair(there, 0) == start {
                let length = common_prefix(here, there);
                if length > best {
                    best = length;
                    found = (length, at - pos);
                    if length >= self.params.nice || length >= max_length {
                        break;
                    }
                    end = pair(here, best - 1);
                }
            }
            chain -= 1;
            if chain == 0 {
                break;
            }
            let next = self.prev[pos & WINDOW_MASK];
            // Links only go back in time; one that does not was overwritten by a newer
            // position a window later, and the chain ends there.
            if next >= candidate {
                break;
            }
            candidate = next;
        }
        found
    }

    fn record_literal(&mut self, byte: u8) {
        self.symbols.push((byte as u32) << 16);
        self.literal_freq[byte as usize] += 1;
    }

    fn record_match(&mut self, length: usize, distance: usize) {
        self.symbols.push((length as u32) << 16 | distance as u32);
        self.literal_freq[257 + length_code(length)] += 1;
        self.distance_freq[distance_code(distance)] += 1;
    }

    /// Writes the symbols gathered since `block_start` as one block (or, if stored, as many
    /// 64 KiB stored blocks as needed), choosing the smallest coding; then trims the input.
    fn emit_block(&mut self, last: bool) {
        let block_end = self.cursor - self.pending_literal as usize;
        if self.symbols.is_empty() && block_end == self.block_start && !last {
            return;
        }
        let raw_len = block_end - self.block_start;
        self.literal_freq[END_OF_BLOCK as usize] += 1;

        let literal_lengths = lengths_for(&self.literal_freq, MAX_BITS);
        let mut distance_lengths = lengths_for(&self.distance_freq, MAX_BITS);
        if distance_lengths.iter().all(|&l| l == 0) {
            // A block without matches still sends a distance code; one complete code of two
            // one-bit entries is accepted by every decoder.
            distance_lengths[0] = 1;
            distance_lengths[1] = 1;
        }
        let tables = DynamicTables::new(&literal_lengths, &distance_lengths);
        let fixed_literal = fixed_literal_lengths();
        let fixed_distance = fixed_distance_lengths();
        let dynamic_bits = tables.bits + self.data_bits(&literal_lengths, &distance_lengths);
        let fixed_bits = self.data_bits(&fixed_literal, &fixed_distance);
        // Header, padding to a byte, LEN and NLEN, per 64 KiB piece.
        let pieces = raw_len.div_ceil(MAX_STORED).max(1);
        let stored_bits = (pieces * (3 + 7 + 32) + 8 * raw_len) as u64;

        if self.level == 0 || stored_bits < dynamic_bits.min(fixed_bits) {
            self.write_stored(block_end, last);
        } else if fixed_bits <= dynamic_bits {
            self.writer.put(last as u32, 1);
            self.writer.put(1, 2);
            self.write_symbols(&fixed_literal, &fixed_distance);
        } else {
            self.writer.put(last as u32, 1);
            self.writer.put(2, 2);
            tables.write(&mut self.writer);
            self.write_symbols(&literal_lengths, &distance_lengths);
        }

        self.symbols.clear();
        self.literal_freq = [0; 286];
        self.distance_freq = [0; 30];
        self.block_start = block_end;
        // Keep the window before the cursor (and the pending literal); drop the rest once it
        // is worth the copy.
        let keep_from = block_end.saturating_sub(WINDOW).max(self.base);
        if keep_from - self.base >= 2 * WINDOW {
            self.data.drain(..keep_from - self.base);
            self.base = keep_from;
        }
    }

    /// Bits the block's symbols cost with these code lengths.
    fn data_bits(&self, literal: &[u8], distance: &[u8]) -> u64 {
        let mut bits = 3u64;
        for (s, &f) in self.literal_freq.iter().enumerate() {
            let extra = if s > 256 { LENGTH_EXTRA[s - 257] as u64 } else { 0 };
            bits += f as u64 * (literal[s] as u64 + extra);
        }
        for (s, &f) in self.distance_freq.iter().enumerate() {
            bits += f as u64 * (distance[s] as u64 + DISTANCE_EXTRA[s] as u64);
        }
        bits
    }

    fn write_stored(&mut self, block_end: usize, last: bool) {
        let raw = &self.data[self.block_start - self.base..block_end - self.base];
        let mut pieces = raw.chunks(MAX_STORED).peekable();
        if raw.is_empty() {
            self.writer.put(last as u32, 1);
            self.writer.put(0, 2);
            self.writer.align();
            self.writer.bytes.extend_from_slice(&[0, 0, 0xff, 0xff]);
            return;
        }
        while let Some(piece) = pieces.next() {
            let final_piece = last && pieces.peek().is_none();
            self.writer.put(final_piece as u32, 1);
            self.writer.put(0, 2);
            self.writer.align();
            let len = piece.len() as u16;
            self.writer.put(len as u32, 16);
            self.writer.put(!len as u32, 16);
            self.writer.bytes.extend_from_slice(piece);
        }
    }

    fn write_symbols(&mut self, literal_lengths: &[u8], distance_lengths: &[u8]) {
        let literal_codes = canonical_codes(literal_lengths);
        let distance_codes = canonical_codes(distance_lengths);
        let w = &mut self.writer;
        for &symbol in &self.symbols {
            let distance = (symbol & 0xFFFF) as usize;
            let value = (symbol >> 16) as usize;
            if distance == 0 {
                w.put(literal_codes[value] as u32, literal_lengths[value] as u32);
                continue;
            }
            let lc = length_code(value);
            w.put(literal_codes[257 + lc] as u32, literal_lengths[257 + lc] as u32);
            w.put((value - LENGTH_BASE[lc] as usize) as u32, LENGTH_EXTRA[lc] as u32);
            let dc = distance_code(distance);
            w.put(distance_codes[dc] as u32, distance_lengths[dc] as u32);
            w.put((distance - DISTANCE_BASE[dc] as usize) as u32, DISTANCE_EXTRA[dc] as u32);
        }
        let eob = END_OF_BLOCK as usize;
        w.put(literal_codes[eob] as u32, literal_lengths[eob] as u32);
    }
}

/// The longest common prefix of `here` and `there` (at most `here.len()`), eight bytes at
/// a time: the first differing bit of the XOR falls in the first differing byte.
#[inline]
fn common_prefix(here: &[u8], there: &[u8]) -> usize {
    let max = here.len().min(there.len());
    let mut n = 0;
    while n + 8 <= max {
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(&here[n..n + 8]);
        b.copy_from_slice(&there[n..n + 8]);
        let diff = u64::from_le_bytes(a) ^ u64::from_le_bytes(b);
        if diff != 0 {
            return n + (diff.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    while n < max && here[n] == there[n] {
        n += 1;
    }
    n
}

/// A dynamic block's code tables, run-length coded (RFC 1951 §3.2.7), and their cost.
struct DynamicTables {
    /// Literal/length codes sent (257..=286).
    literals: usize,
    /// Distance codes sent (1..=30).
    distances: usize,
    /// Code-length codes sent (4..=19), in `CODE_LENGTH_ORDER`.
    code_lengths: usize,
    /// The code-length alphabet's own lengths (at most 7 bits).
    cl_lengths: Vec<u8>,
    /// The lengths as code-length symbols with their extra-bit values.
    runs: Vec<(u8, u8)>,
    /// Bits of the whole header after the 3 block-header bits.
    bits: u64,
}

impl DynamicTables {
    fn new(literal: &[u8], distance: &[u8]) -> DynamicTables {
        let literals = 257.max(literal.iter().rposition(|&l| l != 0).map_or(0, |i| i + 1));
        let distances = 1.max(distance.iter().rposition(|&l| l != 0).map_or(0, |i| i + 1));
        let all: Vec<u8> = literal[..literals].iter().chain(&distance[..distances]).copied().collect();

        let mut runs = Vec::new();
        let mut i = 0;
        while i < all.len() {
            let value = all[i];
            let run = all[i..].iter().take_while(|&&l| l == value).count();
            let mut left = run;
            if value == 0 {
                while left >= 11 {
                    let n = left.min(138);
                    runs.push((18, (n - 11) as u8));
                    left -= n;
                }
                if left >= 3 {
                    runs.push((17, (left - 3) as u8));
                    left = 0;
                }
            } else {
                runs.push((value, 0));
                left -= 1;
                while left >= 3 {
                    let n = left.min(6);
                    runs.push((16, (n - 3) as u8));
                    left -= n;
                }
            }
            runs.extend(std::iter::repeat_n((value, 0), left));
            i += run;
        }

        let mut freq = [0u32; 19];
        for &(symbol, _) in &runs {
            freq[symbol as usize] += 1;
        }
        let cl_lengths = lengths_for(&freq, 7);
        let code_lengths = 4.max(CODE_LENGTH_ORDER.iter().rposition(|&s| cl_lengths[s] != 0).map_or(0, |i| i + 1));
        let mut bits = 5 + 5 + 4 + 3 * code_lengths as u64;
        for &(symbol, _) in &runs {
            bits += cl_lengths[symbol as usize] as u64 + extra_bits(symbol) as u64;
        }
        DynamicTables { literals, distances, code_lengths, cl_lengths, runs, bits }
    }

    fn write(&self, w: &mut BitWriter) {
        w.put((self.literals - 257) as u32, 5);
        w.put((self.distances - 1) as u32, 5);
        w.put((self.code_lengths - 4) as u32, 4);
        for &s in &CODE_LENGTH_ORDER[..self.code_lengths] {
            w.put(self.cl_lengths[s] as u32, 3);
        }
        let codes = canonical_codes(&self.cl_lengths);
        for &(symbol, extra) in &self.runs {
            let s = symbol as usize;
            w.put(codes[s] as u32, self.cl_lengths[s] as u32);
            w.put(extra as u32, extra_bits(symbol));
        }
    }
}

/// Extra bits after a code-length symbol.
fn extra_bits(symbol: u8) -> u32 {
    match symbol {
        16 => 2,
        17 => 3,
        18 => 7,
        _ => 0,
    }
}
