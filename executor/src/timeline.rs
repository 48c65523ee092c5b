//! The timeline: a recording of what the loop did and when.
//!
//! The narration (`RASGI_TRACE=1`) says *what* happens, one sentence at a time; the live
//! view's tables say what the loop holds *now*. Neither shows time: which task ran for
//! how long, what woke it, how long the loop slept in `epoll_wait` in between, and what
//! the blocking pool was doing meanwhile. The timeline records exactly that, so it can be
//! drawn — as a strip chart in the live view, or in Perfetto and `chrome://tracing` as a
//! Trace Event Format file (the root crate renders both; this module only records).
//!
//! Three kinds of record, each a start and a duration on the loop's clock:
//! - **a poll** of a task: its id, its name when the poll began and the first name it
//!   took during the poll (a server's connection task is renamed after the route it
//!   serves, and back once the poll parks), and *what woke it* ([`WakeCause`]) — the waker notes the cause
//!   when it queues the task, the poll picks it up;
//! - **an epoll sleep** of the reactor: the timeout asked and how many events came back.
//!   It spans the whole of `Reactor::wait` — the `epoll_wait` call and the handing of
//!   its events to the wakers, a queue push each — timed by the executor around the
//!   call, so that the reactor's own path carries no trace of the timeline;
//! - **a blocking-pool job**: on which pool thread, submitted by which task.
//!
//! # The ring
//!
//! Each loop thread keeps the last [`CAPACITY`] records in a ring (a `VecDeque` that
//! drops its oldest record when full) in a thread-local: only the loop's own thread
//! writes or reads it, so it needs no lock. At under 100 bytes a record, 50,000 records
//! are under 5 MB per loop — minutes of the demo's traffic, or half a second of a loaded
//! server's, which is what a "last few seconds" view and a trace file of a short
//! session need. (A bigger ring costs memory for history nobody scrolls back to; a
//! smaller one would lose the start of a request that sleeps a second under load.)
//! Blocking-pool jobs finish on other threads: they leave their records in a small
//! mutex-protected inbox per loop ([`JOB_INBOX_CAPACITY`]), which the loop moves into
//! its ring once per turn — a lock taken only while recording, and only when a job
//! finished.
//!
//! # Cost when off
//!
//! Recording is off unless something switches it on: the live view does
//! (`rasgi::loopview::mount`), and so does `RASGI_TRACE_FILE`; the benchmark binaries
//! never do. Off, every hook is one relaxed atomic load and a branch ([`enabled`]): no
//! clock read, no allocation, no thread-local access. The recording functions are
//! `#[cold]`, so the compiler moves their calls out of the hot paths' straight line.
//! The ring is made when a loop is built with recording on (so that a loop stopped
//! before its first turn still has a row in the trace file), or else on its first
//! record. Counted with callgrind on the `techempower` benchmark binary, the
//! switched-off hooks add 31 instructions to a plaintext request's
//! 6,862 (0.45 %; 7 of a pipelined request's 4,759): the flag's check is four
//! instructions (the static's address, the byte, a test, a branch) at each of the wake,
//! the poll, the loop's sleep and the two renames a request makes of its connection's
//! task, plus what the extra branches cost the register allocator.
//!
//! Python's counterpart is asyncio's debug mode, which times every callback and warns
//! past `loop.slow_callback_duration` but keeps no history. In Rust's world it is
//! tokio-console (a live view fed by `tracing` events) and `tracing-chrome`, a
//! `tracing` layer that writes the same Chrome trace JSON.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rasgi_reactor::trace::WakeSource;

use crate::task::TaskId;

/// How many records each loop keeps (see the module documentation for the choice).
pub const CAPACITY: usize = 50_000;

/// How many finished blocking jobs may wait for their loop to collect them; beyond it the
/// oldest are dropped, so a loop that stopped turning cannot make the pool hoard memory.
pub const JOB_INBOX_CAPACITY: usize = 4096;

