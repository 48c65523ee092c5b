//! One column value written as JSON text: the seed's `dict(row)` followed by FastAPI's
//! `jsonable_encoder`, in one step, and faithful to what PostgreSQL sent.
//!
//! The value is written as text straight into the row's JSON, never built as a
//! `serde_json::Value` first. A `Value` would cost three things the caller can see: its
//! objects sort their keys (serde_json keeps insertion order only with `preserve_order`, which
//! pulls in another crate), its numbers are `f64` (`12345678901234567890123` rounds), and its
//! parser refuses documents PostgreSQL accepts (`1e400`, nesting past 128 levels). Writing
//! text has none of these limits, and what comes out is what `json_agg` / `row_to_json` would
//! have produced for the same row, with one spelling difference that leaves every value the
//! same: floats are written by serde_json's shortest round-trip formatter, which switches to an
//! exponent at other magnitudes than PostgreSQL does (`1000000000000000` and `0.00001`
//! where PostgreSQL writes `1e+15` and `1e-05`).
//!
//! | PostgreSQL | JSON |
//! |---|---|
//! | NULL | `null` |
//! | bool | `true` / `false` |
//! | int2/int4/int8 | number |
//! | oid | string of its digits (as `json_agg` writes it) |
//! | float4 / float8 | number, the shortest text that reads back as the same `f32` / `f64`; `"NaN"`, `"Infinity"`, `"-Infinity"` as strings (JSON has no such numbers) |
//! | numeric | number, every digit and the scale as sent (`0.00`); `"NaN"` and the infinities as strings |
//! | json, jsonb | the document exactly as the server sent it: key order, duplicate keys, big numbers and depth kept |
//! | text, varchar, bpchar, name, char | string |
//! | bytea | string, PostgreSQL's `\x` hex form |
//! | uuid | string, hyphenated |
//! | date, time, timestamp, timestamptz | string, in `json_agg`'s ISO 8601 form (`1999-12-31T23:59:59.5+00:00`, `0044-03-15 BC`) |
//! | arrays of any element type | arrays (nested for several dimensions), elements converted by these rules |
//! | any other type (interval, inet, money, ranges, ...) | its text form, as a string |
//!
//! A value that cannot be converted (a truncated binary value, text that is not UTF-8) is an
//! error naming the column, its type and the reason, never a silently wrong value: the caller
//! decides, and the demo logs it before answering 500.

use std::fmt::Write;

use crate::pg::types::{bytea_hex, jsonb_text, utf8, Format, FromSql, Type};
use crate::pg::{array, numeric, Date, Time, Timestamp, TimestampTz, Uuid};

/// Appends one non-NULL value as JSON to `out`. On error `out` may hold part of the value;
/// the caller throws the whole text away.
pub(crate) fn write_value(out: &mut String, ty: Type, format: Format, raw: &[u8]) -> Result<(), String> {
    if format == Format::Text {
        return write_text_value(out, ty, utf8(raw)?);
    }
    match ty {
        Type::BOOL => out.push_str(if bool::from_sql(ty, format, raw)? { "true" } else { "false" }),
        Type::INT2 | Type::INT4 | Type::INT8 => push_display(out, i64::from_sql(ty, format, raw)?),
        // PostgreSQL files oid under no number category, so `json_agg` quotes it.
        Type::OID => write_string(out, &i64::from_sql(ty, format, raw)?.to_string()),
        Type::FLOAT4 => write_f32(out, f32::from_sql(ty, format, raw)?),
        Type::FLOAT8 => write_f64(out, f64::from_sql(ty, format, raw)?),
        Type::NUMERIC => write_numeric(out, &numeric::decode(format, raw)?),
        // PostgreSQL validated the document when it was stored; it is copied, not re-parsed.
        Type::JSON => out.push_str(utf8(raw)?),
        Type::JSONB => out.push_str(utf8(jsonb_text(raw)?)?),
        Type::BYTEA => write_string(out, &bytea_hex(raw)),
        Type::UUID => write_string(out, &Uuid::from_sql(ty, format, raw)?.to_string()),
        Type::DATE => write_temporal(out, |s| {
            let date = Date::from_sql(ty, format, raw)?;
            push_date(s, date)?;
            s.push_str(era(date));
            Ok(())
        })?,
        Type::TIME => write_temporal(out, |s| push_time(s, Time::from_sql(ty, format, raw)?))?,
        Type::TIMESTAMP => write_temporal(out, |s| push_timestamp(s, Timestamp::from_sql(ty, format, raw)?, ""))?,
        Type::TIMESTAMPTZ => {
            write_temporal(out, |s| push_timestamp(s, TimestampTz::from_sql(ty, format, raw)?.to_utc(), "+00:00"))?
        }
        _ if ty.element().is_some() => write_binary_array(out, raw)?,
        // The remaining binary types are the string types.
        _ => write_string(out, &String::from_sql(ty, format, raw)?),
    }
    Ok(())
}

