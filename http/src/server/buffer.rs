//! The connection's read buffer: bytes received but not yet consumed.
//!
//! A plain `Vec<u8>` with a consumed prefix (`start`) and a filled part (`start..end`).
//! Reads go into the free tail; parsing consumes from the front. When the tail runs out,
//! the live bytes move to the front (cheap: usually few) or the buffer grows, up to a
//! cap — a client cannot make the server buffer more than that, which is the read side
//! of backpressure.

/// Bytes read from a socket and not yet consumed.
pub(crate) struct ReadBuf {
    /// Backing storage, all initialised (so reads can target it without `unsafe`).
    buf: Vec<u8>,
    /// First unconsumed byte.
    start: usize,
    /// One past the last filled byte; `start <= end <= buf.len()`.
    end: usize,
    /// The most the buffer may grow to.
    cap: usize,
}

impl ReadBuf {
    pub(crate) fn new(initial: usize, cap: usize) -> ReadBuf {
        ReadBuf { buf: Vec::new(), start: 0, end: 0, cap: cap.max(initial) }.with_len(initial)
    }

    fn with_len(mut self, len: usize) -> ReadBuf {
        self.buf.resize(len, 0);
        self
    }

    /// The unconsumed bytes.
    pub(crate) fn filled(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    pub(crate) fn len(&self) -> usize {
        self.end - self.start
    }

    /// Marks `n` bytes at the front as used.
    pub(crate) fn consume(&mut self, n: usize) {
        self.start += n.min(self.len());
        if self.start == self.end {
            // Empty: rewind for free so the next read starts at the beginning.
            self.start = 0;
            self.end = 0;
        }
    }

    /// Free space to read into, making room if needed; empty only when the buffer is
    /// full at its cap.
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < self.cap {
                let grown = (self.buf.len() * 2).max(4096).min(self.cap);
                self.buf.resize(grown, 0);
            }
        }
        &mut self.buf[self.end..]
    }

    /// Records that `n` bytes were read into [`ReadBuf::spare`].
    pub(crate) fn filled_by(&mut self, n: usize) {
        self.end += n;
    }

    /// True if the buffer cannot take another byte.
    pub(crate) fn is_full(&self) -> bool {
        self.start == 0 && self.end == self.buf.len() && self.buf.len() >= self.cap
    }
}

#[cfg(test)]
mod tests {
    use super::ReadBuf;

    #[test]
    fn compacts_then_grows_up_to_its_cap() {
        let mut b = ReadBuf::new(8, 16);
        b.spare()[..8].copy_from_slice(b"abcdefgh");
        b.filled_by(8);
        b.consume(6);
        assert_eq!(b.spare().len(), 6, "compaction moved `gh` to the front");
        assert_eq!(b.filled(), b"gh");
        b.spare()[..6].copy_from_slice(b"ijklmn");
        b.filled_by(6);
        assert_eq!(b.spare().len(), 8, "grew to the cap");
        b.filled_by(8);
        assert!(b.is_full());
        assert!(b.spare().is_empty());
    }
}
