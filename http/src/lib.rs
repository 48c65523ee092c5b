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
//! | `asgi.rs` | the contract: [`Scope`], [`ReceiveEvent`], [`SendEvent`], [`App`], lifespan, [`State`], the `websocket` scope and its events |
//! | `head.rs` | reading a request head: check-then-parse with httparse, and the strict rules |
//! | `headers.rs` | the header vocabulary the server and the client share: tokens, values, `Content-Length`, `Connection` |
//! | `chunked.rs` | the chunked transfer coding, both directions |
//! | `date.rs` | the cached `Date` header |
//! | `spares.rs` | free lists: header lists and other buffers kept for the next request |
//! | `server/mod.rs` | workers, lifespan, the accept loop, graceful shutdown |
//! | `server/conn.rs` | one connection: keep-alive, pipelining, timeouts, running the app |
//! | `server/receive.rs` | `receive`: request bodies, `100 Continue`, disconnects |
//! | `server/respond.rs` | `send`: the order of events, the response's phases |
//! | `server/encode.rs` | the choice of body framing and the bytes of a response head, as pure functions |
//! | `server/stall.rs` | the body and send stall deadlines |
//! | `server/buffer.rs` | the connection's read buffer |
//! | `server/shutdown.rs`, `server/signal.rs` | stopping on SIGINT/SIGTERM |
//! | `server/config.rs` | settings and uvicorn-like flags |
//! | `server/socket.rs` | the sockets a connection arrives on: TCP or a Unix-domain socket (`--uds`) |
//! | `server/proxy.rs` | behind a proxy: `X-Forwarded-*` and `Forwarded`, believed only from trusted peers |
//! | `ws/` | the WebSocket protocol without I/O: handshake, frames, UTF-8, close codes, messages, permessage-deflate |
//! | `server/websocket.rs` | one WebSocket session: frames in, the application's sends out, pings, closing |
//! | `middleware.rs` | pure ASGI-like middleware wrapping an application |
//! | `gzip.rs` | [`gzip::GZipMiddleware`]: responses compressed for clients that accept gzip |
//! | `compress/` | DEFLATE, gzip and zlib by hand: the streaming decoder, the encoder, checksums |
//! | `error.rs` | this crate's errors |
//! | `fuzzing.rs` | entry points for the fuzz targets in `fuzz/` (hidden, not API) |
//! | `client/` | the outbound HTTP/1.1 client (httpx's role): URLs, pool, timeouts, framing, errors |
//! | `tls/` | TLS on rustls: trust roots, the hand-written handshake future, [`tls::TlsStream`] |

#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod asgi;
pub mod chunked;
pub mod client;
pub mod compress;
pub mod date;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod gzip;
pub mod head;
pub mod headers;
pub mod middleware;
pub mod server;
pub mod spares;
pub mod tls;
pub mod ws;

pub use asgi::{header, App, AppError, Header, HttpVersion, LifespanEvent, ReceiveEvent, Scope, SendEvent, State};
pub use asgi::{WebSocketReceiveEvent, WebSocketScope, WebSocketSendEvent};
pub use error::{SendError, ServerError};
pub use server::conn::{Receive, Sender};
pub use server::respond::SendHook;
pub use server::websocket::WebSocketChannel;
pub use ws::Message;
