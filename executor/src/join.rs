//! `spawn` and its `JoinHandle`: asyncio's `create_task` and the `Task` object you can
//! await, cancel, and ask for its exception.
//!
//! The loop stores every task as a `Future<Output = ()>`, so the spawned future is
//! wrapped in `run_task`, which polls it and moves its output (or its panic, or the fact
//! that it was aborted) into a slot shared with the [`JoinHandle`]. Tasks and handles
//! live on one thread, so that slot is a plain `Rc<RefCell<…>>` — no atomics.

use std::cell::RefCell;
use std::fmt;
use std::future::poll_fn;
use std::future::Future;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::executor::Executor;
use crate::panic::{catch, Panic};
use crate::task::TaskId;

/// Why a task produced no output.
pub enum JoinError {
    /// [`JoinHandle::abort`] stopped it.
    Cancelled,
    /// It panicked: the payload `panic!` was given, and where.
    Panicked(Panic),
}

impl JoinError {
    /// True if the task was aborted.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinError::Cancelled)
    }

    /// True if the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panicked(_))
    }

    /// The panic message, when the payload is a string (as `panic!("...")` makes it).
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            JoinError::Panicked(panic) => panic.message(),
            JoinError::Cancelled => None,
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("task was aborted"),
            JoinError::Panicked(panic) => write!(f, "task {panic}"),
        }
    }
}

impl std::error::Error for JoinError {}

/// State shared by a task's wrapper and its handle.
struct JoinSlot<T> {
    /// The outcome, once the task finished; taken by the handle.
    result: Option<Result<T, JoinError>>,
    /// The task awaiting the handle, woken when `result` is filled.
    waiter: Option<Waker>,
    /// Set by `abort`; the wrapper checks it before polling the inner future.
    abort_requested: bool,
    /// True once the task ended (also after the handle took the result).
    finished: bool,
    /// The task's name when it panicked, for the log line of a panic nobody awaits.
    panicked_in: Option<Rc<str>>,
}

/// asyncio's "Task exception was never retrieved": the slot goes when both the task and
/// its handle are gone, so a panic still in it can never be seen by anyone. Say so once,
/// since the panic hook stayed quiet (see [`crate::panic`]).
impl<T> Drop for JoinSlot<T> {
    fn drop(&mut self) {
        if let Some(Err(JoinError::Panicked(panic))) = &self.result {
            let name = self.panicked_in.as_deref().unwrap_or("(unnamed)");
            crate::log_error!("task '{name}' {panic}, and nobody awaited it");
        }
    }
}

/// Spawns a future as a new task on the current loop, like `asyncio.create_task`. The
/// task starts running on the loop's next turn, whether or not the handle is awaited;
/// dropping the handle detaches the task.
///
/// # Panics
/// Outside a running loop.
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
{
    spawn_inner(future, None)
}

/// Like [`spawn`], with a name that diagnostics show (the slow-poll warning, the live
/// loop view).
pub fn spawn_named<F>(name: impl Into<Rc<str>>, future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
{
    spawn_inner(future, Some(name.into()))
}

fn spawn_inner<F>(future: F, name: Option<Rc<str>>) -> JoinHandle<F::Output>
where
    F: Future + 'static,
{
    let slot = Rc::new(RefCell::new(JoinSlot {
        result: None,
        waiter: None,
        abort_requested: false,
        finished: false,
        panicked_in: None,
    }));
    let (id, waker) = Executor::with_current(|ex| ex.spawn(Box::pin(run_task(future, slot.clone())), name));
    drop(waker);
    JoinHandle { slot, id }
}

/// The future the loop actually polls for a spawned task: it drives the user's future
/// and delivers the outcome to the handle.
///
/// `pin!` pins the user's future inside this async block's own (already boxed and
/// pinned) state, so no `unsafe` pin projection is needed.
async fn run_task<F: Future>(future: F, slot: Rc<RefCell<JoinSlot<F::Output>>>) {
    let mut future = pin!(future);
    let outcome = poll_fn(|cx| {
        if slot.borrow().abort_requested {
            return Poll::Ready(Err(JoinError::Cancelled));
        }
        // A panic in the task must not unwind through the loop and kill every other
        // task: catch it here and report it through the handle, as asyncio stores a
        // task's exception in the Task object. (The third catch point of
        // [`crate::panic`].)
        match catch(|| future.as_mut().poll(cx)) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(panic) => {
                slot.borrow_mut().panicked_in = crate::task::name();
                Poll::Ready(Err(JoinError::Panicked(panic)))
            }
        }
    })
    .await;
    let waiter = {
        let mut slot = slot.borrow_mut();
        slot.result = Some(outcome);
        slot.finished = true;
        slot.waiter.take()
    };
    if let Some(waiter) = waiter {
        waiter.wake();
    }
    // Returning drops the user's future (it is pinned in this frame), releasing its
    // sockets and timers before the loop forgets the task.
}

/// An owned permission to await a task's output or abort it; asyncio's `Task` object.
///
/// Awaiting gives `Ok(output)`, or `Err(JoinError)` if the task panicked or was aborted.
pub struct JoinHandle<T> {
    /// Shared with the task's wrapper.
    slot: Rc<RefCell<JoinSlot<T>>>,
    /// The task's id; `abort` wakes the task through the executor by this id. (Holding
    /// a clone of the task's waker instead would defeat the lost-waker diagnostic,
    /// which counts who holds one.)
    id: TaskId,
}

impl<T> JoinHandle<T> {
    /// Asks the task to stop. It stops the next time the loop polls it — at once if it
    /// is waiting at an `.await` (the waker is called), or right after its current poll
    /// if it is the caller — and its future is dropped, running destructors like
    /// Python's `CancelledError` unwinding runs `finally` blocks. Awaiting the handle then
    /// gives `JoinError::Cancelled`. Aborting a finished task does nothing.
    pub fn abort(&self) {
        let mut slot = self.slot.borrow_mut();
        if slot.finished {
            return;
        }
        slot.abort_requested = true;
        drop(slot);
        Executor::with_current_opt(|ex| {
            if let Some(ex) = ex {
                ex.wake_task(self.id);
            }
        });
    }

    /// True once the task ended, by output, panic or abort.
    pub fn is_finished(&self) -> bool {
        self.slot.borrow().finished
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = self.slot.borrow_mut();
        if let Some(result) = slot.result.take() {
            return Poll::Ready(result);
        }
        assert!(!slot.finished, "JoinHandle polled after it returned the task's output");
        match &slot.waiter {
            Some(waiter) if waiter.will_wake(cx.waker()) => {}
            _ => slot.waiter = Some(cx.waker().clone()),
        }
        rasgi_reactor::trace::note_wait(rasgi_reactor::trace::Wait::Task);
        Poll::Pending
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").field("id", &self.id).field("finished", &self.is_finished()).finish()
    }
}
