//! Values between Rust and PostgreSQL: [`FromSql`] decodes a column, [`ToSql`] encodes a
//! parameter — asyncpg's codecs (`asyncpg/protocol/codecs/*.pyx`) and its type table.
//!
//! # Binary for results, per column
//!
//! Every column rasgi knows how to decode is requested in the **binary** format: an `int4` is 4
//! bytes to byte-swap instead of up to 11 characters to parse, a `float8` arrives exact instead of
//! as a shortest-round-trip decimal, a `timestamptz` is one `i64` with no time zone text to
//! interpret, a `uuid` is 16 bytes. asyncpg and tokio-postgres make the same choice. Columns of
//! any *other* type (interval, inet, enums, ranges, ...) are requested in **text**, so nothing is
//! ever unreadable: they decode as `String` and appear as strings in `Row::to_json`. The choice
//! is made per column from the statement's RowDescription, which the cache keeps
//! ([`result_format`]).
//!
//! # Parameters: binary when the types match, text otherwise
//!
//! A parameter is encoded for the type the *server* declared for it (ParameterDescription),
//! not the type the Rust value happens to have: an `i64` bound to an `int4` column is checked
//! and sent as 4 bytes, and an `i32` bound to a `numeric` column is sent as its decimal text,
//! which the server parses. Strings are the universal escape hatch — a `&str` bound to a `date`,
//! `numeric`, `interval` or `inet` parameter goes as text and the server parses it. (tokio-postgres
//! refuses such mismatches instead; asyncpg converts like this.)

use std::fmt::Display;

use bytes::{BufMut, BytesMut};

/// A PostgreSQL type, identified by its OID (`pg_type.oid`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Type(pub u32);

/// Known types: (oid, name, oid of the array type). Built-in OIDs are fixed across versions.
const KNOWN: &[(u32, &str, u32)] = &[
    (16, "bool", 1000),
    (17, "bytea", 1001),
    (18, "char", 1002),
    (19, "name", 1003),
    (20, "int8", 1016),
    (21, "int2", 1005),
    (23, "int4", 1007),
    (25, "text", 1009),
    (26, "oid", 1028),
    (114, "json", 199),
    (700, "float4", 1021),
    (701, "float8", 1022),
    (1042, "bpchar", 1014),
    (1043, "varchar", 1015),
    (1082, "date", 1182),
    (1083, "time", 1183),
    (1114, "timestamp", 1115),
    (1184, "timestamptz", 1185),
    (1700, "numeric", 1231),
    (2950, "uuid", 2951),
    (3802, "jsonb", 3807),
];

/// Built-in types rasgi reads in the text format (no binary decoder): (oid, name, oid of the
/// array type). Knowing their array OIDs lets an `interval[]` or `inet[]` column become a JSON
/// array of strings instead of one string of array syntax. Types created by `CREATE TYPE`
/// (enums, composites, domains' arrays) have OIDs that differ per database and stay strings.
const TEXT_ONLY: &[(u32, &str, u32)] = &[
    (22, "int2vector", 1006),
    (24, "regproc", 1008),
    (27, "tid", 1010),
    (28, "xid", 1011),
    (29, "cid", 1012),
    (30, "oidvector", 1013),
    (142, "xml", 143),
    (600, "point", 1017),
    (601, "lseg", 1018),
    (602, "path", 1019),
    (603, "box", 1020),
    (604, "polygon", 1027),
    (628, "line", 629),
    (650, "cidr", 651),
    (718, "circle", 719),
    (774, "macaddr8", 775),
    (790, "money", 791),
    (829, "macaddr", 1040),
    (869, "inet", 1041),
    (1033, "aclitem", 1034),
    (1186, "interval", 1187),
    (1266, "timetz", 1270),
    (1560, "bit", 1561),
    (1562, "varbit", 1563),
    (1790, "refcursor", 2201),
    (2202, "regprocedure", 2207),
    (2203, "regoper", 2208),
    (2204, "regoperator", 2209),
    (2205, "regclass", 2210),
    (2206, "regtype", 2211),
    (2970, "txid_snapshot", 2949),
    (3220, "pg_lsn", 3221),
    (3614, "tsvector", 3643),
    (3615, "tsquery", 3645),
    (3734, "regconfig", 3735),
    (3769, "regdictionary", 3770),
    (3904, "int4range", 3905),
    (3906, "numrange", 3907),
    (3908, "tsrange", 3909),
    (3910, "tstzrange", 3911),
    (3912, "daterange", 3913),
    (3926, "int8range", 3927),
    (4072, "jsonpath", 4073),
    (4089, "regnamespace", 4090),
    (4096, "regrole", 4097),
    (4191, "regcollation", 4192),
    (4451, "int4multirange", 6150),
    (4532, "nummultirange", 6151),
    (4533, "tsmultirange", 6152),
    (4534, "tstzmultirange", 6153),
    (4535, "datemultirange", 6155),
    (4536, "int8multirange", 6157),
    (5069, "xid8", 271),
];

