//! The keep-alive pool: open connections kept per origin and reused — httpcore's
//! `AsyncConnectionPool`, configured like `httpx.Limits(max_connections=,
//! max_keepalive_connections=, keepalive_expiry=)`.
//!
//! Opening an HTTPS connection costs a TCP round trip plus one or two TLS round trips and
//! the TLS handshake's asymmetric cryptography; a request on an open connection costs one
//! round trip. Reuse is the single biggest performance feature of an HTTP client, which is
//! why httpx wants one `AsyncClient` shared by the whole application rather than one per
//! request.
//!
//! Per origin (`scheme://host:port`), the pool keeps:
//! - a [`Semaphore`] of `max_connections` permits. A request holds one from the moment it
//!   gets a connection until its response body is read to the end (or dropped); when all
//!   are taken, further requests queue in arrival order, bounded by the pool timeout.
//! - a stack of idle connections, at most `max_idle`. The most recently used is reused
//!   first: it is the least likely to have been closed by the server meanwhile.
//!
//! Idle connections hold no permit: a request that gets a permit takes an idle connection
//! if there is one and opens a new one only if there is none. Connections become idle only
//! by being released from use, so in use + idle never exceeds `max_connections`.
//!
//! Simplifications: idle connections past their expiry are closed when their origin is
//! next used rather than by a timer, and an origin's (small) entry stays in the map once
//! created. httpx's limits count connections across all origins; these are per origin,
//! like aiohttp's `limit_per_host`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

use rasgi_executor::log_debug;
use rasgi_executor::sync::{Acquire, Permit, Semaphore};

use super::connect::Connection;
use super::url::{Scheme, Url};

/// Limits of the connection pool, per origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolLimits {
    /// The most connections (in use and idle) to one origin. httpx: 100.
    pub max_connections: usize,
    /// The most idle connections kept for one origin; more are closed. httpx: 20.
    pub max_idle: usize,
    /// How long an idle connection is kept. httpx: 5 s. It should be shorter than the
    /// server's own keep-alive timeout (nginx: 75 s, uvicorn: 5 s), so that we usually
    /// close first rather than race the server's close.
    pub idle_expiry: Duration,
}

impl Default for PoolLimits {
    fn default() -> Self {
        PoolLimits { max_connections: 100, max_idle: 20, idle_expiry: Duration::from_secs(5) }
    }
}

/// Identifies an origin: connections are only ever shared between requests to the same
/// scheme, host and port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct OriginKey {
    /// `http` or `https`.
    scheme: Scheme,
    /// As written in the URL, lowercase.
    host: String,
    /// The port.
    port: u16,
}

impl OriginKey {
    fn matches(&self, url: &Url) -> bool {
        self.scheme == url.scheme() && self.port == url.port() && self.host == url.host()
    }
}

/// Every origin's pool, as one client sees them.
pub(crate) struct Pool {
    /// The limits, the same for every origin.
    limits: PoolLimits,
    /// One entry per origin ever contacted.
    origins: RefCell<HashMap<OriginKey, Rc<OriginPool>>>,
    /// The origin of the previous request, if any (also in `origins`). Most clients talk to
    /// one or two servers, so comparing with it first usually spares building a key (1 of
    /// the 32 allocations a keep-alive GET used to make) and hashing it (SipHash, about 200
    /// instructions).
    last: RefCell<Option<Rc<OriginPool>>>,
}

impl Pool {
    pub(crate) fn new(limits: PoolLimits) -> Pool {
        Pool { limits, origins: RefCell::new(HashMap::new()), last: RefCell::new(None) }
    }

    /// The pool of `url`'s origin, created on first use.
    pub(crate) fn origin(&self, url: &Url) -> Rc<OriginPool> {
        if let Some(last) = self.last.borrow().as_ref().filter(|last| last.key.matches(url)) {
            return last.clone();
        }
        let key = OriginKey { scheme: url.scheme(), host: url.host().to_string(), port: url.port() };
        let origin = self
            .origins
            .borrow_mut()
            .entry(key.clone())
            .or_insert_with(|| {
                Rc::new(OriginPool {
                    permits: Semaphore::new(self.limits.max_connections.max(1)),
                    idle: RefCell::new(Vec::new()),
                    limits: self.limits,
                    name: url.origin().into(),
                    key,
                })
            })
            .clone();
        *self.last.borrow_mut() = Some(origin.clone());
        origin
    }

    /// Idle connections across all origins (for tests and diagnostics).
    pub(crate) fn idle_count(&self) -> usize {
        self.origins.borrow().values().map(|o| o.idle.borrow().len()).sum()
    }
}

/// The connections of one origin.
pub(crate) struct OriginPool {
    /// One permit per connection that may be in use at once.
    permits: Semaphore,
    /// Idle connections, oldest first; reused from the end. Never longer than `max_idle`.
    idle: RefCell<Vec<Connection>>,
    /// The client's limits.
    limits: PoolLimits,
    /// Which origin this is.
    key: OriginKey,
    /// `scheme://authority` ([`Url::origin`]), made once and shared by the clocks of
    /// every request to this origin, whose errors name it.
    name: Rc<str>,
}

impl OriginPool {
    /// `scheme://authority`, for error messages.
    pub(crate) fn name(&self) -> Rc<str> {
        self.name.clone()
    }

    /// Waits (in arrival order) for the right to use one connection. The caller bounds the
    /// wait with the pool timeout.
    pub(crate) fn acquire(&self) -> Acquire {
        self.permits.acquire()
    }

    /// The most recently used idle connection that is still fresh and healthy, if any.
    /// Expired and stale connections met on the way are closed.
    pub(crate) async fn take_idle(&self) -> Option<Connection> {
        loop {
            let mut conn = self.idle.borrow_mut().pop()?;
            if conn.idle_since.elapsed() >= self.limits.idle_expiry {
                log_debug!("client pool: closing a connection idle for {:?}", conn.idle_since.elapsed());
                continue;
            }
            if poll_fn(|cx| Poll::Ready(conn.poll_is_reusable(cx))).await {
                return Some(conn);
            }
            log_debug!("client pool: the server closed an idle connection; discarding it");
        }
    }

    /// Takes a connection back after a complete response that allows reuse.
    fn put_idle(&self, mut conn: Connection) {
        let mut idle = self.idle.borrow_mut();
        // Expired neighbours go first: a pool that is used often would otherwise keep them
        // until the next `take_idle` reaches them.
        // One reading of the clock serves them all.
        let (expiry, now) = (self.limits.idle_expiry, Instant::now());
        idle.retain(|c| now.saturating_duration_since(c.idle_since) < expiry);
        if self.limits.max_idle == 0 {
            return;
        }
        if idle.len() >= self.limits.max_idle {
            idle.remove(0);
        }
        conn.idle_since = now;
        idle.push(conn);
    }
}

/// A connection in use by one request: the connection, the permit that allows it, and the
/// way back to its pool. Dropping a checkout closes the connection and frees the permit;
/// [`Checkout::release`] returns the connection to the idle stack instead.
pub(crate) struct Checkout {
    /// The connection.
    pub(crate) conn: Connection,
    /// Where it goes back.
    origin: Rc<OriginPool>,
    /// Held until the connection is released or closed.
    _permit: Permit,
}

impl Checkout {
    pub(crate) fn new(conn: Connection, origin: Rc<OriginPool>, permit: Permit) -> Checkout {
        Checkout { conn, origin, _permit: permit }
    }

    /// Returns the connection to the pool (the permit is freed as the checkout drops).
    pub(crate) fn release(self) {
        let Checkout { conn, origin, _permit } = self;
        origin.put_idle(conn);
    }
}
