//! Waking the loop from another thread. With no timers and no ready tasks the loop
//! sleeps in `epoll_wait` with no timeout; a waker called on another thread must put the
//! task in the loop's inbox *and* interrupt that sleep (`mio::Waker`, asyncio's
//! `call_soon_threadsafe`), or the loop would sleep forever.
//!
//! The loop's wait count shows it really slept rather than spun: a busy loop would have
//! called `epoll_wait` thousands of times in the 100 ms the other thread takes.

mod common;

use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use common::within;
use rasgi_executor::reactor::{Reactor, Stats};
use rasgi_executor::{block_on, spawn, spawn_blocking};

const DELAY: Duration = Duration::from_millis(100);

/// A one-value slot filled by a plain std thread: the smallest cross-thread future.
#[derive(Clone, Default)]
struct Slot(Arc<Mutex<(Option<&'static str>, Option<Waker>)>>);

impl Slot {
    /// Fills the slot from another thread after `DELAY` and wakes whoever waits.
    fn fill_later(&self, value: &'static str) -> std::thread::JoinHandle<()> {
        let slot = self.clone();
        std::thread::spawn(move || {
            std::thread::sleep(DELAY);
            let waker = {
                let mut inner = slot.0.lock().unwrap();
                inner.0 = Some(value);
                inner.1.take()
            };
            waker.expect("nobody was waiting").wake();
        })
    }

    async fn get(&self) -> &'static str {
        poll_fn(|cx| {
            let mut inner = self.0.lock().unwrap();
            match inner.0.take() {
                Some(value) => Poll::Ready(value),
                None => {
                    inner.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

fn reactor_stats() -> Stats {
    Reactor::try_current().unwrap().stats()
}

fn check(value: &str, took: Duration, stats: Stats) {
    assert_eq!(value, "from another thread");
    assert!(took >= DELAY, "finished before the other thread woke it: {took:?}");
    assert!(took < Duration::from_secs(2), "the wake-up took {took:?}");
    assert_eq!((stats.timers, stats.timers_fired), (0, 0), "a timer could have woken the loop");
    assert!(stats.waits < 10, "the loop spun instead of sleeping: {stats:?}");
}

#[test]
fn a_std_thread_wakes_a_task_on_a_sleeping_loop() {
    let (value, took, stats) = within(Duration::from_secs(10), || {
        block_on(async {
            let started = Instant::now();
            let slot = Slot::default();
            let task = spawn({
                let slot = slot.clone();
                async move { slot.get().await }
            });
            // The task must be parked (its waker stored) before the thread fills the slot.
            let thread = slot.fill_later("from another thread");
            let value = task.await.unwrap();
            thread.join().unwrap();
            (value, started.elapsed(), reactor_stats())
        })
    });
    check(value, took, stats);
}

#[test]
fn a_std_thread_wakes_the_main_future_on_a_sleeping_loop() {
    // The future given to `block_on` is not a task; it has its own waker.
    let (value, took, stats) = within(Duration::from_secs(10), || {
        block_on(async {
            let started = Instant::now();
            let slot = Slot::default();
            let get = slot.get();
            let mut get = std::pin::pin!(get);
            // Park first, then let the thread fill the slot.
            let first = poll_fn(|cx| Poll::Ready(std::future::Future::poll(get.as_mut(), cx))).await;
            assert!(first.is_pending());
            let thread = slot.fill_later("from another thread");
            let value = get.await;
            thread.join().unwrap();
            (value, started.elapsed(), reactor_stats())
        })
    });
    check(value, took, stats);
}

#[test]
fn a_blocking_job_wakes_the_task_awaiting_it() {
    let (value, took, stats) = within(Duration::from_secs(10), || {
        block_on(async {
            let started = Instant::now();
            let task = spawn(async {
                spawn_blocking(|| {
                    std::thread::sleep(DELAY);
                    "from another thread"
                })
                .await
                .unwrap()
            });
            let value = task.await.unwrap();
            (value, started.elapsed(), reactor_stats())
        })
    });
    check(value, took, stats);
}
