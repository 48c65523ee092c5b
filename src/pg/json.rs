//! One column value as `serde_json::Value`: the seed's `dict(row)` followed by FastAPI's
//! `jsonable_encoder`, in one step.
//!
//! | PostgreSQL | JSON |
//! |---|---|
//! | NULL | `null` |
//! | bool | `true` / `false` |
//! | int2/int4/int8/oid | number |
//! | float4/float8 | number (`"NaN"`, `"Infinity"` as strings: JSON has no such numbers) |
//! | numeric | number when exact, else string (see `numeric::to_json`) |
//! | text, varchar, bpchar, name, char | string |
//! | json, jsonb | the document itself, nested |
//! | bytea | string, PostgreSQL's `\x` hex form |
//! | uuid | string, hyphenated |
//! | date, time, timestamp, timestamptz | ISO 8601 string |
//! | arrays | arrays (nested for several dimensions) |
//! | any other type | its text form, as a string |

use serde_json::Value;

use crate::pg::numeric;
use crate::pg::types::{jsonb_text, utf8, Format, FromSql, Type};
use crate::pg::{array, Date, Time, Timestamp, TimestampTz, Uuid};

/// Converts one non-NULL value to JSON.
pub(crate) fn to_json(ty: Type, format: Format, raw: &[u8]) -> Result<Value, String> {
    if format == Format::Text {
        return text_to_json(ty, utf8(raw)?);
    }
    Ok(match ty {
        Type::BOOL => Value::Bool(bool::from_sql(ty, format, raw)?),
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => Value::from(i64::from_sql(ty, format, raw)?),
        Type::FLOAT4 | Type::FLOAT8 => float(f64::from_sql(ty, format, raw)?),
        Type::NUMERIC => numeric::to_json(&numeric::decode(format, raw)?),
        Type::JSON => parse_json(raw)?,
        Type::JSONB => parse_json(jsonb_text(raw)?)?,
        Type::UUID => Value::String(Uuid::from_sql(ty, format, raw)?.to_string()),
        Type::DATE => Value::String(Date::from_sql(ty, format, raw)?.to_string()),
        Type::TIME => Value::String(Time::from_sql(ty, format, raw)?.to_string()),
        Type::TIMESTAMP => Value::String(Timestamp::from_sql(ty, format, raw)?.to_string()),
        Type::TIMESTAMPTZ => Value::String(TimestampTz::from_sql(ty, format, raw)?.to_string()),
        _ if ty.element().is_some() => array_to_json(raw)?,
        // Strings, bytea, and anything else readable as text.
        _ => Value::String(String::from_sql(ty, format, raw)?),
    })
}

/// A value in the text format (the simple protocol, or a type without a binary decoder).
fn text_to_json(ty: Type, text: &str) -> Result<Value, String> {
    Ok(match ty {
        Type::BOOL => Value::Bool(text == "t"),
        Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => {
            Value::from(text.parse::<i64>().map_err(|e| format!("bad integer text: {e}"))?)
        }
        Type::FLOAT4 | Type::FLOAT8 => float(f64::from_sql(ty, Format::Text, text.as_bytes())?),
        Type::NUMERIC => numeric::to_json(text),
        Type::JSON | Type::JSONB => parse_json(text.as_bytes())?,
        // Text arrays (`{1,2,3}`) stay strings: parsing that syntax is left out for brevity,
        // and the extended protocol, which every fetch uses, sends arrays in binary.
        _ => Value::String(text.to_string()),
    })
}

fn float(v: f64) -> Value {
    serde_json::Number::from_f64(v).map(Value::Number).unwrap_or_else(|| {
        Value::String(
            if v.is_nan() {
                "NaN"
            } else if v > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            }
            .to_string(),
        )
    })
}

fn parse_json(text: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(text).map_err(|e| format!("invalid JSON from the server: {e}"))
}

/// A binary array as (nested) JSON arrays.
fn array_to_json(raw: &[u8]) -> Result<Value, String> {
    let parsed = array::parse(raw)?;
    let mut items = parsed.items.into_iter().map(|item| match item {
        Some(bytes) => to_json(parsed.element, Format::Binary, bytes),
        None => Ok(Value::Null),
    });
    if parsed.dims.is_empty() {
        return Ok(Value::Array(Vec::new()));
    }
    nest(&parsed.dims, &mut items)
}

/// Builds the nested arrays of a multi-dimensional array from its flat, row-major items.
fn nest(dims: &[usize], items: &mut impl Iterator<Item = Result<Value, String>>) -> Result<Value, String> {
    let (&size, inner) = dims.split_first().ok_or("array without dimensions")?;
    let mut out = Vec::with_capacity(size);
    for _ in 0..size {
        out.push(if inner.is_empty() {
            items.next().ok_or("array shorter than its dimensions")??
        } else {
            nest(inner, items)?
        });
    }
    Ok(Value::Array(out))
}