/// Whether anything is recorded; see [`enabled`].
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether a loop's timeline is kept when its runtime is dropped (for `RASGI_TRACE_FILE`).
static ARCHIVING: AtomicBool = AtomicBool::new(false);

/// The timelines of finished loops, oldest first, while [`ARCHIVING`].
static ARCHIVE: Mutex<Vec<Timeline>> = Mutex::new(Vec::new());

/// The next loop number to hand out; loops are numbered from 1 in the order they
/// were built (or first recorded, for a loop built before recording was switched on).
static NEXT_LOOP: AtomicUsize = AtomicUsize::new(1);

/// The next blocking-pool thread number to hand out, from 1.
static NEXT_POOL_THREAD: AtomicU32 = AtomicU32::new(1);

thread_local! {
    /// This thread's ring; `None` until a loop is built on this thread while recording
    /// is on, or the loop first records.
    static RING: RefCell<Option<Ring>> = const { RefCell::new(None) };
    /// This thread's number as a blocking-pool thread; 0 until it first runs a job.
    static POOL_THREAD: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// True while the timeline records. The only cost of every hook when it is off.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Switches recording on or off for every loop of the process. Records already taken
/// stay in their rings.
pub fn set_enabled(on: bool) {
    if on {
        // Fixed before the first record, so that every record is after it.
        epoch();
    }
    ENABLED.store(on, Ordering::Relaxed);
}

/// Keeps each loop's timeline when its runtime is dropped, for [`take_archive`]: a
/// server writing its trace file at exit needs the timelines of loops whose threads have
/// ended. Also switches recording on.
pub fn keep_finished_loops() {
    ARCHIVING.store(true, Ordering::Relaxed);
    set_enabled(true);
}

/// The timelines of the loops that finished since [`keep_finished_loops`], in the order
/// they finished; the archive is left empty.
pub fn take_archive() -> Vec<Timeline> {
    std::mem::take(&mut *ARCHIVE.lock().unwrap_or_else(|e| e.into_inner()))
}

/// The instant every timestamp is measured from: the same for all loops of the process,
/// so their timelines line up in one trace file.
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds from the [`epoch`] to `at` (zero before it).
fn since_epoch(at: Instant) -> u64 {
    at.saturating_duration_since(epoch()).as_nanos() as u64
}

/// What woke a task for a poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeCause {
    /// Nothing: this is the task's first poll, queued by its spawn.
    Spawned,
    /// The reactor: a readiness event on this socket.
    Socket {
        /// The socket's reactor token.
        token: usize,
        /// Readable (or read-closed) was reported.
        readable: bool,
        /// Writable was reported.
        writable: bool,
    },
    /// The reactor: a timer reached its deadline.
    Timer,
    /// The task itself: during its own poll (`wake_by_ref`), or at the end of the turn in
    /// which it yielded (`yield_now`).
    Itself,
    /// Another task of this loop, during its poll (a channel send, a join, an abort).
    Task(TaskId),
    /// The future given to `block_on`, which is not a task.
    MainFuture,
    /// Another thread: a blocking-pool job finishing, or any waker called off the loop.
    OtherThread,
    /// Not known: the task was queued before the timeline was switched on.
    Unknown,
}

impl WakeCause {
    /// What the reactor said about the `wake()` in progress, if anything.
    pub(crate) fn from_reactor(source: Option<WakeSource>) -> Option<WakeCause> {
        match source? {
            WakeSource::Socket { token, readable, writable } => Some(WakeCause::Socket { token, readable, writable }),
            WakeSource::Timer => Some(WakeCause::Timer),
        }
    }

    /// A one-word kind for machines: `spawn`, `socket`, `timer`, `self`, `task`, `main`,
    /// `thread` or `unknown`.
    pub fn kind(&self) -> &'static str {
        match self {
            WakeCause::Spawned => "spawn",
            WakeCause::Socket { .. } => "socket",
            WakeCause::Timer => "timer",
            WakeCause::Itself => "self",
            WakeCause::Task(_) => "task",
            WakeCause::MainFuture => "main",
            WakeCause::OtherThread => "thread",
            WakeCause::Unknown => "unknown",
        }
    }
}

