//! Arrays (`int4[]`, `text[]`, ...) in PostgreSQL's binary format — asyncpg's
//! `codecs/array.pyx`.
//!
//! ```text
//! i32 ndim | i32 has_nulls | u32 element oid | ndim × (i32 size, i32 lower bound) | elements
//! element = i32 length (-1 for NULL) | that many bytes, in the element type's binary format
//! ```
//!
//! An empty array has `ndim = 0` and nothing after the element OID. Rust `Vec<T>`s map to
//! one-dimensional arrays; multi-dimensional ones decode as nested JSON arrays
//! (`serde_json::Value`) only — a simplification: a `Vec<Vec<T>>` decoder would need the
//! dimensions threaded through `FromSql`.

use bytes::{Buf, BufMut, BytesMut};

use crate::pg::types::{Encoded, Format, FromSql, ToSql, Type};

/// A parsed array header and its element slices (`None` = NULL), in row-major order.
pub(crate) struct RawArray<'a> {
    /// The element type, as the array itself declares it.
    pub(crate) element: Type,
    /// The size of each dimension; empty for an empty array.
    pub(crate) dims: Vec<usize>,
    /// Every element, flattened.
    pub(crate) items: Vec<Option<&'a [u8]>>,
}

/// Parses the binary array format (see the module docs).
pub(crate) fn parse(raw: &[u8]) -> Result<RawArray<'_>, String> {
    let short = || "truncated array".to_string();
    let mut buf = raw;
    if buf.remaining() < 12 {
        return Err(short());
    }
    let ndim = buf.get_i32();
    let _has_nulls = buf.get_i32();
    let element = Type(buf.get_u32());
    if !(0..=6).contains(&ndim) {
        return Err(format!("bad array dimension count {ndim}"));
    }
    let mut dims = Vec::with_capacity(ndim as usize);
    let mut count: usize = if ndim == 0 { 0 } else { 1 };
    for _ in 0..ndim {
        if buf.remaining() < 8 {
            return Err(short());
        }
        let size = usize::try_from(buf.get_i32()).map_err(|_| "negative array dimension".to_string())?;
        let _lower_bound = buf.get_i32();
        dims.push(size);
        count = count.checked_mul(size).ok_or_else(|| "array too large".to_string())?;
    }
    // Each element needs at least its 4-byte length: a cheap bound against a lying header.
    if count > buf.remaining() / 4 + 1 {
        return Err(short());
    }
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        if buf.remaining() < 4 {
            return Err(short());
        }
        let len = buf.get_i32();
        if len < 0 {
            items.push(None);
        } else {
            let len = len as usize;
            if buf.remaining() < len {
                return Err(short());
            }
            items.push(Some(&buf[..len]));
            buf.advance(len);
        }
    }
    Ok(RawArray { element, dims, items })
}

/// Decodes a one-dimensional (or empty) array into a `Vec<T>`.
pub(crate) fn decode<'a, T: FromSql<'a>>(ty: Type, format: Format, raw: &'a [u8]) -> Result<Vec<T>, String> {
    if format != Format::Binary || ty.element().is_none() {
        return Err(format!("a {ty} cannot be read as Vec<_>; only arrays in binary format can"));
    }
    let array = parse(raw)?;
    if array.dims.len() > 1 {
        return Err(format!(
            "a {}-dimensional array cannot be read as Vec<_>; read it as serde_json::Value",
            array.dims.len()
        ));
    }
    array
        .items
        .into_iter()
        .map(|item| match item {
            Some(bytes) => T::from_sql(array.element, Format::Binary, bytes),
            None => T::from_null(array.element),
        })
        .collect()
}

/// Encodes `items` as a one-dimensional array of the array type `ty`. Every element must
/// encode in binary (or be NULL): an array has one format for all its elements.
pub(crate) fn encode<T: ToSql>(items: &[T], ty: Type, out: &mut BytesMut) -> Result<Encoded, String> {
    let element = ty.element().ok_or_else(|| format!("a Rust slice can only be sent as an array, not as {ty}"))?;
    let start = out.len();
    out.put_i32(if items.is_empty() { 0 } else { 1 });
    let flags_at = out.len();
    out.put_i32(0);
    out.put_u32(element.oid());
    if !items.is_empty() {
        out.put_i32(i32::try_from(items.len()).map_err(|_| "array too long".to_string())?);
        out.put_i32(1); // lower bound: PostgreSQL arrays start at 1
    }
    let mut has_nulls = false;
    for item in items {
        // Reserve the length, encode, then patch the length in.
        let len_at = out.len();
        out.put_i32(0);
        let len = match item.to_sql(element, out) {
            Ok(Encoded::Binary) => i32::try_from(out.len() - len_at - 4).map_err(|_| "array element too large")?,
            Ok(Encoded::Null) => {
                has_nulls = true;
                -1
            }
            Ok(Encoded::Text) => {
                out.truncate(start);
                return Err(format!("this Rust type cannot be an element of {ty}; send the array as a string"));
            }
            Err(e) => {
                out.truncate(start);
                return Err(e);
            }
        };
        out[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
    }
    out[flags_at..flags_at + 4].copy_from_slice(&(has_nulls as i32).to_be_bytes());
    Ok(Encoded::Binary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_null() {
        let mut out = BytesMut::new();
        let values = vec![Some(1i32), None, Some(3)];
        assert_eq!(encode(&values, Type(1007), &mut out), Ok(Encoded::Binary));
        let back: Vec<Option<i32>> = decode(Type(1007), Format::Binary, &out).unwrap();
        assert_eq!(back, values);
    }

    #[test]
    fn empty_array_has_no_dimensions() {
        let mut out = BytesMut::new();
        encode::<i64>(&[], Type(1016), &mut out).unwrap();
        assert_eq!(&out[..], &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20]);
        assert_eq!(decode::<i64>(Type(1016), Format::Binary, &out), Ok(vec![]));
    }

    #[test]
    fn truncated_input_is_an_error() {
        assert!(parse(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 23, 0, 0, 0, 9]).is_err());
    }
}
