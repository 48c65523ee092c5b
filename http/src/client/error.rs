//! The client's errors: each one names the step that failed — the URL, resolving the host,
//! connecting, the TLS handshake (and which certificate check), writing the request,
//! reading the response, a timeout (and which one), or a protocol violation.
//!
//! httpx's counterpart is its exception tree: `InvalidURL`, `ConnectError`, `ConnectTimeout`,
//! `ReadTimeout`, `WriteTimeout`, `PoolTimeout`, `ReadError`, `WriteError`,
//! `RemoteProtocolError`, `TooManyRedirects`, `HTTPStatusError`. Rust has no exception
//! hierarchy to catch by base class, so the step is a variant here, and [`Error::step`]
//! gives the one-word name an application can put into its own error response (the demo's
//! `/external-api` answers 502 with it).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use super::url::UrlError;
use crate::tls::{CaError, CertificateCheck, HandshakeError};

/// Which of the client's time limits ran out (see [`super::Timeouts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutKind {
    /// Establishing the connection: name resolution, TCP connect and TLS handshake
    /// (`httpx.ConnectTimeout`).
    Connect,
    /// Waiting for the server to send the next bytes (`httpx.ReadTimeout`).
    Read,
    /// Waiting for the socket to take the next bytes of the request (`httpx.WriteTimeout`).
    Write,
    /// Waiting for a connection of the pool to become free (`httpx.PoolTimeout`).
    PoolAcquire,
    /// The request's overall deadline ([`super::Timeouts::total`]).
    Total,
}

impl TimeoutKind {
    /// A short name: `connect`, `read`, `write`, `pool`, `total`.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeoutKind::Connect => "connect",
            TimeoutKind::Read => "read",
            TimeoutKind::Write => "write",
            TimeoutKind::PoolAcquire => "pool",
            TimeoutKind::Total => "total",
        }
    }
}

/// Why a request failed.
#[derive(Debug)]
pub enum Error {
    /// The URL could not be parsed, or is not `http`/`https`.
    Url {
        /// The URL as given, [`super::redact`]ed: no userinfo, no query values.
        url: String,
        /// What is wrong with it.
        error: UrlError,
    },
    /// The request is malformed before anything was sent: an invalid method or header, a
    /// body that could not be serialized to JSON.
    InvalidRequest(String),
    /// The client's configuration is unusable: a CA bundle could not be loaded.
    Config(CaError),
    /// The host name could not be resolved to an address.
    Resolve {
        /// The host.
        host: String,
        /// The resolver's error.
        error: io::Error,
    },
    /// No TCP connection could be made (refused, unreachable). When the host has several
    /// addresses, the error of the last one tried.
    Connect {
        /// The address tried last.
        addr: SocketAddr,
        /// The OS error.
        error: io::Error,
    },
    /// The TLS handshake failed; a certificate that failed verification says which check.
    Tls {
        /// The host name the certificate was checked against.
        host: String,
        /// What went wrong.
        error: HandshakeError,
    },
    /// Sending the request failed.
    Write {
        /// `scheme://host:port` of the server.
        origin: String,
        /// The OS or TLS error.
        error: io::Error,
    },
    /// Receiving the response failed, including a connection closed before the response
    /// was complete.
    Read {
        /// `scheme://host:port` of the server.
        origin: String,
        /// The OS or TLS error.
        error: io::Error,
    },
    /// A time limit ran out.
    Timeout {
        /// Which limit.
        kind: TimeoutKind,
        /// The limit that was exceeded.
        after: Duration,
        /// What the client was doing ("waiting for the response head", ...).
        during: &'static str,
        /// `scheme://host:port` of the server.
        origin: String,
    },
    /// The server's response broke HTTP/1.1 (a malformed head, conflicting lengths, bad
    /// chunked framing).
    Protocol {
        /// `scheme://host:port` of the server.
        origin: String,
        /// What was wrong.
        reason: String,
    },
    /// More redirects than the limit set with `max_redirects` (httpx's
    /// `TooManyRedirects`).
    TooManyRedirects {
        /// The limit.
        limit: usize,
        /// The URL the last redirect pointed to, [`super::redact`]ed.
        url: String,
    },
    /// The response body is not the JSON that was asked for.
    Json(serde_json::Error),
    /// [`super::Response::error_for_status`] found a status other than 2xx: a 4xx or
    /// 5xx, or a 3xx redirect that was not followed.
    Status {
        /// The status code.
        status: u16,
        /// The URL that answered, [`super::redact`]ed.
        url: String,
        /// A redirect's `Location`, [`super::redact`]ed; `None` for other statuses.
        location: Option<String>,
    },
}

