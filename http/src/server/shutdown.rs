//! Stopping: the cross-thread trigger a signal pulls, and each loop's record of its
//! connections so it can close the idle ones and wait for the busy ones.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// Pulled once (by a signal or [`crate::server::ServerHandle::shutdown`]); every worker
/// loop waits on it. `Send + Sync`: it crosses threads, and its wakers are loop wakers,
/// which know how to wake a loop from elsewhere.
#[derive(Default)]
pub struct ShutdownTrigger {
    /// True once pulled.
    pulled: AtomicBool,
    /// The worker loops' main futures waiting for the pull.
    waiters: Mutex<Vec<Waker>>,
}

impl ShutdownTrigger {
    /// A trigger not yet pulled.
    pub fn new() -> Arc<ShutdownTrigger> {
        Arc::new(ShutdownTrigger::default())
    }

    /// Starts a graceful shutdown of every loop.
    pub fn pull(&self) {
        self.pulled.store(true, Ordering::Release);
        let waiters = std::mem::take(&mut *self.waiters.lock().unwrap_or_else(|e| e.into_inner()));
        waiters.into_iter().for_each(Waker::wake);
    }

    /// True once pulled.
    pub fn is_pulled(&self) -> bool {
        self.pulled.load(Ordering::Acquire)
    }

    /// Resolves once pulled.
    pub async fn pulled(&self) {
        std::future::poll_fn(|cx| {
            if self.is_pulled() {
                return Poll::Ready(());
            }
            let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            // Checked again under the lock: a pull between the check above and here
            // would otherwise find no waker to wake.
            if self.is_pulled() {
                return Poll::Ready(());
            }
            if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

/// One loop's connections: a slot each, holding the waker of the connection task while
/// it idles between requests. Shutting down wakes them all; each then sees the flag and
/// closes if it has no request in progress.
#[derive(Default)]
pub(crate) struct Connections {
    /// Set when the loop begins shutting down.
    stopping: Cell<bool>,
    /// One slot per open connection; `Some(waker)` once it has idled at least once. The
    /// waker of a task never changes, so it is stored once, not on every idle wait.
    slots: RefCell<Vec<Option<Option<Waker>>>>,
    /// Free slot indices.
    free: RefCell<Vec<usize>>,
    /// Open connections.
    open: Cell<usize>,
    /// Of those, the ones that have sent their last byte and only linger to read what the
    /// client still sends: they do not count against `--limit-concurrency`, but a
    /// shutdown still waits for them, so that the process never closes a socket under a
    /// response its client has not read.
    lingering: Cell<usize>,
    /// The loop's main future, waiting for `open` to reach zero.
    drained: RefCell<Option<Waker>>,
}

impl Connections {
    /// Registers a new connection; the guard unregisters it.
    pub(crate) fn add(self: &std::rc::Rc<Self>) -> ConnectionGuard {
        let index = match self.free.borrow_mut().pop() {
            Some(i) => {
                self.slots.borrow_mut()[i] = Some(None);
                i
            }
            None => {
                let mut slots = self.slots.borrow_mut();
                slots.push(Some(None));
                slots.len() - 1
            }
        };
        self.open.set(self.open.get() + 1);
        ConnectionGuard { connections: self.clone(), index, done: Cell::new(false) }
    }

    pub(crate) fn open(&self) -> usize {
        self.open.get()
    }

    /// Open connections still serving (not lingering): what the concurrency limit counts.
    pub(crate) fn busy(&self) -> usize {
        self.open.get() - self.lingering.get()
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.get()
    }

    /// Begins shutdown: wakes every connection so the idle ones close.
    pub(crate) fn stop(&self) {
        self.stopping.set(true);
        let wakers: Vec<Waker> = self.slots.borrow().iter().flatten().flatten().cloned().collect();
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Resolves when every connection has closed.
    pub(crate) async fn drained(&self) {
        std::future::poll_fn(|cx| {
            if self.open.get() == 0 {
                return Poll::Ready(());
            }
            *self.drained.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

/// A connection's registration; dropping it (the connection task ending) frees the slot.
pub(crate) struct ConnectionGuard {
    connections: std::rc::Rc<Connections>,
    index: usize,
    /// Set once the connection only lingers on its way out (counted in `lingering`).
    done: Cell<bool>,
}

impl ConnectionGuard {
    /// Ready once the loop is stopping; otherwise remembers the task's waker (once).
    pub(crate) fn poll_stopping(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.connections.is_stopping() {
            return Poll::Ready(());
        }
        if let Some(slot @ None) = self.connections.slots.borrow_mut().get_mut(self.index).and_then(Option::as_mut) {
            *slot = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.connections.is_stopping()
    }
}

impl ConnectionGuard {
    /// The connection has sent its last byte and only lingers to read what the client
    /// still sends: it no longer counts against `--limit-concurrency`.
    pub(crate) fn finish(&self) {
        if !self.done.replace(true) {
            let c = &self.connections;
            c.lingering.set(c.lingering.get() + 1);
        }
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        let c = &self.connections;
        if let Some(slot) = c.slots.borrow_mut().get_mut(self.index) {
            *slot = None;
        }
        c.free.borrow_mut().push(self.index);
        if self.done.get() {
            c.lingering.set(c.lingering.get() - 1);
        }
        c.open.set(c.open.get() - 1);
        if c.open.get() == 0 {
            if let Some(w) = c.drained.borrow_mut().take() {
                w.wake();
            }
        }
    }
}
