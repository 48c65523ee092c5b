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
//! To see why each part exists, rebuild it small first: `executor/examples/` holds six
//! programs on `std` and `mio` alone — a busy loop, a parking waker, a reactor, timers,
//! tasks, an HTTP server — each fixing the failure of the one before, and
//! `examples/README.md` says what this crate adds to them
//! (`cargo run -p rasgi-executor --example step1_busy_loop`).
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
//! | `timeline.rs` | [`timeline`]: the last 50,000 polls, epoll sleeps and pool jobs, with what woke each task |
//! | `sync/` | [`sync::oneshot`], [`sync::mpsc`], [`sync::Semaphore`], [`sync::broadcast`] |
//! | `coroutine.rs` | one coroutine written twice: as `async fn` and desugared by hand |
//! | `log.rs` | the logger: warnings and the access log on stderr (one of two writers, below) |
//! | `panic.rs` | [`catch`], [`Panic`]: panics as values, the three catch points, one log line each |
//! | `promises.rs` | [`promises`]: what the compiler checks — `!Send` tasks, `Send` blocking jobs |
//! | `glossary.rs` | [`glossary`]: `Pin`, `pin!`, `poll_fn`, `ready!`, `Waker`, `Context` for Python readers |
//!
//! Two things write to stderr: this crate's logger, [`log`] (warnings, errors, the access
//! log; `--log-level`), and the reactor's narration ([`reactor::trace`], only with
//! `RASGI_TRACE=1`). std's panic hook, the third writer of most Rust programs, stays quiet
//! for every panic rasgi catches — a handler's, a task's, a blocking job's — so that each
//! is logged once, by the code that caught it, with its location ([`panic`](mod@panic)); a panic
//! outside every catch point still prints as usual.

#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod blocking;
mod combinators;
pub mod coroutine;
mod executor;
pub mod glossary;
mod join;
pub mod log;
pub mod panic;
pub mod promises;
mod runtime;
pub mod sync;
pub mod task;
pub mod timeline;
mod timeout;
mod waker;

pub use blocking::spawn_blocking;
pub use combinators::{join, join_all, select, yield_now, Either};
pub use join::{spawn, spawn_named, JoinError, JoinHandle};
pub use panic::{catch, panic_message, Panic};
pub use rasgi_reactor::{sleep, sleep_until, Sleep};
pub use runtime::{block_on, Builder, Runtime};
pub use timeout::{timeout, timeout_at, Elapsed};

/// The reactor crate, re-exported so users of the executor reach sockets through it.
pub use rasgi_reactor as reactor;
