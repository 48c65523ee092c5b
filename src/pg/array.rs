//! Arrays (`int4[]`, `text[]`, ...) in PostgreSQL's binary format — asyncpg's
//! `codecs/array.pyx`.
//!
//! ```text
//! i32 ndim | i32 has_nulls | u32 element oid | ndim × (i32 size, i32 lower bound) | elements
//! element = i32 length (-1 for NULL) | that many bytes, in the element type's binary format
//! ```
//!
//! Arrays of types rasgi reads as text (`interval[]`, `inet[]`) arrive in the text format
//! instead, `{"1 day",NULL}`, and [`parse_text`] splits that syntax for the JSON conversion.
//!
//! An empty array has `ndim = 0` and nothing after the element OID. Rust `Vec<T>`s map to
//! one-dimensional arrays; multi-dimensional ones decode as nested JSON arrays
//! (`serde_json::Value`) only — a simplification: a `Vec<Vec<T>>` decoder would need the
//! dimensions threaded through `FromSql`.

use std::borrow::Cow;

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

/// One element of a text-format array.
#[derive(Debug, PartialEq)]
pub(crate) enum TextItem<'a> {
    /// An unquoted `NULL`.
    Null,
    /// An element's text, quotes and backslash escapes removed (borrowed when there were none).
    Value(Cow<'a, str>),
    /// A sub-array of a multi-dimensional array.
    Array(Vec<TextItem<'a>>),
}

/// Parses PostgreSQL's array output syntax: `{a,"b c",NULL,{nested}}`, optionally preceded by
/// explicit bounds (`[0:1]={1,2}`), which JSON has no place for and are dropped. `delimiter`
/// is `,` for every built-in type except `box`, whose text contains commas and uses `;`.
pub(crate) fn parse_text(text: &str, delimiter: u8) -> Result<Vec<TextItem<'_>>, String> {
    let body = match text.strip_prefix('[') {
        Some(_) => text.split_once('=').map(|(_, rest)| rest).ok_or("array bounds without '='")?,
        None => text,
    };
    let mut at = 0;
    let items = parse_text_level(body.as_bytes(), body, &mut at, delimiter, 1)?;
    if body[at..].trim_matches(is_array_space).is_empty() {
        Ok(items)
    } else {
        Err(format!("unexpected text after the array: {:?}", &body[at..]))
    }
}

/// PostgreSQL's `MAXDIM`: no array it sends nests deeper, and a deeper text is refused
/// rather than recursed into.
const MAX_DIMENSIONS: usize = 6;

/// White space around array elements, as PostgreSQL's `array_isspace` counts it: ASCII
/// only, so a no-break space (U+00A0) at the edge of an unquoted element is kept.
fn is_array_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}')
}

/// Parses one `{...}` level (the `depth`th) starting at `*at`, leaving `*at` just after
/// its `}`.
fn parse_text_level<'a>(
    bytes: &[u8],
    text: &'a str,
    at: &mut usize,
    delimiter: u8,
    depth: usize,
) -> Result<Vec<TextItem<'a>>, String> {
    let bad = |what: &str| format!("malformed array text ({what})");
    if depth > MAX_DIMENSIONS {
        return Err(bad("more than 6 dimensions"));
    }
    skip_spaces(bytes, at);
    if bytes.get(*at) != Some(&b'{') {
        return Err(bad("expected '{'"));
    }
    *at += 1;
    let mut items = Vec::new();
    skip_spaces(bytes, at);
    if bytes.get(*at) == Some(&b'}') {
        *at += 1;
        return Ok(items);
    }
    loop {
        skip_spaces(bytes, at);
        let item = match bytes.get(*at) {
            Some(b'{') => TextItem::Array(parse_text_level(bytes, text, at, delimiter, depth + 1)?),
            Some(b'"') => TextItem::Value(parse_quoted(bytes, text, at)?),
            Some(_) => parse_unquoted(bytes, text, at, delimiter),
            None => return Err(bad("ends inside an element")),
        };
        items.push(item);
        skip_spaces(bytes, at);
        match bytes.get(*at) {
            Some(&b) if b == delimiter => *at += 1,
            Some(b'}') => {
                *at += 1;
                return Ok(items);
            }
            _ => return Err(bad("expected a delimiter or '}'")),
        }
    }
}

