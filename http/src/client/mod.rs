//! The outbound HTTP client — `httpx.AsyncClient`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rasgi_http::client::Error> {
//! use rasgi_http::client::Client;
//!
//! // Once, at startup (the lifespan), and shared: the pool and the TLS settings live in it.
//! let client = Client::new()?;
//! let value: serde_json::Value = client.get("https://example.com/data.json").send().await?.json().await?;
//! let created = client.post("https://example.com/items").json(&value).send().await?;
//! assert!(created.is_success());
//! # Ok(()) }
//! ```
//!
//! What happens under `send().await`, each step its own file and its own error:
//!
//! ```text
//!  url.rs ─▶ pool.rs: permit, idle connection? ──yes──────────────────────────┐
//!                           │ no                                              ▼
//!            resolve.rs (blocking pool) ─▶ TCP connect ─▶ tls/ handshake ─▶ request.rs: write head + body
//!                                                                             ▼
//!                     body.rs: Content-Length | chunked | close  ◀── response.rs: read head
//! ```
//!
//! A [`Client`] belongs to one event loop: connections are the loop's sockets, so it is
//! `!Send`, and cloning it (an `Rc`) shares the same pool. With `--workers N`, each worker
//! loop creates its own client, as each uvicorn worker process has its own httpx client.
//!
//! # Layout
//!
//! | file | concept |
//! |---|---|
//! | `mod.rs` | [`Client`] and [`ClientBuilder`]: configuration, the shared handle |
//! | `url.rs` | [`Url`]: parsing, the `Host` value, resolving redirect locations |
//! | `timeouts.rs` | [`Timeouts`]: connect, read, write, pool and total limits |
//! | `resolve.rs` | name resolution on the blocking pool |
//! | `connect.rs` | resolve + TCP connect + TLS handshake; a connection and its buffer |
//! | `pool.rs` | the keep-alive pool per origin, [`PoolLimits`], staleness checks |
//! | `request.rs` | [`RequestBuilder`]: the request head, the exchange, the safe retry, redirects |
//! | `response.rs` | [`Response`]: the response head and the body API |
//! | `body.rs` | body framing: Content-Length, chunked, close-delimited; TLS truncation |
//! | `decode.rs` | `Content-Encoding`: gzip and deflate bodies decoded as they stream |
//! | `headers.rs` | [`Headers`] |
//! | `error.rs` | [`Error`]: which step failed |

mod body;
mod connect;
mod decode;
mod error;
mod headers;
mod pool;
mod request;
mod resolve;
mod response;
mod timeouts;
mod url;

use std::fmt;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

pub use error::{Error, TimeoutKind};
pub use headers::Headers;
pub use pool::PoolLimits;
pub use request::RequestBuilder;
pub use response::Response;
pub use timeouts::{Timeouts, DEFAULT_TIMEOUT};
pub use url::{Scheme, Url, UrlError};

pub use crate::tls::CertificateCheck;

use crate::tls::{self, Certificate};
use pool::Pool;

/// The environment variable naming an extra CA bundle to trust, as for httpx, curl,
/// Python's `ssl` and OpenSSL.
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";

/// An HTTP client with a keep-alive pool; clone it freely (clones share the pool).
///
/// Create one per event loop and keep it: a client per request would open (and TLS-
/// handshake) a new connection every time.
#[derive(Clone)]
pub struct Client {
    /// Shared by every clone.
    inner: Rc<ClientInner>,
}

/// What the clones of a client share.
struct ClientInner {
    /// TLS settings and trust roots; also rustls's session cache, which lets new
    /// connections to a known server resume instead of doing a full handshake.
    tls: Arc<rustls::ClientConfig>,
    /// Idle and in-use connections, per origin.
    pool: Pool,
    /// Default time limits of requests.
    timeouts: Timeouts,
    /// Default redirect limit (0: do not follow).
    max_redirects: usize,
    /// Requests say `Accept-Encoding: gzip, deflate` and bodies are decoded.
    decompress: bool,
}

impl Client {
    /// A client with the defaults: 5 s timeouts, [`PoolLimits::default`], redirects not
    /// followed, trust in the `webpki-roots` CAs plus the bundle named by `SSL_CERT_FILE`.
    pub fn new() -> Result<Client, Error> {
        Client::builder().build()
    }