impl fmt::Display for WakeCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WakeCause::Spawned => f.write_str("spawned (first poll)"),
            WakeCause::Socket { token, readable, writable } => {
                WakeSource::Socket { token: *token, readable: *readable, writable: *writable }.fmt(f)
            }
            WakeCause::Timer => f.write_str("a timer"),
            WakeCause::Itself => f.write_str("itself"),
            WakeCause::Task(id) => write!(f, "task {id}"),
            WakeCause::MainFuture => f.write_str("the main future"),
            WakeCause::OtherThread => f.write_str("another thread (the blocking pool, or an outside waker)"),
            WakeCause::Unknown => f.write_str("unknown (queued before recording began)"),
        }
    }
}

/// One record of the ring, as the loop keeps it.
struct Record {
    /// Nanoseconds from the [`epoch`] to the start.
    start_ns: u64,
    /// How long it lasted, in nanoseconds.
    duration_ns: u64,
    /// What happened.
    what: Activity,
}

/// What a [`Record`] records.
enum Activity {
    /// A task was polled. The name is the task's `Rc` (a reference count, not a copy).
    Poll { task: TaskId, name: Option<Rc<str>>, renamed_to: Option<Rc<str>>, woken_by: WakeCause, slow: bool },
    /// The reactor waited in the kernel.
    Sleep { events: usize, timeout: Option<Duration> },
    /// A blocking-pool job ran.
    Job { thread: u32, submitted_by: Option<Arc<str>> },
}

/// One loop's recording.
struct Ring {
    /// The newest [`CAPACITY`] records; oldest first, except that a blocking job is
    /// placed when the loop collects it, shortly after it finished.
    records: VecDeque<Record>,
    /// Slot `i` holds the cause of the pending wake of the task in task-table slot `i`,
    /// with its id (a stale entry of a task that died unpolled carries an old generation
    /// and is ignored). Indexed by slot, so its size is bounded by the task table's.
    wakes: Vec<Option<(TaskId, WakeCause)>>,
    /// The first rename of the running task during its poll. Taken by the poll's record
    /// (and ignored there if it is another task's).
    renamed: Option<Rename>,
    /// Where this loop's blocking jobs leave their records.
    jobs: Arc<JobInbox>,
    /// This loop's number, from [`NEXT_LOOP`].
    number: usize,
    /// The loop thread's name (`rasgi-worker-0`), or `thread N` for an unnamed thread.
    thread: String,
}

/// A task's first rename during a poll.
struct Rename {
    /// The task renamed.
    task: TaskId,
    /// Its name before: the name the poll began with.
    from: Option<Rc<str>>,
    /// Its new name.
    to: Option<Rc<str>>,
}

/// The records of blocking jobs a loop submitted, left by the pool threads.
struct JobInbox {
    /// True while `records` may be non-empty; lets the loop skip the lock otherwise.
    pending: AtomicBool,
    /// Finished jobs not yet collected; at most [`JOB_INBOX_CAPACITY`].
    records: Mutex<VecDeque<JobRecord>>,
}

/// A finished blocking job on its way from a pool thread to its loop. (Not a [`Record`]:
/// a record may hold an `Rc`, which must not cross threads.)
struct JobRecord {
    /// Nanoseconds from the [`epoch`] to the job's start.
    start_ns: u64,
    /// How long it ran, in nanoseconds.
    duration_ns: u64,
    /// The pool thread's number.
    thread: u32,
    /// The name of the task that submitted it.
    submitted_by: Option<Arc<str>>,
}

impl Ring {
    fn new() -> Ring {
        let current = std::thread::current();
        let number = NEXT_LOOP.fetch_add(1, Ordering::Relaxed);
        Ring {
            records: VecDeque::new(),
            wakes: Vec::new(),
            renamed: None,
            jobs: Arc::new(JobInbox { pending: AtomicBool::new(false), records: Mutex::new(VecDeque::new()) }),
            number,
            thread: current.name().map_or_else(|| format!("thread {number}"), str::to_owned),
        }
    }

