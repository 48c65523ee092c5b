//! A bounded multi-producer, single-consumer queue: `asyncio.Queue(maxsize=n)`.
//!
//! The bound is the point: when the consumer falls behind, `send` waits instead of
//! letting the queue grow without limit. That waiting is *backpressure* — a slow
//! consumer slows its producers down rather than exhausting memory.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// State shared by all ends.
struct Chan<T> {
    /// Queued values, oldest first; never longer than `capacity`.
    queue: VecDeque<T>,
    /// The bound.
    capacity: usize,
    /// The receiver's waker while the queue is empty.
    receiver_waker: Option<Waker>,
    /// Senders waiting for room, in arrival order.
    sender_wakers: VecDeque<Waker>,
    /// Live `Sender`s; at zero the receiver sees the end of the stream.
    senders: usize,
    /// True once the receiver was dropped or closed.
    closed: bool,
}

/// Creates a channel holding at most `capacity` values (at least 1).
pub fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Rc::new(RefCell::new(Chan {
        queue: VecDeque::with_capacity(capacity.max(1)),
        capacity: capacity.max(1),
        receiver_waker: None,
        sender_wakers: VecDeque::new(),
        senders: 1,
        closed: false,
    }));
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// The receiver is gone; the value is handed back.
#[derive(PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the receiver was dropped")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// A sending end; clone it for more producers.
pub struct Sender<T> {
    chan: Rc<RefCell<Chan<T>>>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the queue is full.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        let mut value = Some(value);
        poll_fn(|cx| {
            let mut chan = self.chan.borrow_mut();
            if chan.closed {
                return Poll::Ready(Err(SendError(value.take().expect("value sent twice"))));
            }
            if chan.queue.len() < chan.capacity {
                chan.queue.push_back(value.take().expect("value sent twice"));
                let waker = chan.receiver_waker.take();
                drop(chan);
                if let Some(waker) = waker {
                    waker.wake();
                }
                return Poll::Ready(Ok(()));
            }
            // Full: wait for the receiver to make room. A sender polled again while
            // still waiting must not queue a second copy of its waker.
            if !chan.sender_wakers.iter().any(|w| w.will_wake(cx.waker())) {
                chan.sender_wakers.push_back(cx.waker().clone());
            }
            rasgi_reactor::trace::note_wait(rasgi_reactor::trace::Wait::Channel("room in an mpsc channel"));
            Poll::Pending
        })
        .await
    }

    /// Sends without waiting; gives the value back when the queue is full or closed.
    pub fn try_send(&self, value: T) -> Result<(), SendError<T>> {
        let mut chan = self.chan.borrow_mut();
        if chan.closed || chan.queue.len() >= chan.capacity {
            return Err(SendError(value));
        }
        chan.queue.push_back(value);
        let waker = chan.receiver_waker.take();
        drop(chan);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Values queued right now.
    pub fn len(&self) -> usize {
        self.chan.borrow().queue.len()
    }

    /// True if nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.borrow_mut().senders += 1;
        Sender { chan: self.chan.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut chan = self.chan.borrow_mut();
            chan.senders -= 1;
            if chan.senders == 0 {
                chan.receiver_waker.take()
            } else {
                None
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The receiving end.
pub struct Receiver<T> {
    chan: Rc<RefCell<Chan<T>>>,
}

impl<T> Receiver<T> {
    /// The next value, or `None` once every sender is dropped and the queue is empty.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// `recv` as a poll function, for hand-written futures that wait on several things.
    pub fn poll_recv(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Option<T>> {
        let mut chan = self.chan.borrow_mut();
        if let Some(value) = chan.queue.pop_front() {
            // Room for one more: wake every waiting sender and let them race for it (the
            // losers wait again). Waking only the first would be cheaper, but if that
            // sender's task was cancelled before it retried, the wake-up would be lost and
            // the others would sleep beside free room.
            let wakers = std::mem::take(&mut chan.sender_wakers);
            drop(chan);
            wakers.into_iter().for_each(Waker::wake);
            return Poll::Ready(Some(value));
        }
        if chan.senders == 0 {
            return Poll::Ready(None);
        }
        chan.receiver_waker = Some(cx.waker().clone());
        rasgi_reactor::trace::note_wait(rasgi_reactor::trace::Wait::Channel("a message on an mpsc channel"));
        Poll::Pending
    }

    /// The next value if one is queued right now, without waiting.
    pub fn try_recv(&mut self) -> Option<T> {
        let mut chan = self.chan.borrow_mut();
        let value = chan.queue.pop_front()?;
        let wakers = std::mem::take(&mut chan.sender_wakers);
        drop(chan);
        wakers.into_iter().for_each(Waker::wake);
        Some(value)
    }

    /// Stops accepting values; queued values can still be received.
    pub fn close(&mut self) {
        let wakers = {
            let mut chan = self.chan.borrow_mut();
            chan.closed = true;
            std::mem::take(&mut chan.sender_wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.close();
    }
}