/// Every type rasgi can name: the binary ones, then the text-only ones.
fn all_types() -> impl Iterator<Item = &'static (u32, &'static str, u32)> {
    KNOWN.iter().chain(TEXT_ONLY)
}

#[allow(missing_docs)] // the constant names are the PostgreSQL type names
impl Type {
    pub const BOOL: Type = Type(16);
    pub const BYTEA: Type = Type(17);
    pub const CHAR: Type = Type(18);
    pub const NAME: Type = Type(19);
    pub const INT8: Type = Type(20);
    pub const INT2: Type = Type(21);
    pub const INT4: Type = Type(23);
    pub const TEXT: Type = Type(25);
    pub const OID: Type = Type(26);
    pub const JSON: Type = Type(114);
    pub const FLOAT4: Type = Type(700);
    pub const FLOAT8: Type = Type(701);
    pub const BOX: Type = Type(603);
    pub const UNKNOWN: Type = Type(705);
    pub const BPCHAR: Type = Type(1042);
    pub const VARCHAR: Type = Type(1043);
    pub const DATE: Type = Type(1082);
    pub const TIME: Type = Type(1083);
    pub const TIMESTAMP: Type = Type(1114);
    pub const TIMESTAMPTZ: Type = Type(1184);
    pub const NUMERIC: Type = Type(1700);
    pub const UUID: Type = Type(2950);
    pub const JSONB: Type = Type(3802);
}

impl Type {
    /// The OID.
    pub fn oid(self) -> u32 {
        self.0
    }

    /// The element type, if this is the array type of a built-in type (`int4[]` → `int4`,
    /// `interval[]` → `interval`).
    pub fn element(self) -> Option<Type> {
        all_types().find(|k| k.2 == self.0).map(|k| Type(k.0))
    }

    /// The array type of a built-in type (`int4` → `int4[]`).
    pub fn array(self) -> Option<Type> {
        all_types().find(|k| k.0 == self.0).map(|k| Type(k.2))
    }

    /// The type's name, `int4[]` for arrays, `oid 16385` for types rasgi does not know.
    pub fn name(self) -> String {
        if let Some(k) = all_types().find(|k| k.0 == self.0) {
            return k.1.to_string();
        }
        match self.element() {
            Some(element) => format!("{}[]", element.name()),
            None if self == Type::UNKNOWN => "unknown".to_string(),
            None => format!("oid {}", self.0),
        }
    }

    /// True for the string types, whose binary format is simply the UTF-8 text.
    pub fn is_text(self) -> bool {
        matches!(self, Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN | Type::CHAR)
    }
}