    fn push(&mut self, record: Record) {
        if self.records.len() == CAPACITY {
            self.records.pop_front();
        }
        self.records.push_back(record);
    }

    /// Moves the finished jobs out of the inbox into the ring.
    fn collect_jobs(&mut self) {
        if !self.jobs.pending.swap(false, Ordering::AcqRel) {
            return;
        }
        let jobs = std::mem::take(&mut *self.jobs.records.lock().unwrap_or_else(|e| e.into_inner()));
        for job in jobs {
            self.push(Record {
                start_ns: job.start_ns,
                duration_ns: job.duration_ns,
                what: Activity::Job { thread: job.thread, submitted_by: job.submitted_by },
            });
        }
    }
}

/// Runs `f` on this thread's ring, creating it on first use.
fn with_ring<R>(f: impl FnOnce(&mut Ring) -> R) -> Option<R> {
    RING.try_with(|ring| {
        let mut ring = ring.borrow_mut();
        f(ring.get_or_insert_with(Ring::new))
    })
    .ok()
}

/// Notes why task `id` was just queued; its next poll's record says so. Called by the
/// waker and the spawn, only while [`enabled`].
#[cold]
pub(crate) fn note_wake(id: TaskId, cause: WakeCause) {
    with_ring(|ring| {
        let slot = id.index as usize;
        if ring.wakes.len() <= slot {
            ring.wakes.resize(slot + 1, None);
        }
        ring.wakes[slot] = Some((id, cause));
    });
}

/// Notes that the running task `id` was renamed from `from` to `to` during its poll
/// (only the first rename of a poll is kept). Called by the executor, only while
/// [`enabled`].
#[cold]
pub(crate) fn note_rename(id: TaskId, from: Option<Rc<str>>, to: Option<Rc<str>>) {
    with_ring(|ring| {
        if ring.renamed.is_none() {
            ring.renamed = Some(Rename { task: id, from, to });
        }
    });
}

/// Records one poll of task `id`, named `name` when it ended, which began at `started`
/// and took `elapsed`, and consumes what was noted for it: the wake cause and its first
/// rename (whose "before" is then the name the poll began with). `slow` marks a poll
/// past the slow-poll threshold. Called by the executor, only while [`enabled`].
#[cold]
pub(crate) fn record_poll(id: TaskId, name: Option<Rc<str>>, started: Instant, elapsed: Duration, slow: bool) {
    with_ring(|ring| {
        let (name, renamed_to) = match ring.renamed.take() {
            Some(Rename { task, from, to }) if task == id => (from, to),
            _ => (name, None),
        };
        let noted = ring.wakes.get_mut(id.index as usize).and_then(Option::take);
        let woken_by = match noted {
            Some((noted_id, cause)) if noted_id == id => cause,
            _ => WakeCause::Unknown,
        };
        ring.push(Record {
            start_ns: since_epoch(started),
            duration_ns: elapsed.as_nanos() as u64,
            what: Activity::Poll { task: id, name, renamed_to, woken_by, slow },
        });
    });
}

/// Records one sleep of the reactor in `epoll_wait` (a `Reactor::wait` that began at
/// `started` and returned `events`), and collects the blocking jobs that finished
/// meanwhile. Called by the executor, only while [`enabled`].
#[cold]
pub(crate) fn record_sleep(started: Instant, events: usize, timeout: Option<Duration>) {
    with_ring(|ring| {
        ring.push(Record {
            start_ns: since_epoch(started),
            duration_ns: started.elapsed().as_nanos() as u64,
            what: Activity::Sleep { events, timeout },
        });
        ring.collect_jobs();
    });
}

/// Wraps the closure of a blocking-pool job so that its run is timed and filed with the
/// loop that submitted it. The record is filed the moment `f` returns (or panics),
/// before the result is handed back and the task woken: so the job's span ends when its
/// work did, and the loop finds the record no later than it finds the task woken. Off,
/// or off a loop thread, the wrapper only checks an empty `Option`.
pub(crate) fn time_blocking_job<T>(f: impl FnOnce() -> T + Send) -> impl FnOnce() -> T + Send {
    let ticket = if enabled() { job_ticket() } else { None };
    move || {
        let _clock = ticket.map(|ticket| JobClock { ticket, started: Instant::now() });
        f()
    }
}

