//! The request a handler receives, and the typed extraction FastAPI does from a
//! handler's signature.
//!
//! FastAPI reads `async def read_item(item_id: int, q: str | None = None)` and converts
//! the path and query parameters for you, answering 422 when one does not convert. Rust
//! has no runtime signature inspection, so the conversion is an explicit, typed call —
//! `req.path_param::<u32>("item_id")?` — with the same 422 when it fails.

use std::rc::Rc;
use std::str::FromStr;

use rasgi_http::spares::{self, Spares};
use rasgi_http::Scope;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::error::HttpException;

/// A handler owns its request, so that its future can outlive the connection's borrow
/// (it may be spawned, or held by middleware); the server's [`Scope`] is borrowed and
/// refilled for the next request. So the app layer copies the scope — and a fresh copy
/// is three allocations (head, path, headers) and three frees per request, which showed
/// as about 10 % of a pipelined plaintext request's instructions. Instead, copies are
/// boxed and recycled through a per-thread free list ([`Spares`]): `clone_from` into a used box
/// reuses its buffers, and moving a `Request` through the middleware chain moves a
/// pointer rather than the whole scope.
struct ScopeCopy(Option<Box<Scope>>);

/// How many spare copies a thread keeps: enough for every request in flight on a busy
/// loop to return its copy, few enough not to matter in memory.
const SPARE_SCOPES: usize = 256;

thread_local! {
    // Boxes, not scopes: a spare moves into a `Request` and back as a pointer.
    static SPARES: Spares<Box<Scope>> = const { Spares::new(SPARE_SCOPES) };
}

impl ScopeCopy {
    fn of(scope: &Scope) -> ScopeCopy {
        let copy = match spares::take(&SPARES) {
            Some(mut spare) => {
                (*spare).clone_from(scope);
                spare
            }
            None => Box::new(scope.clone()),
        };
        ScopeCopy(Some(copy))
    }
}

impl std::ops::Deref for ScopeCopy {
    type Target = Scope;

    fn deref(&self) -> &Scope {
        // `Some` from construction until `drop`.
        self.0.as_deref().unwrap_or_else(|| unreachable!("a ScopeCopy is only emptied when dropped"))
    }
}

impl Drop for ScopeCopy {
    fn drop(&mut self) {
        if let Some(copy) = self.0.take() {
            spares::give(&SPARES, copy);
        }
    }
}

/// One HTTP request: the scope, the path parameters of the matched route, and the body.
pub struct Request {
    /// The request's own copy of the server's scope (method, path, headers, client,
    /// state), recycled through [`ScopeCopy`].
    scope: ScopeCopy,
    /// `{name}` parameters of the matched route, in pattern order.
    params: Vec<(Rc<str>, String)>,
    /// The whole request body (the app layer reads it before calling the handler).
    pub(crate) body: Vec<u8>,
    /// The matched route's label (`"GET /items/{item_id}"`), if a route matched.
    route: Option<Rc<str>>,
    /// Index of the matched route, so the router does not match twice.
    pub(crate) route_index: Option<usize>,
}

impl Request {
    /// Builds a request (the app layer does this; tests may too).
    pub fn new(scope: Scope, params: Vec<(Rc<str>, String)>, body: Vec<u8>, route: Option<Rc<str>>) -> Request {
        Request { scope: ScopeCopy(Some(Box::new(scope))), params, body, route, route_index: None }
    }

    /// Like [`Request::new`], copying `scope` into a recycled buffer.
    pub(crate) fn copying(
        scope: &Scope,
        params: Vec<(Rc<str>, String)>,
        body: Vec<u8>,
        route: Option<Rc<str>>,
    ) -> Request {
        Request { scope: ScopeCopy::of(scope), params, body, route, route_index: None }
    }

    /// The method, uppercase.
    pub fn method(&self) -> &str {
        self.scope.method()
    }

    /// The percent-decoded path.
    pub fn path(&self) -> &str {
        self.scope.path()
    }

    /// The raw query string.
    pub fn query_string(&self) -> &str {
        std::str::from_utf8(self.scope.query_string()).unwrap_or("")
    }

    /// The first header called `name` (any case), as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.scope
            .headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The server scope.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The matched route's label (`"GET /items/{item_id}"`).
    pub fn route(&self) -> Option<Rc<str>> {
        self.route.clone()
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// A value from lifespan state (a database pool, a shared client).
    pub fn state<T: 'static>(&self) -> Option<Rc<T>> {
        self.scope.state().get::<T>()
    }

