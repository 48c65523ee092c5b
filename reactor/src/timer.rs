//! The timer table: pending deadlines in order, each with the waker to call.
//!
//! The event loop asks this structure one question per turn — "when is the next
//! deadline?" — to decide how long it may sleep in `epoll_wait`. asyncio keeps its
//! `call_later` callbacks in a binary heap for the same purpose.
//!
//! A `BTreeMap` keyed by `(deadline, sequence number)` gives three properties at once:
//! the earliest deadline is the first key; equal deadlines keep insertion order through
//! the sequence number; and a cancelled timer (a `Sleep` dropped early, which is what
//! every `timeout` that did *not* expire does) is removed at once, in O(log n). A binary
//! heap cannot remove from the middle, so it must leave cancelled entries behind until
//! their deadline passes — under a server's per-request timeouts that garbage piles up.
//! Production runtimes use a hierarchical timing wheel (tokio, the Linux kernel), which
//! makes insert and cancel O(1) at the cost of rounding deadlines to a tick.

use std::collections::BTreeMap;
use std::task::Waker;
use std::time::Instant;

/// Identifies one pending timer; returned by [`Timers::insert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerKey {
    /// When the timer fires.
    deadline: Instant,
    /// Unique per timer; orders timers with equal deadlines by insertion.
    seq: u64,
}

impl TimerKey {
    /// The instant this timer fires.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// Pending timers, earliest first.
#[derive(Default)]
pub struct Timers {
    /// Every pending timer. A timer leaves the map when it fires or is cancelled.
    pending: BTreeMap<TimerKey, Waker>,
    /// The next sequence number; strictly increasing, so keys are never reused.
    next_seq: u64,
}

impl Timers {
    /// Adds a timer that will wake `waker` at `deadline`.
    pub fn insert(&mut self, deadline: Instant, waker: Waker) -> TimerKey {
        let key = TimerKey { deadline, seq: self.next_seq };
        self.next_seq += 1;
        self.pending.insert(key, waker);
        key
    }

    /// Replaces the waker of a pending timer if it would wake someone else. Returns
    /// false if the timer is no longer pending (it fired or was removed).
    pub fn update(&mut self, key: TimerKey, waker: &Waker) -> bool {
        match self.pending.get_mut(&key) {
            Some(existing) => {
                if !existing.will_wake(waker) {
                    *existing = waker.clone();
                }
                true
            }
            None => false,
        }
    }

    /// Cancels a timer, returning its waker (so the caller can drop it outside any
    /// borrow). Removing a timer that already fired is a no-op.
    pub fn remove(&mut self, key: TimerKey) -> Option<Waker> {
        self.pending.remove(&key)
    }

    /// The earliest deadline, if any timer is pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.first_key_value().map(|(key, _)| key.deadline)
    }

    /// Removes and returns the waker of the earliest timer if its deadline is at or
    /// before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<Waker> {
        let entry = self.pending.first_entry()?;
        if entry.key().deadline <= now {
            Some(entry.remove())
        } else {
            None
        }
    }

    /// How many timers are pending.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// The deadlines of pending timers, earliest first (for diagnostics).
    pub fn deadlines(&self) -> impl Iterator<Item = Instant> + '_ {
        self.pending.keys().map(|k| k.deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::task::Wake;
    use std::time::Duration;

    /// A waker that appends its label to a shared log when woken.
    struct Recorder(&'static str, Arc<Mutex<Vec<&'static str>>>);
    impl Wake for Recorder {
        fn wake(self: Arc<Self>) {
            self.1.lock().unwrap().push(self.0);
        }
    }

    #[test]
    fn fires_in_deadline_order_and_ties_in_insertion_order() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let w = |label| Waker::from(Arc::new(Recorder(label, log.clone())));
        let t0 = Instant::now();
        let mut timers = Timers::default();
        timers.insert(t0 + Duration::from_millis(30), w("c"));
        timers.insert(t0 + Duration::from_millis(10), w("a1"));
        let cancelled = timers.insert(t0 + Duration::from_millis(20), w("cancelled"));
        timers.insert(t0 + Duration::from_millis(10), w("a2"));
        timers.insert(t0 + Duration::from_millis(20), w("b"));
        assert!(timers.remove(cancelled).is_some());
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_millis(10)));

        while let Some(waker) = timers.pop_expired(t0 + Duration::from_millis(20)) {
            waker.wake();
        }
        assert_eq!(*log.lock().unwrap(), ["a1", "a2", "b"]);
        assert_eq!(timers.len(), 1);
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_millis(30)));
    }
}
