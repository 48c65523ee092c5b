//! `Unparker`: another thread can interrupt a reactor asleep in `epoll_wait` — the path
//! the blocking pool takes to tell the loop a job finished. The unpark itself is not a
//! readiness event, so `wait` reports zero events.

use std::time::{Duration, Instant};

use rasgi_reactor::Reactor;

#[test]
fn another_thread_interrupts_a_reactor_waiting_without_timeout() {
    let reactor = Reactor::new().unwrap();
    let unparker = reactor.unparker();
    let started = Instant::now();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        unparker.unpark();
    });
    // No sockets, no timers: only the unpark can end this wait before ten seconds.
    let events = reactor.wait(Some(Duration::from_secs(10))).unwrap();
    let waited = started.elapsed();
    thread.join().unwrap();
    assert_eq!(events, 0);
    assert!(waited >= Duration::from_millis(100), "woke before the unpark: {waited:?}");
    assert!(waited < Duration::from_secs(5), "the unpark did not interrupt the wait: {waited:?}");
    assert_eq!(reactor.stats().waits, 1);
}

#[test]
fn an_unpark_before_the_wait_is_not_lost() {
    let reactor = Reactor::new().unwrap();
    // Unparked while nobody waits (the pool finished a job while the loop was busy
    // running tasks): the next wait must return at once, not sleep its full timeout.
    reactor.unparker().unpark();
    let started = Instant::now();
    assert_eq!(reactor.wait(Some(Duration::from_secs(10))).unwrap(), 0);
    assert!(started.elapsed() < Duration::from_secs(5));
}
