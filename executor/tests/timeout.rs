//! `timeout` — `asyncio.wait_for`. When time runs out the inner future is *dropped*:
//! its code after the pending `.await` never runs, its destructors do, and the caller
//! gets `Elapsed`. When the future finishes first the timeout's own timer is removed at
//! once, so the reactor is left with no timer at all.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::{within, DropGuard};
use rasgi_executor::reactor::Reactor;
use rasgi_executor::{block_on, join, sleep, timeout, timeout_at, yield_now, Elapsed};

fn pending_timers() -> usize {
    Reactor::try_current().expect("inside block_on").stats().timers
}

#[test]
fn an_expired_timeout_drops_the_future_and_returns_elapsed() {
    within(Duration::from_secs(10), || {
        block_on(async {
            let (guard, dropped) = DropGuard::new();
            let finished = Rc::new(Cell::new(false));
            let started = Instant::now();
            let result = timeout(Duration::from_millis(50), {
                let finished = finished.clone();
                async move {
                    let _guard = guard;
                    sleep(Duration::from_secs(10)).await;
                    finished.set(true);
                    "never"
                }
            })
            .await;
            let waited = started.elapsed();

            assert_eq!(result, Err(Elapsed { after: Duration::from_millis(50) }));
            assert_eq!(result.unwrap_err().to_string(), "timed out after 50ms");
            assert!(dropped.get(), "the timed-out future was not dropped");
            assert!(!finished.get(), "code after the await ran");
            assert!(waited >= Duration::from_millis(50), "gave up early: {waited:?}");
            assert!(waited < Duration::from_millis(1000), "gave up late: {waited:?}");
            // The inner future's 10 s sleep went with it.
            assert_eq!(pending_timers(), 0);
        })
    });
}

#[test]
fn a_timeout_that_does_not_expire_returns_ok_and_leaves_no_timer() {
    within(Duration::from_secs(10), || {
        block_on(async {
            let work = timeout(Duration::from_secs(10), async {
                sleep(Duration::from_millis(10)).await;
                5
            });
            // While the work is pending there are two timers: its 10 ms sleep and the
            // timeout's 10 s deadline.
            let watch = async {
                yield_now().await;
                pending_timers()
            };
            let (result, timers_while_pending) = join(work, watch).await;
            assert_eq!(result, Ok(5));
            assert_eq!(timers_while_pending, 2);
            assert_eq!(pending_timers(), 0, "the timeout's 10 s timer was left behind");
        })
    });
}

#[test]
fn a_future_ready_at_once_beats_even_a_zero_timeout() {
    // The future is polled before the deadline is checked, so a result that is
    // already there is never thrown away.
    let result = block_on(timeout(Duration::ZERO, async { 1 }));
    assert_eq!(result, Ok(1));
}

#[test]
fn a_deadline_already_past_expires_a_pending_future_at_once() {
    within(Duration::from_secs(10), || {
        block_on(async {
            let (guard, dropped) = DropGuard::new();
            let past = Instant::now() - Duration::from_millis(1);
            let result = timeout_at(past, async move {
                let _guard = guard;
                sleep(Duration::from_secs(10)).await;
            })
            .await;
            assert!(result.is_err());
            assert!(dropped.get());
            assert_eq!(pending_timers(), 0);
        })
    });
}