impl Error {
    /// The step that failed, as one word: `url`, `request`, `config`, `resolve`,
    /// `connect`, `tls`, `write`, `read`, `timeout`, `protocol`, `redirect`, `json` or
    /// `status`.
    pub fn step(&self) -> &'static str {
        match self {
            Error::Url { .. } => "url",
            Error::InvalidRequest(_) => "request",
            Error::Config(_) => "config",
            Error::Resolve { .. } => "resolve",
            Error::Connect { .. } => "connect",
            Error::Tls { .. } => "tls",
            Error::Write { .. } => "write",
            Error::Read { .. } => "read",
            Error::Timeout { .. } => "timeout",
            Error::Protocol { .. } => "protocol",
            Error::TooManyRedirects { .. } => "redirect",
            Error::Json(_) => "json",
            Error::Status { .. } => "status",
        }
    }

    /// Which time limit ran out, for a timeout.
    pub fn timeout_kind(&self) -> Option<TimeoutKind> {
        match self {
            Error::Timeout { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// Which certificate check failed, for a TLS error caused by the server's certificate.
    pub fn certificate_check(&self) -> Option<CertificateCheck> {
        match self {
            Error::Tls { error: HandshakeError::Certificate { check, .. }, .. } => Some(*check),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Url { url, error } => write!(f, "invalid URL {url:?}: {error}"),
            Error::InvalidRequest(reason) => write!(f, "invalid request: {reason}"),
            Error::Config(e) => write!(f, "client configuration: {e}"),
            Error::Resolve { host, error } => write!(f, "cannot resolve host {host:?}: {error}"),
            Error::Connect { addr, error } => write!(f, "cannot connect to {addr}: {error}"),
            Error::Tls { host, error } => write!(f, "TLS handshake with {host} failed: {error}"),
            Error::Write { origin, error } => write!(f, "sending the request to {origin} failed: {error}"),
            Error::Read { origin, error } => write!(f, "reading the response from {origin} failed: {error}"),
            Error::Timeout { kind, after, during, origin } => {
                write!(f, "{} timeout: {origin} — {during} took longer than {after:?}", kind.as_str())
            }
            Error::Protocol { origin, reason } => write!(f, "{origin} broke the HTTP/1.1 protocol: {reason}"),
            Error::TooManyRedirects { limit, url } => {
                write!(f, "more than {limit} redirects (the last one pointed to {url})")
            }
            Error::Json(e) => write!(f, "the response body is not the expected JSON: {e}"),
            Error::Status { status, url, location: Some(location) } => write!(
                f,
                "{url} answered with status {status}, a redirect to {location} that was not followed \
                 (redirects are followed only with follow_redirects)"
            ),
            Error::Status { status, url, location: None } => write!(f, "{url} answered with status {status}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Url { error, .. } => Some(error),
            Error::Config(e) => Some(e),
            Error::Resolve { error, .. }
            | Error::Connect { error, .. }
            | Error::Write { error, .. }
            | Error::Read { error, .. } => Some(error),
            Error::Tls { error, .. } => Some(error),
            Error::Json(e) => Some(e),
            _ => None,
        }
    }
}
