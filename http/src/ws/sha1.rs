//! SHA-1 (RFC 3174), written out by hand because the WebSocket handshake needs it and
//! the runtime takes no hashing crate.
//!
//! The handshake uses SHA-1 only to prove that the server read the client's key (RFC 6455
//! §1.3), not for security, so SHA-1's known collision attacks do not matter here. Python's
//! counterpart is `hashlib.sha1`, which the `websockets` library calls for the same job.
//!
//! The algorithm: pad the message to a multiple of 64 bytes (a `1` bit, zeros, the bit
//! length as a big-endian u64), then fold each 64-byte block into five 32-bit words with
//! 80 rounds of add-rotate-xor.

/// The initial hash value, H0..H4 of RFC 3174 §6.1.
const INITIAL: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];

/// Hashes `data` in one call; the handshake hashes 60 bytes, so a streaming API would add
/// nothing but surface.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut state = INITIAL;
    let mut blocks = data.chunks_exact(64);
    for block in &mut blocks {
        compress(&mut state, block);
    }
    // The tail: the leftover bytes, the 0x80 marker, zeros, and the length in bits. It
    // fills one block, or two when fewer than 9 bytes remain after the leftover.
    let rest = blocks.remainder();
    let mut tail = [0u8; 128];
    tail[..rest.len()].copy_from_slice(rest);
    tail[rest.len()] = 0x80;
    let tail_len = if rest.len() < 56 { 64 } else { 128 };
    let bits = (data.len() as u64).wrapping_mul(8);
    tail[tail_len - 8..tail_len].copy_from_slice(&bits.to_be_bytes());
    for block in tail[..tail_len].chunks_exact(64) {
        compress(&mut state, block);
    }
    let mut digest = [0u8; 20];
    for (out, word) in digest.chunks_exact_mut(4).zip(state) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

/// Folds one 64-byte block into the state (RFC 3174 §6.1, method 1).
fn compress(state: &mut [u32; 5], block: &[u8]) {
    let mut w = [0u32; 80];
    for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    for t in 16..80 {
        w[t] = (w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16]).rotate_left(1);
    }
    let [mut a, mut b, mut c, mut d, mut e] = *state;
    for (t, &word) in w.iter().enumerate() {
        // The four round functions and constants, twenty rounds each.
        let (f, k) = match t {
            0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
            20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
            40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
            _ => (b ^ c ^ d, 0xCA62_C1D6),
        };
        let temp = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(word).wrapping_add(k);
        e = d;
        d = c;
        c = b.rotate_left(30);
        b = a;
        a = temp;
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d, e]) {
        *s = s.wrapping_add(v);
    }
}

#[cfg(test)]
mod tests {
    use super::sha1;

    fn hex(digest: [u8; 20]) -> String {
        digest.iter().map(|b| format!("{b:02X}")).collect()
    }

    /// The four test vectors of RFC 3174 §7.3.
    #[test]
    fn rfc3174_vectors() {
        assert_eq!(hex(sha1(b"abc")), "A9993E364706816ABA3E25717850C26C9CD0D89D");
        assert_eq!(
            hex(sha1(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "84983E441C3BD26EBAAE4AA1F95129E5E54670F1"
        );
        assert_eq!(hex(sha1(&[b'a'; 1_000_000])), "34AA973CD4C4DAA4F61EEB2BDBAD27316534016F");
        let repeated = b"0123456701234567012345670123456701234567012345670123456701234567".repeat(10);
        assert_eq!(hex(sha1(&repeated)), "DEA356A2CDDD90C7A7ECEDC5EBB563934F460452");
    }

    #[test]
    fn padding_boundaries() {
        assert_eq!(hex(sha1(b"")), "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709");
        // 55 bytes fit the length in the same block; 56 need a second one.
        assert_eq!(hex(sha1(&[b'a'; 55])), "C1C8BBDC22796E28C0E15163D20899B65621D65A");
        assert_eq!(hex(sha1(&[b'a'; 56])), "C2DB330F6083854C99D4B5BFB6E8F29F201BE699");
    }
}
