//! `sleep`: the leaf future behind `await asyncio.sleep(1)`, written by hand.
//!
//! A `Sleep` is a small state machine with two states. *Unregistered*: it has a deadline
//! but the reactor does not know about it yet. *Registered*: its waker sits in the
//! reactor's timer table under a key. Polling checks the clock first; only a sleep that
//! is not yet due registers (or refreshes) its waker and returns `Pending`. Dropping a
//! registered `Sleep` removes its timer, so a `timeout` that did not expire leaves no
//! trace in the reactor.
//!
//! "Checks the clock" is cheaper than it sounds. The loop reads the clock once per turn,
//! when it wakes ([`loop_time`]); that reading is never ahead of the real clock, so a
//! deadline it has passed has certainly passed. Only a sleep that is not due by it and
//! not yet registered asks the kernel's clock. A registered one needs no clock at all: the
//! reactor fires its timer at the first turn that finds it due. A connection's idle timer
//! is polled on every request, and this is what took the clock read out of that poll.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::reactor::{loop_time, Reactor};
use crate::timer::TimerKey;

/// Waits until `duration` has passed. Must be awaited on a loop thread.
///
/// Like `asyncio.sleep`, the clock starts when `sleep` is called, not when the future is
/// first polled.
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(Instant::now() + duration)
}

/// Waits until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep { deadline, registered: None }
}

/// Future returned by [`sleep`] and [`sleep_until`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Sleep {
    /// When the sleep ends. Fixed unless [`Sleep::reset`] moves it.
    deadline: Instant,
    /// The reactor and key of our timer while one is pending; `None` before the first
    /// `Pending` and after the sleep completed or was reset.
    registered: Option<(Reactor, TimerKey)>,
}

impl Sleep {
    /// The instant this sleep completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Moves the deadline, earlier or later. A connection's idle timer is reset after
    /// every request instead of being rebuilt.
    ///
    /// Moving it *later* keeps the pending timer: that is the common case (each request
    /// pushes a busy connection's deadline further out), and following it would take a
    /// timer out of the reactor's table and put one back every time. The old timer fires
    /// early, wakes the task once, and the next poll re-arms at the real deadline — one
    /// re-arm per keep-alive period instead of one per request. (With the loop's clock in
    /// `poll` and in the server's request clock, this took a plaintext request from 6,938
    /// to 6,602 user-space instructions, callgrind, one request per write.) Moving it
    /// earlier cancels the pending timer, which would fire too late.
    pub fn reset(&mut self, deadline: Instant) {
        if self.registered.as_ref().is_some_and(|(_, key)| key.deadline() > deadline) {
            self.cancel();
        }
        self.deadline = deadline;
    }

    fn cancel(&mut self) {
        if let Some((reactor, key)) = self.registered.take() {
            reactor.remove_timer(key);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Due by the loop's clock? Then we are done, whether or not the timer fired
        // first. (The loop may poll us because of some other wake-up after the deadline
        // passed.)
        if loop_time() >= self.deadline {
            self.cancel();
            return Poll::Ready(());
        }
        match &self.registered {
            // Registered: the reactor will fire the timer in the first turn that finds it
            // due, so no clock read is needed here. Make sure the stored waker is this
            // task's (a future can move between tasks, e.g. inside a select that another
            // task took over).
            Some((reactor, key)) => {
                if !reactor.update_timer(*key, cx.waker()) {
                    // Our timer fired but the deadline is not here yet: `reset` moved it
                    // later and kept the old timer. Arm one at the real deadline.
                    let reactor = reactor.clone();
                    let key = reactor.insert_timer(self.deadline, cx.waker().clone());
                    self.registered = Some((reactor, key));
                }
            }
            // First poll: the loop's clock may lag behind by one turn, so ask the real
            // one before registering a timer that is already due.
            None => {
                if Instant::now() >= self.deadline {
                    return Poll::Ready(());
                }
                let deadline = self.deadline;
                let registered = Reactor::with_current(|reactor| {
                    (reactor.clone(), reactor.insert_timer(deadline, cx.waker().clone()))
                });
                self.registered = Some(registered);
            }
        }
        crate::trace::note_wait(crate::trace::Wait::Timer { deadline: self.deadline });
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel();
    }
}
