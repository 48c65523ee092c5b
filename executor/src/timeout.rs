//! `timeout`: `asyncio.wait_for(aw, timeout)`.
//!
//! A race between the future and a [`Sleep`]. If the sleep wins, the future is dropped —
//! its work stops at the `.await` where it was parked, and its destructors release what
//! it held — and the caller gets [`Elapsed`]. If the future wins, the sleep is dropped,
//! which removes its timer from the reactor.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::{Duration, Instant};

use rasgi_reactor::{sleep_until, Sleep};

/// The error of a [`timeout`] that expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed {
    /// How long the future was given.
    pub after: Duration,
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timed out after {:?}", self.after)
    }
}

impl std::error::Error for Elapsed {}

/// Runs `future` for at most `duration`.
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    timeout_at(Instant::now() + duration, future).await.map_err(|_| Elapsed { after: duration })
}

/// Runs `future` until `deadline` at the latest.
pub async fn timeout_at<F: Future>(deadline: Instant, future: F) -> Result<F::Output, Elapsed> {
    let started = Instant::now();
    let mut future = pin!(future);
    let mut sleep: Sleep = sleep_until(deadline);
    poll_fn(|cx| {
        // The future first: if it is ready at the deadline, its result wins.
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match Pin::new(&mut sleep).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed { after: deadline.saturating_duration_since(started) })),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
    // `future` and `sleep` are dropped here, when this async fn returns.
}
