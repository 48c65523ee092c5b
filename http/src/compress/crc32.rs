//! CRC-32 (IEEE 802.3, the polynomial 0xEDB88320 reflected), gzip's check value —
//! Python's `zlib.crc32`.
//!
//! A CRC is the remainder of dividing the data, as a polynomial over GF(2), by a fixed
//! polynomial. Bit by bit that is a shift and a conditional XOR per bit; the table does eight
//! bits at once. Eight tables ("slicing by 8") go further: table `k` holds the effect of a
//! byte followed by `k` zero bytes, so eight input bytes fold into the CRC with eight
//! independent lookups. The single-table loop is the readable form; the sliced loop is the
//! same arithmetic reassociated, and gzip decoding is otherwise bound by this loop.

/// The reflected generator polynomial.
const POLY: u32 = 0xEDB8_8320;

/// `TABLES[0][b]`: the CRC of byte `b`; `TABLES[k][b]`: of `b` followed by `k` zero bytes.
static TABLES: [[u32; 256]; 8] = build_tables();

const fn build_tables() -> [[u32; 256]; 8] {
    let mut tables = [[0u32; 256]; 8];
    let mut b = 0;
    while b < 256 {
        let mut crc = b as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ POLY } else { crc >> 1 };
            bit += 1;
        }
        tables[0][b] = crc;
        b += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut b = 0;
        while b < 256 {
            let prev = tables[k - 1][b];
            tables[k][b] = (prev >> 8) ^ tables[0][(prev & 0xFF) as usize];
            b += 1;
        }
        k += 1;
    }
    tables
}

/// A running CRC-32, fed in pieces.
#[derive(Clone, Copy, Debug, Default)]
pub struct Crc32 {
    /// The CRC of the bytes so far, already inverted (the register holds `!crc`).
    register: u32,
}

impl Crc32 {
    /// The CRC of no bytes.
    pub fn new() -> Crc32 {
        Crc32 { register: !0 }
    }

    /// Adds `data` to the checksum.
    pub fn update(&mut self, data: &[u8]) {
        let mut crc = self.register;
        let mut chunks = data.chunks_exact(8);
        for c in &mut chunks {
            let lo = crc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            crc = TABLES[7][(lo & 0xFF) as usize]
                ^ TABLES[6][((lo >> 8) & 0xFF) as usize]
                ^ TABLES[5][((lo >> 16) & 0xFF) as usize]
                ^ TABLES[4][(lo >> 24) as usize]
                ^ TABLES[3][c[4] as usize]
                ^ TABLES[2][c[5] as usize]
                ^ TABLES[1][c[6] as usize]
                ^ TABLES[0][c[7] as usize];
        }
        for &b in chunks.remainder() {
            crc = (crc >> 8) ^ TABLES[0][((crc ^ b as u32) & 0xFF) as usize];
        }
        self.register = crc;
    }

    /// The checksum of everything added.
    pub fn value(&self) -> u32 {
        !self.register
    }
}

/// The CRC-32 of `data` in one call.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = Crc32::new();
    crc.update(data);
    crc.value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value_of_the_catalogue() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"a"), 0xE8B7_BE43);
    }

    #[test]
    fn pieces_give_the_same_value_as_one_call() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let mut crc = Crc32::new();
        for piece in data.chunks(37) {
            crc.update(piece);
        }
        assert_eq!(crc.value(), crc32(&data));
    }
}
