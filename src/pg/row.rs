//! A result row — asyncpg's `Record`: values by position or by column name, and the seed's
//! `dict(row)` as [`Row::to_json`].
//!
//! A `Row` owns exactly one thing: the body of its DataRow message, a `Bytes` slice of the
//! connection's read buffer (no copy). The column descriptions are shared by every row of the
//! result through one `Rc`. Values are found by walking the body's (length, bytes) pairs —
//! for the handful of columns a row usually has that costs less than allocating an index per
//! row — and decoded only when asked for, so a 100,000-row result costs one allocation per row
//! for the `Vec<Row>` slot and none for its values.

use std::fmt;
use std::rc::Rc;

use bytes::Bytes;
use serde::ser::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::pg::error::PgError;
use crate::pg::message::{cstr_string, get_i16, get_i32};
use crate::pg::types::{result_format, Format, FromSql, Type};

/// One column of a result: its name, type, and the format its values arrive in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// The column's name (the alias, for expressions: `?column?` when there is none).
    name: String,
    /// Its type.
    pg_type: Type,
    /// The format rasgi asked for: binary when it can decode the type, else text.
    format: Format,
}

impl Column {
    /// The column's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The column's PostgreSQL type.
    pub fn pg_type(&self) -> Type {
        self.pg_type
    }

    /// The format its values arrive in.
    pub fn format(&self) -> Format {
        self.format
    }
}

/// Parses a RowDescription. `text_only` is for the simple protocol, where every value is text;
/// otherwise each column gets the format rasgi will request for it in Bind.
pub(crate) fn parse_row_description(body: &Bytes, text_only: bool) -> Result<Vec<Column>, PgError> {
    let mut body = body.clone();
    let count = get_i16(&mut body)?;
    let mut columns = Vec::with_capacity(count.max(0) as usize);
    for _ in 0..count {
        let name = cstr_string(&mut body)?;
        let _table_oid = get_i32(&mut body)?;
        let _column_number = get_i16(&mut body)?;
        let pg_type = Type(get_i32(&mut body)? as u32);
        let _type_size = get_i16(&mut body)?;
        let _type_modifier = get_i32(&mut body)?;
        let _format = get_i16(&mut body)?;
        let format = if text_only { Format::Text } else { result_format(pg_type) };
        columns.push(Column { name, pg_type, format });
    }
    Ok(columns)
}

/// A way to name a column: its position (`usize`, from 0) or its name (`&str`).
pub trait ColumnIndex: fmt::Display {
    /// The position of the column in `columns`, if there is one.
    fn position(&self, columns: &[Column]) -> Option<usize>;
}

impl ColumnIndex for usize {
    fn position(&self, columns: &[Column]) -> Option<usize> {
        (*self < columns.len()).then_some(*self)
    }
}

impl ColumnIndex for &str {
    fn position(&self, columns: &[Column]) -> Option<usize> {
        columns.iter().position(|c| c.name == *self)
    }
}

/// One row of a result.
#[derive(Clone)]
pub struct Row {
    /// The result's columns, shared by all its rows.
    columns: Rc<[Column]>,
    /// The DataRow body: a big-endian `u16` column count, then per column an `i32` length
    /// (-1 for NULL) and that many bytes. Validated against `columns` when the row was built,
    /// so walking it cannot run off the end.
    body: Bytes,
}

