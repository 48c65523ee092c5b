//! Timers fire in deadline order, and timers with equal deadlines fire in the order they
//! were registered — observed the way a user sees it: tasks sleeping on the executor
//! record the order in which they wake.
//!
//! In both tests the tasks are spawned in an order unrelated to the expected one, so
//! that an executor that simply ran its tasks in spawn order would fail.

mod common;

use std::time::{Duration, Instant};

use common::{within, Log};
use rasgi_executor::{block_on, join_all, sleep_until, spawn, yield_now};

#[test]
fn sleeping_tasks_wake_in_deadline_order() {
    let woke = within(Duration::from_secs(10), || {
        block_on(async {
            let log = Log::default();
            let base = Instant::now() + Duration::from_millis(50);
            // (label, deadline after `base`), spawned in this order.
            let plan = [("c", 30), ("a", 0), ("e", 60), ("b", 15), ("d", 45)];
            let handles = plan.map(|(label, ms)| {
                let log = log.clone();
                spawn(async move {
                    sleep_until(base + Duration::from_millis(ms)).await;
                    log.push(label);
                })
            });
            for result in join_all(handles).await {
                result.unwrap();
            }
            log.take()
        })
    });
    assert_eq!(woke, ["a", "b", "c", "d", "e"]);
}

#[test]
fn equal_deadlines_wake_in_registration_order() {
    let (registered, woke) = within(Duration::from_secs(10), || {
        block_on(async {
            let registered = Log::default();
            let woke = Log::default();
            let deadline = Instant::now() + Duration::from_millis(50);
            // Each task yields this many times before registering its timer, so the
            // registration order (y, w, x, z) differs from the spawn order (x, y, z, w).
            let plan = [("x", 2), ("y", 0), ("z", 3), ("w", 1)];
            let handles = plan.map(|(label, yields)| {
                let (registered, woke) = (registered.clone(), woke.clone());
                spawn(async move {
                    for _ in 0..yields {
                        yield_now().await;
                    }
                    registered.push(label);
                    sleep_until(deadline).await;
                    woke.push(label);
                })
            });
            for result in join_all(handles).await {
                result.unwrap();
            }
            (registered.take(), woke.take())
        })
    });
    assert_eq!(registered, ["y", "w", "x", "z"]);
    assert_eq!(woke, registered);
}

#[test]
fn deadline_order_first_then_registration_order_within_a_deadline() {
    let woke = within(Duration::from_secs(10), || {
        block_on(async {
            let woke = Log::default();
            let base = Instant::now() + Duration::from_millis(50);
            // Spawn (and registration) order: p, q, r, s, t. Deadlines: q and s share
            // the earliest, p and t the next, r the last.
            let plan = [("p", 20), ("q", 0), ("r", 40), ("s", 0), ("t", 20)];
            let handles = plan.map(|(label, ms)| {
                let woke = woke.clone();
                spawn(async move {
                    sleep_until(base + Duration::from_millis(ms)).await;
                    woke.push(label);
                })
            });
            for result in join_all(handles).await {
                result.unwrap();
            }
            woke.take()
        })
    });
    assert_eq!(woke, ["q", "s", "p", "t", "r"]);
}