impl std::fmt::Debug for Type {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl std::fmt::Display for Type {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// The wire format of one value: PostgreSQL's format codes 0 and 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The type's text representation (what psql prints).
    Text = 0,
    /// The type's binary `send`/`recv` representation.
    Binary = 1,
}

/// The format rasgi asks the server to send a column of type `ty` in: binary for every type
/// (and array of a type) it can decode, text for the rest. See the module docs.
pub fn result_format(ty: Type) -> Format {
    let known = |t: Type| KNOWN.iter().any(|k| k.0 == t.0);
    if known(ty) || ty.element().is_some_and(known) {
        Format::Binary
    } else {
        Format::Text
    }
}

/// How a [`ToSql`] implementation wrote its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoded {
    /// Nothing was written; the parameter is SQL NULL.
    Null,
    /// The bytes written are the binary representation of the parameter's type.
    Binary,
    /// The bytes written are text the server will parse as the parameter's type.
    Text,
}

/// A Rust value that can be sent as a query parameter (`$1`, `$2`, ...).
///
/// Implemented for `bool`, `i16`, `i32`, `i64`, `f32`, `f64`, `str`/`String`, `[u8]`/`Vec<u8>`,
/// `serde_json::Value`, [`Uuid`], [`crate::pg::Date`], [`crate::pg::Time`],
/// [`crate::pg::Timestamp`], [`crate::pg::TimestampTz`], `SystemTime`, [`crate::pg::Numeric`],
/// `Option<T>` (None = NULL), and slices/`Vec`s of these (arrays). Object-safe, so a parameter
/// list is a `&[&dyn ToSql]`.
pub trait ToSql {
    /// Appends the value, encoded for a parameter the server declared as `ty`, to `out`, and
    /// says how it was encoded. An `Err` explains why this value cannot become a `ty`.
    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<Encoded, String>;
}

/// A Rust value a column can be decoded into. `'a` is the row's lifetime: `&'a str` and
/// `&'a [u8]` borrow straight from the row's buffer.
pub trait FromSql<'a>: Sized {
    /// Decodes a non-NULL value of type `ty`, sent in `format`.
    fn from_sql(ty: Type, format: Format, raw: &'a [u8]) -> Result<Self, String>;

    /// Decodes a NULL. Only `Option<T>` (and `serde_json::Value`) accept one.
    fn from_null(ty: Type) -> Result<Self, String> {
        Err(format!("the value is NULL; read it as Option<_> (type {ty})"))
    }
}

/// The error for a type that does not convert.
pub(crate) fn mismatch<T>(rust: &str, ty: Type) -> Result<T, String> {
    Err(format!("a {ty} cannot be read as {rust}"))
}

/// `raw` as UTF-8 text.
pub(crate) fn utf8(raw: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(raw).map_err(|e| format!("invalid UTF-8: {e}"))
}

/// Decodes an exact-size big-endian binary value.
pub(crate) fn fixed<const N: usize>(raw: &[u8]) -> Result<[u8; N], String> {
    raw.try_into().map_err(|_| format!("expected {N} bytes, got {}", raw.len()))
}

/// Writes `value`'s `Display` text, for the server to parse as the parameter's type.
pub(crate) fn write_text(value: impl Display, out: &mut BytesMut) -> Result<Encoded, String> {
    use std::fmt::Write;
    // BytesMut implements fmt::Write; formatting appends straight into the message buffer.
    write!(out, "{value}").map_err(|e| e.to_string())?;
    Ok(Encoded::Text)
}

// ---- bool ----

impl ToSql for bool {
    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<Encoded, String> {
        if ty == Type::BOOL {
            out.put_u8(*self as u8);
            Ok(Encoded::Binary)
        } else {
            write_text(self, out)
        }
    }
}

impl FromSql<'_> for bool {
    fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<bool, String> {
        match (ty, format) {
            (Type::BOOL, Format::Binary) => Ok(fixed::<1>(raw)?[0] != 0),
            (Type::BOOL, Format::Text) => Ok(raw == b"t"),
            _ => mismatch("bool", ty),
        }
    }
}

// ---- integers ----

