//! A channel for exactly one value: one task sends, another awaits it (an
//! `asyncio.Future` whose result another task sets).

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// State shared by the two ends.
struct Inner<T> {
    /// The value, once sent and until received.
    value: Option<T>,
    /// The receiver's waker while it waits.
    waker: Option<Waker>,
    /// True once the sender was used or dropped: no value will arrive after this.
    sender_done: bool,
    /// True once the receiver was dropped: sending is pointless.
    receiver_gone: bool,
}

/// Creates a connected sender and receiver.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Rc::new(RefCell::new(Inner { value: None, waker: None, sender_done: false, receiver_gone: false }));
    (Sender { inner: Some(inner.clone()) }, Receiver { inner })
}

/// The sending end; consumed by [`Sender::send`].
pub struct Sender<T> {
    /// `None` after `send` (so `Drop` knows not to report a hang-up).
    inner: Option<Rc<RefCell<Inner<T>>>>,
}

impl<T> Sender<T> {
    /// Sends the value; gives it back if the receiver is gone.
    pub fn send(mut self, value: T) -> Result<(), T> {
        let Some(inner) = self.inner.take() else { return Err(value) };
        let waker = {
            let mut inner = inner.borrow_mut();
            if inner.receiver_gone {
                return Err(value);
            }
            inner.value = Some(value);
            inner.sender_done = true;
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// True if the receiver was dropped.
    pub fn is_closed(&self) -> bool {
        self.inner.as_ref().is_none_or(|inner| inner.borrow().receiver_gone)
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let waker = {
                let mut inner = inner.borrow_mut();
                inner.sender_done = true;
                inner.waker.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

/// The sender was dropped without sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the sender was dropped without sending a value")
    }
}

impl std::error::Error for RecvError {}

/// The receiving end: a future of the value.
pub struct Receiver<T> {
    inner: Rc<RefCell<Inner<T>>>,
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut inner = self.inner.borrow_mut();
        if let Some(value) = inner.value.take() {
            return Poll::Ready(Ok(value));
        }
        if inner.sender_done {
            return Poll::Ready(Err(RecvError));
        }
        match &inner.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => inner.waker = Some(cx.waker().clone()),
        }
        rasgi_reactor::trace::note_wait(rasgi_reactor::trace::Wait::Channel("a oneshot value"));
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.inner.borrow_mut().receiver_gone = true;
    }
}
