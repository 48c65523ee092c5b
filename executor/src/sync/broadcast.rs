//! A broadcast channel: one sender, many receivers, every receiver sees every value.
//! The fan-out a chat room or a live dashboard needs; Python has no standard one
//! (Starlette's `broadcaster` package and `asyncio.Queue` per listener are the usual
//! substitutes).
//!
//! The values live once, in a ring of `capacity` slots numbered by a growing sequence
//! number; each receiver only remembers the number of the next value it wants. `send`
//! never waits: when the ring is full the oldest value is dropped, and a receiver that
//! had not read it yet learns, on its next `recv`, that it [`RecvError::Lagged`] and by
//! how many values — then carries on from the oldest value still kept. So one slow
//! receiver costs the others nothing. (The alternative, a bounded queue per receiver
//! with a waiting `send`, would let the slowest listener set everyone's pace: fine for
//! a pipeline, wrong for a room of a thousand chat clients.)
//!
//! ```
//! use rasgi_executor::sync::broadcast::{self, RecvError};
//!
//! rasgi_executor::block_on(async {
//!     let tx = broadcast::channel::<u32>(2);
//!     let mut fast = tx.subscribe();
//!     let mut slow = tx.subscribe();
//!     tx.send(1);
//!     assert_eq!(fast.recv().await, Ok(1));
//!     tx.send(2);
//!     tx.send(3);
//!     assert_eq!(slow.recv().await, Err(RecvError::Lagged(1)), "1 was dropped for 3");
//!     assert_eq!(slow.recv().await, Ok(2));
//!     drop(tx);
//!     assert_eq!(fast.recv().await, Ok(2));
//!     assert_eq!(fast.recv().await, Ok(3));
//!     assert_eq!(fast.recv().await, Err(RecvError::Closed));
//! });
//! ```

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// State shared by the sender and every receiver.
struct Shared<T> {
    /// The most recent values, oldest first; never longer than `capacity`.
    ring: VecDeque<T>,
    /// The ring's bound (at least 1).
    capacity: usize,
    /// The sequence number the next sent value will get; the ring holds the values
    /// numbered `next_seq - ring.len() .. next_seq`.
    next_seq: u64,
    /// One slot per live receiver: its waker while it waits for a value.
    waiters: Vec<Option<Waker>>,
    /// Slots of dropped receivers, for reuse.
    free: Vec<usize>,
    /// Live receivers.
    receivers: usize,
    /// False once the sender was dropped: receivers drain the ring, then see `Closed`.
    open: bool,
}

/// Creates a channel keeping the last `capacity` values (at least 1) for receivers that
/// are behind.
pub fn channel<T: Clone>(capacity: usize) -> Sender<T> {
    let capacity = capacity.max(1);
    Sender {
        shared: Rc::new(RefCell::new(Shared {
            ring: VecDeque::with_capacity(capacity),
            capacity,
            next_seq: 0,
            waiters: Vec::new(),
            free: Vec::new(),
            receivers: 0,
            open: true,
        })),
    }
}

/// Why `recv` returned no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvError {
    /// The receiver fell this many values behind and they were dropped; the next
    /// `recv` returns the oldest value still kept.
    Lagged(u64),
    /// The sender is gone and every value was received.
    Closed,
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Lagged(n) => write!(f, "the receiver lagged and missed {n} value(s)"),
            RecvError::Closed => f.write_str("the sender was dropped"),
        }
    }
}

impl std::error::Error for RecvError {}

/// The sending end; the only one.
pub struct Sender<T> {
    /// The ring and the receivers' slots.
    shared: Rc<RefCell<Shared<T>>>,
}

impl<T: Clone> Sender<T> {
    /// A new receiver, which will see every value sent from now on.
    pub fn subscribe(&self) -> Receiver<T> {
        let mut shared = self.shared.borrow_mut();
        let slot = match shared.free.pop() {
            Some(slot) => slot,
            None => {
                shared.waiters.push(None);
                shared.waiters.len() - 1
            }
        };
        shared.receivers += 1;
        Receiver { shared: self.shared.clone(), next: shared.next_seq, slot }
    }

