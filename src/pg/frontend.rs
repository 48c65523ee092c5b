//! The frontend encoder: the messages a request is made of, written into the connection's
//! write buffer — asyncpg's `coreproto.pyx` `_bind_execute` / `_prepare`. Pure functions of
//! their inputs, so they are tested byte for byte here, against postgres-protocol's own
//! encoders where it has one; the socket tests then only need to cover the wiring.

use bytes::{BufMut, BytesMut};
use postgres_protocol::message::frontend;

use crate::pg::error::PgError;
use crate::pg::row::Column;
use crate::pg::statement::Statement;
use crate::pg::types::{Encoded, Format, ToSql};

/// Parse + Describe(statement) + Sync.
pub(crate) fn write_prepare(buf: &mut BytesMut, name: &str, sql: &str) -> Result<(), PgError> {
    let nul = |e: std::io::Error| PgError::Config(format!("the query text is invalid: {e}"));
    frontend::parse(name, sql, std::iter::empty(), buf).map_err(nul)?;
    frontend::describe(b'S', name, buf).map_err(nul)?;
    frontend::sync(buf);
    Ok(())
}

/// Bind + Execute + Sync for a prepared statement; `max_rows` 0 = all rows.
pub(crate) fn write_bind_execute(
    buf: &mut BytesMut,
    statement: &Statement,
    params: &[&dyn ToSql],
    max_rows: i32,
) -> Result<(), PgError> {
    write_bind(buf, statement, params)?;
    frontend::execute("", max_rows, buf).map_err(|e| PgError::protocol(e.to_string()))?;
    frontend::sync(buf);
    Ok(())
}

/// Writes a Bind message by hand (postgres-protocol's `bind` wants every format before any
/// value, but a value's format is only known once it is encoded):
///
/// ```text
/// 'B' len | portal\0 | statement\0 | i16 n, n × i16 param format | i16 n, n × (i32 len | bytes)
///         | i16 m, m × i16 result format
/// ```
///
/// The parameter formats are reserved, then patched as each value reports how it encoded.
fn write_bind(buf: &mut BytesMut, statement: &Statement, params: &[&dyn ToSql]) -> Result<(), PgError> {
    let types = &statement.param_types;
    if params.len() != types.len() {
        return Err(PgError::Encode {
            param: params.len(),
            pg_type: "-".to_string(),
            reason: format!("the statement has {} parameter(s) but {} value(s) were given", types.len(), params.len()),
        });
    }
    let count = i16::try_from(params.len()).map_err(|_| PgError::Encode {
        param: params.len(),
        pg_type: "-".to_string(),
        reason: "more than 32767 parameters".to_string(),
    })?;
    let start = buf.len();
    buf.put_u8(b'B');
    buf.put_i32(0); // length, patched below
    buf.put_u8(0); // unnamed portal
    buf.put_slice(statement.name.as_bytes());
    buf.put_u8(0);
    buf.put_i16(count);
    let formats_at = buf.len();
    buf.put_bytes(0, 2 * params.len());
    buf.put_i16(count);
    for (i, (param, &ty)) in params.iter().zip(types).enumerate() {
        let len_at = buf.len();
        buf.put_i32(0);
        let encode_error = |reason: String| PgError::Encode { param: i + 1, pg_type: ty.name(), reason };
        let (len, format) = match param.to_sql(ty, buf).map_err(encode_error)? {
            Encoded::Null => (-1, Format::Binary),
            encoded => {
                let len = i32::try_from(buf.len() - len_at - 4).map_err(|_| encode_error("value over 2 GiB".into()))?;
                (len, if encoded == Encoded::Text { Format::Text } else { Format::Binary })
            }
        };
        buf[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
        let at = formats_at + 2 * i;
        buf[at..at + 2].copy_from_slice(&(format as i16).to_be_bytes());
    }
    write_result_formats(buf, &statement.columns);
    let len = i32::try_from(buf.len() - start - 1).map_err(|_| PgError::protocol("Bind message over 2 GiB"))?;
    buf[start + 1..start + 5].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// The result format codes: none (all text), one (the same for all), or one per column.
fn write_result_formats(buf: &mut BytesMut, columns: &[Column]) {
    let first = columns.first().map_or(Format::Text, Column::format);
    if columns.iter().all(|c| c.format() == first) {
        if first == Format::Text {
            buf.put_i16(0);
        } else {
            buf.put_i16(1);
            buf.put_i16(first as i16);
        }
    } else {
        buf.put_i16(columns.len() as i16);
        for column in columns {
            buf.put_i16(column.format() as i16);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::pg::row::parse_row_description;
    use crate::pg::types::Type;

    /// A RowDescription body for columns of these types (every other field zero).
    fn columns(types: &[Type]) -> Rc<[Column]> {
        let mut body = BytesMut::new();
        body.put_i16(types.len() as i16);
        for (i, ty) in types.iter().enumerate() {
            body.put_slice(format!("c{i}\0").as_bytes());
            body.put_i32(0);
            body.put_i16(0);
            body.put_u32(ty.oid());
            body.put_i16(0);
            body.put_i32(0);
            body.put_i16(0);
        }
        Rc::from(parse_row_description(&body.freeze(), false).unwrap())
    }

    #[test]
    fn bind_matches_postgres_protocol_byte_for_byte() {
        // int4 goes binary, a &str for a date goes as text, None is NULL; the result
        // columns mix a binary type with a text-only one (interval), so one format each.
        let statement = Statement {
            name: "rasgi_s1".to_string(),
            param_types: vec![Type::INT4, Type::DATE, Type::TEXT],
            columns: columns(&[Type::INT8, Type(1186)]),
        };
        let params: [&dyn ToSql; 3] = [&7i32, &"2024-01-31", &None::<&str>];
        let mut ours = BytesMut::new();
        write_bind_execute(&mut ours, &statement, &params, 1).unwrap();

        let mut theirs = BytesMut::new();
        let values: [Option<&[u8]>; 3] = [Some(&[0, 0, 0, 7]), Some(b"2024-01-31"), None];
        frontend::bind(
            "",
            "rasgi_s1",
            [1i16, 0, 1],
            values,
            |value, buf| match value {
                Some(bytes) => {
                    buf.put_slice(bytes);
                    Ok(postgres_protocol::IsNull::No)
                }
                None => Ok(postgres_protocol::IsNull::Yes),
            },
            [1i16, 0],
            &mut theirs,
        )
        .map_err(|_| "bind")
        .unwrap();
        frontend::execute("", 1, &mut theirs).unwrap();
        frontend::sync(&mut theirs);
        assert_eq!(&ours[..], &theirs[..]);
    }

    #[test]
    fn result_formats_are_compressed_when_all_the_same() {
        let statement =
            Statement { name: String::new(), param_types: vec![], columns: columns(&[Type::INT4, Type::TEXT]) };
        let mut ours = BytesMut::new();
        write_bind_execute(&mut ours, &statement, &[], 0).unwrap();
        // 'B', length 14, portal "", statement "", 0 parameter formats, 0 values, one format: binary.
        assert_eq!(&ours[..15], b"B\0\0\0\x0e\0\0\0\0\0\0\0\x01\0\x01");
    }

    #[test]
    fn a_wrong_parameter_count_is_refused_with_both_counts() {
        let statement = Statement { name: String::new(), param_types: vec![Type::INT4], columns: columns(&[]) };
        let err = write_bind_execute(&mut BytesMut::new(), &statement, &[], 0).unwrap_err();
        assert!(err.to_string().contains("1 parameter(s) but 0 value(s)"), "{err}");
    }
}