fn skip_spaces(bytes: &[u8], at: &mut usize) {
    while bytes.get(*at).is_some_and(|&b| is_array_space(char::from(b))) {
        *at += 1;
    }
}

/// A `"..."` element; `\x` stands for `x`.
fn parse_quoted<'a>(bytes: &[u8], text: &'a str, at: &mut usize) -> Result<Cow<'a, str>, String> {
    let start = *at + 1;
    let mut i = start;
    let mut unescaped: Option<String> = None;
    let mut run = start;
    loop {
        match bytes.get(i) {
            Some(b'"') => break,
            Some(b'\\') => {
                let owned = unescaped.get_or_insert_with(String::new);
                owned.push_str(&text[run..i]);
                // The escaped character may be multi-byte: copy the whole char.
                let c = text[i + 1..].chars().next().ok_or("array text ends in an escape")?;
                owned.push(c);
                i += 1 + c.len_utf8();
                run = i;
            }
            Some(_) => i += 1,
            None => return Err("array text ends inside a quoted element".to_string()),
        }
    }
    *at = i + 1;
    Ok(match unescaped {
        Some(mut owned) => {
            owned.push_str(&text[run..i]);
            Cow::Owned(owned)
        }
        None => Cow::Borrowed(&text[start..i]),
    })
}

/// An unquoted element, up to the delimiter or `}`; surrounding spaces are not part of it,
/// and `NULL` in any case is the SQL NULL.
fn parse_unquoted<'a>(bytes: &[u8], text: &'a str, at: &mut usize, delimiter: u8) -> TextItem<'a> {
    let start = *at;
    while bytes.get(*at).is_some_and(|&b| b != delimiter && b != b'}') {
        *at += 1;
    }
    let value = text[start..*at].trim_matches(is_array_space);
    if value.eq_ignore_ascii_case("NULL") {
        TextItem::Null
    } else {
        TextItem::Value(Cow::Borrowed(value))
    }
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
    fn text_syntax() {
        use TextItem::{Null, Value};
        let items = parse_text(r#"{plain, "q\"uo\\te" ,NULL,"NULL",{}}"#, b',').unwrap();
        assert_eq!(
            items,
            vec![Value("plain".into()), Value("q\"uo\\te".into()), Null, Value("NULL".into()), TextItem::Array(vec![])]
        );
        assert!(parse_text("{a,b", b',').is_err());
        assert!(parse_text("{a}x", b',').is_err());
    }

    /// Only ASCII white space surrounds an element, as in PostgreSQL's `array_in`: a
    /// no-break space is part of the element's text (`array_out` does not quote it).
    #[test]
    fn only_ascii_white_space_is_trimmed() {
        let items = parse_text("{ a\u{a0}, \u{b}b\u{c} }", b',').unwrap();
        assert_eq!(items, vec![TextItem::Value("a\u{a0}".into()), TextItem::Value("b".into())]);
    }

    /// PostgreSQL sends at most 6 dimensions; a deeper text is refused, not recursed into
    /// (a megabyte of `{` would otherwise overflow the stack).
    #[test]
    fn more_than_six_dimensions_are_refused() {
        let nested = |depth: usize| format!("{}1{}", "{".repeat(depth), "}".repeat(depth));
        assert!(parse_text(&nested(6), b',').is_ok());
        assert_eq!(parse_text(&nested(7), b','), Err("malformed array text (more than 6 dimensions)".to_string()));
        assert!(parse_text(&nested(1_000_000), b',').is_err());
    }

    #[test]
    fn truncated_input_is_an_error() {
        assert!(parse(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 23, 0, 0, 0, 9]).is_err());
    }
}
