//! FastAPI's error model: `HTTPException` and validation errors.
//!
//! FastAPI answers errors with JSON of one shape, `{"detail": ...}`: a string for an
//! `HTTPException`, a list of `{type, loc, msg, input}` objects for a request that
//! failed validation (422). A handler here returns `Err(HttpException)` where Python
//! would `raise HTTPException(...)`; `?` plays the part of the implicit propagation.

use std::fmt;

use serde_json::{json, Value};

use super::response::Response;

/// An error response a handler can return with any status and detail: FastAPI's
/// `HTTPException`.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpException {
    /// The status code.
    pub status: u16,
    /// The `detail` member of the JSON body: a string, or a list for validation errors.
    pub detail: Value,
    /// Extra response headers (e.g. `Allow` on a 405).
    pub headers: Vec<(String, String)>,
}

impl HttpException {
    /// An exception with a status and a detail message.
    pub fn new(status: u16, detail: impl Into<String>) -> HttpException {
        HttpException { status, detail: Value::String(detail.into()), headers: Vec::new() }
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> HttpException {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// 404 `{"detail":"Not Found"}`, what FastAPI answers for an unknown path.
    pub fn not_found() -> HttpException {
        HttpException::new(404, "Not Found")
    }

    /// 422 with one validation error, in pydantic's shape.
    pub fn validation(kind: &str, loc: &[&str], msg: impl Into<String>, input: Value) -> HttpException {
        HttpException::validation_errors(vec![json!({ "type": kind, "loc": loc, "msg": msg.into(), "input": input })])
    }

    /// 422 with several validation errors.
    pub fn validation_errors(errors: Vec<Value>) -> HttpException {
        HttpException { status: 422, detail: Value::Array(errors), headers: Vec::new() }
    }

    /// 500 `{"detail":"Internal Server Error"}`; the cause goes to the log, not to the
    /// client.
    pub fn internal() -> HttpException {
        HttpException::new(500, "Internal Server Error")
    }

    /// The JSON response for this exception.
    pub fn to_response(&self) -> Response {
        let mut response = Response::json_value(self.status, &json!({ "detail": self.detail }));
        for (name, value) in &self.headers {
            response = response.with_header(name.clone(), value.clone());
        }
        response
    }
}

impl fmt::Display for HttpException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.detail)
    }
}

impl std::error::Error for HttpException {}
