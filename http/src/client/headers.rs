//! Header fields of a request or a response — httpx's `httpx.Headers`.
//!
//! An ordered list of (name, value) pairs, because that is what HTTP sends: duplicates are
//! allowed (`set-cookie` comes once per cookie) and lookups ignore case. A map would lose
//! the order and the duplicates; a list of a dozen entries is searched faster than a map
//! is built. Values are bytes: HTTP allows non-UTF-8 values, so [`Headers::get`] returns a
//! string only when the value is one.
//!
//! The text of all fields lives in two buffers, one for the names and one for the values,
//! and each field is a pair of ranges into them. A `(String, Vec<u8>)` per field would be
//! simpler, but it costs two allocations per field and the list's growth: for a typical
//! response of five fields, about 12 of the 32 allocations of a whole keep-alive GET,
//! against 3 here (see "What a keep-alive GET costs" in `request.rs`: 26,675 → 18,685
//! instructions per GET with everything listed there).

use std::fmt;
use std::ops::Range;

/// Ordered header fields; names compare case-insensitively.
#[derive(Clone, Default)]
pub struct Headers {
    /// The fields in order, as ranges of `names` and `values`. Response names are
    /// lowercased on receipt (as ASGI does); request names keep the case they were given.
    fields: Vec<Field>,
    /// Every field's name, one after the other. Only whole `&str`s are appended, so each
    /// field's range falls on character boundaries.
    names: String,
    /// Every field's value, one after the other. Removed fields leave their bytes behind
    /// (removal is rare: redirects), so this may hold bytes no field refers to.
    values: Vec<u8>,
}

/// One field: where its name and value are.
#[derive(Clone, Debug)]
struct Field {
    /// Within `Headers::names`.
    name: Range<usize>,
    /// Within `Headers::values`.
    value: Range<usize>,
}

impl Headers {
    /// No fields.
    pub fn new() -> Headers {
        Headers::default()
    }

    /// No fields yet, with room for `fields` fields whose names and values take `name_bytes`
    /// and `value_bytes` in all: a parsed head knows its sizes, and reserving them makes
    /// filling it three allocations.
    pub(crate) fn with_capacity(fields: usize, name_bytes: usize, value_bytes: usize) -> Headers {
        Headers {
            fields: Vec::with_capacity(fields),
            names: String::with_capacity(name_bytes),
            values: Vec::with_capacity(value_bytes),
        }
    }

    fn name_of(&self, field: &Field) -> &str {
        &self.names[field.name.clone()]
    }

    fn value_of(&self, field: &Field) -> &[u8] {
        &self.values[field.value.clone()]
    }

    /// The first value of `name` as text; `None` if absent or not valid UTF-8.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_bytes(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The first value of `name` as bytes.
    pub fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        self.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }

    /// True if `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get_bytes(name).is_some()
    }

    /// All fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.fields.iter().map(|f| (self.name_of(f), self.value_of(f)))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True if there are no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Appends a field, keeping any existing ones of the same name.
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        self.push(&name.into(), &value.into());
    }

    /// Appends a field whose name is lowercased on the way in (response heads).
    pub(crate) fn append_lowercased(&mut self, name: &str, value: &[u8]) {
        let start = self.names.len();
        self.names.push_str(name);
        self.names[start..].make_ascii_lowercase();
        let name = start..self.names.len();
        let value = self.push_value(value);
        self.fields.push(Field { name, value });
    }

    fn push(&mut self, name: &str, value: &[u8]) {
        let start = self.names.len();
        self.names.push_str(name);
        let name = start..self.names.len();
        let value = self.push_value(value);
        self.fields.push(Field { name, value });
    }

    fn push_value(&mut self, value: &[u8]) -> Range<usize> {
        let start = self.values.len();
        self.values.extend_from_slice(value);
        start..self.values.len()
    }

    /// Replaces every field called `name` with one field.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        let name = name.into();
        self.remove(&name);
        self.push(&name, &value.into());
    }

    /// Removes every field called `name`.
    pub fn remove(&mut self, name: &str) {
        let names = &self.names;
        self.fields.retain(|f| !names[f.name.clone()].eq_ignore_ascii_case(name));
    }
}

/// Two header lists are equal when they hold the same fields in the same order, however
/// their buffers came to be laid out.
impl PartialEq for Headers {
    fn eq(&self, other: &Headers) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter().map(|(name, value)| (name, String::from_utf8_lossy(value)))).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_duplicates_case_and_removal() {
        let mut headers = Headers::new();
        headers.append("Set-Cookie", "a=1");
        headers.append("content-type", b"text/plain".to_vec());
        headers.append("set-cookie", String::from("b=2"));
        assert_eq!(headers.get("SET-COOKIE"), Some("a=1"));
        assert_eq!(headers.get_all("set-cookie").collect::<Vec<_>>(), [b"a=1", b"b=2"]);
        headers.insert("Content-Type", "application/json");
        assert_eq!(
            headers.iter().collect::<Vec<_>>(),
            [("Set-Cookie", &b"a=1"[..]), ("set-cookie", b"b=2"), ("Content-Type", b"application/json")]
        );
        headers.remove("set-cookie");
        assert_eq!(headers.iter().collect::<Vec<_>>(), [("Content-Type", &b"application/json"[..])]);

        let mut fresh = Headers::with_capacity(1, 12, 16);
        fresh.append("Content-Type", "application/json");
        assert_eq!(headers, fresh);
        assert_ne!(headers, Headers::new());
        assert_eq!(format!("{fresh:?}"), r#"[("Content-Type", "application/json")]"#);
    }

    #[test]
    fn response_names_are_lowercased() {
        let mut headers = Headers::with_capacity(2, 20, 8);
        headers.append_lowercased("Content-Length", b"5");
        headers.append_lowercased("X-Ünïcode", b"\xff");
        assert_eq!(headers.iter().collect::<Vec<_>>(), [("content-length", &b"5"[..]), ("x-Ünïcode", b"\xff")]);
        assert_eq!(headers.get("x-ünïcode"), None);
        assert_eq!(headers.get_bytes("X-ÜNÏCODE"), None);
        assert_eq!(headers.get_bytes("x-Ünïcode"), Some(&b"\xff"[..]));
    }
}