/// Encodes an integer for any integer type (range-checked), or as text for the rest
/// (numeric, float, text ...).
fn encode_int(v: i64, ty: Type, out: &mut BytesMut) -> Result<Encoded, String> {
    let range = |t: &str| format!("{v} is out of range for {t}");
    match ty {
        Type::INT2 => out.put_i16(i16::try_from(v).map_err(|_| range("int2"))?),
        Type::INT4 => out.put_i32(i32::try_from(v).map_err(|_| range("int4"))?),
        Type::INT8 => out.put_i64(v),
        Type::OID => out.put_u32(u32::try_from(v).map_err(|_| range("oid"))?),
        _ => return write_text(v, out),
    }
    Ok(Encoded::Binary)
}

/// Decodes any integer type (binary or text) as an `i64`.
fn decode_int(ty: Type, format: Format, raw: &[u8], rust: &str) -> Result<i64, String> {
    match (ty, format) {
        (Type::INT2, Format::Binary) => Ok(i16::from_be_bytes(fixed(raw)?) as i64),
        (Type::INT4, Format::Binary) => Ok(i32::from_be_bytes(fixed(raw)?) as i64),
        (Type::INT8, Format::Binary) => Ok(i64::from_be_bytes(fixed(raw)?)),
        (Type::OID, Format::Binary) => Ok(u32::from_be_bytes(fixed(raw)?) as i64),
        (Type::INT2 | Type::INT4 | Type::INT8 | Type::OID, Format::Text) => {
            utf8(raw)?.parse().map_err(|e| format!("bad integer text: {e}"))
        }
        _ => mismatch(rust, ty),
    }
}

macro_rules! int_impls {
    ($($rust:ty: [$($accepts:ident),*];)*) => {$(
        impl ToSql for $rust {
            fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<Encoded, String> {
                encode_int(*self as i64, ty, out)
            }
        }

        impl FromSql<'_> for $rust {
            fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<$rust, String> {
                // Only types whose every value fits: an i32 reads int2 and int4, never int8.
                if !matches!(ty, $(Type::$accepts)|*) {
                    return mismatch(stringify!($rust), ty);
                }
                let v = decode_int(ty, format, raw, stringify!($rust))?;
                <$rust>::try_from(v).map_err(|_| format!("{v} does not fit in {}", stringify!($rust)))
            }
        }
    )*};
}

int_impls! {
    i16: [INT2];
    i32: [INT2, INT4];
    i64: [INT2, INT4, INT8, OID];
    u32: [OID];
}

// ---- floats ----

/// Floats in PostgreSQL's text spelling (`Infinity`, not Rust's `inf`).
fn float_text(v: f64) -> String {
    if v == f64::INFINITY {
        "Infinity".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Infinity".to_string()
    } else {
        v.to_string()
    }
}

fn encode_float(v: f64, ty: Type, out: &mut BytesMut) -> Result<Encoded, String> {
    match ty {
        Type::FLOAT4 => out.put_f32(v as f32),
        Type::FLOAT8 => out.put_f64(v),
        _ => return write_text(float_text(v), out),
    }
    Ok(Encoded::Binary)
}

impl ToSql for f32 {
    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<Encoded, String> {
        // Through f64's shortest text (`0.1f32` → "0.1"), not the widened binary value.
        match ty {
            Type::FLOAT4 => {
                out.put_f32(*self);
                Ok(Encoded::Binary)
            }
            _ => encode_float(self.to_string().parse().unwrap_or(*self as f64), ty, out),
        }
    }
}

impl ToSql for f64 {
    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<Encoded, String> {
        encode_float(*self, ty, out)
    }
}

/// Parses PostgreSQL's float text (`NaN`, `Infinity`, `-Infinity`, decimals).
fn parse_float_text(s: &str) -> Result<f64, String> {
    match s {
        "Infinity" => Ok(f64::INFINITY),
        "-Infinity" => Ok(f64::NEG_INFINITY),
        _ => s.parse().map_err(|e| format!("bad float text {s:?}: {e}")),
    }
}

