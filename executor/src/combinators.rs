//! Running futures side by side inside one task: `asyncio.gather` and
//! `asyncio.wait(..., return_when=FIRST_COMPLETED)`.
//!
//! A combinator is a future whose `poll` polls its children. No new task is created,
//! so children may borrow from the caller; and since all children share the parent's
//! waker, any child's wake-up re-polls the parent, which re-polls the children that are
//! not yet done. (A production library would track *which* child woke to avoid polling
//! the others; for two or a few children the simple way costs almost nothing.)
//!
//! Each combinator is an `async fn` that pins its children on its own frame with `pin!`
//! and drives them from a hand-written `poll_fn` — all the polling logic visible, and no
//! `unsafe` pin projection.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::{Context, Poll};

use crate::executor::Executor;

/// Runs two futures concurrently and returns both outputs (`asyncio.gather(a, b)`).
pub async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = pin!(a);
    let mut b = pin!(b);
    // The outputs of children that finished first wait here; a finished child is
    // never polled again (the Future contract).
    let mut a_out = None;
    let mut b_out = None;
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
        match (a_out.take(), b_out.take()) {
            (Some(a), Some(b)) => Poll::Ready((a, b)),
            (a, b) => {
                a_out = a;
                b_out = b;
                Poll::Pending
            }
        }
    })
    .await
}

/// Runs any number of futures concurrently and returns their outputs in order
/// (`asyncio.gather(*futures)`).
pub async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    // Each child is boxed so that it is pinned without `unsafe`; a library like
    // `futures` pins one boxed slice instead and projects into it unsafely.
    let mut children: Vec<Child<F>> = futures.into_iter().map(|f| Child::Running(Box::pin(f))).collect();
    poll_fn(|cx| poll_children(&mut children, cx)).await
}

/// One child of `join_all`.
enum Child<F: Future> {
    Running(Pin<Box<F>>),
    Done(F::Output),
    Taken,
}

fn poll_children<F: Future>(children: &mut [Child<F>], cx: &mut Context<'_>) -> Poll<Vec<F::Output>> {
    let mut all_done = true;
    for child in children.iter_mut() {
        if let Child::Running(future) = child {
            match future.as_mut().poll(cx) {
                Poll::Ready(v) => *child = Child::Done(v),
                Poll::Pending => all_done = false,
            }
        }
    }
    if !all_done {
        return Poll::Pending;
    }
    let outputs = children
        .iter_mut()
        .map(|child| match std::mem::replace(child, Child::Taken) {
            Child::Done(v) => v,
            // Unreachable: `all_done` means every child is `Done`, and the outputs are
            // taken exactly once because `poll_fn` is not polled after `Ready`.
            _ => panic!("join_all child taken twice"),
        })
        .collect();
    Poll::Ready(outputs)
}

/// The output of [`select`]: which future finished first, and its output.
#[derive(Debug, PartialEq, Eq)]
pub enum Either<A, B> {
    /// The first future finished first.
    Left(A),
    /// The second future finished first.
    Right(B),
}

/// Runs two futures until the first finishes, then drops the other — the loser is
/// cancelled, which in Rust simply means its future is dropped (its destructors run; no
/// more of its code does). Ties go to `a`, which is polled first.
pub async fn select<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        if let Poll::Ready(v) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(v));
        }
        Poll::Pending
    })
    .await
}

/// Gives other tasks a turn, and the loop an I/O check (`await asyncio.sleep(0)`):
/// returns `Pending` once, and the task is queued again at the end of the loop's turn,
/// behind every task that was ready and every task its sockets and timers woke.
///
/// It returns only once the loop has checked its sockets since the yield. A task is
/// sometimes polled again in the same turn by another wake (a channel it sends on wakes
/// its own receiver, when both halves live in one task); such a poll finds the yield
/// still pending, or a loop of `send` and `yield_now` would never let the I/O check in.
pub fn yield_now() -> YieldNow {
    YieldNow { state: Yield::Fresh }
}

/// Future returned by [`yield_now`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct YieldNow {
    state: Yield,
}

/// Where a [`YieldNow`] stands.
#[derive(Clone, Copy, Debug)]
enum Yield {
    /// Not polled yet.
    Fresh,
    /// Yielded on a rasgi loop, whose count of I/O checks was this then.
    OnLoop(u64),
    /// Yielded outside a rasgi loop (woken at once; the next poll is the end).
    Elsewhere,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.state {
            Yield::Fresh => {
                // Without a wake we would never be polled again. On a rasgi loop the wake
                // waits for the end of the turn, after the I/O check (step 5 of
                // `Executor::turn`), so that sockets and timers get their turn too.
                self.state = match Executor::defer_yield(cx.waker()) {
                    Some(checks) => Yield::OnLoop(checks),
                    None => {
                        cx.waker().wake_by_ref();
                        Yield::Elsewhere
                    }
                };
                Poll::Pending
            }
            // Polled again before the loop looked at its sockets: the deferred wake is
            // still to come, so waiting for it loses nothing.
            Yield::OnLoop(at) if Executor::io_checks_now() == Some(at) => Poll::Pending,
            Yield::OnLoop(_) | Yield::Elsewhere => Poll::Ready(()),
        }
    }
}