/// A value in the text format: a type without a binary decoder (interval, inet, ...), or any
/// value of a simple-protocol query.
fn write_text_value(out: &mut String, ty: Type, text: &str) -> Result<(), String> {
    match ty {
        Type::BOOL => out.push_str(if text == "t" { "true" } else { "false" }),
        Type::INT2 | Type::INT4 | Type::INT8 => {
            push_display(out, text.parse::<i64>().map_err(|e| format!("bad integer text {text:?}: {e}"))?)
        }
        Type::FLOAT4 => write_f32(out, f32::from_sql(ty, Format::Text, text.as_bytes())?),
        Type::FLOAT8 => write_f64(out, f64::from_sql(ty, Format::Text, text.as_bytes())?),
        Type::NUMERIC => write_numeric(out, text),
        Type::JSON | Type::JSONB => out.push_str(text),
        _ => match ty.element() {
            Some(element) => {
                let delimiter = if element == Type::BOX { b';' } else { b',' };
                write_text_array(out, element, &array::parse_text(text, delimiter)?)?
            }
            None => write_string(out, text),
        },
    }
    Ok(())
}

/// A binary array as (nested) JSON arrays.
fn write_binary_array(out: &mut String, raw: &[u8]) -> Result<(), String> {
    let parsed = array::parse(raw)?;
    if parsed.dims.is_empty() {
        out.push_str("[]");
        return Ok(());
    }
    let mut items = parsed.items.iter();
    write_nested(out, &parsed.dims, &mut items, parsed.element)
}

/// Writes one dimension of a multi-dimensional array from its flat, row-major items.
fn write_nested<'a>(
    out: &mut String,
    dims: &[usize],
    items: &mut impl Iterator<Item = &'a Option<&'a [u8]>>,
    element: Type,
) -> Result<(), String> {
    let (&size, inner) = dims.split_first().ok_or("array without dimensions")?;
    out.push('[');
    for i in 0..size {
        if i > 0 {
            out.push(',');
        }
        if !inner.is_empty() {
            write_nested(out, inner, items, element)?;
            continue;
        }
        match items.next().ok_or("array shorter than its dimensions")? {
            Some(bytes) => write_value(out, element, Format::Binary, bytes)?,
            None => out.push_str("null"),
        }
    }
    out.push(']');
    Ok(())
}

/// A parsed text-format array, each element converted as a text value of `element`.
fn write_text_array(out: &mut String, element: Type, items: &[array::TextItem<'_>]) -> Result<(), String> {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match item {
            array::TextItem::Null => out.push_str("null"),
            array::TextItem::Value(text) => write_text_value(out, element, text)?,
            array::TextItem::Array(inner) => write_text_array(out, element, inner)?,
        }
    }
    out.push(']');
    Ok(())
}

fn push_display(out: &mut String, value: impl std::fmt::Display) {
    // Writing into a String cannot fail.
    let _ = write!(out, "{value}");
}

/// The spellings PostgreSQL uses for the floats JSON cannot hold.
fn non_finite(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// A float4 in the shortest text that reads back as the same `f32`: `0.1`, where widening to
/// `f64` first would print `0.10000000149011612`.
fn write_f32(out: &mut String, v: f32) {
    if !v.is_finite() {
        return write_string(out, non_finite(v as f64));
    }
    match serde_json::to_string(&v) {
        Ok(text) => push_float_text(out, &text),
        // Rust's own formatting is exact too, only longer (never an exponent).
        Err(_) => push_display(out, v),
    }
}

/// A float8 in the shortest text that reads back as the same `f64`.
fn write_f64(out: &mut String, v: f64) {
    if !v.is_finite() {
        return write_string(out, non_finite(v));
    }
    match serde_json::to_string(&v) {
        Ok(text) => push_float_text(out, &text),
        Err(_) => push_display(out, v),
    }
}

/// serde_json's text of a float without the `.0` it gives a whole number: `20`, as
/// PostgreSQL writes it, not `20.0`.
fn push_float_text(out: &mut String, text: &str) {
    out.push_str(text.strip_suffix(".0").unwrap_or(text));
}

/// A numeric's text is already a JSON number (`-12.500`, `0.00`), except for the three
/// special values, which become strings as in `json_agg`.
fn write_numeric(out: &mut String, text: &str) {
    match text {
        "NaN" | "Infinity" | "-Infinity" => write_string(out, text),
        _ => out.push_str(text),
    }
}

/// A JSON string with the escapes PostgreSQL's own JSON output uses.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => push_display(out, format_args!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Builds a date/time string with `build` and writes it as a JSON string.
fn write_temporal(out: &mut String, build: impl FnOnce(&mut String) -> Result<(), String>) -> Result<(), String> {
    let mut text = String::with_capacity(32);
    build(&mut text)?;
    write_string(out, &text);
    Ok(())
}

/// `2024-02-29`, `0044-03-15` (the era follows separately), `infinity` — `json_agg`'s
/// spelling. rasgi's proleptic year 0 is 1 BC, so BC years print as `1 - year`.
fn push_date(out: &mut String, date: Date) -> Result<(), String> {
    match date {
        Date::INFINITY => out.push_str("infinity"),
        Date::NEG_INFINITY => out.push_str("-infinity"),
        _ => {
            let (y, m, d) = date.ymd();
            let year = if y > 0 { y } else { 1 - y };
            push_display(out, format_args!("{year:04}-{m:02}-{d:02}"));
        }
    }
    Ok(())
}

/// ` BC` when the date is before year 1: PostgreSQL puts it after the whole timestamp.
fn era(date: Date) -> &'static str {
    if date != Date::NEG_INFINITY && date != Date::INFINITY && date.ymd().0 <= 0 {
        " BC"
    } else {
        ""
    }
}

