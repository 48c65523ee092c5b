//! Running futures side by side inside one task: `join` and `join_all`
//! (`asyncio.gather`), `select` (the first to finish wins, the other is dropped), and
//! `yield_now` (`await asyncio.sleep(0)`: step aside for the other ready tasks).

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use common::{within, DropGuard, Log};
use rasgi_executor::sync::oneshot;
use rasgi_executor::{block_on, join, join_all, select, sleep, spawn, yield_now, Either};

#[test]
fn join_runs_both_futures_concurrently() {
    // `a` can only finish after `b` has sent, and `b` only after `a` has answered: run
    // one after the other, they would wait for each other forever.
    let out = within(Duration::from_secs(10), || {
        block_on(async {
            let (to_a, from_b) = oneshot::channel();
            let (to_b, from_a) = oneshot::channel();
            let a = async move {
                let got = from_b.await.unwrap();
                to_b.send(got + 1).unwrap();
                "a done"
            };
            let b = async move {
                to_a.send(1).unwrap();
                from_a.await.unwrap()
            };
            join(a, b).await
        })
    });
    assert_eq!(out, ("a done", 2));
}

#[test]
fn join_all_returns_outputs_in_input_order_whatever_the_finishing_order() {
    let (outputs, finished) = within(Duration::from_secs(10), || {
        block_on(async {
            let finished = Log::default();
            // Child i yields 4 - i times, so the children finish in reverse order.
            let children = (0..5).map(|i| {
                let finished = finished.clone();
                async move {
                    for _ in 0..(4 - i) {
                        yield_now().await;
                    }
                    finished.push(format!("child {i}"));
                    i * 10
                }
            });
            (join_all(children).await, finished.take())
        })
    });
    assert_eq!(outputs, [0, 10, 20, 30, 40]);
    assert_eq!(finished, ["child 4", "child 3", "child 2", "child 1", "child 0"]);
}

#[test]
fn join_all_of_nothing_is_ready_at_once() {
    let outputs: Vec<u8> = block_on(join_all(Vec::<std::future::Ready<u8>>::new()));
    assert!(outputs.is_empty());
}

#[test]
fn select_returns_the_winner_and_drops_the_loser() {
    within(Duration::from_secs(10), || {
        block_on(async {
            let (guard, loser_dropped) = DropGuard::new();
            let loser_finished = Rc::new(Cell::new(false));
            let slow = {
                let loser_finished = loser_finished.clone();
                async move {
                    let _guard = guard;
                    sleep(Duration::from_secs(10)).await;
                    loser_finished.set(true);
                    "slow"
                }
            };
            let fast = async {
                sleep(Duration::from_millis(10)).await;
                7
            };
            let winner = select(slow, fast).await;
            assert_eq!(winner, Either::Right(7));
            // Dropped by the time `select` returns, not at some later point.
            assert!(loser_dropped.get(), "the loser was not dropped");
            assert!(!loser_finished.get());
            let timers = rasgi_executor::reactor::Reactor::try_current().unwrap().stats().timers;
            assert_eq!(timers, 0, "the loser's sleep is still registered");
        })
    });
}

#[test]
fn select_prefers_the_first_future_when_both_are_ready() {
    let winner = block_on(select(async { "a" }, async { "b" }));
    assert_eq!(winner, Either::Left("a"));
}

#[test]
fn yield_now_lets_two_tasks_interleave() {
    let events = within(Duration::from_secs(10), || {
        block_on(async {
            let log = Log::default();
            let worker = |name: &'static str| {
                let log = log.clone();
                spawn(async move {
                    for step in 0..3 {
                        log.push(format!("{name}{step}"));
                        yield_now().await;
                    }
                })
            };
            let (a, b) = (worker("a"), worker("b"));
            a.await.unwrap();
            b.await.unwrap();
            log.take()
        })
    });
    assert_eq!(events, ["a0", "b0", "a1", "b1", "a2", "b2"]);
}

#[test]
fn without_yield_now_a_task_runs_to_its_end_first() {
    // The contrast that makes the test above meaningful: with no await point, a task
    // keeps the loop until it is done.
    let events = block_on(async {
        let log = Log::default();
        let worker = |name: &'static str| {
            let log = log.clone();
            spawn(async move {
                for step in 0..3 {
                    log.push(format!("{name}{step}"));
                }
            })
        };
        let (a, b) = (worker("a"), worker("b"));
        a.await.unwrap();
        b.await.unwrap();
        log.take()
    });
    assert_eq!(events, ["a0", "a1", "a2", "b0", "b1", "b2"]);
}
