//! A reactor needs something to run futures: this is the smallest such thing — a
//! `block_on` of thirty lines and a two-way `join` — so the reactor's tests show the
//! reactor on its own, without the executor crate (which sits above it and must not be
//! named from here).
//!
//! The loop is the executor's turn with the task table taken out: poll the one future
//! if it was woken, sleep in the reactor until a socket or timer (or the test's
//! deadline) is due, fire the expired timers, repeat.

// Every test binary compiles this module but uses only part of it.
#![allow(dead_code)]

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use rasgi_reactor::{Reactor, Unparker};

/// The waker of the single future: a flag, plus an unpark in case it is called from
/// another thread while the loop sleeps in `epoll_wait`.
struct Flag {
    woken: AtomicBool,
    unparker: Unparker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.unparker.unpark();
    }
}

/// Runs `future` to completion on a fresh reactor entered on this thread. A test that
/// has not finished after `limit` panics instead of hanging: a lost wake-up shows up
/// as a failure with a message, not as a stuck `cargo test`.
pub fn block_on<F: Future>(limit: Duration, future: F) -> F::Output {
    let give_up = Instant::now() + limit;
    let reactor = Reactor::new().expect("cannot create an epoll instance");
    let _entered = reactor.enter();
    let flag = Arc::new(Flag { woken: AtomicBool::new(true), unparker: reactor.unparker() });
    let waker = Waker::from(flag.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if flag.woken.swap(false, Ordering::AcqRel) {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
        }
        let now = Instant::now();
        assert!(now < give_up, "the future did not finish within {limit:?}: a wake-up was lost");
        let until = reactor.next_deadline().map_or(give_up, |deadline| deadline.min(give_up));
        let timeout = if flag.woken.load(Ordering::Acquire) { Duration::ZERO } else { until - now };
        reactor.wait(Some(timeout)).expect("epoll_wait failed");
        reactor.fire_expired_timers(Instant::now());
    }
}

/// Runs two futures side by side in one future and returns both outputs. Both are
/// polled on every wake-up, which is wasteful but obviously correct.
pub async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut a_out, mut b_out) = (None, None);
    poll_fn(|cx| {
        if a_out.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                a_out = Some(v);
            }
        }
        if b_out.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                b_out = Some(v);
            }
        }
        if a_out.is_some() && b_out.is_some() {
            Poll::Ready((a_out.take().unwrap(), b_out.take().unwrap()))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// A deterministic stream of bytes (xorshift), so that data arriving reordered,
/// duplicated or shifted by one byte can never compare equal.
pub fn pattern(len: usize, mut seed: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len);
    while bytes.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        bytes.extend_from_slice(&seed.to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}
