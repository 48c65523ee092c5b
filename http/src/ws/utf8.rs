//! Incremental UTF-8 validation: text messages arrive in fragments, and a fragment may
//! end in the middle of a character, yet RFC 6455 §8.1 wants the connection failed (1007)
//! as soon as the bytes cannot be UTF-8 — not once the whole message is in.
//!
//! `std::str::from_utf8` answers for a complete buffer only; re-running it on the whole
//! message after each fragment would be quadratic, and it cannot tell "invalid" from "cut
//! short" without `Utf8Error::error_len`. So the validator keeps the little state that
//! matters between calls: how many continuation bytes the current character still needs,
//! and the range the next one must fall in (which is how overlong forms, surrogates and
//! code points above U+10FFFF are caught at their second byte, as RFC 3629 §4 tabulates).
//! Python's `websockets` does the same with an incremental `codecs` decoder.

/// The validator's position inside a character.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Utf8Validator {
    /// Continuation bytes the current character still needs; 0 between characters.
    needed: u8,
    /// Smallest allowed value of the next continuation byte (above 0x80 only right after
    /// a lead byte that rules out overlong forms).
    low: u8,
    /// Largest allowed value of the next continuation byte (below 0xBF only right after a
    /// lead byte that rules out surrogates or code points past U+10FFFF).
    high: u8,
}

/// The bytes cannot be the start of valid UTF-8, whatever follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Utf8Validator {
    /// A validator at the start of a message.
    pub fn new() -> Utf8Validator {
        Utf8Validator::default()
    }

    /// Checks the next piece of the message; fails at the first byte that makes the
    /// message invalid.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), InvalidUtf8> {
        let mut rest = bytes;
        // Finish a character left open by the previous piece, byte by byte.
        while self.needed > 0 {
            let Some((&b, tail)) = rest.split_first() else { return Ok(()) };
            self.continuation(b)?;
            rest = tail;
        }
        // The bulk: std validates whole characters fast; only a character cut by the end
        // of the piece is left for the byte-wise path.
        match std::str::from_utf8(rest) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(InvalidUtf8),
            Err(e) => {
                for &b in &rest[e.valid_up_to()..] {
                    self.step(b)?;
                }
                Ok(())
            }
        }
    }

    /// True if the message may end here (no character is left open).
    pub fn is_complete(&self) -> bool {
        self.needed == 0
    }

    /// One byte, from any state.
    fn step(&mut self, b: u8) -> Result<(), InvalidUtf8> {
        if self.needed > 0 {
            return self.continuation(b);
        }
        // A lead byte sets how many continuation bytes follow and the range of the first.
        let (needed, low, high) = match b {
            0x00..=0x7F => return Ok(()),
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
            0xED => (2, 0x80, 0x9F),
            0xF0 => (3, 0x90, 0xBF),
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            0xF4 => (3, 0x80, 0x8F),
            _ => return Err(InvalidUtf8),
        };
        *self = Utf8Validator { needed, low, high };
        Ok(())
    }

    /// A byte expected to continue the current character.
    fn continuation(&mut self, b: u8) -> Result<(), InvalidUtf8> {
        if b < self.low || b > self.high {
            return Err(InvalidUtf8);
        }
        // Only the first continuation byte has a narrowed range.
        *self = Utf8Validator { needed: self.needed - 1, low: 0x80, high: 0xBF };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{InvalidUtf8, Utf8Validator};

    fn feed_all(pieces: &[&[u8]]) -> Result<bool, (usize, InvalidUtf8)> {
        let mut v = Utf8Validator::new();
        for (i, piece) in pieces.iter().enumerate() {
            v.feed(piece).map_err(|e| (i, e))?;
        }
        Ok(v.is_complete())
    }

    #[test]
    fn a_character_split_across_pieces_is_valid() {
        // "κόσμε" (the RFC 6455 test suites' favourite), cut inside every character.
        let text = "κόσμε".as_bytes();
        for cut in 0..=text.len() {
            assert_eq!(feed_all(&[&text[..cut], &text[cut..]]), Ok(true), "cut at {cut}");
        }
        assert_eq!(feed_all(&[b"\xF0\x9F", b"\x98", b"\x80"]), Ok(true));
        assert_eq!(feed_all(&[b"ok\xE2\x82"]), Ok(false), "open character: not complete");
    }

    #[test]
    fn fails_at_the_first_impossible_byte() {
        // Each fails in the piece given, before any later piece could fix it.
        assert_eq!(feed_all(&[b"\xCE\xBA", b"\xFF", b"abc"]), Err((1, InvalidUtf8)));
        assert_eq!(feed_all(&[b"\xED", b"\xA0\x80"]), Err((1, InvalidUtf8)), "surrogate");
        assert_eq!(feed_all(&[b"\xE0", b"\x80"]), Err((1, InvalidUtf8)), "overlong");
        assert_eq!(feed_all(&[b"\xF4\x90"]), Err((0, InvalidUtf8)), "above U+10FFFF");
        assert_eq!(feed_all(&[b"\xC0\xAF"]), Err((0, InvalidUtf8)), "overlong two-byte");
        assert_eq!(feed_all(&[b"\xE2\x82", b"a"]), Err((1, InvalidUtf8)), "character interrupted");
        assert_eq!(feed_all(&[b"a\x80"]), Err((0, InvalidUtf8)), "stray continuation");
    }
}