    /// A path parameter converted to `T`; 422 naming the parameter if it does not
    /// convert.
    pub fn path_param<T: FromStr>(&self, name: &str) -> Result<T, HttpException>
    where
        T::Err: std::fmt::Display,
    {
        let raw = self.params.iter().find(|(n, _)| &**n == name).map(|(_, v)| v.as_str());
        let Some(raw) = raw else {
            // The route pattern has no such parameter: a bug in the application.
            rasgi_executor::log_error!("handler asked for path parameter {name:?}, which its route does not declare");
            return Err(HttpException::internal());
        };
        convert(raw, "path", name)
    }

    /// A required query parameter; 422 if missing or not convertible.
    pub fn query<T: FromStr>(&self, name: &str) -> Result<T, HttpException>
    where
        T::Err: std::fmt::Display,
    {
        match self.query_opt(name)? {
            Some(value) => Ok(value),
            None => Err(HttpException::validation("missing", &["query", name], "Field required", Value::Null)),
        }
    }

    /// An optional query parameter; 422 if present but not convertible.
    pub fn query_opt<T: FromStr>(&self, name: &str) -> Result<Option<T>, HttpException>
    where
        T::Err: std::fmt::Display,
    {
        match self.query_pairs().into_iter().find(|(k, _)| k == name) {
            Some((_, raw)) => convert(&raw, "query", name).map(Some),
            None => Ok(None),
        }
    }

    /// Every query parameter, form-decoded (`+` is a space), in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        form_decode(self.scope.query_string())
    }

    /// The body parsed as JSON into `T`: FastAPI's pydantic body model. Syntax errors
    /// and type errors give 422 with the failing field's location, like pydantic's.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpException> {
        let mut de = serde_json::Deserializer::from_slice(&self.body);
        let error = match serde_path_to_error::deserialize::<_, T>(&mut de) {
            Ok(value) => match de.end() {
                Ok(()) => return Ok(value),
                // Valid JSON followed by more bytes.
                Err(e) => {
                    return Err(body_error("json_invalid", vec!["body".into()], format!("JSON decode error: {e}")))
                }
            },
            Err(error) => error,
        };
        // pydantic's `loc`: "body", then each key or index down to the failing value.
        let mut loc = vec![Value::from("body")];
        for segment in error.path().iter() {
            loc.push(match segment {
                serde_path_to_error::Segment::Seq { index } => Value::from(*index),
                serde_path_to_error::Segment::Map { key } => Value::from(key.as_str()),
                serde_path_to_error::Segment::Enum { variant } => Value::from(variant.as_str()),
                serde_path_to_error::Segment::Unknown => Value::from("?"),
            });
        }
        let inner = error.inner();
        let message = inner.to_string();
        // A missing field is reported at the level of the object that lacks it, with
        // its name only in the message; pydantic puts it in `loc`.
        if let Some(field) = message.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
            loc.push(Value::from(field));
            return Err(body_error("missing", loc, "Field required".into()));
        }
        if inner.is_syntax() || inner.is_eof() {
            return Err(body_error("json_invalid", loc, format!("JSON decode error: {message}")));
        }
        Err(body_error("type_error", loc, message))
    }
}

fn body_error(kind: &str, loc: Vec<Value>, msg: String) -> HttpException {
    HttpException::validation_errors(vec![json!({ "type": kind, "loc": loc, "msg": msg, "input": Value::Null })])
}

/// Converts a raw parameter, or explains in pydantic's words why not.
fn convert<T: FromStr>(raw: &str, location: &str, name: &str) -> Result<T, HttpException>
where
    T::Err: std::fmt::Display,
{
    raw.parse::<T>().map_err(|e| {
        let type_name = std::any::type_name::<T>().rsplit("::").next().unwrap_or("value");
        HttpException::validation(
            "parsing",
            &[location, name],
            format!("Input should be a valid {type_name}: {e}"),
            Value::String(raw.to_owned()),
        )
    })
}

/// `application/x-www-form-urlencoded` decoding of a query string.
pub fn form_decode(query: &[u8]) -> Vec<(String, String)> {
    query
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            (decode_component(k), decode_component(v))
        })
        .collect()
}

fn decode_component(raw: &[u8]) -> String {
    let spaced: Vec<u8> = raw.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
    rasgi_http::head::percent_decode(&spaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        assert_eq!(
            form_decode(b"q=a+b%21&empty=&flag&x=%E2%82%AC"),
            vec![
                ("q".into(), "a b!".into()),
                ("empty".into(), "".into()),
                ("flag".into(), "".into()),
                ("x".into(), "€".into())
            ]
        );
    }
}