    /// Configures a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Starts a request with any method (`"GET"`, `"PATCH"`, ...).
    pub fn request(&self, method: &str, url: impl AsRef<str>) -> RequestBuilder {
        RequestBuilder::new(self.clone(), method, url.as_ref(), self.inner.timeouts, self.inner.max_redirects)
    }

    /// Starts a GET request.
    pub fn get(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request("GET", url)
    }

    /// Starts a POST request.
    pub fn post(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request("POST", url)
    }

    /// Starts a PUT request.
    pub fn put(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request("PUT", url)
    }

    /// Starts a PATCH request.
    pub fn patch(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request("PATCH", url)
    }

    /// Starts a DELETE request.
    pub fn delete(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request("DELETE", url)
    }

    /// Starts a HEAD request.
    pub fn head(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request("HEAD", url)
    }

    /// Idle connections in the pool right now, across all origins.
    pub fn idle_connections(&self) -> usize {
        self.inner.pool.idle_count()
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("timeouts", &self.inner.timeouts)
            .field("idle_connections", &self.idle_connections())
            .finish_non_exhaustive()
    }
}

/// Settings of a [`Client`]; [`ClientBuilder::build`] makes it.
#[derive(Debug)]
pub struct ClientBuilder {
    /// Default time limits.
    timeouts: Timeouts,
    /// Pool limits.
    limits: PoolLimits,
    /// PEM bundles given in memory, with a label for errors.
    pem_bundles: Vec<(String, Vec<u8>)>,
    /// PEM files to read at `build`.
    ca_files: Vec<PathBuf>,
    /// Default redirect limit.
    max_redirects: usize,
    /// Whether `SSL_CERT_FILE` is read.
    trust_env: bool,
    /// Whether bodies are asked for compressed and decoded.
    decompress: bool,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            timeouts: Timeouts::default(),
            limits: PoolLimits::default(),
            pem_bundles: Vec::new(),
            ca_files: Vec::new(),
            max_redirects: 0,
            trust_env: true,
            decompress: true,
        }
    }
}

impl ClientBuilder {
    /// Default time limits of every request ([`Timeouts::default`]: 5 s each).
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Pool limits ([`PoolLimits::default`]: 100 connections, 20 idle, 5 s expiry).
    pub fn pool_limits(mut self, limits: PoolLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Also trusts the CA certificates in this PEM text (a private CA, a test CA).
    pub fn add_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        let label = format!("#{} (in memory)", self.pem_bundles.len() + 1);
        self.pem_bundles.push((label, pem.into()));
        self
    }

    /// Also trusts the CA certificates in this PEM file (read by `build`).
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_files.push(path.into());
        self
    }

    /// Follows up to `max` redirects by default (0, the default: do not follow).
    pub fn follow_redirects(mut self, max: usize) -> Self {
        self.max_redirects = max;
        self
    }

    /// Whether to read `SSL_CERT_FILE` (default true, like httpx's `trust_env`).
    pub fn trust_env(mut self, trust_env: bool) -> Self {
        self.trust_env = trust_env;
        self
    }

    /// Whether to send `Accept-Encoding: gzip, deflate` and decode `gzip` and `deflate`
    /// bodies as they stream (default true, as httpx does). Off, no `Accept-Encoding` is
    /// sent and bodies are returned as they arrive.
    pub fn decompress(mut self, decompress: bool) -> Self {
        self.decompress = decompress;
        self
    }

    /// Loads the CA bundles and creates the client.
    pub fn build(self) -> Result<Client, Error> {
        let mut roots: Vec<Certificate> = Vec::new();
        for (label, pem) in &self.pem_bundles {
            roots.extend(tls::parse_pem(pem, label).map_err(Error::Config)?);
        }
        let mut files = self.ca_files;
        if self.trust_env {
            if let Some(path) = std::env::var_os(SSL_CERT_FILE).filter(|p| !p.is_empty()) {
                files.push(PathBuf::from(path));
            }
        }
        for file in &files {
            roots.extend(tls::load_pem_file(file).map_err(Error::Config)?);
        }
        let tls = tls::client_config(&roots).map_err(Error::Config)?;
        Ok(Client {
            inner: Rc::new(ClientInner {
                tls,
                pool: Pool::new(self.limits),
                timeouts: self.timeouts,
                max_redirects: self.max_redirects,
                decompress: self.decompress,
            }),
        })
    }
}
