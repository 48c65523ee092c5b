//! A counting semaphore with FIFO waiters: `asyncio.Semaphore`.
//!
//! rasgi uses it wherever "at most N at once" is the rule: the server's concurrency
//! limit, the Postgres pool's size, the HTTP client's connections per origin.
//!
//! Two properties matter and are easy to get wrong:
//! - **Fairness.** Released permits are *handed* to the oldest waiter rather than put
//!   back in the pool, so a newcomer can never overtake a task that has been waiting.
//! - **Cancellation.** A waiting `acquire` that is dropped (its task aborted, or a
//!   `timeout` expired) leaves the queue; if a permit had already been handed to it, the
//!   permit is passed on to the next waiter instead of being lost.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A semaphore handle; clones share the same permits.
#[derive(Clone)]
pub struct Semaphore {
    state: Rc<RefCell<State>>,
}

/// The semaphore's state.
struct State {
    /// Permits free right now. Non-zero only while no one waits.
    available: usize,
    /// Tasks waiting for a permit, oldest first.
    waiters: VecDeque<Rc<Waiter>>,
    /// True after `close`: every acquire fails.
    closed: bool,
}

/// One waiting acquire.
struct Waiter {
    /// Set when a released permit was handed to this waiter.
    granted: Cell<bool>,
    /// The waiting task's waker.
    waker: RefCell<Option<Waker>>,
}

/// The semaphore was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcquireError;

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the semaphore was closed")
    }
}

impl std::error::Error for AcquireError {}

impl Semaphore {
    /// A semaphore with `permits` permits.
    pub fn new(permits: usize) -> Semaphore {
        Semaphore {
            state: Rc::new(RefCell::new(State { available: permits, waiters: VecDeque::new(), closed: false })),
        }
    }

    /// Waits for a permit, in arrival order.
    pub fn acquire(&self) -> Acquire {
        Acquire { semaphore: self.clone(), waiter: None, done: false }
    }

    /// Takes a permit if one is free *and* no one is waiting (fairness), without waiting.
    pub fn try_acquire(&self) -> Option<Permit> {
        let mut state = self.state.borrow_mut();
        if state.closed || state.available == 0 {
            return None;
        }
        state.available -= 1;
        Some(Permit { semaphore: self.clone(), forgotten: false })
    }

    /// Permits free right now.
    pub fn available_permits(&self) -> usize {
        self.state.borrow().available
    }

    /// Tasks waiting right now.
    pub fn waiting(&self) -> usize {
        self.state.borrow().waiters.len()
    }

    /// Adds `n` permits (handing them to waiters first).
    pub fn add_permits(&self, n: usize) {
        for _ in 0..n {
            self.release();
        }
    }

    /// Fails every current and future `acquire` with [`AcquireError`].
    pub fn close(&self) {
        let waiters = {
            let mut state = self.state.borrow_mut();
            state.closed = true;
            std::mem::take(&mut state.waiters)
        };
        for waiter in waiters {
            if let Some(w) = waiter.waker.borrow_mut().take() {
                w.wake();
            }
        }
    }

    /// True after [`Semaphore::close`].
    pub fn is_closed(&self) -> bool {
        self.state.borrow().closed
    }

    /// Gives one permit back: to the oldest waiter if there is one, else to the pool.
    fn release(&self) {
        let next = {
            let mut state = self.state.borrow_mut();
            match state.waiters.pop_front() {
                Some(waiter) => Some(waiter),
                None => {
                    state.available += 1;
                    None
                }
            }
        };
        if let Some(waiter) = next {
            waiter.granted.set(true);
            let waker = waiter.waker.borrow_mut().take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Semaphore").field("available", &state.available).field("waiting", &state.waiters.len()).finish()
    }
}

/// Future returned by [`Semaphore::acquire`].
///
/// States: *new* (`waiter == None`, not done) → *queued* (`waiter == Some`) → *done*.
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire {
    semaphore: Semaphore,
    /// Our place in the queue once we had to wait.
    waiter: Option<Rc<Waiter>>,
    /// True once a permit (or an error) was returned.
    done: bool,
}

impl Future for Acquire {
    type Output = Result<Permit, AcquireError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        assert!(!self.done, "Acquire polled after it completed");
        let outcome = match &self.waiter {
            // Queued, and a released permit was handed to us.
            Some(waiter) if waiter.granted.get() => {
                self.waiter = None;
                Some(Ok(()))
            }
            // Queued and closed: the semaphore will never grant us anything.
            Some(_) if self.semaphore.is_closed() => {
                self.waiter = None;
                Some(Err(AcquireError))
            }
            // Still queued: refresh the waker if another task polls us now.
            Some(waiter) => {
                let mut slot = waiter.waker.borrow_mut();
                if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *slot = Some(cx.waker().clone());
                }
                None
            }
            // First poll: take a free permit, or join the queue.
            None => {
                let mut state = self.semaphore.state.borrow_mut();
                if state.closed {
                    Some(Err(AcquireError))
                } else if state.available > 0 {
                    state.available -= 1;
                    Some(Ok(()))
                } else {
                    let waiter =
                        Rc::new(Waiter { granted: Cell::new(false), waker: RefCell::new(Some(cx.waker().clone())) });
                    state.waiters.push_back(waiter.clone());
                    drop(state);
                    self.waiter = Some(waiter);
                    None
                }
            }
        };
        match outcome {
            Some(result) => {
                self.done = true;
                Poll::Ready(result.map(|()| Permit { semaphore: self.semaphore.clone(), forgotten: false }))
            }
            None => {
                rasgi_reactor::trace::note_wait(rasgi_reactor::trace::Wait::Channel("a semaphore permit"));
                Poll::Pending
            }
        }
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        let Some(waiter) = self.waiter.take() else { return };
        if waiter.granted.get() {
            // A permit was handed to us but we will never use it: pass it on.
            self.semaphore.release();
        } else {
            self.semaphore.state.borrow_mut().waiters.retain(|w| !Rc::ptr_eq(w, &waiter));
        }
    }
}

/// One permit; released when dropped.
#[must_use = "dropping a permit releases it at once"]
pub struct Permit {
    semaphore: Semaphore,
    /// Set by [`Permit::forget`]: the permit is not given back.
    forgotten: bool,
}

impl Permit {
    /// Consumes the permit without releasing it (shrinking the semaphore by one).
    pub fn forget(mut self) {
        self.forgotten = true;
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.forgotten {
            self.semaphore.release();
        }
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Permit")
    }
}