impl FromSql<'_> for f32 {
    fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<f32, String> {
        match (ty, format) {
            (Type::FLOAT4, Format::Binary) => Ok(f32::from_be_bytes(fixed(raw)?)),
            (Type::FLOAT4, Format::Text) => parse_float_text(utf8(raw)?).map(|v| v as f32),
            _ => mismatch("f32", ty),
        }
    }
}

impl FromSql<'_> for f64 {
    fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<f64, String> {
        match (ty, format) {
            (Type::FLOAT8, Format::Binary) => Ok(f64::from_be_bytes(fixed(raw)?)),
            (Type::FLOAT4, Format::Binary) => Ok(f32::from_be_bytes(fixed(raw)?) as f64),
            (Type::FLOAT4 | Type::FLOAT8, Format::Text) => parse_float_text(utf8(raw)?),
            // A convenience with a cost: numeric → f64 rounds. Read a Numeric or a String to
            // keep every digit.
            (Type::NUMERIC, _) => parse_float_text(&crate::pg::numeric::decode(format, raw)?),
            _ => mismatch("f64", ty),
        }
    }
}

// ---- strings ----

impl ToSql for str {
    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<Encoded, String> {
        match ty {
            _ if ty.is_text() || ty == Type::JSON => {
                out.put_slice(self.as_bytes());
                Ok(Encoded::Binary)
            }
            Type::JSONB => {
                // jsonb's binary format is a version byte (1) and the JSON text.
                out.put_u8(1);
                out.put_slice(self.as_bytes());
                Ok(Encoded::Binary)
            }
            // Any other type: let the server parse the text ('2024-01-31' for a date ...).
            _ => {
                out.put_slice(self.as_bytes());
                Ok(Encoded::Text)
            }
        }
    }
}

impl ToSql for String {
    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<Encoded, String> {
        self.as_str().to_sql(ty, out)
    }
}

impl<'a> FromSql<'a> for &'a str {
    fn from_sql(ty: Type, format: Format, raw: &'a [u8]) -> Result<&'a str, String> {
        match (ty, format) {
            // Text-format columns are text whatever their type (that is how unknown types
            // arrive); binary string types are UTF-8 as well.
            (_, Format::Text) => utf8(raw),
            (_, Format::Binary) if ty.is_text() || ty == Type::JSON => utf8(raw),
            (Type::JSONB, Format::Binary) => utf8(jsonb_text(raw)?),
            _ => mismatch("&str (read it as String)", ty),
        }
    }
}

/// Reads any column as its text: strings as they are, every other known type in the spelling
/// PostgreSQL's own output would use for it (numbers, `t`/`f`, ISO dates, hyphenated UUIDs,
/// `\x`-hex bytea, JSON text).
impl FromSql<'_> for String {
    fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<String, String> {
        if let Ok(s) = <&str>::from_sql(ty, format, raw) {
            return Ok(s.to_string());
        }
        Ok(match ty {
            Type::BOOL => if bool::from_sql(ty, format, raw)? { "t" } else { "f" }.to_string(),
            Type::INT2 | Type::INT4 | Type::INT8 | Type::OID => decode_int(ty, format, raw, "String")?.to_string(),
            Type::FLOAT4 | Type::FLOAT8 => float_text(f64::from_sql(ty, format, raw)?),
            Type::NUMERIC => crate::pg::numeric::decode(format, raw)?,
            Type::BYTEA => bytea_hex(&Vec::<u8>::from_sql(ty, format, raw)?),
            Type::UUID => Uuid::from_sql(ty, format, raw)?.to_string(),
            Type::DATE => crate::pg::Date::from_sql(ty, format, raw)?.to_string(),
            Type::TIME => crate::pg::Time::from_sql(ty, format, raw)?.to_string(),
            Type::TIMESTAMP => crate::pg::Timestamp::from_sql(ty, format, raw)?.to_string(),
            Type::TIMESTAMPTZ => crate::pg::TimestampTz::from_sql(ty, format, raw)?.to_string(),
            _ => return mismatch("String", ty),
        })
    }
}

