//! `numeric`: arbitrary-precision decimals — asyncpg returns them as Python `Decimal`s
//! (`codecs/numeric.pyx`).
//!
//! Rust has no decimal type in `std`, and a float would round (`0.1 + 0.2`), so a [`Numeric`]
//! keeps the exact decimal *text*. The binary wire format is base-10000 digits:
//!
//! ```text
//! i16 ndigits | i16 weight | u16 sign | u16 dscale | ndigits × i16 digit (0..9999)
//! value = Σ digit[i] × 10000^(weight − i), shown with dscale digits after the point
//! sign: 0x0000 positive, 0x4000 negative, 0xC000 NaN, 0xD000 +Infinity, 0xF000 −Infinity
//! ```
//!
//! A [`Numeric`] parameter is encoded in binary too (arrays need it: all elements of an array
//! share one format); other Rust numbers bound to a `numeric` parameter go as text, which the
//! server parses exactly.

use std::fmt::{self, Write};
use std::str::FromStr;

use bytes::{Buf, BytesMut};

use crate::pg::types::{mismatch, utf8, write_text, Encoded, Format, FromSql, ToSql, Type};

/// An exact decimal number, held as its canonical text (`"-12.50"`, `"NaN"`, `"Infinity"`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Numeric(String);

impl Numeric {
    /// Parses a decimal literal: optional sign, digits with at most one point, optional
    /// exponent; or `NaN` / `Infinity` / `-Infinity`.
    pub fn new(text: impl Into<String>) -> Result<Numeric, String> {
        let text = text.into();
        if is_decimal(&text) {
            Ok(Numeric(text))
        } else {
            Err(format!("{text:?} is not a decimal number"))
        }
    }

    /// The exact decimal text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The nearest `f64` (rounds; NaN and infinities map to themselves).
    pub fn to_f64(&self) -> f64 {
        match self.0.as_str() {
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            s => s.parse().unwrap_or(f64::NAN),
        }
    }

    /// The value as a JSON number when that loses nothing (`12.50` → `12.5`), else as a JSON
    /// string (`"0.1000000000000000000001"`, `"NaN"`): no digit is ever lost.
    pub fn to_json(&self) -> serde_json::Value {
        to_json(&self.0)
    }
}

fn is_decimal(s: &str) -> bool {
    if matches!(s, "NaN" | "Infinity" | "-Infinity") {
        return true;
    }
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    !(int.is_empty() && frac.is_empty()) && digits(int) && digits(frac) && exponent_ok
}

impl FromStr for Numeric {
    type Err = String;

    fn from_str(s: &str) -> Result<Numeric, String> {
        Numeric::new(s)
    }
}

impl fmt::Display for Numeric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Numeric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Numeric({})", self.0)
    }
}

impl ToSql for Numeric {
    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<Encoded, String> {
        if ty == Type::NUMERIC {
            encode(&self.0, out)?;
            Ok(Encoded::Binary)
        } else {
            write_text(&self.0, out)
        }
    }
}

/// Encodes a decimal literal (already validated by [`Numeric::new`]) in the binary format.
///
/// The decimal digits are grouped in fours *aligned at the decimal point*, so each group is
/// one base-10000 digit: pad zeros on the left until the point falls on a group boundary,
/// and on the right to complete the last group; then drop zero groups at both ends (a
/// leading one lowers the weight).
fn encode(text: &str, out: &mut BytesMut) -> Result<(), String> {
    use bytes::BufMut;
    let special = match text {
        "NaN" => Some(0xC000u16),
        "Infinity" => Some(0xD000),
        "-Infinity" => Some(0xF000),
        _ => None,
    };
    if let Some(sign) = special {
        out.put_slice(&[0, 0, 0, 0]);
        out.put_u16(sign);
        out.put_u16(0);
        return Ok(());
    }
    let negative = text.starts_with('-');
    let unsigned = text.trim_start_matches(['-', '+']);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i64>().map_err(|_| format!("bad exponent in {text:?}"))?),
        None => (unsigned, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let dscale = (frac.len() as i64 - exponent).clamp(0, 0x3FFF) as u16;
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
    // `point`: how many of `digits` stand before the decimal point.
    let mut point = int.len() as i64 + exponent;
    let left_pad = (4 - point.rem_euclid(4)) % 4;
    digits.splice(0..0, std::iter::repeat_n(0, left_pad as usize));
    point += left_pad;
    let total = (digits.len() as i64).max(point);
    digits.resize(((total + 3) / 4 * 4) as usize, 0);
    let mut groups: Vec<i16> = digits.chunks(4).map(|g| g.iter().fold(0i16, |acc, &d| acc * 10 + d as i16)).collect();
    let mut weight = point / 4 - 1;
    let leading = groups.iter().take_while(|&&g| g == 0).count();
    groups.drain(..leading);
    weight -= leading as i64;
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    let weight = i16::try_from(weight).map_err(|_| format!("{text:?} is out of numeric's range"))?;
    let ndigits = i16::try_from(groups.len()).map_err(|_| format!("{text:?} has too many digits"))?;
    out.put_i16(ndigits);
    out.put_i16(weight);
    out.put_u16(if negative && !groups.is_empty() { 0x4000 } else { 0 });
    out.put_u16(dscale);
    for group in groups {
        out.put_i16(group);
    }
    Ok(())
}

impl FromSql<'_> for Numeric {
    fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<Numeric, String> {
        match ty {
            Type::NUMERIC => Ok(Numeric(decode(format, raw)?)),
            _ => mismatch("Numeric", ty),
        }
    }
}

