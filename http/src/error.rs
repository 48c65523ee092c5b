//! Errors of the HTTP crate, each saying what went wrong in words a user can act on.

use std::fmt;
use std::io;
use std::net::SocketAddr;

/// Why a [`crate::Sender::send`] failed.
#[derive(Debug)]
pub enum SendError {
    /// The client went away; nothing more can be sent. Servers do not log this as a
    /// failure: clients hang up all the time.
    Disconnected,
    /// The events came in an order the protocol does not allow (body before start,
    /// anything after the final body).
    OutOfOrder(&'static str),
    /// A header name or value would break the response framing (a newline in a value
    /// would let a header inject further headers).
    InvalidHeader(String),
    /// More body than the application's own `content-length` announced.
    ContentLengthExceeded {
        /// What the header said.
        declared: u64,
    },
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Disconnected => f.write_str("the client disconnected"),
            SendError::OutOfOrder(what) => write!(f, "response events out of order: {what}"),
            SendError::InvalidHeader(h) => write!(
                f,
                "invalid response header {h:?}: names must be tokens and values may not contain CR, LF or NUL"
            ),
            SendError::ContentLengthExceeded { declared } => {
                write!(f, "response body longer than its content-length ({declared} bytes)")
            }
        }
    }
}

impl std::error::Error for SendError {}

/// Why the server could not start or run.
#[derive(Debug)]
pub enum ServerError {
    /// Binding the listening socket failed (port in use, no permission).
    Bind {
        /// The address we tried.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The application's lifespan startup failed (`lifespan.startup.failed`).
    Startup(String),
    /// A worker thread or the event loop could not be created.
    Io(io::Error),
    /// A command-line flag or setting is invalid.
    Config(String),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            ServerError::Startup(msg) => write!(f, "application startup failed: {msg}"),
            ServerError::Io(e) => write!(f, "server I/O error: {e}"),
            ServerError::Config(msg) => write!(f, "invalid configuration: {msg}"),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Bind { source, .. } => Some(source),
            ServerError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ServerError {
    fn from(e: io::Error) -> Self {
        ServerError::Io(e)
    }
}
