//! The DEFLATE alphabets (RFC 1951 §3.2.5): what each symbol means.
//!
//! One alphabet mixes literals and lengths: 0–255 are bytes, 256 ends the block, 257–285
//! are match lengths 3–258 (each a base plus extra bits read verbatim). A second alphabet
//! codes the distance, 1–32768, the same way. The extra bits make large values cheap to
//! code without a symbol per value: 29 length symbols cover 256 lengths.

/// Lengths of length symbols 257..=285, before their extra bits.
pub(crate) const LENGTH_BASE: [u16; 29] =
    [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
/// Extra bits after each length symbol.
pub(crate) const LENGTH_EXTRA: [u8; 29] =
    [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
/// Distances of distance symbols 0..=29, before their extra bits.
pub(crate) const DISTANCE_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
    8193, 12289, 16385, 24577,
];
/// Extra bits after each distance symbol.
pub(crate) const DISTANCE_EXTRA: [u8; 30] =
    [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/// The order in which a dynamic block sends the code lengths of the code-length alphabet:
/// the ones most often unused come last so they can be left off.
pub(crate) const CODE_LENGTH_ORDER: [usize; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
/// The end-of-block symbol.
pub(crate) const END_OF_BLOCK: u16 = 256;
/// The shortest match DEFLATE can express.
pub(crate) const MIN_MATCH: usize = 3;
/// The longest match DEFLATE can express.
pub(crate) const MAX_MATCH: usize = 258;
/// The farthest a match can reach back, and the window a decoder must keep.
pub(crate) const WINDOW: usize = 32 * 1024;

/// The fixed literal/length code lengths of block type 1 (RFC 1951 §3.2.6): 288 symbols,
/// of which 286 and 287 never occur in valid data.
pub(crate) fn fixed_literal_lengths() -> [u8; 288] {
    let mut lengths = [8u8; 288];
    lengths[144..256].fill(9);
    lengths[256..280].fill(7);
    lengths
}

/// The fixed distance code: 32 five-bit codes, of which 30 and 31 are invalid.
pub(crate) fn fixed_distance_lengths() -> [u8; 32] {
    [5u8; 32]
}

/// The length symbol index (0..29, i.e. symbol − 257) for a match length 3..=258.
pub(crate) fn length_code(length: usize) -> usize {
    let l = length - MIN_MATCH;
    if l < 8 {
        l
    } else if length == MAX_MATCH {
        28
    } else {
        // Past the first eight, every four symbols share one count of extra bits and double
        // the span: the top two bits below the leading one pick the symbol within the group.
        let top = usize::BITS - 1 - l.leading_zeros();
        4 * (top as usize - 1) + ((l >> (top - 2)) & 3)
    }
}

/// The distance symbol (0..30) for a distance 1..=32768.
pub(crate) fn distance_code(distance: usize) -> usize {
    let d = distance - 1;
    if d < 4 {
        d
    } else {
        // Two symbols per power of two; the bit below the leading one picks between them.
        let top = usize::BITS - 1 - d.leading_zeros();
        2 * top as usize + ((d >> (top - 1)) & 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_invert_the_base_tables() {
        for length in MIN_MATCH..=MAX_MATCH {
            let c = length_code(length);
            let extra = length - LENGTH_BASE[c] as usize;
            assert!(extra < 1 << LENGTH_EXTRA[c], "length {length}");
        }
        for distance in 1..=WINDOW {
            let c = distance_code(distance);
            let extra = distance - DISTANCE_BASE[c] as usize;
            assert!(extra < 1 << DISTANCE_EXTRA[c], "distance {distance}");
        }
        assert_eq!(length_code(258), 28);
        assert_eq!(length_code(257), 27);
        assert_eq!(distance_code(32768), 29);
    }
}
