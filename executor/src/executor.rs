//! The executor: the task table, the ready queue, and the loop turn.
//!
//! [`Executor::turn`] is the event loop. Everything else in rasgi — the HTTP server, the
//! Postgres client, the HTTPS client — is futures that this one function polls. Read it
//! first; it is five steps long.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use rasgi_reactor::trace;
use rasgi_reactor::{loop_time, set_loop_time, Reactor};

use crate::task::{LoopWarning, Task, TaskFuture, TaskId, TaskInfo, TaskStats};
use crate::timeline::{self, WakeCause};
use crate::waker::{Shared, TaskWaker};

thread_local! {
    /// The executor of the loop running on this thread.
    static CURRENT: RefCell<Option<Rc<Executor>>> = const { RefCell::new(None) };
}

/// Tunables of one loop; see [`crate::Builder`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    /// Most tasks polled in one turn before the loop checks I/O again. Without a bound,
    /// tasks that keep waking each other would starve every socket.
    pub(crate) tasks_per_turn: usize,
    /// A poll longer than this logs a warning; zero turns the detector (and the timing
    /// of polls) off.
    pub(crate) slow_poll_threshold: Duration,
}

/// The running half of one event loop.
pub(crate) struct Executor {
    /// The reactor this loop sleeps in.
    reactor: Reactor,
    /// Every live task. Borrowed only briefly, never across a poll or a drop of a task's
    /// future (both can re-enter: spawn, wake, abort).
    tasks: RefCell<TaskTable>,
    /// Tasks woken on this thread, in wake order; each appears at most once thanks to
    /// the waker's `scheduled` flag.
    ready: RefCell<VecDeque<TaskId>>,
    /// What other threads may touch: the inbox of cross-thread wake-ups.
    shared: Arc<Shared>,
    /// The task being polled right now.
    current: Cell<Option<TaskId>>,
    /// Tunables.
    config: Config,
    /// The latest warnings, for the live loop view; at most `RECENT_WARNINGS`.
    warnings: RefCell<VecDeque<LoopWarning>>,
    /// A name the running task takes when its poll returns `Pending`
    /// ([`crate::task::set_name_on_park`]); cleared by any other rename and at every poll's
    /// end.
    name_on_park: RefCell<Option<Rc<str>>>,
    /// The wakers of the tasks that yielded ([`crate::yield_now`]) during this turn, woken
    /// only after the turn's I/O check (step 5 of [`Executor::turn`]).
    yielded: RefCell<Vec<Waker>>,
    /// `yielded` is not empty: a flag, so that the turns in which nothing yielded (nearly
    /// all of them) pay a load instead of a `RefCell` borrow, twice a turn (`callgrind`:
    /// 11 instructions per plaintext request, 6,196 with the borrows, 6,185 with the flag).
    any_yielded: Cell<bool>,
    /// True while step 5 wakes `yielded`: the timeline counts those wakes as each task's
    /// own, which is what a yield is.
    waking_yielded: Cell<bool>,
    /// How many times the loop has checked its sockets (step 3): a yield is over once
    /// this has moved.
    io_checks: Cell<u64>,
}

/// How many warnings the loop remembers.
const RECENT_WARNINGS: usize = 32;

impl Executor {
    pub(crate) fn new(reactor: Reactor, config: Config) -> Executor {
        let shared = Arc::new(Shared::new(reactor.unparker()));
        Executor {
            reactor,
            tasks: RefCell::new(TaskTable::default()),
            ready: RefCell::new(VecDeque::new()),
            shared,
            current: Cell::new(None),
            config,
            warnings: RefCell::new(VecDeque::new()),
            name_on_park: RefCell::new(None),
            yielded: RefCell::new(Vec::new()),
            any_yielded: Cell::new(false),
            waking_yielded: Cell::new(false),
            io_checks: Cell::new(0),
        }
    }