impl Row {
    /// Wraps a DataRow body, checking that it holds exactly one value per column.
    pub(crate) fn new(columns: Rc<[Column]>, body: Bytes) -> Result<Row, PgError> {
        let row = Row { columns, body };
        let count = row.body.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]) as usize);
        if count != Some(row.columns.len()) {
            return Err(PgError::protocol("a DataRow does not match its RowDescription"));
        }
        let mut end = 2;
        for value in row.walk() {
            end = match value {
                Walked::Value(range) => range.end,
                Walked::Null(after) => after,
                Walked::Truncated => return Err(PgError::protocol("truncated DataRow")),
            };
        }
        if end != row.body.len() {
            return Err(PgError::protocol("DataRow longer than its values"));
        }
        Ok(row)
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// True for a row without columns (`SELECT FROM t`).
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The value of a column, decoded as `T`: `row.get::<i32>(0)`, `row.get::<String>("name")`,
    /// `row.get::<Option<f64>>("value")` for a nullable column.
    pub fn get<'a, T: FromSql<'a>>(&'a self, index: impl ColumnIndex) -> Result<T, PgError> {
        // The error is built out of line: `get` runs once per value of a bulk result, and
        // with it inline a 3-column row cost 498 instructions to read, 399 without.
        let Some(position) = index.position(&self.columns) else {
            return Err(self.no_such_column(&index));
        };
        let column = &self.columns[position];
        let decoded = match self.raw_at(position) {
            Some(raw) => T::from_sql(column.pg_type, column.format, raw),
            None => T::from_null(column.pg_type),
        };
        decoded.map_err(|reason| PgError::Decode {
            column: column.name.clone(),
            pg_type: column.pg_type.name(),
            reason,
        })
    }

    /// The raw bytes of a column (`None` for NULL), in the column's [`Format`].
    pub fn raw(&self, index: impl ColumnIndex) -> Result<Option<&[u8]>, PgError> {
        let position = self.position(&index)?;
        Ok(self.raw_at(position))
    }

    /// True if the column is NULL.
    pub fn is_null(&self, index: impl ColumnIndex) -> Result<bool, PgError> {
        Ok(self.raw(index)?.is_none())
    }

    /// The row as a JSON object, column name → value, in column order — `dict(row)` made
    /// JSON-ready. The text is built by hand (see `json.rs` for each type), so json/jsonb
    /// values arrive exactly as the server sent them, numbers keep every digit, and keys stay
    /// in column order; a `Box<RawValue>` is written verbatim wherever serde_json serializes
    /// it. Duplicate column names give duplicate keys, as `row_to_json` does. An error names
    /// the column, its type and the reason.
    pub fn to_json(&self) -> Result<Box<RawValue>, PgError> {
        let mut out = String::with_capacity(self.body.len() * 2 + 16);
        self.write_json(&mut out)?;
        raw_json(out)
    }

    /// Appends the row's JSON object (see [`Row::to_json`]) to `out`.
    fn write_json(&self, out: &mut String) -> Result<(), PgError> {
        out.push('{');
        for (i, (column, raw)) in self.columns.iter().zip(self.values()).enumerate() {
            if i > 0 {
                out.push(',');
            }
            crate::pg::json::write_string(out, &column.name);
            out.push(':');
            match raw {
                None => out.push_str("null"),
                Some(raw) => {
                    crate::pg::json::write_value(out, column.pg_type, column.format, raw).map_err(|reason| {
                        PgError::Decode { column: column.name.clone(), pg_type: column.pg_type.name(), reason }
                    })?
                }
            }
        }
        out.push('}');
        Ok(())
    }

    fn position(&self, index: &impl ColumnIndex) -> Result<usize, PgError> {
        index.position(&self.columns).ok_or_else(|| self.no_such_column(index))
    }

    #[cold]
    fn no_such_column(&self, index: &impl ColumnIndex) -> PgError {
        PgError::Decode {
            column: index.to_string(),
            pg_type: "-".to_string(),
            reason: format!(
                "no such column; the columns are: {}",
                self.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }
    }

    /// The value at `position`, found by walking past the ones before it.
    fn raw_at(&self, position: usize) -> Option<&[u8]> {
        match self.walk().nth(position) {
            Some(Walked::Value(range)) => Some(&self.body[range]),
            _ => None,
        }
    }

    /// Every value in column order (`None` = NULL).
    fn values(&self) -> impl Iterator<Item = Option<&[u8]>> {
        self.walk().map(|w| match w {
            Walked::Value(range) => Some(&self.body[range]),
            _ => None,
        })
    }

    fn walk(&self) -> Walk<'_> {
        Walk { body: &self.body, at: 2, left: self.columns.len() }
    }
}

/// Many rows as one JSON array of objects (see [`Row::to_json`]): the seed's
/// `[dict(row) for row in rows]`, ready to be a response body.
pub fn rows_to_json(rows: &[Row]) -> Result<Box<RawValue>, PgError> {
    let mut out = String::with_capacity(rows.iter().map(|r| r.body.len() * 2 + 16).sum::<usize>() + 2);
    out.push('[');
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        row.write_json(&mut out)?;
    }
    out.push(']');
    raw_json(out)
}

/// Wraps finished JSON text. serde_json scans it once more (an iterative scan with no depth
/// limit and no number ranges, so nothing PostgreSQL accepts is refused); a failure would mean
/// the server sent a json value that is not JSON.
fn raw_json(text: String) -> Result<Box<RawValue>, PgError> {
    RawValue::from_string(text).map_err(|e| PgError::protocol(format!("the server sent JSON that does not parse: {e}")))
}

/// One step of a walk over a DataRow body.
enum Walked {
    /// A value's byte range in the body.
    Value(std::ops::Range<usize>),
    /// A NULL; the offset just after its length field.
    Null(usize),
    /// The body ended inside a length or a value (only before validation).
    Truncated,
}

/// Iterator over a DataRow's values.
struct Walk<'a> {
    body: &'a [u8],
    /// Offset of the next length field.
    at: usize,
    /// Values not yet visited.
    left: usize,
}

impl Iterator for Walk<'_> {
    type Item = Walked;

    fn next(&mut self) -> Option<Walked> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let Some(len) = self.body.get(self.at..self.at + 4) else {
            self.left = 0;
            return Some(Walked::Truncated);
        };
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        let start = self.at + 4;
        if len < 0 {
            self.at = start;
            return Some(Walked::Null(start));
        }
        let end = start + len as usize;
        if end > self.body.len() {
            self.left = 0;
            return Some(Walked::Truncated);
        }
        self.at = end;
        Some(Walked::Value(start..end))
    }
}

/// `Row {"id":1,"name":"a"}`: the row's JSON, or the reason it has none.
impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_json() {
            Ok(json) => write!(f, "Row {}", json.get()),
            Err(e) => write!(f, "Row <{e}>"),
        }
    }
}

/// Rows serialize as their [`Row::to_json`] object, so a handler can return `Vec<Row>` as a
/// body directly; serde_json writes the text verbatim, in column order.
impl Serialize for Row {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().map_err(serde::ser::Error::custom)?.serialize(serializer)
    }
}