/// The JSON text inside a binary jsonb value (after its version byte).
pub(crate) fn jsonb_text(raw: &[u8]) -> Result<&[u8], String> {
    match raw.split_first() {
        Some((1, text)) => Ok(text),
        Some((v, _)) => Err(format!("unsupported jsonb version {v}")),
        None => Err("empty jsonb value".to_string()),
    }
}

// ---- bytea ----

impl ToSql for [u8] {
    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<Encoded, String> {
        if ty != Type::BYTEA {
            return Err("bytes can only be sent as bytea; send a String for text".to_string());
        }
        out.put_slice(self);
        Ok(Encoded::Binary)
    }
}

impl ToSql for Vec<u8> {
    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<Encoded, String> {
        self.as_slice().to_sql(ty, out)
    }
}

impl<'a> FromSql<'a> for &'a [u8] {
    fn from_sql(ty: Type, format: Format, raw: &'a [u8]) -> Result<&'a [u8], String> {
        match (ty, format) {
            (Type::BYTEA, Format::Binary) => Ok(raw),
            _ => mismatch("&[u8] (bytea in binary)", ty),
        }
    }
}

impl FromSql<'_> for Vec<u8> {
    fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<Vec<u8>, String> {
        match (ty, format) {
            (Type::BYTEA, Format::Binary) => Ok(raw.to_vec()),
            // The simple protocol sends bytea as `\x` followed by hex digits.
            (Type::BYTEA, Format::Text) => {
                let hex = raw.strip_prefix(b"\\x").ok_or("bytea text without \\x prefix")?;
                hex.chunks(2)
                    .map(|pair| {
                        std::str::from_utf8(pair)
                            .ok()
                            .and_then(|p| u8::from_str_radix(p, 16).ok())
                            .ok_or_else(|| "bad hex in bytea text".to_string())
                    })
                    .collect()
            }
            _ => mismatch("Vec<u8>", ty),
        }
    }
}

/// PostgreSQL's own text form of bytea: `\x` and lowercase hex.
pub(crate) fn bytea_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("\\x");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

// ---- uuid ----

/// A UUID, 16 bytes; displays in the usual hyphenated lowercase form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// Parses the hyphenated (or plain 32-hex-digit) form.
    pub fn parse(s: &str) -> Option<Uuid> {
        let hex: Vec<u8> = s.bytes().filter(|&b| b != b'-').collect();
        if hex.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, pair) in hex.chunks(2).enumerate() {
            out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
        }
        Some(Uuid(out))
    }
}

impl Display for Uuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Uuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Uuid({self})")
    }
}

impl ToSql for Uuid {
    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<Encoded, String> {
        if ty == Type::UUID {
            out.put_slice(&self.0);
            Ok(Encoded::Binary)
        } else {
            write_text(self, out)
        }
    }
}

impl FromSql<'_> for Uuid {
    fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<Uuid, String> {
        match (ty, format) {
            (Type::UUID, Format::Binary) => Ok(Uuid(fixed(raw)?)),
            (Type::UUID, Format::Text) => Uuid::parse(utf8(raw)?).ok_or_else(|| "bad uuid text".to_string()),
            _ => mismatch("Uuid", ty),
        }
    }
}

// ---- JSON ----

impl ToSql for serde_json::Value {
    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<Encoded, String> {
        use serde_json::Value;
        match (self, ty) {
            (_, Type::JSON | Type::JSONB) => {
                if ty == Type::JSONB {
                    out.put_u8(1);
                }
                // Serialize straight into the message buffer.
                serde_json::to_writer((&mut *out).writer(), self).map_err(|e| e.to_string())?;
                Ok(Encoded::Binary)
            }
            // A JSON value bound to a non-JSON parameter: its scalar meaning, so a JSON body
            // field can feed any column directly.
            (Value::Null, _) => Ok(Encoded::Null),
            (Value::Bool(b), _) => b.to_sql(ty, out),
            (Value::Number(n), _) => match n.as_i64() {
                Some(i) => i.to_sql(ty, out),
                // Non-integers go as their exact JSON text (a numeric column keeps every digit).
                None if ty == Type::FLOAT4 || ty == Type::FLOAT8 => n.as_f64().unwrap_or(f64::NAN).to_sql(ty, out),
                None => write_text(n, out),
            },
            (Value::String(s), _) => s.to_sql(ty, out),
            (Value::Array(items), _) if ty.element().is_some() => crate::pg::array::encode(items, ty, out),
            (other, _) => write_text(other, out),
        }
    }
}

