//! Canonical Huffman codes: built from code lengths alone, decoded through a table.
//!
//! DEFLATE never sends a code tree, only each symbol's code length. The codes follow from
//! the lengths by one rule (RFC 1951 §3.2.2): shorter codes sort first, and within a length,
//! codes are consecutive in symbol order. So the decoder needs, per length, how many codes
//! have it (`count`), and the symbols in code order (`symbols`). That is all of Mark Adler's
//! `puff`: read one bit at a time, and at each length ask whether the code so far falls
//! inside that length's range — `Decoder::decode_slow`.
//!
//! One bit per step is slow. The fast path looks up the next `FAST_BITS` bits at once in a
//! table of 2^11 entries: every entry whose low bits are a complete code holds that code's
//! symbol and length (a code of length `l` fills every `2^(10−l)`th slot, the upper bits being
//! "don't care"). Codes longer than 11 bits are rare by construction (they belong to rare
//! symbols) and take the bit-by-bit walk. zlib's `inflate_fast` adds second-level tables
//! for long codes; the walk is simpler and costs little because it runs so seldom.
//!
//! The encoder side, `lengths_for`, turns symbol frequencies into code lengths no longer
//! than a limit (15 for data, 7 for the code-length alphabet).

use super::bits::BitReader;
use super::error::{CompressError, Halt};

/// The longest code DEFLATE allows.
pub(crate) const MAX_BITS: usize = 15;
/// Bits resolved by one table lookup.
const FAST_BITS: u32 = 11;

/// A decoding table for one alphabet.
#[derive(Clone)]
pub(crate) struct Decoder {
    /// Indexed by the next `FAST_BITS` stream bits: `symbol << 4 | length` of the code they
    /// start with, or 0 when that code is longer than `FAST_BITS` (or no code at all).
    fast: Box<[u16; 1 << FAST_BITS]>,
    /// `count[l]`: how many symbols have a code of length `l` (index 0 unused).
    count: [u16; MAX_BITS + 1],
    /// The coded symbols in canonical code order.
    symbols: Vec<u16>,
}

impl Decoder {
    /// Builds the table for code `lengths` (0 = symbol unused). A code that claims more
    /// codes than the lengths allow (over-subscribed) is refused; an incomplete one is
    /// accepted only as a single one-bit code or no code at all, as zlib does.
    pub(crate) fn new(lengths: &[u8]) -> Result<Decoder, &'static str> {
        let mut count = [0u16; MAX_BITS + 1];
        for &l in lengths {
            count[l as usize] += 1;
        }
        count[0] = 0;
        // Kraft: each length-l code uses 2^-l of the code space.
        let mut left: i32 = 1;
        for &c in &count[1..] {
            left = (left << 1) - c as i32;
            if left < 0 {
                return Err("over-subscribed code");
            }
        }
        let used: u16 = count.iter().sum();
        if left > 0 && !(used == 0 || (used == 1 && count[1] == 1)) {
            return Err("incomplete code");
        }

        // offsets[l]: where symbols of length l start in code order.
        let mut offsets = [0u16; MAX_BITS + 2];
        for l in 1..=MAX_BITS {
            offsets[l + 1] = offsets[l] + count[l];
        }
        let mut symbols = vec![0u16; used as usize];
        for (symbol, &l) in lengths.iter().enumerate() {
            if l != 0 {
                symbols[offsets[l as usize] as usize] = symbol as u16;
                offsets[l as usize] += 1;
            }
        }

