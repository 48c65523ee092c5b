//! The executor's promises that the compiler keeps: which values may stay on the loop's
//! thread and which must be able to cross to another.
//!
//! rasgi runs one loop per thread, and a task never leaves the thread that spawned it,
//! so a task may hold values that are not `Send` (`Rc`, `RefCell`) across an `.await`.
//! That is asyncio's model too: a coroutine belongs to its loop, and only
//! `run_in_executor` / `asyncio.to_thread` hand work to another thread. Here the one
//! cross-thread path is [`spawn_blocking`](crate::spawn_blocking), and what goes through
//! it must be `Send`. The doctests below pin both halves: the first compiles, and each
//! `compile_fail` block is paired with a twin that differs in the one detail that makes
//! it wrong, so a block cannot pass for an unrelated reason. This module holds no code.
//!
//! # A task may hold an `Rc` across `.await`
//!
//! [`spawn`](crate::spawn) asks only `F: Future + 'static`, not `Send`:
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use std::time::Duration;
//!
//! let total = rasgi_executor::block_on(async {
//!     let shared = Rc::new(RefCell::new(0));
//!     let in_task = shared.clone();
//!     let child = rasgi_executor::spawn(async move {
//!         rasgi_executor::sleep(Duration::from_millis(1)).await;
//!         // The Rc lived across the await: the task's future is !Send, and that is fine.
//!         *in_task.borrow_mut() += 1;
//!     });
//!     child.await.unwrap();
//!     let total = *shared.borrow();
//!     total
//! });
//! assert_eq!(total, 1);
//! ```
//!
//! # A blocking job must be `Send`
//!
//! The closure runs on a pool thread, so it may not capture an `Rc`:
//!
//! ```compile_fail,E0277
//! use std::rc::Rc;
//!
//! rasgi_executor::block_on(async {
//!     let data = Rc::new(vec![1u64, 2, 3]);
//!     let sum = rasgi_executor::spawn_blocking(move || data.iter().sum::<u64>()).await;
//!     assert_eq!(sum.unwrap(), 6);
//! });
//! ```
//!
//! The same job with an `Arc` compiles and runs:
//!
//! ```
//! use std::sync::Arc;
//!
//! rasgi_executor::block_on(async {
//!     let data = Arc::new(vec![1u64, 2, 3]);
//!     let sum = rasgi_executor::spawn_blocking(move || data.iter().sum::<u64>()).await;
//!     assert_eq!(sum.unwrap(), 6);
//! });
//! ```
//!
//! # A blocking job's result must be `Send`
//!
//! The result is made on the pool thread and travels back to the loop's thread:
//!
//! ```compile_fail,E0277
//! use std::rc::Rc;
//!
//! rasgi_executor::block_on(async {
//!     let made = rasgi_executor::spawn_blocking(|| Rc::new(5)).await;
//!     assert_eq!(*made.unwrap(), 5);
//! });
//! ```
//!
//! ```
//! use std::sync::Arc;
//!
//! rasgi_executor::block_on(async {
//!     let made = rasgi_executor::spawn_blocking(|| Arc::new(5)).await;
//!     assert_eq!(*made.unwrap(), 5);
//! });
//! ```
//!
//! # Loop-local handles stay on their thread
//!
//! A [`JoinHandle`](crate::JoinHandle) and the ends of the [`sync`](crate::sync) channels
//! share `Rc` state with their loop; sending one to another thread is refused, because
//! the other thread would touch that state without the loop knowing:
//!
//! ```compile_fail,E0277
//! rasgi_executor::block_on(async {
//!     let (sender, receiver) = rasgi_executor::sync::oneshot::channel::<u32>();
//!     std::thread::spawn(move || {
//!         let _ = sender.send(1);
//!     });
//!     assert_eq!(receiver.await.ok(), Some(1));
//! });
//! ```
//!
//! The same hand-over to another task on the loop compiles and runs:
//!
//! ```
//! rasgi_executor::block_on(async {
//!     let (sender, receiver) = rasgi_executor::sync::oneshot::channel::<u32>();
//!     rasgi_executor::spawn(async move {
//!         let _ = sender.send(1);
//!     });
//!     assert_eq!(receiver.await.ok(), Some(1));
//! });
//! ```
//!
//! A thread that has a value for a task hands it over through `spawn_blocking`, whose
//! waker is the one piece built to cross threads (`waker.rs`, the reactor's `unpark.rs`).
