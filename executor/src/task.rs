//! A task: a future the loop owns, plus what the loop knows about it.
//!
//! asyncio wraps a coroutine in a `Task` to schedule it; here a task is a boxed
//! `Future<Output = ()>` (the typed result travels through its [`crate::JoinHandle`]),
//! its waker, an optional name, and counters the diagnostics read. The functions in this
//! module act on the task that is running right now, like `asyncio.current_task()`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;
use std::time::Duration;

use crate::executor::Executor;
use crate::waker::TaskWaker;

/// A task's identity: its slot in the task table and that slot's generation. Slots are
/// reused, generations are not, so a late wake-up for a finished task can never poll the
/// newer task that took its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl fmt::Display for TaskId {
    /// `#4`: the slot number, which is what a person reading a trace needs. (The
    /// generation, shown by `Debug`, only matters to the executor.)
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.index)
    }
}

/// The boxed future the loop polls. Its output is `()`: the spawned future's real
/// output is written into the join handle's slot by the wrapper in `join.rs`.
pub(crate) type TaskFuture = Pin<Box<dyn Future<Output = ()>>>;

/// One entry of the task table.
pub(crate) struct Task {
    /// The future; `None` only while the loop is polling it (it is moved out so that
    /// the poll can spawn tasks, which needs the table).
    pub(crate) future: Option<TaskFuture>,
    /// The waker handed to every poll of this task.
    pub(crate) waker: Waker,
    /// The same waker as an `Arc`, to reach its `scheduled` flag.
    pub(crate) header: Arc<TaskWaker>,
    /// A name for diagnostics (`"GET /blocking"`); `None` shows as the task id.
    pub(crate) name: Option<Rc<str>>,
    /// Statistics, updated after every poll.
    pub(crate) stats: TaskStats,
    /// What the task waited for after its last poll (collected only while the trace or
    /// the live view is on).
    pub(crate) waits: Vec<rasgi_reactor::trace::Wait>,
    /// The lost-waker diagnostic already fired for this task (it reports once).
    pub(crate) lost_waker_reported: bool,
}

/// What the loop has measured about one task.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskStats {
    /// How many times the task was polled.
    pub polls: u64,
    /// Total time spent inside its `poll` (measured only while the slow-poll detector is
    /// on; zero otherwise).
    pub busy: Duration,
    /// The longest single poll.
    pub longest_poll: Duration,
}

/// A snapshot of one task, for diagnostics and the live loop view.
#[derive(Clone, Debug)]
pub struct TaskInfo {
    /// The task's id.
    pub id: TaskId,
    /// Its name, or `None`.
    pub name: Option<Rc<str>>,
    /// True if it is queued to run.
    pub scheduled: bool,
    /// True if it is being polled right now.
    pub running: bool,
    /// Its counters.
    pub stats: TaskStats,
    /// What it waited for after its last poll (empty unless recording).
    pub waits: Vec<rasgi_reactor::trace::Wait>,
}

/// A warning the loop raised, kept for the live loop view.
#[derive(Clone, Debug)]
pub struct LoopWarning {
    /// When it was raised.
    pub at: std::time::SystemTime,
    /// The message, as logged.
    pub message: String,
}

/// The id of the task being polled, or `None` outside a task (e.g. in the future given
/// to `block_on`).
pub fn id() -> Option<TaskId> {
    Executor::with_current_opt(|ex| ex.and_then(|ex| ex.current_task()))
}

/// Names the running task; the slow-poll warning and the live loop view show it. A
/// server names its connection task after the request it is handling.
pub fn set_name(name: impl Into<Rc<str>>) {
    Executor::with_current_opt(|ex| {
        if let Some(ex) = ex {
            if let Some(id) = ex.current_task() {
                ex.set_task_name(id, Some(name.into()));
            }
        }
    });
}

/// Names the running task from the moment its current poll returns `Pending`: the name
/// it *waits* under. A server's connection task goes back to its connection name this
/// way when it waits for the next request, so that the poll which served a route is still
/// reported under the route — by the slow-poll warning and the timeline, which read the
/// name when the poll ends. A [`set_name`] later in the same poll cancels it.
pub fn set_name_on_park(name: impl Into<Rc<str>>) {
    Executor::with_current_opt(|ex| {
        if let Some(ex) = ex {
            if ex.current_task().is_some() {
                ex.set_name_on_park(name.into());
            }
        }
    });
}

/// The running task's name, if it has one.
pub fn name() -> Option<Rc<str>> {
    Executor::with_current_opt(|ex| ex.and_then(|ex| ex.current_task().and_then(|id| ex.task_name(id))))
}

/// Snapshots of every live task of this thread's loop.
pub fn snapshot() -> Vec<TaskInfo> {
    Executor::with_current_opt(|ex| ex.map(|ex| ex.task_infos()).unwrap_or_default())
}

/// The most recent warnings of this thread's loop (slow polls, lost wakers), oldest
/// first.
pub fn recent_warnings() -> Vec<LoopWarning> {
    Executor::with_current_opt(|ex| ex.map(|ex| ex.recent_warnings()).unwrap_or_default())
}
