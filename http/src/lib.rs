//! # rasgi-http — HTTP/1.1 on httparse: the server (uvicorn's role), the ASGI-like
//! contract it calls, and the outbound client (httpx's role)
//!
//! ```no_run
//! use rasgi_http::{App, AppError, Receive, Scope, Sender, header};
//!
//! struct Hello;
//!
//! impl App for Hello {
//!     async fn call(&self, _scope: &Scope, _receive: &Receive<'_>, send: &Sender<'_>) -> Result<(), AppError> {
//!         send.respond(200, vec![header("content-type", "text/plain")], b"Hello, World!").await?;
//!         Ok(())
//!     }
//! }
//!
//! rasgi_http::server::run(rasgi_http::server::Config::default(), || Hello).unwrap();
//! ```
//!
//! # Layout
//!
//! | file | concept |
//! |---|---|
//! | `asgi.rs` | the contract: [`Scope`], [`ReceiveEvent`], [`SendEvent`], [`App`], lifespan, [`State`] |
//! | `head.rs` | reading a request head: check-then-parse with httparse, and the strict rules |
//! | `chunked.rs` | the chunked transfer coding, both directions |
//! | `date.rs` | the cached `Date` header |
//! | `server/mod.rs` | workers, lifespan, the accept loop, graceful shutdown |
//! | `server/conn.rs` | one connection: keep-alive, pipelining, timeouts, running the app |
//! | `server/receive.rs` | `receive`: request bodies, `100 Continue`, disconnects |
//! | `server/respond.rs` | `send`: response framing and the head writer |
//! | `server/buffer.rs` | the connection's read buffer |
//! | `server/shutdown.rs`, `server/signal.rs` | stopping on SIGINT/SIGTERM |
//! | `server/config.rs` | settings and uvicorn-like flags |
//! | `middleware.rs` | pure ASGI-like middleware wrapping an application |
//! | `error.rs` | this crate's errors |
//! | `fuzzing.rs` | entry points for the fuzz targets in `fuzz/` (hidden, not API) |
//! | `client/` | the outbound HTTP/1.1 client (httpx's role): URLs, pool, timeouts, framing, errors |
//! | `tls/` | TLS on rustls: trust roots, the hand-written handshake future, [`tls::TlsStream`] |

#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod asgi;
pub mod chunked;
pub mod client;
pub mod date;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod head;
pub mod middleware;
pub mod server;
pub mod tls;

pub use asgi::{header, App, AppError, Header, HttpVersion, LifespanEvent, ReceiveEvent, Scope, SendEvent, State};
pub use error::{SendError, ServerError};
pub use server::conn::{Receive, Sender};