    /// One turn of the event loop.
    ///
    /// ```text
    ///   1. run the tasks that are ready (at most `tasks_per_turn`)
    ///   2. decide how long we may sleep: not at all if work is left, else until the
    ///      next timer, else until something happens
    ///   3. sleep in the kernel until a socket is ready (or the timeout, or an unpark);
    ///      the reactor wakes the tasks waiting on the ready sockets
    ///   4. wake the tasks whose timers expired
    ///   5. queue the tasks that yielded in step 1, behind everything steps 3 and 4 woke
    /// ```
    ///
    /// Step 5 is what makes a yield a yield. A task that yields wakes itself, and if it
    /// went straight back on the ready queue, step 1 would poll it again in the same turn,
    /// up to the budget, while every socket waited: a loop of `yield_now().await` would
    /// let other *ready* tasks run but never the I/O check. Python's loop runs in one
    /// iteration only the callbacks that were ready when it began, so after
    /// `await asyncio.sleep(0)` the task resumes in the next iteration, after `select`;
    /// tokio defers a yield's wake to after its driver poll for the same reason.
    pub(crate) fn turn(&self) -> std::io::Result<()> {
        // 1. Run what is ready.
        let polls_ended = self.run_ready_tasks();

        // 2. How long may the reactor sleep? Measured from when the last poll ended, if
        //    the polls read the clock; else (nothing ran, or polls go unmeasured) the
        //    clock is read now.
        let timeout = if self.has_ready_work() {
            Some(Duration::ZERO)
        } else {
            self.reactor.next_deadline().map(|deadline| {
                let now = polls_ended.unwrap_or_else(Instant::now);
                deadline.saturating_duration_since(now)
            })
        };

        // 3. Sleep until I/O, and wake the futures waiting on ready sockets.
        if timeline::enabled() {
            let started = Instant::now();
            let events = self.reactor.wait(timeout)?;
            timeline::record_sleep(started, events, timeout);
        } else {
            self.reactor.wait(timeout)?;
        }
        self.io_checks.set(self.io_checks.get() + 1);

        // 4. Wake the futures whose deadlines passed.
        self.reactor.fire_expired_timers(Instant::now());

        // 5. Queue the tasks that yielded, now that sockets and timers had their turn.
        self.wake_yielded();
        Ok(())
    }

    /// Keeps a yielding task's waker for step 5 of this turn, and returns the loop's
    /// count of I/O checks; `None` outside a rasgi loop, where the caller wakes at once
    /// instead.
    pub(crate) fn defer_yield(waker: &Waker) -> Option<u64> {
        Executor::with_current_opt(|executor| {
            executor.map(|executor| {
                executor.yielded.borrow_mut().push(waker.clone());
                executor.any_yielded.set(true);
                executor.io_checks.get()
            })
        })
    }

    /// The current loop's count of I/O checks, if on a loop.
    pub(crate) fn io_checks_now() -> Option<u64> {
        Executor::with_current_opt(|executor| executor.map(|executor| executor.io_checks.get()))
    }

    /// Step 5: wakes the tasks that yielded, keeping the list's buffer for the next turn.
    /// Holding the borrow across the wakes is safe: a wake only queues its task (or sets
    /// the main future's flag), and nothing yields outside a poll.
    #[inline]
    fn wake_yielded(&self) {
        if !self.any_yielded.replace(false) {
            return; // nearly every turn: nothing yielded
        }
        self.waking_yielded.set(true);
        for waker in self.yielded.borrow_mut().drain(..) {
            waker.wake();
        }
        self.waking_yielded.set(false);
    }

    /// True while step 5 wakes the tasks that yielded.
    pub(crate) fn waking_yielded(&self) -> bool {
        self.waking_yielded.get()
    }

    /// Polls queued tasks, up to the per-turn budget. Returns when the last poll ended,
    /// if polls are being timed.
    ///
    /// Timing a poll (for the slow-poll warning and the timeline) takes a clock reading
    /// at each end, but one poll's end is the next one's start: the polls of a turn share
    /// their readings, so that timing N polls costs N readings, not 2N. The first poll
    /// starts at the loop's clock ([`loop_time`]), which the wait, the main future's poll
    /// and every timed poll leave fresh. In a plaintext benchmark with one request per
    /// turn that is two readings per turn instead of four. (Callgrind counts only 28
    /// instructions saved per request, since the vDSO's clock read is a handful of
    /// instructions; but one of them reads the time-stamp counter, which a virtual
    /// machine may make slow: `clock_gettime` was 4.4 % of a pipelined request's
    /// samples in a `perf` profile.)
    fn run_ready_tasks(&self) -> Option<Instant> {
        self.drain_inbox();
        let mut ended = None;
        for _ in 0..self.config.tasks_per_turn {
            let next = self.ready.borrow_mut().pop_front();
            match next {
                Some(id) => ended = self.poll_task(id).or(ended),
                None => break,
            }
        }
        ended
    }

    /// True if the loop must not sleep: a task or the main future is waiting to run.
    pub(crate) fn has_ready_work(&self) -> bool {
        !self.ready.borrow().is_empty()
            || self.any_yielded.get()
            || self.shared.inbox_pending.load(Ordering::Acquire)
            || self.shared.main_woken.load(Ordering::Acquire)
    }