/// What a job needs to file its record: where, and on whose behalf.
struct JobTicket {
    /// The submitting loop's inbox.
    inbox: Arc<JobInbox>,
    /// The name of the task that submitted the job.
    submitted_by: Option<Arc<str>>,
}

/// A ticket for a job submitted now, from this thread's loop; `None` off a loop thread.
fn job_ticket() -> Option<JobTicket> {
    let submitted_by: Option<Arc<str>> = crate::task::name().map(|name| Arc::from(&*name));
    let inbox = with_ring(|ring| ring.jobs.clone())?;
    Some(JobTicket { inbox, submitted_by })
}

/// A running job's clock; dropping it (when the job returns or unwinds) files the record.
struct JobClock {
    /// Where the record goes.
    ticket: JobTicket,
    /// When the job began on its pool thread.
    started: Instant,
}

impl Drop for JobClock {
    fn drop(&mut self) {
        let job = JobRecord {
            start_ns: since_epoch(self.started),
            duration_ns: self.started.elapsed().as_nanos() as u64,
            thread: pool_thread_number(),
            submitted_by: self.ticket.submitted_by.take(),
        };
        let inbox = &self.ticket.inbox;
        let mut records = inbox.records.lock().unwrap_or_else(|e| e.into_inner());
        if records.len() == JOB_INBOX_CAPACITY {
            records.pop_front();
        }
        records.push_back(job);
        inbox.pending.store(true, Ordering::Release);
    }
}

/// This pool thread's number, assigned on its first job.
fn pool_thread_number() -> u32 {
    POOL_THREAD.with(|number| {
        if number.get() == 0 {
            number.set(NEXT_POOL_THREAD.fetch_add(1, Ordering::Relaxed));
        }
        number.get()
    })
}

/// Gives a loop built while recording is on its ring, and so its number, at once. A
/// loop told to stop before its first turn records nothing, and without this it would
/// be missing from the trace file altogether (a second worker, under load, could get
/// SIGTERM before it ever slept). Called when a runtime is built.
pub(crate) fn loop_started() {
    if enabled() {
        with_ring(|_| ());
    }
}

/// Hands this thread's timeline to the archive when [`keep_finished_loops`] asked for
/// it. Called when a runtime is dropped.
pub(crate) fn loop_finished() {
    if !ARCHIVING.load(Ordering::Relaxed) {
        return;
    }
    let finished = RING.try_with(|ring| ring.borrow_mut().take()).ok().flatten();
    if let Some(mut ring) = finished {
        ring.collect_jobs();
        let timeline = timeline_of(&ring, 0);
        ARCHIVE.lock().unwrap_or_else(|e| e.into_inner()).push(timeline);
    }
}

/// A copy of one loop's recording, safe to send to another thread: what the live view
/// draws and the trace file holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    /// The loop's number in this process (from 1, in the order loops began recording).
    pub loop_number: usize,
    /// The loop thread's name (`rasgi-worker-0`).
    pub thread: String,
    /// Task polls, in the order they ran.
    pub polls: Vec<PollRecord>,
    /// The reactor's sleeps, in order.
    pub sleeps: Vec<SleepRecord>,
    /// Blocking-pool jobs this loop submitted, in the order they finished.
    pub jobs: Vec<JobView>,
}

/// One poll of a task.
#[derive(Clone, Debug, PartialEq)]
pub struct PollRecord {
    /// The task.
    pub task: TaskId,
    /// Its name when the poll began.
    pub name: Option<String>,
    /// The first name it took during the poll, if it was renamed.
    pub renamed_to: Option<String>,
    /// Nanoseconds from the [`epoch`] to the poll's start.
    pub start_ns: u64,
    /// How long the poll ran, in nanoseconds.
    pub duration_ns: u64,
    /// What woke the task for this poll.
    pub woken_by: WakeCause,
    /// The poll held the loop past the slow-poll threshold.
    pub slow: bool,
}

