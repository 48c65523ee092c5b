//! # rasgi-reactor — everything that *waits*
//!
//! An event loop has two halves. The half in this crate waits: it asks the operating
//! system which sockets became readable or writable, keeps the timers, and wakes whoever
//! was waiting on them. The other half, `rasgi-executor`, *runs* the tasks that were woken.
//! In Python's asyncio both halves live inside one object, the event loop; uvloop splits
//! them the same way (libuv waits, the loop runs callbacks).
//!
//! The reactor knows [`std::task::Waker`]s, never tasks: a future that cannot make
//! progress hands its waker to the reactor, and the reactor calls `wake()` when the
//! thing it waited for happened. What waking *means* is the executor's business.
//!
//! ```
//! use std::future::Future;
//! use std::pin::pin;
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::sync::Arc;
//! use std::task::{Context, Poll, Wake, Waker};
//! use std::time::{Duration, Instant};
//! use rasgi_reactor::{sleep, Reactor};
//!
//! /// A waker that only remembers it was called: the reactor needs nothing more.
//! struct Flag(AtomicBool);
//! impl Wake for Flag {
//!     fn wake(self: Arc<Self>) {
//!         self.0.store(true, Ordering::Relaxed);
//!     }
//! }
//!
//! let reactor = Reactor::new().unwrap();
//! let _entered = reactor.enter();
//! let flag = Arc::new(Flag(AtomicBool::new(false)));
//! let waker = Waker::from(flag.clone());
//! let mut cx = Context::from_waker(&waker);
//!
//! // Poll a sleep once: not due, so it leaves its waker in the timer table.
//! let mut nap = pin!(sleep(Duration::from_millis(5)));
//! assert!(nap.as_mut().poll(&mut cx).is_pending());
//! let deadline = reactor.next_deadline().expect("the sleep registered a timer");
//!
//! // One loop turn by hand: sleep in the kernel until the deadline, fire the timer.
//! reactor.wait(Some(deadline.saturating_duration_since(Instant::now()))).unwrap();
//! reactor.fire_expired_timers(Instant::now());
//! assert!(flag.0.load(Ordering::Relaxed), "the timer woke us");
//! assert!(nap.as_mut().poll(&mut cx).is_ready());
//! ```
//!
//! # Layout
//!
//! | file | concept |
//! |---|---|
//! | `reactor.rs` | the [`Reactor`]: owns `mio::Poll`, maps readiness events to wakers |
//! | `source.rs` | [`Registration`]: one socket's place in the reactor, with separate read and write waiters |
//! | `timer.rs` | [`Timers`]: the deadline structure the loop asks for its next timeout |
//! | `sleep.rs` | [`Sleep`], [`sleep`], [`sleep_until`]: the hand-written leaf future of `asyncio.sleep` |
//! | `unpark.rs` | [`Unparker`]: wake a sleeping loop from another thread (`mio::Waker`) |
//! | `trace.rs` | the narrated loop (`RASGI_TRACE=1`) and facts for the live loop view |
//! | `net/listener.rs` | [`net::TcpListener`]: accept, address reuse, `SO_REUSEPORT`, an inherited listening socket |
//! | `net/stream.rs` | [`net::TcpStream`]: connect, read, write, vectored write, shutdown |
//! | `net/unix.rs` | [`net::UnixListener`], [`net::UnixStream`]: Unix-domain stream sockets for a server |

#![warn(missing_docs)]
#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod net;
mod reactor;
mod sleep;
mod source;
mod timer;
pub mod trace;
mod unpark;

pub use reactor::{loop_time, set_loop_time, Reactor, ReactorGuard, SourceInfo, Stats};
pub use sleep::{sleep, sleep_until, Sleep};
pub use source::{Direction, Registration};
pub use timer::{TimerKey, Timers};
pub use unpark::Unparker;