    /// Moves tasks woken by other threads onto the ready queue.
    fn drain_inbox(&self) {
        if !self.shared.inbox_pending.swap(false, Ordering::AcqRel) {
            return;
        }
        let woken = std::mem::take(&mut *self.shared.inbox.lock().unwrap_or_else(|e| e.into_inner()));
        if timeline::enabled() {
            for &id in &woken {
                timeline::note_wake(id, WakeCause::OtherThread);
            }
        }
        self.ready.borrow_mut().extend(woken);
    }

    /// Polls one task once. Returns when the poll ended, if it was timed.
    fn poll_task(&self, id: TaskId) -> Option<Instant> {
        // Move the future out of the table: the poll may spawn (which inserts into the
        // table) or drop other tasks' handles, and must not find the table borrowed.
        let Some((mut future, waker)) = self.tasks.borrow_mut().start_poll(id) else {
            return None; // finished or aborted since it was woken
        };

        let narrating = trace::narrating();
        if narrating {
            trace::narrate(format_args!("{} polled", self.describe(id)));
        }
        self.current.set(Some(id));
        let detecting = !self.config.slow_poll_threshold.is_zero();
        let started = self.times_polls().then(loop_time);
        let poll = future.as_mut().poll(&mut Context::from_waker(&waker));
        let (ended, elapsed) = match started {
            Some(started) => {
                let now = Instant::now();
                set_loop_time(now);
                (Some(now), now.saturating_duration_since(started))
            }
            None => (None, Duration::ZERO),
        };
        self.current.set(None);
        drop(waker);

        let slow = detecting && elapsed >= self.config.slow_poll_threshold;
        if slow {
            self.warn_slow_poll(id, elapsed);
        }
        if let Some(started) = started.filter(|_| timeline::enabled()) {
            timeline::record_poll(id, self.task_name(id), started, elapsed, slow);
        }
        match poll {
            Poll::Ready(()) => {
                self.name_on_park.take();
                if narrating {
                    let polls = self.tasks.borrow_mut().get_mut(id).map_or(0, |t| t.stats.polls + 1);
                    trace::narrate(format_args!("{} finished after {polls} poll(s)", self.describe(id)));
                }
                let task = self.tasks.borrow_mut().remove(id);
                // Dropped here, outside any borrow: the future's destructors may call
                // back into the executor.
                drop(future);
                drop(task);
            }
            Poll::Pending => {
                // The name it waits under, now that the poll's work is reported.
                if let Some(name) = self.name_on_park.take() {
                    self.set_task_name(id, Some(name));
                }
                let waits = if trace::recording() { trace::take_waits() } else { Vec::new() };
                if narrating {
                    let reasons: Vec<String> = waits.iter().map(ToString::to_string).collect();
                    let reasons =
                        if reasons.is_empty() { "nothing the reactor knows of".to_owned() } else { reasons.join(", ") };
                    trace::narrate(format_args!("{} returned Pending; it waits for {reasons}", self.describe(id)));
                }
                let lost = self.tasks.borrow_mut().finish_poll(id, future, elapsed, waits);
                if lost {
                    self.warn_lost_waker(id);
                }
            }
        }
        ended
    }

    /// True when polls are timed: for the slow-poll warning, or for the timeline.
    fn times_polls(&self) -> bool {
        !self.config.slow_poll_threshold.is_zero() || timeline::enabled()
    }

    /// Called after the main future's poll: when polls are timed, the next one must not
    /// start its clock where the main future's poll began.
    pub(crate) fn after_main_poll(&self) {
        if self.times_polls() {
            set_loop_time(Instant::now());
        }
    }

    /// `task #4 'GET /async-route'`, for the narration.
    pub(crate) fn describe(&self, id: TaskId) -> String {
        match self.task_name(id) {
            Some(name) => format!("task {id} '{name}'"),
            None => format!("task {id}"),
        }
    }

    /// Remembers a warning for the live view and logs it.
    fn warn(&self, message: String) {
        crate::log_warn!("{message}");
        let mut warnings = self.warnings.borrow_mut();
        if warnings.len() == RECENT_WARNINGS {
            warnings.pop_front();
        }
        warnings.push_back(LoopWarning { at: std::time::SystemTime::now(), message });
    }

    pub(crate) fn recent_warnings(&self) -> Vec<LoopWarning> {
        self.warnings.borrow().iter().cloned().collect()
    }

    /// The waker diagnostic: a task returned `Pending`, nobody holds a clone of its
    /// waker, and it did not wake itself — so nothing can ever wake it. This is the bug
    /// learners hit most: a hand-written `poll` that returns `Pending` without handing
    /// `cx.waker()` to anyone.
    fn warn_lost_waker(&self, id: TaskId) {
        self.warn(format!(
            "lost waker: {} returned Pending but no one kept its waker, so it can never be woken. \
             A future must store cx.waker() (or pass it to something that will call it) before returning Pending.",
            self.describe(id)
        ));
    }