    /// Sends `value` to every receiver; never waits. Returns how many receivers there
    /// are (0 means nobody will see it, which is not an error for a broadcast).
    pub fn send(&self, value: T) -> usize {
        let mut shared = self.shared.borrow_mut();
        if shared.ring.len() == shared.capacity {
            shared.ring.pop_front();
        }
        shared.ring.push_back(value);
        shared.next_seq += 1;
        let wakers: Vec<Waker> = shared.waiters.iter_mut().filter_map(Option::take).collect();
        let receivers = shared.receivers;
        // Wake after releasing the borrow: a waker may run code that touches the channel.
        drop(shared);
        wakers.into_iter().for_each(Waker::wake);
        receivers
    }

    /// Live receivers.
    pub fn receiver_count(&self) -> usize {
        self.shared.borrow().receivers
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut shared = self.shared.borrow_mut();
        shared.open = false;
        let wakers: Vec<Waker> = shared.waiters.iter_mut().filter_map(Option::take).collect();
        drop(shared);
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// A receiving end.
pub struct Receiver<T> {
    /// The ring and the slots.
    shared: Rc<RefCell<Shared<T>>>,
    /// The sequence number of the next value this receiver wants.
    next: u64,
    /// This receiver's waker slot.
    slot: usize,
}

impl<T: Clone> Receiver<T> {
    /// The next value, or why there is none.
    pub async fn recv(&mut self) -> Result<T, RecvError> {
        poll_fn(|cx| {
            let mut shared = self.shared.borrow_mut();
            let oldest = shared.next_seq - shared.ring.len() as u64;
            if self.next < oldest {
                let missed = oldest - self.next;
                self.next = oldest;
                return Poll::Ready(Err(RecvError::Lagged(missed)));
            }
            if self.next < shared.next_seq {
                let value = shared.ring[(self.next - oldest) as usize].clone();
                self.next += 1;
                return Poll::Ready(Ok(value));
            }
            if !shared.open {
                return Poll::Ready(Err(RecvError::Closed));
            }
            let slot = &mut shared.waiters[self.slot];
            if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *slot = Some(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut shared = self.shared.borrow_mut();
        shared.waiters[self.slot] = None;
        shared.free.push(self.slot);
        shared.receivers -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{block_on, spawn};

    #[test]
    fn every_receiver_sees_every_value_and_waiters_wake() {
        block_on(async {
            let tx = channel::<Rc<str>>(8);
            let mut receivers: Vec<Receiver<Rc<str>>> = (0..100).map(|_| tx.subscribe()).collect();
            let tasks: Vec<_> =
                receivers.drain(..).map(|mut rx| spawn(async move { (rx.recv().await, rx.recv().await) })).collect();
            // Let every task reach its first `recv` and wait.
            crate::sleep(std::time::Duration::from_millis(1)).await;
            assert_eq!(tx.send(Rc::from("hello")), 100);
            assert_eq!(tx.send(Rc::from("world")), 100);
            for task in tasks {
                let (a, b) = task.await.expect("the receiver task finished");
                assert_eq!((a.as_deref(), b.as_deref()), (Ok("hello"), Ok("world")));
            }
            assert_eq!(tx.receiver_count(), 0, "the receivers were dropped with their tasks");
        });
    }

    #[test]
    fn a_slow_receiver_lags_without_holding_up_the_sender() {
        block_on(async {
            let tx = channel::<u32>(4);
            let mut slow = tx.subscribe();
            for i in 0..10 {
                tx.send(i);
            }
            assert_eq!(slow.recv().await, Err(RecvError::Lagged(6)));
            let mut rest = Vec::new();
            for _ in 0..4 {
                rest.push(slow.recv().await);
            }
            assert_eq!(rest, [Ok(6), Ok(7), Ok(8), Ok(9)]);
            let late = tx.subscribe();
            drop(tx);
            let mut late = late;
            assert_eq!(late.recv().await, Err(RecvError::Closed), "a new receiver sees only what comes after it");
        });
    }
}
