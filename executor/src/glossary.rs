//! A glossary of the async vocabulary, for readers who know asyncio.
//!
//! Rust's async code uses six words that asyncio has no direct spelling for. Each entry
//! below says what the word is, what it corresponds to in Python, and shows it in a
//! doctest that runs with the crate's tests. This module holds no code.
//!
//! # `Future` and `poll`
//!
//! A Rust future is an asyncio coroutine object that nobody has scheduled yet: calling an
//! `async fn` runs none of its body. The loop advances it by calling
//! `Future::poll(self: Pin<&mut Self>, cx: &mut Context) -> Poll<Output>`, which runs up
//! to the next `.await` that cannot finish and returns `Poll::Pending`, or finishes and
//! returns `Poll::Ready(value)`. asyncio's equivalent is `coro.send(None)`: either it
//! yields (pending) or raises `StopIteration(value)` (ready).
//!
//! ```
//! use std::future::Future;
//! use std::pin::pin;
//! use std::sync::Arc;
//! use std::task::{Context, Poll, Wake, Waker};
//!
//! struct Nobody;
//! impl Wake for Nobody {
//!     fn wake(self: Arc<Self>) {}
//! }
//!
//! let mut ran = false;
//! let future = async { ran = true; 7 };
//! // Nothing ran yet: building the future only captured `ran`.
//! let mut future = pin!(future);
//! let waker = Waker::from(Arc::new(Nobody));
//! let polled = future.as_mut().poll(&mut Context::from_waker(&waker));
//! assert_eq!(polled, Poll::Ready(7));
//! drop(future);
//! assert!(ran);
//! ```
//!
//! # `Waker` and `Context`
//!
//! A `Waker` is the callback a pending future leaves behind so that whoever can make
//! progress (a socket's readiness, a timer, another thread) can say "poll this task
//! again". In asyncio the same role is played by `fut.add_done_callback(task.__wakeup)`:
//! the task registers itself on the future it awaits. `Context` is the envelope the loop
//! hands to `poll`; today it carries only the waker (`cx.waker()`). The contract: a future
//! that returns `Pending` must first have stored `cx.waker()` where something will call
//! it, or the task sleeps forever. rasgi's wakers are `std::task::Wake` implementations
//! (`waker.rs`), which is why they need no `unsafe`.
//!
//! ```
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//! use std::task::{Context, Wake, Waker};
//!
//! struct CountWakes(AtomicUsize);
//! impl Wake for CountWakes {
//!     fn wake(self: Arc<Self>) {
//!         self.0.fetch_add(1, Ordering::SeqCst);
//!     }
//! }
//!
//! let counter = Arc::new(CountWakes(AtomicUsize::new(0)));
//! let waker = Waker::from(counter.clone());
//! let cx = Context::from_waker(&waker);
//! // What a socket future does on WouldBlock: keep a clone, call it when ready.
//! let stored = cx.waker().clone();
//! stored.wake();
//! assert_eq!(counter.0.load(Ordering::SeqCst), 1);
//! ```
//!
//! # `Pin`
//!
//! An `async` block compiles to a struct whose fields are its local variables, and a
//! local may borrow another local of the same block. Such a struct must not move once it
//! has been polled, or the borrow would point at the old address. `Pin<&mut F>` is a
//! pointer that promises exactly that: the future behind it stays where it is until it is
//! dropped. Python never needs this because every object lives on the heap and is
//! reached by reference. `Box::pin(future)` pins on the heap (the executor does this for
//! every task, `task.rs`); `pin!` pins on the stack.
//!
//! ```
//! use std::future::Future;
//! use std::pin::Pin;
//!
//! let boxed: Pin<Box<dyn Future<Output = u8>>> = Box::pin(async { 1 });
//! let answer = rasgi_executor::block_on(boxed);
//! assert_eq!(answer, 1);
//! ```
//!
//! # `pin!`
//!
//! `std::pin::pin!(future)` pins a future in the current stack frame, which is enough
//! when the future does not outlive the function: a combinator that polls its argument
//! by hand, or a task body driving a future it owns (`join.rs` pins the user's future
//! this way). It avoids the allocation `Box::pin` costs.
//!
//! ```
//! use std::future::Future;
//! use std::pin::pin;
//!
//! rasgi_executor::block_on(async {
//!     let mut sleeping = pin!(rasgi_executor::sleep(std::time::Duration::from_millis(1)));
//!     // `as_mut()` reborrows the pinned future so it can be polled or awaited again.
//!     sleeping.as_mut().await;
//! });
//! ```
//!
//! # `poll_fn`
//!
//! `std::future::poll_fn(|cx| ...)` turns a closure into a future whose `poll` is that
//! closure. It is how rasgi writes most leaf futures (a channel receive, a socket read)
//! without declaring a struct and an `impl Future` for each. The nearest asyncio idiom is
//! creating a bare `loop.create_future()` and completing it from a callback.
//!
//! ```
//! use std::future::poll_fn;
//! use std::task::Poll;
//!
//! let mut polls = 0;
//! let answer = rasgi_executor::block_on(poll_fn(|cx| {
//!     polls += 1;
//!     if polls < 3 {
//!         // Pending with the waker already called: the loop polls again next turn.
//!         cx.waker().wake_by_ref();
//!         Poll::Pending
//!     } else {
//!         Poll::Ready("third time")
//!     }
//! }));
//! assert_eq!((answer, polls), ("third time", 3));
//! ```
//!
//! # `ready!`
//!
//! Inside a hand-written `poll`, `std::task::ready!(expr)` polls an inner future (or any
//! `Poll`) and returns `Poll::Pending` from the outer `poll` at once if the inner one is
//! pending; otherwise it evaluates to the inner value. It is the `?` of polling, and the
//! hand-written counterpart of `.await`.
//!
//! ```
//! use std::future::{poll_fn, Future};
//! use std::pin::pin;
//! use std::task::{ready, Poll};
//! use std::time::Duration;
//!
//! let doubled = rasgi_executor::block_on(async {
//!     let mut inner = pin!(async {
//!         rasgi_executor::sleep(Duration::from_millis(1)).await;
//!         21
//!     });
//!     poll_fn(|cx| {
//!         let value = ready!(inner.as_mut().poll(cx));
//!         Poll::Ready(value * 2)
//!     })
//!     .await
//! });
//! assert_eq!(doubled, 42);
//! ```
