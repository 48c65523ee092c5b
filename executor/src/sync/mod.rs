//! Coordination between tasks of one loop: asyncio's `Future` used as a one-shot
//! result, `asyncio.Queue(maxsize)`, `asyncio.Semaphore`, and a broadcast channel (one
//! sender, many receivers; a slow receiver is told it lagged).
//!
//! All four are single-threaded (`Rc`, `RefCell`): every task of a loop runs on the
//! loop's thread, so no atomics or locks are needed — the same reason asyncio's
//! primitives are not thread-safe. Each keeps the wakers of the tasks waiting on it and
//! calls them when the state they wait for arrives.

pub mod broadcast;
pub mod mpsc;
pub mod oneshot;
mod semaphore;

pub use semaphore::{Acquire, AcquireError, Permit, Semaphore};
