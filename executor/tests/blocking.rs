//! `spawn_blocking` — `run_in_executor` / `asyncio.to_thread`. A blocking job runs on a
//! pool thread, so the loop keeps serving its timers meanwhile; its result (or its
//! panic, as a `JoinError`) comes back through a cross-thread wake-up.

mod common;

use std::time::{Duration, Instant};

use common::within;
use rasgi_executor::{block_on, sleep, spawn, spawn_blocking};

#[test]
fn a_blocking_job_does_not_delay_a_timer_on_the_loop() {
    let (timer_fired_after, job_done_after, result) = within(Duration::from_secs(10), || {
        block_on(async {
            let started = Instant::now();
            let job = spawn_blocking(|| {
                std::thread::sleep(Duration::from_millis(300));
                "job result"
            });
            let timer = spawn(async move {
                sleep(Duration::from_millis(50)).await;
                started.elapsed()
            });
            let timer_fired_after = timer.await.unwrap();
            let result = job.await;
            (timer_fired_after, started.elapsed(), result)
        })
    });
    // Had the job run on the loop thread, the timer could not fire before 300 ms.
    assert!(timer_fired_after >= Duration::from_millis(50), "timer fired early: {timer_fired_after:?}");
    assert!(timer_fired_after < Duration::from_millis(250), "timer delayed to {timer_fired_after:?}");
    assert_eq!(result.unwrap(), "job result");
    assert!(job_done_after >= Duration::from_millis(300), "job finished early: {job_done_after:?}");
}

#[test]
fn a_panicking_blocking_job_gives_a_join_error_and_the_pool_survives() {
    within(Duration::from_secs(10), || {
        block_on(async {
            let err = spawn_blocking(|| -> u32 { panic!("blocking boom") })
                .await
                .expect_err("a panicking job returned a value");
            assert!(err.is_panic());
            assert_eq!(err.panic_message(), Some("blocking boom"));
            let text = err.to_string().lines().next().unwrap_or_default().to_owned();
            assert!(text.starts_with(concat!("task panicked at ", file!(), ":")), "{text}");
            assert!(text.ends_with(": blocking boom"), "{text}");
            // The panic was caught on the pool thread; the pool still runs jobs.
            assert_eq!(spawn_blocking(|| 5).await.unwrap(), 5);
        })
    });
}

#[test]
fn a_dropped_blocking_future_lets_the_job_finish_unobserved() {
    within(Duration::from_secs(10), || {
        block_on(async {
            let (tx, rx) = std::sync::mpsc::channel();
            let job = spawn_blocking(move || {
                std::thread::sleep(Duration::from_millis(20));
                tx.send("ran anyway").unwrap();
            });
            // Like `run_in_executor`, dropping the future cannot interrupt a thread.
            drop(job);
            assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "ran anyway");
        })
    });
}