/// One sleep of the reactor in `epoll_wait`.
#[derive(Clone, Debug, PartialEq)]
pub struct SleepRecord {
    /// Nanoseconds from the [`epoch`] to the call.
    pub start_ns: u64,
    /// How long the wait lasted (the kernel's sleep and the wake-ups it caused), in nanoseconds.
    pub duration_ns: u64,
    /// How many readiness events it returned (the cross-thread unpark not counted).
    pub events: usize,
    /// The timeout the loop asked for: `None` = until something happens, zero = only
    /// check (tasks were ready).
    pub timeout: Option<Duration>,
}

/// One blocking-pool job.
#[derive(Clone, Debug, PartialEq)]
pub struct JobView {
    /// Nanoseconds from the [`epoch`] to the job's start on its pool thread.
    pub start_ns: u64,
    /// How long it ran, in nanoseconds.
    pub duration_ns: u64,
    /// Which pool thread ran it (numbered from 1 in the order they first ran a job).
    pub thread: u32,
    /// The name of the task that submitted it, if it had one.
    pub submitted_by: Option<String>,
}

/// A copy of this thread's timeline: the records that ended within `window` before now
/// (all of them for `None`). Empty when this thread never recorded.
pub fn snapshot(window: Option<Duration>) -> Timeline {
    let since = window.map_or(0, |window| since_epoch(Instant::now()).saturating_sub(window.as_nanos() as u64));
    let copied = RING.try_with(|ring| {
        ring.borrow_mut().as_mut().map(|ring| {
            ring.collect_jobs();
            timeline_of(ring, since)
        })
    });
    copied.ok().flatten().unwrap_or_default()
}