    /// The slow-poll detector's report: asyncio's debug mode prints "Executing <Task>
    /// took 0.301 seconds"; we also say what to do about it.
    fn warn_slow_poll(&self, id: TaskId, elapsed: Duration) {
        let who = match self.task_name(id) {
            Some(name) => format!("task '{name}' ({id})"),
            None => format!("task {id}"),
        };
        self.warn(format!(
            "slow poll: {who} held the event loop for {:.1} ms (threshold {} ms); every other \
             task waited. Move blocking or CPU-heavy work to spawn_blocking.",
            elapsed.as_secs_f64() * 1000.0,
            self.config.slow_poll_threshold.as_millis()
        ));
    }

    /// Adds a task and queues it for its first poll.
    pub(crate) fn spawn(&self, future: TaskFuture, name: Option<Rc<str>>) -> (TaskId, Waker) {
        let (id, waker) = self.tasks.borrow_mut().insert(future, name, &self.shared);
        if timeline::enabled() {
            timeline::note_wake(id, WakeCause::Spawned);
        }
        if trace::narrating() {
            let by = match self.current.get() {
                Some(parent) => format!(" by {}", self.describe(parent)),
                None => String::new(),
            };
            trace::narrate(format_args!("{} spawned{by}", self.describe(id)));
        }
        self.schedule_local(id);
        (id, waker)
    }

    /// Queues a task from the loop's own thread. The caller has already set the
    /// task's `scheduled` flag (or the task is new).
    pub(crate) fn schedule_local(&self, id: TaskId) {
        self.ready.borrow_mut().push_back(id);
    }

    /// Wakes a task by id (what `JoinHandle::abort` uses).
    pub(crate) fn wake_task(&self, id: TaskId) {
        let waker = self.tasks.borrow_mut().get_mut(id).map(|t| t.waker.clone());
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn current_task(&self) -> Option<TaskId> {
        self.current.get()
    }

    /// Names the running task `name` once its poll returns `Pending`.
    pub(crate) fn set_name_on_park(&self, name: Rc<str>) {
        *self.name_on_park.borrow_mut() = Some(name);
    }

    pub(crate) fn set_task_name(&self, id: TaskId, name: Option<Rc<str>>) {
        if self.current.get() == Some(id) {
            // An explicit rename wins over one deferred to the end of the poll.
            self.name_on_park.take();
        }
        if timeline::enabled() {
            self.note_rename(id, &name);
        }
        if let Some(task) = self.tasks.borrow_mut().get_mut(id) {
            // The same `Rc` again (a connection serving one route over and over) is the
            // common case; skipping it saves the reference-count traffic.
            if !same_name(&task.name, &name) {
                task.name = name;
            }
        }
    }

    /// Tells the timeline that the running task is being renamed (a server's connection
    /// task takes its route's name for as long as it serves it): a poll is drawn under
    /// the name it worked for. Out of line, so that renaming costs only the check.
    #[cold]
    #[inline(never)]
    fn note_rename(&self, id: TaskId, name: &Option<Rc<str>>) {
        if self.current.get() != Some(id) {
            return;
        }
        let old = self.task_name(id);
        if !same_name(&old, name) {
            timeline::note_rename(id, old, name.clone());
        }
    }

    pub(crate) fn task_name(&self, id: TaskId) -> Option<Rc<str>> {
        self.tasks.borrow_mut().get_mut(id).and_then(|t| t.name.clone())
    }

    pub(crate) fn task_infos(&self) -> Vec<TaskInfo> {
        let current = self.current.get();
        self.tasks.borrow().infos(current)
    }

    /// Number of live tasks.
    pub(crate) fn task_count(&self) -> usize {
        self.tasks.borrow().live
    }

    /// Makes this the current executor of the thread until the returned guard drops.
    pub(crate) fn enter(self: &Rc<Self>) -> ExecutorGuard {
        let previous = CURRENT.with(|c| c.borrow_mut().replace(self.clone()));
        ExecutorGuard { previous }
    }

    /// Runs `f` with the current executor, or `None` outside a loop (also during
    /// thread teardown, when the thread-local is already gone).
    pub(crate) fn with_current_opt<R>(f: impl FnOnce(Option<&Rc<Executor>>) -> R) -> R {
        let executor = CURRENT.try_with(|c| c.borrow().clone()).ok().flatten();
        f(executor.as_ref())
    }

    /// Runs `f` with the current executor; panics with a helpful message outside a loop.
    pub(crate) fn with_current<R>(f: impl FnOnce(&Rc<Executor>) -> R) -> R {
        Executor::with_current_opt(|executor| match executor {
            Some(executor) => f(executor),
            None => panic!(
                "spawn called outside a rasgi event loop: call it from inside \
                 rasgi_executor::block_on (or Runtime::block_on)"
            ),
        })
    }

    /// Drops every remaining task (when the runtime shuts down).
    pub(crate) fn drop_all_tasks(&self) {
        let tasks = std::mem::take(&mut *self.tasks.borrow_mut());
        self.ready.borrow_mut().clear();
        drop(tasks);
    }
}

/// Whether two task names are the same `Rc` (or both absent): comparing pointers, not text.
fn same_name(old: &Option<Rc<str>>, new: &Option<Rc<str>>) -> bool {
    match (old, new) {
        (Some(old), Some(new)) => Rc::ptr_eq(old, new),
        (None, None) => true,
        _ => false,
    }
}

/// Restores the previous current executor when dropped.
pub(crate) struct ExecutorGuard {
    previous: Option<Rc<Executor>>,
}

impl Drop for ExecutorGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = previous);
    }
}

