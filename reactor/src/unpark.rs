//! Waking a sleeping loop from another thread.
//!
//! The loop thread spends its idle time blocked in `epoll_wait`. When a thread of the
//! blocking pool finishes a job, the task waiting for it must run — but that thread
//! cannot touch the loop's queues safely, and the loop would not look at them until
//! some socket or timer woke it. So the pool thread pushes the task onto a locked queue
//! and then *unparks* the loop: `mio::Waker` writes to an eventfd registered in the
//! same epoll set, which makes `epoll_wait` return. asyncio does the same with its
//! "self-pipe" in `call_soon_threadsafe`.

use std::io;
use std::sync::Arc;

use mio::{Registry, Token};

/// A `Send + Sync` handle that interrupts its reactor's [`crate::Reactor::wait`].
#[derive(Clone)]
pub struct Unparker {
    /// The eventfd-backed waker registered under the reactor's unpark token.
    waker: Arc<mio::Waker>,
}

impl Unparker {
    pub(crate) fn new(registry: &Registry, token: Token) -> io::Result<Unparker> {
        Ok(Unparker { waker: Arc::new(mio::Waker::new(registry, token)?) })
    }

    /// Makes the reactor's current or next `wait` return promptly.
    pub fn unpark(&self) {
        // The only failure is a full eventfd counter, which already guarantees a wake-up.
        let _ = self.waker.wake();
    }
}

impl std::fmt::Debug for Unparker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Unparker")
    }
}
