//! A deadline that runs only while one direction of a connection is stuck: nginx's
//! `client_body_timeout` and `send_timeout`.
//!
//! A total deadline on a request body or a response would cut off an honest client on a
//! slow link halfway through a large upload or download. What a server must not allow is
//! a client that *stops*: one that announces `Content-Length: 100`, sends 8 bytes and
//! goes quiet, or one that never reads its responses. Each holds a socket, a task and
//! buffers for as long as it likes, and a few hundred of them exhaust the process's file
//! descriptors. So the clock here measures idleness, not duration: it is armed when a
//! read (or write) finds nothing to do, pushed back whenever bytes move, and dropped as
//! soon as the operation completes. A connection that makes progress, however slowly,
//! is never cut.
//!
//! Clock reads happen only on the slow path — when the socket is not ready — so the
//! common request whose body and response each move in one system call pays nothing.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rasgi_executor::{sleep, Sleep};

/// The stall clock of one direction of one connection.
pub(crate) struct StallTimer {
    /// How long the direction may make no progress.
    limit: Duration,
    /// `Some` while an operation is waiting on the socket; its deadline is `limit` after
    /// the last progress. Dropping it cancels the reactor's timer.
    timer: Option<Sleep>,
}

impl StallTimer {
    /// A disarmed timer with this limit.
    pub(crate) fn new(limit: Duration) -> StallTimer {
        StallTimer { limit, timer: None }
    }

    /// The limit, for messages.
    pub(crate) fn limit(&self) -> Duration {
        self.limit
    }

    /// Called when the socket said "not ready". `progressed`: bytes moved since the last
    /// call. `Ready` means the direction has been stuck for the whole limit.
    pub(crate) fn poll_stalled(&mut self, cx: &mut Context<'_>, progressed: bool) -> Poll<()> {
        let timer = match &mut self.timer {
            Some(timer) if progressed => {
                timer.reset(Instant::now() + self.limit);
                timer
            }
            Some(timer) => timer,
            None => self.timer.insert(sleep(self.limit)),
        };
        Pin::new(timer).poll(cx)
    }

    /// The operation completed: stop the clock.
    pub(crate) fn disarm(&mut self) {
        self.timer = None;
    }
}
