//! # rasgi-executor — everything that *runs*
//!
//! The executor is the half of the event loop that runs tasks. A task is a future the
//! loop owns; "running" it means calling its `poll` once. A poll either finishes the task
//! or leaves it parked until its waker is called — by the reactor (a socket became
//! ready, a timer expired), by another task (a channel send), or by another thread (the
//! blocking pool finished a job). asyncio's counterparts: `Task`, `loop.create_task`,
//! `loop.run_until_complete`, `asyncio.gather`, `asyncio.wait_for`, `run_in_executor`.
//!
//! ```
//! use std::time::Duration;
//!
//! let answer = rasgi_executor::block_on(async {
//!     let child = rasgi_executor::spawn(async {
//!         rasgi_executor::sleep(Duration::from_millis(10)).await;
//!         21
//!     });
//!     child.await.unwrap() * 2
//! });
//! assert_eq!(answer, 42);
//! ```
//!
//! # Layout
//!
//! | file | concept |
//! |---|---|
//! | `runtime.rs` | [`Runtime`], [`block_on`], [`Builder`]: one event loop on one thread |
//! | `executor.rs` | the task table, the ready queue and **the loop turn** (`Executor::turn`) |
//! | `task.rs` | a task: its boxed future, name and statistics; [`task`] functions |
//! | `waker.rs` | the task waker: `std::task::Wake`, local and cross-thread wake-ups |
//! | `join.rs` | [`spawn`], [`JoinHandle`], [`JoinError`], abort |
//! | `combinators.rs` | [`join`], [`join_all`], [`select`], [`yield_now`] |
//! | `timeout.rs` | [`timeout`] — `asyncio.wait_for` |
//! | `blocking.rs` | [`spawn_blocking`] — `run_in_executor` / `asyncio.to_thread` |
//! | `sync/` | [`sync::oneshot`], [`sync::mpsc`], [`sync::Semaphore`], [`sync::broadcast`] |
//! | `coroutine.rs` | one coroutine written twice: as `async fn` and desugared by hand |
//! | `log.rs` | the one place rasgi writes diagnostics to stderr |

#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod blocking;
mod combinators;
pub mod coroutine;
mod executor;
mod join;
pub mod log;
mod runtime;
pub mod sync;
pub mod task;
mod timeout;
mod waker;

pub use blocking::spawn_blocking;
pub use combinators::{join, join_all, select, yield_now, Either};
pub use join::{panic_message, spawn, spawn_named, JoinError, JoinHandle};
pub use rasgi_reactor::{sleep, sleep_until, Sleep};
pub use runtime::{block_on, Builder, Runtime};
pub use timeout::{timeout, timeout_at, Elapsed};

/// The reactor crate, re-exported so users of the executor reach sockets through it.
pub use rasgi_reactor as reactor;
