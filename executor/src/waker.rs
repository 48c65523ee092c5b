//! The task waker: what `cx.waker().wake()` actually does.
//!
//! std requires every `Waker` to be `Send + Sync`, because a future may hand its waker
//! to another thread (the blocking pool does). So a rasgi waker is an
//! `Arc<TaskWaker>` turned into a `Waker` through the safe [`std::task::Wake`] trait —
//! no raw vtables, no `unsafe`. Waking does one of two things:
//!
//! - **on the loop's own thread** (the common case: a socket event, a timer, a channel)
//!   it pushes the task onto the loop's ready queue directly, with no lock;
//! - **from any other thread** it pushes onto a mutex-protected inbox and *unparks* the
//!   loop, which may be asleep in `epoll_wait` (asyncio's `call_soon_threadsafe`).
//!
//! A `scheduled` flag makes waking idempotent: a task woken five times before it runs
//! is queued once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Wake;

use rasgi_reactor::Unparker;

use crate::executor::Executor;
use crate::task::TaskId;
use crate::timeline::{self, WakeCause};

/// What a loop shares with other threads: the cross-thread inbox and the means to
/// interrupt its sleep. One per loop.
pub(crate) struct Shared {
    /// Tasks woken from other threads, not yet moved to the ready queue.
    pub(crate) inbox: Mutex<Vec<TaskId>>,
    /// True while `inbox` may be non-empty; lets the loop skip the lock when it is not.
    pub(crate) inbox_pending: AtomicBool,
    /// Interrupts the loop's `epoll_wait`.
    pub(crate) unparker: Unparker,
    /// Set by the main future's waker (see `Runtime::block_on`).
    pub(crate) main_woken: AtomicBool,
}

impl Shared {
    pub(crate) fn new(unparker: Unparker) -> Shared {
        Shared {
            inbox: Mutex::new(Vec::new()),
            inbox_pending: AtomicBool::new(false),
            unparker,
            main_woken: AtomicBool::new(true),
        }
    }

    /// Queues `id` from a thread that is not the loop's.
    fn push_remote(&self, id: TaskId) {
        // A poisoned lock only means another waker panicked mid-push; the Vec is fine.
        self.inbox.lock().unwrap_or_else(|e| e.into_inner()).push(id);
        self.inbox_pending.store(true, Ordering::Release);
        self.unparker.unpark();
    }
}

/// The waker of one task, created once at spawn and reused for every poll.
pub(crate) struct TaskWaker {
    /// The task this waker schedules.
    pub(crate) id: TaskId,
    /// True from the moment the task is queued until the loop starts polling it. Cleared
    /// *before* the poll, so a wake-up during the poll queues the task again.
    pub(crate) scheduled: AtomicBool,
    /// The owning loop's shared half.
    pub(crate) shared: Arc<Shared>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.scheduled.swap(true, Ordering::AcqRel) {
            return; // already queued
        }
        let queued_locally = Executor::with_current_opt(|executor| match executor {
            Some(executor) if Arc::ptr_eq(executor.shared(), &self.shared) => {
                if rasgi_reactor::trace::narrating() {
                    narrate_local_wake(executor, self.id);
                }
                if timeline::enabled() {
                    timeline::note_wake(self.id, local_wake_cause(executor, self.id));
                }
                executor.schedule_local(self.id);
                true
            }
            _ => false,
        });
        if !queued_locally {
            if rasgi_reactor::trace::narrating() {
                let thread = std::thread::current();
                let from = thread.name().unwrap_or("another thread");
                rasgi_reactor::trace::narrate(format_args!("task {} woken from thread '{from}'", self.id));
            }
            self.shared.push_remote(self.id);
        }
    }
}

/// Says who woke a task on the loop's own thread: the reactor (a socket or a timer),
/// or the task that is running (a channel send, a spawn, an abort).
fn narrate_local_wake(executor: &Executor, id: TaskId) {
    if executor.waking_yielded() {
        rasgi_reactor::trace::narrate(format_args!("{} woken by itself (it yielded)", executor.describe(id)));
        return;
    }
    let by = match (rasgi_reactor::trace::wake_source(), executor.current_task()) {
        (Some(source), _) => source.to_string(),
        (None, Some(current)) if current == id => "itself".to_owned(),
        (None, Some(current)) => executor.describe(current),
        (None, None) => "the main future".to_owned(),
    };
    rasgi_reactor::trace::narrate(format_args!("{} woken by {by}", executor.describe(id)));
}

/// The timeline's account of a wake on the loop's own thread: the reactor's reason if
/// it gave one, else whoever is running.
fn local_wake_cause(executor: &Executor, id: TaskId) -> WakeCause {
    if executor.waking_yielded() {
        return WakeCause::Itself;
    }
    match (WakeCause::from_reactor(rasgi_reactor::trace::wake_source()), executor.current_task()) {
        (Some(cause), _) => cause,
        (None, Some(current)) if current == id => WakeCause::Itself,
        (None, Some(current)) => WakeCause::Task(current),
        (None, None) => WakeCause::MainFuture,
    }
}

/// The waker given to the future passed to `block_on`, which is not a task (it may
/// borrow from the caller's stack) and so is not in the task table.
pub(crate) struct MainWaker {
    pub(crate) shared: Arc<Shared>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.shared.main_woken.swap(true, Ordering::AcqRel) {
            let on_loop = Executor::with_current_opt(|executor| {
                executor.is_some_and(|executor| Arc::ptr_eq(executor.shared(), &self.shared))
            });
            if rasgi_reactor::trace::narrating() {
                let by = match rasgi_reactor::trace::wake_source() {
                    Some(source) => source.to_string(),
                    None if on_loop => "a task".to_owned(),
                    None => format!("thread '{}'", std::thread::current().name().unwrap_or("?")),
                };
                rasgi_reactor::trace::narrate(format_args!("main future woken by {by}"));
            }
            if !on_loop {
                self.shared.unparker.unpark();
            }
        }
    }
}
