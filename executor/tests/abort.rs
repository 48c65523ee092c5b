//! `JoinHandle::abort` — `Task.cancel()`. The task stops at its next `.await`: the code
//! after it never runs, its future is dropped (destructors run, like `finally` blocks
//! when `CancelledError` unwinds a coroutine), and awaiting the handle gives
//! `JoinError::Cancelled`. Aborting a task that already finished changes nothing.

mod common;

use std::time::{Duration, Instant};

use common::{within, DropGuard, Log};
use rasgi_executor::reactor::Reactor;
use rasgi_executor::{sleep, spawn, yield_now, Runtime};

#[test]
fn abort_stops_a_task_at_its_await_and_runs_its_destructors() {
    let runtime_tasks = within(Duration::from_secs(10), || {
        let runtime = Runtime::new().unwrap();
        runtime.block_on(async {
            let log = Log::default();
            let (guard, dropped) = DropGuard::new();
            let handle = spawn({
                let log = log.clone();
                async move {
                    let _guard = guard;
                    log.push("before the await");
                    sleep(Duration::from_secs(10)).await;
                    log.push("after the await");
                    1
                }
            });
            // Let the task run up to its sleep.
            while log.snapshot().is_empty() {
                yield_now().await;
            }
            assert!(!dropped.get());
            assert_eq!(Reactor::try_current().unwrap().stats().timers, 1);

            let started = Instant::now();
            handle.abort();
            let err = handle.await.expect_err("an aborted task returned its output");
            assert!(err.is_cancelled());
            assert!(!err.is_panic());
            assert_eq!(err.panic_message(), None);
            assert_eq!(err.to_string(), "task was aborted");
            assert!(started.elapsed() < Duration::from_secs(5), "abort waited for the sleep");

            assert!(dropped.get(), "the aborted task's future was not dropped");
            assert_eq!(log.take(), ["before the await"]);
            assert_eq!(Reactor::try_current().unwrap().stats().timers, 0, "its sleep's timer remained");
        });
        runtime.task_count()
    });
    assert_eq!(runtime_tasks, 0);
}

#[test]
fn abort_before_the_first_poll_runs_nothing() {
    within(Duration::from_secs(10), || {
        rasgi_executor::block_on(async {
            let log = Log::default();
            let (guard, dropped) = DropGuard::new();
            let handle = spawn({
                let log = log.clone();
                async move {
                    let _guard = guard;
                    log.push("ran");
                }
            });
            // Spawned tasks start on the loop's next turn; abort before that.
            handle.abort();
            assert!(handle.await.unwrap_err().is_cancelled());
            assert!(dropped.get());
            assert!(log.take().is_empty(), "the aborted task ran");
        })
    });
}

#[test]
fn aborting_a_finished_task_is_a_no_op() {
    within(Duration::from_secs(10), || {
        rasgi_executor::block_on(async {
            let handle = spawn(async { 42 });
            while !handle.is_finished() {
                yield_now().await;
            }
            handle.abort();
            handle.abort();
            assert_eq!(handle.await.expect("abort after completion discarded the output"), 42);
        })
    });
}

#[test]
fn dropping_a_handle_detaches_the_task_instead_of_aborting_it() {
    within(Duration::from_secs(10), || {
        rasgi_executor::block_on(async {
            let log = Log::default();
            let handle = spawn({
                let log = log.clone();
                async move {
                    sleep(Duration::from_millis(20)).await;
                    log.push("finished");
                }
            });
            drop(handle);
            sleep(Duration::from_millis(100)).await;
            assert_eq!(log.take(), ["finished"]);
        })
    });
}
