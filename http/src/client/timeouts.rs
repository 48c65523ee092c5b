//! The client's time limits — httpx's `httpx.Timeout(connect=, read=, write=, pool=)`.
//!
//! One number for a whole request would be the wrong tool: a connect that hangs (a
//! firewall dropping SYNs) and a server that is slow to compute its answer need different
//! patience, and a body that streams for an hour is fine as long as bytes keep coming.
//! So, like httpx, each kind of waiting has its own limit, 5 s by default:
//!
//! - **connect**: name resolution + TCP connect + TLS handshake, together;
//! - **read**: each wait for the server's next bytes (the clock restarts with every read);
//! - **write**: each wait for the socket to take more of the request;
//! - **pool**: the wait for a connection when `max_connections` are all in use.
//!
//! httpx has no overall limit; `total` adds one (like `asyncio.timeout()` around the call):
//! an optional deadline for the whole request, redirects and retry included, and for
//! reading the body afterwards. Each wait is bounded by whichever comes first, its own
//! limit or the deadline, and the error says which one ran out.

use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rasgi_executor::timeout_at;

use super::error::{Error, TimeoutKind};

/// The default of each per-step limit, as in httpx.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Time limits of a request; `None` means "wait as long as it takes".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing a connection: resolve, TCP connect, TLS handshake.
    pub connect: Option<Duration>,
    /// Each wait for response bytes.
    pub read: Option<Duration>,
    /// Each wait for the socket to accept request bytes.
    pub write: Option<Duration>,
    /// Waiting for a free connection of the pool.
    pub pool: Option<Duration>,
    /// The whole request, from `send` to the last body byte. Off by default.
    pub total: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts::all(DEFAULT_TIMEOUT)
    }
}

impl Timeouts {
    /// The same limit for connect, read, write and pool; no total deadline.
    pub fn all(limit: Duration) -> Timeouts {
        Timeouts { connect: Some(limit), read: Some(limit), write: Some(limit), pool: Some(limit), total: None }
    }

    /// No limits at all.
    pub fn none() -> Timeouts {
        Timeouts { connect: None, read: None, write: None, pool: None, total: None }
    }
}

/// The limits of one request in flight: its [`Timeouts`] and the instant of its total
/// deadline, fixed when it was sent.
#[derive(Clone, Debug)]
pub(crate) struct Clock {
    /// The request's limits.
    timeouts: Timeouts,
    /// `send` time + `timeouts.total`.
    deadline: Option<Instant>,
    /// `scheme://host:port`, for the error message; shared with the origin's pool, so that
    /// starting and cloning a clock (twice per request) allocates nothing.
    origin: Rc<str>,
}

impl Clock {
    /// Starts the clock of a request to `origin`.
    pub(crate) fn start(timeouts: Timeouts, origin: Rc<str>) -> Clock {
        let deadline = timeouts.total.map(|total| Instant::now() + total);
        Clock { timeouts, deadline, origin }
    }

    /// The same deadline, for the next hop of a redirect (which may go to another origin).
    pub(crate) fn for_origin(&self, origin: Rc<str>) -> Clock {
        Clock { origin, ..self.clone() }
    }

    /// The origin this clock's errors name.
    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    /// Runs `step` for at most its `kind` of limit, or until the total deadline if that
    /// comes first. `during` says what was going on, for the error.
    pub(crate) async fn run<F: Future>(
        &self,
        kind: TimeoutKind,
        during: &'static str,
        step: F,
    ) -> Result<F::Output, Error> {
        let limit = match kind {
            TimeoutKind::Connect => self.timeouts.connect,
            TimeoutKind::Read => self.timeouts.read,
            TimeoutKind::Write => self.timeouts.write,
            TimeoutKind::PoolAcquire => self.timeouts.pool,
            TimeoutKind::Total => None,
        };
        let own = limit.map(|d| (Instant::now() + d, kind, d));
        let total = self.deadline.zip(self.timeouts.total).map(|(at, d)| (at, TimeoutKind::Total, d));
        let first = match (own, total) {
            (Some(own), Some(total)) => Some(if total.0 < own.0 { total } else { own }),
            (own, total) => own.or(total),
        };
        match first {
            None => Ok(step.await),
            Some((at, kind, after)) => timeout_at(at, step).await.map_err(|_| Error::Timeout {
                kind,
                after,
                during,
                origin: self.origin.to_string(),
            }),
        }
    }
}
