//! Reading and writing a DEFLATE bit stream.
//!
//! DEFLATE packs its fields from the least significant bit of each byte upward, so a 64-bit
//! buffer filled little-endian holds the next bits in order at its bottom: peeking `n` bits is
//! a mask, consuming them a shift. Huffman codes are the one exception (RFC 1951 §3.1.1: they
//! are packed starting with their most significant bit), which is why the code tables store
//! bit-reversed codes instead of reversing bits at run time.

use super::error::Halt;

/// A cursor over one slice of input, with up to 63 bits buffered ahead of it.
pub(crate) struct BitReader<'a> {
    /// The input being read.
    data: &'a [u8],
    /// Index of the first byte of `data` not yet in `buf`.
    pub(crate) pos: usize,
    /// The next `count` bits of the stream in its low bits. Bits above `count` are either
    /// zero or copies of `data[pos]` (the wide refill loads ahead), so OR-ing that byte in
    /// again changes nothing.
    buf: u64,
    /// Valid bits in `buf`, at most 63.
    pub(crate) count: u32,
}

/// A saved reader position: a step that runs out of input goes back to it.
#[derive(Clone, Copy)]
pub(crate) struct Mark {
    /// `BitReader::pos` at the mark.
    pos: usize,
    /// `BitReader::buf` at the mark.
    buf: u64,
    /// `BitReader::count` at the mark.
    count: u32,
}

impl<'a> BitReader<'a> {
    /// Reads `data`, after the `count` (< 8) bits of `buf` left from the previous input.
    pub(crate) fn new(data: &'a [u8], buf: u64, count: u32) -> BitReader<'a> {
        BitReader { data, pos: 0, buf, count }
    }

    /// Tops the buffer up to at least 56 bits, or to the end of the input.
    #[inline]
    pub(crate) fn refill(&mut self) {
        if let Some(word) = self.data.get(self.pos..self.pos + 8) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(word);
            self.buf |= u64::from_le_bytes(bytes) << self.count;
            let taken = (63 - self.count) / 8;
            self.pos += taken as usize;
            self.count += taken * 8;
        } else {
            while self.count <= 56 && self.pos < self.data.len() {
                self.buf |= (self.data[self.pos] as u64) << self.count;
                self.pos += 1;
                self.count += 8;
            }
        }
    }

    /// The buffered bits, lowest first; only the low `count` are meaningful.
    #[inline]
    pub(crate) fn peek(&self) -> u64 {
        self.buf
    }

    /// Drops `n` bits (`n <= count`).
    #[inline]
    pub(crate) fn consume(&mut self, n: u32) {
        self.buf >>= n;
        self.count -= n;
    }

    /// Takes an `n`-bit field (`n <= 32`).
    #[inline]
    pub(crate) fn take(&mut self, n: u32) -> Result<u32, Halt> {
        if self.count < n {
            self.refill();
            if self.count < n {
                return Err(Halt::NeedInput);
            }
        }
        let value = (self.buf & ((1u64 << n) - 1)) as u32;
        self.consume(n);
        Ok(value)
    }

    /// Skips to the next byte boundary of the stream.
    pub(crate) fn align(&mut self) {
        let partial = self.count % 8;
        self.consume(partial);
    }

    /// Gives the whole bytes in the buffer back to the input, keeping only the bits of a
    /// partly read byte. After [`align`](Self::align) that leaves the buffer empty and `pos`
    /// at the next unread byte, which is what stored blocks and trailers want.
    ///
    /// Valid because every whole byte in the buffer came from `data` itself: bits carried in
    /// from a previous input are always fewer than eight.
    pub(crate) fn unread(&mut self) {
        let whole = self.count / 8;
        self.pos -= whole as usize;
        self.count -= whole * 8;
        self.buf &= (1u64 << self.count) - 1;
    }

    /// The bits of a partly read byte, for the next input: `(buf, count)` with `count < 8`.
    /// Call after [`unread`](Self::unread).
    pub(crate) fn leftover(&self) -> (u64, u32) {
        (self.buf, self.count)
    }

    /// The unread bytes of this input (after [`unread`](Self::unread)).
    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    /// Takes up to `max` raw bytes (the buffer must be empty, as after align + unread).
    pub(crate) fn take_bytes(&mut self, max: usize) -> &'a [u8] {
        let n = max.min(self.data.len() - self.pos);
        let bytes = &self.data[self.pos..self.pos + n];
        self.pos += n;
        bytes
    }

    /// Remembers this position.
    #[inline]
    pub(crate) fn mark(&self) -> Mark {
        Mark { pos: self.pos, buf: self.buf, count: self.count }
    }

    /// Goes back to a remembered position.
    #[inline]
    pub(crate) fn reset(&mut self, mark: Mark) {
        self.pos = mark.pos;
        self.buf = mark.buf;
        self.count = mark.count;
    }
}

/// Accumulates bits, lowest first, into bytes.
#[derive(Debug, Default)]
pub(crate) struct BitWriter {
    /// Completed bytes not yet handed to the caller.
    pub(crate) bytes: Vec<u8>,
    /// Pending bits, `count` of them, in the low bits.
    buf: u64,
    /// Pending bits in `buf`, always below 8 between calls of [`put`](Self::put).
    count: u32,
}

impl BitWriter {
    /// Appends the low `n` bits of `value` (`n <= 32`).
    #[inline]
    pub(crate) fn put(&mut self, value: u32, n: u32) {
        self.buf |= (value as u64) << self.count;
        self.count += n;
        while self.count >= 8 {
            self.bytes.push(self.buf as u8);
            self.buf >>= 8;
            self.count -= 8;
        }
    }

    /// Pads with zero bits to the next byte boundary.
    pub(crate) fn align(&mut self) {
        if self.count > 0 {
            self.put(0, 8 - self.count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_come_out_lowest_bit_first() {
        let mut w = BitWriter::default();
        w.put(0b1, 1);
        w.put(0b10, 2);
        w.put(0x1F, 5);
        w.put(0xABC, 12);
        w.align();
        assert_eq!(w.bytes, [0b1111_1101, 0xBC, 0x0A]);
        let mut r = BitReader::new(&w.bytes, 0, 0);
        assert_eq!(r.take(1).ok(), Some(1));
        assert_eq!(r.take(2).ok(), Some(2));
        assert_eq!(r.take(5).ok(), Some(0x1F));
        assert_eq!(r.take(12).ok(), Some(0xABC));
        assert!(matches!(r.take(8), Err(Halt::NeedInput)));
    }
}
