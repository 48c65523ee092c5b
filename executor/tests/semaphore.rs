//! `sync::Semaphore` — `asyncio.Semaphore`: at most N holders at once, waiters served
//! strictly in arrival order, a cancelled waiter never loses a permit, and `close`
//! fails everyone still waiting.

mod common;

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use common::{within, Log};
use rasgi_executor::sync::{AcquireError, Semaphore};
use rasgi_executor::{block_on, spawn, timeout, yield_now};

/// Lets every other ready task run until it blocks.
async fn let_others_run() {
    for _ in 0..10 {
        yield_now().await;
    }
}

#[test]
fn waiters_are_served_in_arrival_order() {
    let (arrived, served) = within(Duration::from_secs(10), || {
        block_on(async {
            let semaphore = Semaphore::new(1);
            let held = semaphore.acquire().await.unwrap();
            let (arrived, served) = (Log::default(), Log::default());
            // Each task yields a different number of times before asking, so the arrival
            // order (w2, w0, w3, w1) is not the spawn order.
            let plan = [("w0", 1), ("w1", 3), ("w2", 0), ("w3", 2)];
            let handles = plan.map(|(name, yields)| {
                let (semaphore, arrived, served) = (semaphore.clone(), arrived.clone(), served.clone());
                spawn(async move {
                    for _ in 0..yields {
                        yield_now().await;
                    }
                    arrived.push(name);
                    let _permit = semaphore.acquire().await.unwrap();
                    served.push(name);
                    // Hold the permit across an await, so the next waiter must wait.
                    yield_now().await;
                })
            });
            let_others_run().await;
            assert_eq!(semaphore.waiting(), 4);

            drop(held);
            // The released permit was handed to the oldest waiter, not put back where a
            // newcomer could take it first.
            assert_eq!(semaphore.available_permits(), 0);
            assert!(semaphore.try_acquire().is_none(), "a newcomer overtook the queue");

            for handle in handles {
                handle.await.unwrap();
            }
            assert_eq!(semaphore.available_permits(), 1);
            (arrived.take(), served.take())
        })
    });
    assert_eq!(arrived, ["w2", "w0", "w3", "w1"]);
    assert_eq!(served, arrived);
}

#[test]
fn a_waiting_acquire_cancelled_by_a_timeout_loses_no_permit() {
    within(Duration::from_secs(10), || {
        block_on(async {
            let semaphore = Semaphore::new(1);
            let held = semaphore.acquire().await.unwrap();
            let gave_up = timeout(Duration::from_millis(20), semaphore.acquire()).await;
            assert!(gave_up.is_err());
            // The cancelled acquire left the queue...
            assert_eq!(semaphore.waiting(), 0);
            drop(held);
            // ...so the released permit went back to the pool rather than to a ghost.
            assert_eq!(semaphore.available_permits(), 1);
            assert!(semaphore.try_acquire().is_some());
        })
    });
}

#[test]
fn a_permit_granted_to_an_acquire_dropped_before_it_ran_is_passed_on() {
    within(Duration::from_secs(10), || {
        block_on(async {
            let semaphore = Semaphore::new(1);
            let held = semaphore.acquire().await.unwrap();
            let mut first = Box::pin(semaphore.acquire());
            let mut second = pin!(semaphore.acquire());
            poll_fn(|cx| {
                assert!(first.as_mut().poll(cx).is_pending());
                assert!(second.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            assert_eq!(semaphore.waiting(), 2);

            // The release hands the permit to `first`; `first` is then dropped without
            // being polled again (its task aborted, say). The permit must move on to
            // `second` — the case where a naive semaphore leaks a permit.
            drop(held);
            assert_eq!(semaphore.waiting(), 1);
            drop(first);
            let permit = second.await.expect("the permit was lost with the dropped acquire");
            drop(permit);
            assert_eq!(semaphore.available_permits(), 1);
        })
    });
}

#[test]
fn close_fails_every_waiter_and_every_later_acquire() {
    within(Duration::from_secs(10), || {
        block_on(async {
            let semaphore = Semaphore::new(1);
            let held = semaphore.acquire().await.unwrap();
            let waiters: Vec<_> = (0..3)
                .map(|_| {
                    let semaphore = semaphore.clone();
                    spawn(async move { semaphore.acquire().await.map(drop) })
                })
                .collect();
            let_others_run().await;
            assert_eq!(semaphore.waiting(), 3);

            semaphore.close();
            assert!(semaphore.is_closed());
            for waiter in waiters {
                assert_eq!(waiter.await.unwrap(), Err(AcquireError));
            }
            assert_eq!(semaphore.acquire().await.map(drop), Err(AcquireError));
            assert!(semaphore.try_acquire().is_none());
            assert_eq!(AcquireError.to_string(), "the semaphore was closed");
            drop(held);
        })
    });
}

#[test]
fn permits_limit_how_many_hold_at_once() {
    let most = within(Duration::from_secs(10), || {
        block_on(async {
            let semaphore = Semaphore::new(3);
            let holding = std::rc::Rc::new(std::cell::Cell::new(0));
            let most = std::rc::Rc::new(std::cell::Cell::new(0));
            let handles: Vec<_> = (0..10)
                .map(|_| {
                    let (semaphore, holding, most) = (semaphore.clone(), holding.clone(), most.clone());
                    spawn(async move {
                        let _permit = semaphore.acquire().await.unwrap();
                        holding.set(holding.get() + 1);
                        most.set(most.get().max(holding.get()));
                        yield_now().await;
                        holding.set(holding.get() - 1);
                    })
                })
                .collect();
            for handle in handles {
                handle.await.unwrap();
            }
            assert_eq!(semaphore.available_permits(), 3);
            most.get()
        })
    });
    assert_eq!(most, 3);
}