        let mut fast = Box::new([0u16; 1 << FAST_BITS]);
        let codes = canonical_codes(lengths);
        for (symbol, &l) in lengths.iter().enumerate() {
            let l = l as u32;
            if l == 0 || l > FAST_BITS {
                continue;
            }
            let entry = (symbol as u16) << 4 | l as u16;
            let mut slot = codes[symbol] as usize;
            while slot < 1 << FAST_BITS {
                fast[slot] = entry;
                slot += 1 << l;
            }
        }
        Ok(Decoder { fast, count, symbols })
    }

    /// The fast-table entry for the next bits (`symbol << 4 | length`, 0 if the code is
    /// long or the entry needs more bits than are buffered): lets the decoder's literal loop
    /// skip the general path.
    #[inline]
    pub(crate) fn peek_fast(&self, bits: &mut BitReader<'_>) -> u16 {
        if bits.count < MAX_BITS as u32 {
            bits.refill();
        }
        let entry = self.fast[(bits.peek() & ((1 << FAST_BITS) - 1)) as usize];
        if (entry & 15) as u32 <= bits.count {
            entry
        } else {
            0
        }
    }

    /// Reads one symbol.
    #[inline]
    pub(crate) fn decode(&self, bits: &mut BitReader<'_>) -> Result<u16, Halt> {
        if bits.count < MAX_BITS as u32 {
            bits.refill();
        }
        let entry = self.fast[(bits.peek() & ((1 << FAST_BITS) - 1)) as usize];
        let length = (entry & 15) as u32;
        if length != 0 && length <= bits.count {
            bits.consume(length);
            return Ok(entry >> 4);
        }
        self.decode_slow(bits)
    }

    /// `puff`'s decode: extend the code one bit at a time; `first` is the first code of the
    /// current length, `index` the position of its symbol in `symbols`.
    fn decode_slow(&self, bits: &mut BitReader<'_>) -> Result<u16, Halt> {
        let stream = bits.peek();
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for length in 1..=MAX_BITS {
            if length as u32 > bits.count {
                return Err(Halt::NeedInput);
            }
            code |= ((stream >> (length - 1)) & 1) as i32;
            let count = self.count[length] as i32;
            if code - first < count {
                bits.consume(length as u32);
                return Ok(self.symbols[(index + code - first) as usize]);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err(Halt::Fail(CompressError::BadSymbol("a bit pattern that is no code of the block")))
    }
}

/// The canonical code of each symbol, bit-reversed so that it can be written lowest bit
/// first (RFC 1951 §3.2.2's `next_code` algorithm).
pub(crate) fn canonical_codes(lengths: &[u8]) -> Vec<u16> {
    let mut count = [0u16; MAX_BITS + 1];
    for &l in lengths {
        count[l as usize] += 1;
    }
    count[0] = 0;
    let mut next = [0u16; MAX_BITS + 1];
    let mut code = 0u16;
    for l in 1..=MAX_BITS {
        code = (code + count[l - 1]) << 1;
        next[l] = code;
    }
    lengths
        .iter()
        .map(|&l| {
            if l == 0 {
                return 0;
            }
            let c = next[l as usize];
            next[l as usize] += 1;
            c.reverse_bits() >> (16 - l as u32)
        })
        .collect()
}

/// Code lengths, at most `limit` bits, that make the symbols with frequencies `freq` cost
/// the fewest bits (or close: see below). Unused symbols get length 0.
///
/// First a plain Huffman tree gives each symbol its optimal depth. If a depth exceeds the
/// limit, the lengths are repaired as miniz does: overlong codes move to the limit, and then,
/// while the code is over-subscribed, one code at the limit is removed and a shorter code is
/// split into two one bit longer (which keeps the Kraft sum: −2^−l + 2·2^−(l+1) = 0), so each
/// round frees exactly one slot. The symbols then get the lengths in order of frequency. The
/// exact answer (package-merge) is longer to read and wins a fraction of a percent.
pub(crate) fn lengths_for(freq: &[u32], limit: usize) -> Vec<u8> {
    let mut lengths = vec![0u8; freq.len()];
    let mut used: Vec<usize> = (0..freq.len()).filter(|&s| freq[s] > 0).collect();
    match used.len() {
        0 => return lengths,
        1 => {
            // A lone code is legal only as one bit; pairing it with a dummy symbol makes a
            // complete code that every decoder accepts.
            let other = if used[0] == 0 { 1 } else { 0 };
            lengths[used[0]] = 1;
            lengths[other] = 1;
            return lengths;
        }
        _ => {}
    }
    used.sort_by_key(|&s| (freq[s], s));

    // Two-queue Huffman construction: leaves in frequency order, and internal nodes, which
    // are created in nondecreasing weight order, so the two lightest are always at a front.
    let n = used.len();
    let mut weight: Vec<u64> = used.iter().map(|&s| freq[s] as u64).collect();
    let mut parent = vec![0usize; 2 * n - 1];
    let (mut leaf, mut node) = (0usize, n);
    for next in n..2 * n - 1 {
        let mut pick = || {
            if leaf < n && (node >= next || weight[leaf] <= weight[node]) {
                leaf += 1;
                leaf - 1
            } else {
                node += 1;
                node - 1
            }
        };
        let (a, b) = (pick(), pick());
        weight.push(weight[a] + weight[b]);
        parent[a] = next;
        parent[b] = next;
    }
    // Depths, root (the last node) first.
    let mut depth = vec![0usize; 2 * n - 1];
    for i in (0..2 * n - 2).rev() {
        depth[i] = depth[parent[i]] + 1;
    }

    let mut count = vec![0u32; limit.max(MAX_BITS) + n + 1];
    for &d in &depth[..n] {
        count[d.min(limit)] += 1;
    }
    let mut kraft: u64 = (1..=limit).map(|l| (count[l] as u64) << (limit - l)).sum();
    while kraft > 1 << limit {
        count[limit] -= 1;
        for l in (1..limit).rev() {
            if count[l] > 0 {
                count[l] -= 1;
                count[l + 1] += 2;
                break;
            }
        }
        kraft -= 1;
    }
    // Most frequent symbols take the shortest lengths.
    let mut l = 1;
    for &s in used.iter().rev() {
        while count[l] == 0 {
            l += 1;
        }
        lengths[s] = l as u8;
        count[l] -= 1;
    }
    lengths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_codes_follow_rfc_1951_example() {
        // RFC 1951 §3.2.2: lengths (3, 3, 3, 3, 3, 2, 4, 4) give 010 011 100 101 110 00 1110 1111.
        let codes = canonical_codes(&[3, 3, 3, 3, 3, 2, 4, 4]);
        let expected = [0b010u16, 0b011, 0b100, 0b101, 0b110, 0b00, 0b1110, 0b1111];
        let lengths = [3, 3, 3, 3, 3, 2, 4, 4];
        for i in 0..8 {
            assert_eq!(codes[i], expected[i].reverse_bits() >> (16 - lengths[i]), "symbol {i}");
        }
    }

    #[test]
    fn bad_lengths_are_refused() {
        assert_eq!(Decoder::new(&[1, 1, 1]).err(), Some("over-subscribed code"));
        assert_eq!(Decoder::new(&[2, 2, 2]).err(), Some("incomplete code"));
        assert!(Decoder::new(&[0, 1, 0]).is_ok());
        assert!(Decoder::new(&[0, 0]).is_ok());
    }

    #[test]
    fn limited_lengths_stay_complete_and_short() {
        // Fibonacci frequencies make the deepest possible tree: 30 symbols want depth 29.
        let mut freq = vec![1u32, 1];
        while freq.len() < 30 {
            let k = freq.len();
            freq.push(freq[k - 1] + freq[k - 2]);
        }
        let lengths = lengths_for(&freq, 15);
        assert!(lengths.iter().all(|&l| (1..=15).contains(&l)));
        let kraft: u64 = lengths.iter().map(|&l| 1u64 << (15 - l)).sum();
        assert_eq!(kraft, 1 << 15);
        assert!(Decoder::new(&lengths).is_ok());
        // Unlimited, the two most frequent symbols get one and two bits.
        let lengths = lengths_for(&[10, 5, 3, 1, 1], 15);
        assert_eq!(lengths, [1, 2, 3, 4, 4]);
    }
}
