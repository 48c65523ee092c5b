//! `Sleep`, the hand-written timer future, seen from the reactor: it completes no
//! earlier than its deadline, it holds exactly one timer while pending, and dropping or
//! resetting it removes that timer — so abandoned sleeps (every `timeout` that did not
//! expire) leave nothing behind.

mod common;

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use rasgi_reactor::{sleep, sleep_until, Reactor};

fn pending_timers() -> usize {
    Reactor::try_current().unwrap().stats().timers
}

#[test]
fn sleep_completes_at_its_deadline_and_then_holds_no_timer() {
    let (slept, timers_after, fired) = common::block_on(Duration::from_secs(10), async {
        let started = Instant::now();
        sleep(Duration::from_millis(30)).await;
        (started.elapsed(), pending_timers(), Reactor::try_current().unwrap().stats().timers_fired)
    });
    assert!(slept >= Duration::from_millis(30), "woke early: {slept:?}");
    assert!(slept < Duration::from_secs(2), "woke far too late: {slept:?}");
    assert_eq!(timers_after, 0);
    assert_eq!(fired, 1);
}

#[test]
fn a_dropped_or_reset_sleep_removes_its_timer() {
    common::block_on(Duration::from_secs(10), async {
        let far = Instant::now() + Duration::from_secs(3600);
        {
            let mut a = pin!(sleep_until(far));
            let mut b = pin!(sleep_until(far));
            // Polled twice by the same task: still one timer each, not two.
            for _ in 0..2 {
                poll_fn(|cx| {
                    assert!(a.as_mut().poll(cx).is_pending());
                    assert!(b.as_mut().poll(cx).is_pending());
                    Poll::Ready(())
                })
                .await;
            }
            assert_eq!(pending_timers(), 2);

            // Resetting cancels the old timer; the next poll registers the new deadline.
            let soon = Instant::now() + Duration::from_millis(20);
            a.as_mut().get_mut().reset(soon);
            assert_eq!(pending_timers(), 1);
            assert_eq!(Reactor::try_current().unwrap().next_deadline(), Some(far));
            a.as_mut().await;
            assert!(Instant::now() >= soon);
            assert_eq!(pending_timers(), 1);
        }
        // `b` was dropped while pending.
        assert_eq!(pending_timers(), 0);
    });
}

#[test]
fn a_sleep_reset_later_keeps_its_timer_and_re_arms_when_it_fires_early() {
    let (slept, fired, timers_after) = common::block_on(Duration::from_secs(10), async {
        let started = Instant::now();
        let first = started + Duration::from_millis(20);
        let mut s = pin!(sleep_until(first));
        assert!(poll_fn(|cx| Poll::Ready(s.as_mut().poll(cx).is_pending())).await);
        // Later: the timer table is not touched, the old timer stays armed.
        let later = started + Duration::from_millis(80);
        s.as_mut().get_mut().reset(later);
        assert_eq!(s.deadline(), later);
        assert_eq!(pending_timers(), 1);
        assert_eq!(Reactor::try_current().unwrap().next_deadline(), Some(first));
        s.as_mut().await;
        (started.elapsed(), Reactor::try_current().unwrap().stats().timers_fired, pending_timers())
    });
    assert!(slept >= Duration::from_millis(80), "woke at the old deadline: {slept:?}");
    assert!(slept < Duration::from_secs(2), "woke far too late: {slept:?}");
    // The old timer fired early once, then the one armed at the real deadline.
    assert_eq!(fired, 2);
    assert_eq!(timers_after, 0);
}

#[test]
fn a_deadline_in_the_past_is_ready_at_once_without_a_timer() {
    common::block_on(Duration::from_secs(10), async {
        let mut past = pin!(sleep_until(Instant::now() - Duration::from_millis(1)));
        assert!(poll_fn(|cx| Poll::Ready(past.as_mut().poll(cx).is_ready())).await);
        assert_eq!(pending_timers(), 0);
    });
}