/// `23:59:58.5`: microseconds without their trailing zeros, as PostgreSQL prints them.
fn push_time(out: &mut String, time: Time) -> Result<(), String> {
    let (h, m, s, us) = time.hms_micro();
    push_display(out, format_args!("{h:02}:{m:02}:{s:02}"));
    if us != 0 {
        let fraction = format!("{us:06}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    Ok(())
}

/// `1999-12-31T23:59:59.5` plus `zone`, then the era.
fn push_timestamp(out: &mut String, ts: Timestamp, zone: &str) -> Result<(), String> {
    if ts == Timestamp::INFINITY || ts == Timestamp::NEG_INFINITY {
        out.push_str(if ts == Timestamp::INFINITY { "infinity" } else { "-infinity" });
        return Ok(());
    }
    push_date(out, ts.date())?;
    out.push('T');
    push_time(out, ts.time())?;
    out.push_str(zone);
    out.push_str(era(ts.date()));
    Ok(())
}

/// A value as a `serde_json::Value`, for callers who asked for one (`row.get::<Value>(..)`):
/// the JSON text above, parsed. Its limits are serde_json's, and the error says so.
pub(crate) fn to_value(ty: Type, format: Format, raw: &[u8]) -> Result<serde_json::Value, String> {
    let mut text = String::new();
    write_value(&mut text, ty, format, raw)?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "this {ty} value does not fit a serde_json::Value ({e}); read it as String, or take the row with \
             Row::to_json, which keeps the text exactly"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary(ty: Type, raw: &[u8]) -> String {
        let mut out = String::new();
        write_value(&mut out, ty, Format::Binary, raw).unwrap();
        out
    }

    fn text(ty: Type, raw: &str) -> String {
        let mut out = String::new();
        write_value(&mut out, ty, Format::Text, raw.as_bytes()).unwrap();
        out
    }

    #[test]
    fn float4_is_shortest_exact() {
        assert_eq!(binary(Type::FLOAT4, &0.1f32.to_be_bytes()), "0.1");
        assert_eq!(binary(Type::FLOAT4, &f32::NAN.to_be_bytes()), "\"NaN\"");
        let f8 = |v: f64| binary(Type::FLOAT8, &v.to_be_bytes());
        assert_eq!(
            [f8(20.0), f8(-0.0), f8(1e15), f8(1e16), f8(1e-5)],
            ["20", "-0", "1000000000000000", "1e+16", "0.00001"]
        );
        assert_eq!(binary(Type::FLOAT8, &f64::NEG_INFINITY.to_be_bytes()), "\"-Infinity\"");
    }

    #[test]
    fn json_documents_are_copied() {
        let doc = r#"{"b":1,"a":12345678901234567890123,"a":1e400}"#;
        assert_eq!(binary(Type::JSON, doc.as_bytes()), doc);
        let mut jsonb = vec![1u8];
        jsonb.extend_from_slice(doc.as_bytes());
        assert_eq!(binary(Type::JSONB, &jsonb), doc);
    }

    #[test]
    fn strings_escape_like_postgres() {
        assert_eq!(text(Type(1186), "a\"b\\c\n\u{1}"), r#""a\"b\\c\n\u0001""#);
    }

    #[test]
    fn text_arrays_become_arrays() {
        assert_eq!(text(Type(1187), r#"{"1 day",NULL,"2 mons"}"#), r#"["1 day",null,"2 mons"]"#);
        assert_eq!(text(Type(1007), "[0:1]={{1,2},{3,NULL}}"), "[[1,2],[3,null]]");
        assert_eq!(text(Type(1020), "{(3,4),(1,2);(1,1),(0,0)}"), r#"["(3,4),(1,2)","(1,1),(0,0)"]"#);
    }

    #[test]
    fn dates_in_json_agg_form() {
        let date = Date::from_ymd(-43, 3, 15).unwrap();
        let mut out = String::new();
        push_timestamp(&mut out, Timestamp::new(date, Time::from_hms_micro(1, 2, 3, 450_000).unwrap()), "+00:00")
            .unwrap();
        assert_eq!(out, "0044-03-15T01:02:03.45+00:00 BC");
    }
}