/// The task table: a slab of slots with generations.
#[derive(Default)]
struct TaskTable {
    /// Slot `i` holds a task whose id has `index == i` and the slot's generation.
    slots: Vec<Slot>,
    /// Free slot indices.
    free: Vec<u32>,
    /// Number of occupied slots.
    live: usize,
}

/// One slot of the task table.
#[derive(Default)]
struct Slot {
    /// Bumped every time the slot is freed, invalidating old ids.
    generation: u32,
    /// The task, or `None` for a free slot.
    task: Option<Task>,
}

impl TaskTable {
    fn insert(&mut self, future: TaskFuture, name: Option<Rc<str>>, shared: &Arc<Shared>) -> (TaskId, Waker) {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        let id = TaskId { index, generation: slot.generation };
        // Born scheduled: the spawn queues it for its first poll.
        let header = Arc::new(TaskWaker { id, scheduled: true.into(), shared: shared.clone() });
        let waker = Waker::from(header.clone());
        slot.task = Some(Task {
            future: Some(future),
            waker: waker.clone(),
            header,
            name,
            stats: TaskStats::default(),
            waits: Vec::new(),
            lost_waker_reported: false,
        });
        self.live += 1;
        (id, waker)
    }

    fn get_mut(&mut self, id: TaskId) -> Option<&mut Task> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.task.as_mut()
    }

    /// Takes what a poll needs out of the table, and clears the task's `scheduled`
    /// flag: from here on, a wake-up (even one during the poll itself) queues the task
    /// for another round instead of being lost.
    fn start_poll(&mut self, id: TaskId) -> Option<(TaskFuture, Waker)> {
        let task = self.get_mut(id)?;
        let future = task.future.take()?;
        task.header.scheduled.store(false, Ordering::Release);
        Some((future, task.waker.clone()))
    }

    /// Puts a still-pending future back after its poll and counts the poll. Returns
    /// true if the task has just lost its waker (see `warn_lost_waker`).
    fn finish_poll(&mut self, id: TaskId, future: TaskFuture, elapsed: Duration, waits: Vec<trace::Wait>) -> bool {
        let Some(task) = self.get_mut(id) else { return false };
        task.future = Some(future);
        task.stats.polls += 1;
        task.stats.busy += elapsed;
        task.stats.longest_poll = task.stats.longest_poll.max(elapsed);
        task.waits = waits;
        // The table holds two references to the waker (`waker` and `header`). Any
        // more means someone — the reactor, a timer, a channel — kept a clone to wake
        // us with. Exactly two, and not already queued: nobody can ever wake this task.
        let lost = Arc::strong_count(&task.header) == 2
            && !task.header.scheduled.load(Ordering::Acquire)
            && !task.lost_waker_reported;
        task.lost_waker_reported |= lost;
        lost
    }

    fn remove(&mut self, id: TaskId) -> Option<Task> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let task = slot.task.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        self.live -= 1;
        Some(task)
    }

    fn infos(&self, current: Option<TaskId>) -> Vec<TaskInfo> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(index, slot)| {
                let task = slot.task.as_ref()?;
                let id = TaskId { index: index as u32, generation: slot.generation };
                Some(TaskInfo {
                    id,
                    name: task.name.clone(),
                    scheduled: task.header.scheduled.load(Ordering::Relaxed),
                    running: current == Some(id),
                    stats: task.stats,
                    waits: task.waits.clone(),
                })
            })
            .collect()
    }
}
