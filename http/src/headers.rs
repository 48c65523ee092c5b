//! The header vocabulary both roles speak: the server reading requests and writing
//! responses, and the client writing requests and reading responses.
//!
//! HTTP/1.1 has one grammar for header fields whichever side sends them (RFC 9110 §5),
//! and a server and a client that each carried their own copy of it would one day
//! disagree — on what `Connection: keep-alive, close` means, or whether `+5` is a
//! length. So the rules live here once:
//!
//! - a field name is a *token*; a field value may not contain CR, LF or NUL (which would
//!   let a value end the line and inject a header of its own);
//! - optional whitespace around a value is spaces and tabs only;
//! - `Content-Length` is `1*DIGIT`, nothing else (no sign, no list, no overflow);
//! - `Connection` is a comma-separated list of case-insensitive tokens;
//! - a field on the wire is `name: value\r\n`.
//!
//! In the Python world this is what `h11` (uvicorn's parser) and `httpx` share through
//! `h11._headers`.

/// The bytes of an RFC 9110 token (a field name, a method): letters, digits and
/// ``!#$%&'*+-.^_`|~``. A table, because the check runs on every header of every
/// response: a `contains` over the punctuation per byte cost about 3 % of a pipelined
/// request's instructions.
const TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
            );
        b += 1;
    }
    table
};

/// True if `name` is a non-empty token: usable as a header field name.
pub fn is_token(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(|&b| TOKEN[usize::from(b)])
}

/// True if `value` may be sent as a field value: no CR, LF or NUL.
pub fn is_field_value(value: &[u8]) -> bool {
    value.iter().all(|&b| !matches!(b, b'\r' | b'\n' | 0))
}

/// Trims spaces and tabs (the only whitespace a field value may have around it).
pub fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Why a `Content-Length` value was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LengthError {
    /// Not `1*DIGIT` (empty, a sign, a list, inner spaces, other characters).
    Invalid,
    /// More than fits in 64 bits.
    Overflow,
}

/// Parses a `Content-Length` value: `1*DIGIT` with optional surrounding whitespace.
pub fn parse_content_length(value: &[u8]) -> Result<u64, LengthError> {
    let digits = trim(value);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(LengthError::Invalid);
    }
    digits
        .iter()
        .try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
        .ok_or(LengthError::Overflow)
}

/// True if the comma-separated list `value` (a `Connection` or `Transfer-Encoding`
/// value) holds `token`, compared without regard to case.
pub fn has_token(value: &[u8], token: &[u8]) -> bool {
    value.split(|&b| b == b',').any(|item| trim(item).eq_ignore_ascii_case(token))
}

/// What a `Connection` field says about keeping the connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectionTokens {
    /// `close` was listed.
    pub close: bool,
    /// `keep-alive` was listed.
    pub keep_alive: bool,
}

impl ConnectionTokens {
    /// Adds the tokens of one `Connection` field (a message may carry several).
    pub fn add(&mut self, value: &[u8]) {
        self.close |= has_token(value, b"close");
        self.keep_alive |= has_token(value, b"keep-alive");
    }

    /// Whether the connection persists after this message: HTTP/1.1 unless `close`;
    /// HTTP/1.0 only with `keep-alive` (RFC 9112 §9.3).
    pub fn persist(self, http_1_1: bool) -> bool {
        !self.close && (http_1_1 || self.keep_alive)
    }
}

/// Appends one field line, `name: value\r\n`. The caller has checked both.
pub fn write_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends `n` in decimal without going through `fmt` (which is measurably slower in a
/// per-message path).
pub fn write_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// The value of a hexadecimal digit.
pub fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_values() {
        assert!(is_token(b"x-process-time") && is_token(b"!#$%&'*+-.^_`|~"));
        for bad in [&b""[..], b"a b", b"a:b", b"a\r", b"caf\xc3\xa9", b"(x)"] {
            assert!(!is_token(bad), "{bad:?}");
        }
        assert!(is_field_value(b"text/plain; charset=utf-8") && is_field_value(b""));
        for bad in [&b"a\rb"[..], b"a\nb", b"a\0b"] {
            assert!(!is_field_value(bad), "{bad:?}");
        }
    }

    #[test]
    fn content_length_is_digits_only() {
        assert_eq!(parse_content_length(b" 42\t"), Ok(42));
        assert_eq!(parse_content_length(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_content_length(b"18446744073709551616"), Err(LengthError::Overflow));
        for bad in [&b""[..], b"+5", b"-1", b"5 5", b"5,5", b"0x10", b" "] {
            assert_eq!(parse_content_length(bad), Err(LengthError::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn connection_tokens() {
        let mut tokens = ConnectionTokens::default();
        tokens.add(b"Keep-Alive, Upgrade");
        assert_eq!(tokens, ConnectionTokens { close: false, keep_alive: true });
        assert!(tokens.persist(false) && tokens.persist(true));
        tokens.add(b" CLOSE ");
        assert!(!tokens.persist(true) && !tokens.persist(false));
        assert!(!ConnectionTokens::default().persist(false), "HTTP/1.0 closes unless asked");
        assert!(!has_token(b"closed, keep-alives", b"close"));
    }

    #[test]
    fn field_lines_and_numbers() {
        let mut out = Vec::new();
        write_field(&mut out, b"content-length", b"13");
        write_decimal(&mut out, 0);
        write_decimal(&mut out, 1_234_567);
        assert_eq!(out, b"content-length: 13\r\n01234567");
    }
}