impl FromSql<'_> for serde_json::Value {
    /// Any column as JSON: the same conversion as `Row::to_json` uses for each value.
    fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<serde_json::Value, String> {
        crate::pg::json::to_value(ty, format, raw)
    }

    fn from_null(_: Type) -> Result<serde_json::Value, String> {
        Ok(serde_json::Value::Null)
    }
}

// ---- wrappers ----

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<Encoded, String> {
        (**self).to_sql(ty, out)
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<Encoded, String> {
        match self {
            Some(v) => v.to_sql(ty, out),
            None => Ok(Encoded::Null),
        }
    }
}

impl<'a, T: FromSql<'a>> FromSql<'a> for Option<T> {
    fn from_sql(ty: Type, format: Format, raw: &'a [u8]) -> Result<Option<T>, String> {
        T::from_sql(ty, format, raw).map(Some)
    }

    fn from_null(_: Type) -> Result<Option<T>, String> {
        Ok(None)
    }
}

impl<T: ToSql> ToSql for [T] {
    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<Encoded, String> {
        crate::pg::array::encode(self, ty, out)
    }
}

impl<T: ToSql> ToSql for Vec<T> {
    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<Encoded, String> {
        crate::pg::array::encode(self, ty, out)
    }
}

impl<'a, T: FromSql<'a>> FromSql<'a> for Vec<T> {
    fn from_sql(ty: Type, format: Format, raw: &'a [u8]) -> Result<Vec<T>, String> {
        crate::pg::array::decode(ty, format, raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &dyn ToSql, ty: Type) -> (Result<Encoded, String>, Vec<u8>) {
        let mut out = BytesMut::new();
        let r = v.to_sql(ty, &mut out);
        (r, out.to_vec())
    }

    #[test]
    fn integers_follow_the_declared_type() {
        assert_eq!(enc(&7i64, Type::INT4), (Ok(Encoded::Binary), vec![0, 0, 0, 7]));
        assert!(enc(&(1i64 << 40), Type::INT4).0.is_err());
        assert_eq!(enc(&7i32, Type::NUMERIC), (Ok(Encoded::Text), b"7".to_vec()));
        assert_eq!(i64::from_sql(Type::INT2, Format::Binary, &[0xff, 0xfe]), Ok(-2));
        assert!(i32::from_sql(Type::INT8, Format::Binary, &[0; 8]).is_err());
    }

    #[test]
    fn strings_go_as_text_to_other_types() {
        assert_eq!(enc(&"2024-01-31", Type::DATE), (Ok(Encoded::Text), b"2024-01-31".to_vec()));
        assert_eq!(enc(&"{}", Type::JSONB), (Ok(Encoded::Binary), b"\x01{}".to_vec()));
    }

    #[test]
    fn uuid_text() {
        let u = Uuid::parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap();
        assert_eq!(u.to_string(), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    }

    #[test]
    fn result_formats() {
        assert_eq!(result_format(Type::INT4), Format::Binary);
        assert_eq!(result_format(Type(1007)), Format::Binary);
        assert_eq!(result_format(Type(1186)), Format::Text); // interval
        assert_eq!(result_format(Type(1187)), Format::Text); // interval[]
        assert_eq!(Type(1187).element(), Some(Type(1186)));
        assert_eq!(Type(1041).name(), "inet[]");
        assert_eq!(Type(1007).name(), "int4[]");
    }
}
