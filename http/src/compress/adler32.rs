//! Adler-32, zlib's check value — Python's `zlib.adler32`.
//!
//! Two sums modulo 65521 (the largest prime below 2^16): `a` is 1 plus the sum of the bytes,
//! `b` the sum of the successive values of `a`. The result is `b << 16 | a`. Faster than a CRC
//! and weaker on short inputs, which is why gzip chose CRC-32 and zlib chose speed. The modulo
//! is taken only every 5552 bytes: that is the longest run for which `b` cannot overflow 32
//! bits (zlib's `NMAX`), so the inner loop is only additions.

/// The Adler-32 modulus.
const MOD: u32 = 65521;
/// Bytes that can be summed before `b` might overflow a `u32`.
const NMAX: usize = 5552;

/// A running Adler-32, fed in pieces.
#[derive(Clone, Copy, Debug)]
pub struct Adler32 {
    /// 1 + sum of bytes, modulo 65521.
    a: u32,
    /// Sum of the successive `a`s, modulo 65521.
    b: u32,
}

impl Default for Adler32 {
    fn default() -> Adler32 {
        Adler32::new()
    }
}

impl Adler32 {
    /// The checksum of no bytes (1).
    pub fn new() -> Adler32 {
        Adler32 { a: 1, b: 0 }
    }

    /// Adds `data` to the checksum.
    pub fn update(&mut self, data: &[u8]) {
        let (mut a, mut b) = (self.a, self.b);
        for chunk in data.chunks(NMAX) {
            // Sixteen bytes at a time: after x0..x15, a has grown by their sum and b by
            // 16·a + 16·x0 + 15·x1 + … + 1·x15. The same sums as byte by byte, without each
            // addition waiting for the one before, so the compiler can vectorise them.
            let mut blocks = chunk.chunks_exact(16);
            for block in &mut blocks {
                let (mut sum, mut weighted) = (0u32, 0u32);
                for (i, &x) in block.iter().enumerate() {
                    sum += x as u32;
                    weighted += (16 - i as u32) * x as u32;
                }
                b += 16 * a + weighted;
                a += sum;
            }
            for &byte in blocks.remainder() {
                a += byte as u32;
                b += a;
            }
            a %= MOD;
            b %= MOD;
        }
        self.a = a;
        self.b = b;
    }

    /// The checksum of everything added.
    pub fn value(&self) -> u32 {
        (self.b << 16) | self.a
    }
}

/// The Adler-32 of `data` in one call.
pub fn adler32(data: &[u8]) -> u32 {
    let mut sum = Adler32::new();
    sum.update(data);
    sum.value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(adler32(b""), 1);
    }

    #[test]
    fn long_input_in_pieces_matches_one_call() {
        let data = vec![0xFFu8; 100_000];
        let mut sum = Adler32::new();
        for piece in data.chunks(7777) {
            sum.update(piece);
        }
        assert_eq!(sum.value(), adler32(&data));
        // Python: zlib.adler32(b"\xff" * 100000), and of bytes(range(256)) * 40.
        assert_eq!(sum.value(), 0x149A_302C);
        let ramp: Vec<u8> = (0..256 * 40).map(|i| i as u8).collect();
        assert_eq!(adler32(&ramp), 0xF475_ED1E);
    }
}