/// The records of `ring` that ended at or after `since` (nanoseconds from the epoch).
fn timeline_of(ring: &Ring, since: u64) -> Timeline {
    let mut timeline = Timeline { loop_number: ring.number, thread: ring.thread.clone(), ..Timeline::default() };
    for record in ring.records.iter().filter(|r| r.start_ns + r.duration_ns >= since) {
        let (start_ns, duration_ns) = (record.start_ns, record.duration_ns);
        match &record.what {
            Activity::Poll { task, name, renamed_to, woken_by, slow } => timeline.polls.push(PollRecord {
                task: *task,
                name: name.as_deref().map(str::to_owned),
                renamed_to: renamed_to.as_deref().map(str::to_owned),
                start_ns,
                duration_ns,
                woken_by: *woken_by,
                slow: *slow,
            }),
            Activity::Sleep { events, timeout } => {
                timeline.sleeps.push(SleepRecord { start_ns, duration_ns, events: *events, timeout: *timeout })
            }
            Activity::Job { thread, submitted_by } => timeline.jobs.push(JobView {
                start_ns,
                duration_ns,
                thread: *thread,
                submitted_by: submitted_by.as_deref().map(str::to_owned),
            }),
        }
    }
    timeline
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{block_on, sleep, spawn_blocking, spawn_named};

    /// The switch is process-wide and tests run in parallel: the tests that flip it take
    /// turns, and each starts from an empty ring on its own thread.
    fn exclusive(on: bool) -> Exclusive {
        static SERIAL: Mutex<()> = Mutex::new(());
        let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        RING.with(|ring| *ring.borrow_mut() = None);
        set_enabled(on);
        Exclusive { _guard: guard }
    }

    /// Switches recording off again, even when the test fails.
    struct Exclusive {
        _guard: std::sync::MutexGuard<'static, ()>,
    }

    impl Drop for Exclusive {
        fn drop(&mut self) {
            set_enabled(false);
        }
    }

    fn polls_of<'a>(timeline: &'a Timeline, name: &str) -> Vec<&'a PollRecord> {
        timeline.polls.iter().filter(|p| p.name.as_deref() == Some(name)).collect()
    }

    #[test]
    fn the_ring_drops_the_oldest_record() {
        let mut ring = Ring::new();
        for i in 0..=CAPACITY as u64 {
            ring.push(Record { start_ns: i, duration_ns: 1, what: Activity::Sleep { events: 0, timeout: None } });
        }
        assert_eq!(ring.records.len(), CAPACITY);
        assert_eq!(ring.records.front().map(|r| r.start_ns), Some(1), "record 0 was dropped");
        assert_eq!(ring.records.back().map(|r| r.start_ns), Some(CAPACITY as u64));
        // What the module documentation promises about the ring's size.
        assert!(std::mem::size_of::<Record>() < 100, "{} bytes", std::mem::size_of::<Record>());
    }

    #[test]
    fn a_loop_that_never_turns_still_has_a_timeline() {
        let _on = exclusive(true);
        // The main future is ready at once: no task is polled and the loop never sleeps.
        block_on(async {});
        let timeline = snapshot(None);
        assert_ne!(timeline.loop_number, 0, "the loop got its number when it was built");
        let thread =
            std::thread::current().name().map_or_else(|| format!("thread {}", timeline.loop_number), str::to_owned);
        assert_eq!(timeline.thread, thread);
        assert!(timeline.polls.is_empty() && timeline.sleeps.is_empty(), "{timeline:?}");
    }

    #[test]
    fn off_records_nothing() {
        let _off = exclusive(false);
        block_on(async {
            spawn_named("sleeper", sleep(Duration::from_millis(2))).await.unwrap();
            spawn_blocking(|| 7).await.unwrap();
        });
        assert!(RING.with(|ring| ring.borrow().is_none()), "no ring was even allocated");
        assert_eq!(snapshot(None), Timeline::default());
    }

    #[test]
    fn a_task_that_sleeps_is_woken_by_a_timer() {
        let _on = exclusive(true);
        block_on(async {
            spawn_named("sleeper", sleep(Duration::from_millis(20))).await.unwrap();
        });
        let timeline = snapshot(None);
        let polls = polls_of(&timeline, "sleeper");
        assert_eq!(polls.len(), 2, "{:?}", timeline.polls);
        assert_eq!(polls[0].woken_by, WakeCause::Spawned);
        assert_eq!(polls[1].woken_by, WakeCause::Timer);
        assert_eq!(polls[1].woken_by.to_string(), "a timer");
        assert!(polls[1].start_ns - polls[0].start_ns >= 20_000_000, "{polls:?}");
        assert!(!polls[0].slow && !polls[1].slow);
        // The loop slept in between, for most of the 20 ms.
        let between = |s: &&SleepRecord| s.start_ns >= polls[0].start_ns && s.start_ns < polls[1].start_ns;
        let slept: u64 = timeline.sleeps.iter().filter(between).map(|s| s.duration_ns).sum();
        assert!(slept >= 10_000_000, "{:?}", timeline.sleeps);
    }

    #[test]
    fn a_blocking_job_is_recorded_with_its_duration() {
        let _on = exclusive(true);
        block_on(async {
            let submitter = spawn_named("submitter", async {
                spawn_blocking(|| std::thread::sleep(Duration::from_millis(30))).await.unwrap();
            });
            submitter.await.unwrap();
        });
        // Filed before the task was woken: no waiting for the pool thread.
        let timeline = snapshot(None);
        assert_eq!(timeline.jobs.len(), 1, "{timeline:?}");
        let job = &timeline.jobs[0];
        assert!(job.duration_ns >= 30_000_000, "{job:?}");
        assert!(job.thread >= 1, "{job:?}");
        assert_eq!(job.submitted_by.as_deref(), Some("submitter"));
        let polls = polls_of(&timeline, "submitter");
        let causes: Vec<WakeCause> = polls.iter().map(|p| p.woken_by).collect();
        assert_eq!(causes, [WakeCause::Spawned, WakeCause::OtherThread]);
        assert!(polls[1].start_ns >= job.start_ns + job.duration_ns, "woken after the job: {polls:?} {job:?}");
    }
}