/// Decodes a numeric value (binary or text) to its exact decimal text.
pub(crate) fn decode(format: Format, raw: &[u8]) -> Result<String, String> {
    if format == Format::Text {
        return utf8(raw).map(str::to_string);
    }
    let mut buf = raw;
    if buf.remaining() < 8 {
        return Err("truncated numeric".to_string());
    }
    let ndigits = buf.get_i16();
    let weight = buf.get_i16() as i32;
    let sign = buf.get_u16();
    let dscale = buf.get_u16() as usize;
    if ndigits < 0 || buf.remaining() != ndigits as usize * 2 {
        return Err("numeric digit count does not match its length".to_string());
    }
    let digits: Vec<i16> = (0..ndigits).map(|_| buf.get_i16()).collect();
    if digits.iter().any(|d| !(0..10_000).contains(d)) {
        // Base 10,000: anything else would print as garbage (`12-005`), not as a number.
        return Err("numeric digit outside 0..=9999".to_string());
    }
    match sign {
        0x0000 | 0x4000 => {}
        0xC000 => return Ok("NaN".to_string()),
        0xD000 => return Ok("Infinity".to_string()),
        0xF000 => return Ok("-Infinity".to_string()),
        other => return Err(format!("bad numeric sign 0x{other:04x}")),
    }
    // digit(i) is the base-10000 digit worth 10000^(weight - i); missing digits are zeros.
    let digit = |i: i32| -> i16 {
        if i >= 0 && (i as usize) < digits.len() {
            digits[i as usize]
        } else {
            0
        }
    };
    let mut s = String::with_capacity(8 + 4 * digits.len() + dscale);
    if sign == 0x4000 {
        s.push('-');
    }
    // Integer part: digits 0..=weight, the first without leading zeros.
    if weight < 0 {
        s.push('0');
    } else {
        for i in 0..=weight {
            let d = digit(i);
            let _ = if i == 0 { write!(s, "{d}") } else { write!(s, "{d:04}") };
        }
    }
    // Fractional part: the digits after the weight, cut to the display scale.
    if dscale > 0 {
        s.push('.');
        let start = s.len();
        let mut i = weight + 1;
        while s.len() - start < dscale {
            let _ = write!(s, "{:04}", digit(i));
            i += 1;
        }
        s.truncate(start + dscale);
    }
    Ok(s)
}

/// A decimal's JSON form: a JSON number when the number `serde_json` would hold (an `i64`, a
/// `u64`, or an `f64` whose shortest text is the same decimal) is exactly this value, and a
/// JSON string otherwise (`"0.1000000000000000000001"`, `"NaN"`), so no digit is ever lost.
/// (FastAPI turns `Decimal` into a float and may round; a string is the safe side.)
pub(crate) fn to_json(s: &str) -> serde_json::Value {
    if let Ok(i) = s.parse::<i64>() {
        return i.into();
    }
    if let Ok(u) = s.parse::<u64>() {
        return u.into();
    }
    // Trailing fractional zeros are display scale, not value: 2.50 is 2.5.
    let trimmed = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { s };
    if let Ok(i) = trimmed.parse::<i64>() {
        return i.into();
    }
    if let Ok(f) = trimmed.parse::<f64>() {
        if f.is_finite() && f.to_string() == trimmed {
            if let Some(n) = serde_json::Number::from_f64(f) {
                return serde_json::Value::Number(n);
            }
        }
    }
    serde_json::Value::String(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary(ndigits: i16, weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [ndigits as u16, weight as u16, sign, dscale] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        for d in digits {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn binary_to_text() {
        assert_eq!(decode(Format::Binary, &binary(2, 1, 0, 2, &[12, 3456])).unwrap(), "123456.00");
        assert_eq!(decode(Format::Binary, &binary(1, -1, 0x4000, 1, &[5000])).unwrap(), "-0.5");
        assert_eq!(decode(Format::Binary, &binary(1, -2, 0, 5, &[5000])).unwrap(), "0.00005");
        assert_eq!(decode(Format::Binary, &binary(0, 0, 0, 0, &[])).unwrap(), "0");
        assert_eq!(decode(Format::Binary, &binary(0, 0, 0xC000, 0, &[])).unwrap(), "NaN");
        // A base-10,000 digit outside 0..=9999 is refused, not printed as `1-005`.
        for bad in [-5, 10_000] {
            assert_eq!(
                decode(Format::Binary, &binary(2, 1, 0, 0, &[1, bad])),
                Err("numeric digit outside 0..=9999".to_string())
            );
        }
    }

    #[test]
    fn binary_round_trips() {
        for text in
            ["0", "0.00", "-0.5", "0.00005", "123456.00", "1e6", "12E5", "5e-4", "-98765432109876543210.0123", "NaN"]
        {
            let mut out = BytesMut::new();
            encode(text, &mut out).unwrap();
            let back = decode(Format::Binary, &out).unwrap();
            let expected: &str = match text {
                "1e6" => "1000000",
                "12E5" => "1200000",
                "5e-4" => "0.0005",
                other => other,
            };
            assert_eq!(back, expected, "{text}");
        }
    }

    #[test]
    fn json_keeps_every_digit() {
        assert_eq!(to_json("12.50"), serde_json::json!(12.5));
        assert_eq!(to_json("42.000"), serde_json::json!(42));
        assert_eq!(to_json("0.1"), serde_json::json!(0.1));
        assert_eq!(to_json("0.10000000000000000001"), serde_json::json!("0.10000000000000000001"));
        assert_eq!(to_json("123456789012345678901234567890"), serde_json::json!("123456789012345678901234567890"));
    }

    #[test]
    fn literal_syntax() {
        assert!(Numeric::new("-1.5e3").is_ok());
        assert!(Numeric::new("1.2.3").is_err());
        assert!(Numeric::new("").is_err());
    }
}
