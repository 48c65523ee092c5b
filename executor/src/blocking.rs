//! The blocking pool: `loop.run_in_executor(None, f)` and `asyncio.to_thread(f)`.
//!
//! The loop runs on one thread, so a function that blocks — a CPU-heavy computation, a
//! synchronous file read, the OS name resolver — stops every task on it. The cure is to
//! run such a function on another thread and *await* its result: [`spawn_blocking`]
//! sends the closure to a pool of threads and returns a future; the pool thread stores
//! the result and calls the task's waker, which (being on a foreign thread) puts the task
//! in the loop's inbox and unparks the loop out of `epoll_wait`.
//!
//! The pool is process-wide and shared by every loop (with `--workers N` each loop's
//! wake-ups still go to the right loop, because the waker knows its loop). Threads are
//! started on demand up to a bound — `min(32, CPUs + 4)` by default, the same formula
//! as Python's default `ThreadPoolExecutor` — and exit after 10 s without work. Jobs
//! beyond the bound wait in a FIFO queue whose depth [`stats`] reports.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::Duration;

use crate::join::JoinError;

/// How long an idle pool thread waits for work before exiting.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// A job: the user's closure, already wrapped to deliver its result.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// The process-wide pool.
struct Pool {
    /// Queue and thread counts, under one lock.
    state: Mutex<PoolState>,
    /// Signalled when a job is queued.
    work_available: Condvar,
    /// The most threads the pool may run at once.
    max_threads: AtomicUsize,
}

/// The part of the pool under its lock.
struct PoolState {
    /// Jobs not yet picked up, oldest first.
    queue: VecDeque<Job>,
    /// Threads alive (running a job or idle).
    threads: usize,
    /// Threads waiting for a job.
    idle: usize,
    /// Jobs finished since the process started.
    completed: u64,
}

/// A snapshot of the pool, for diagnostics and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Jobs waiting for a free thread.
    pub queued: usize,
    /// Threads alive.
    pub threads: usize,
    /// Threads idle.
    pub idle: usize,
    /// The thread bound.
    pub max_threads: usize,
    /// Jobs finished so far.
    pub completed: u64,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let cpus = thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Pool {
            state: Mutex::new(PoolState { queue: VecDeque::new(), threads: 0, idle: 0, completed: 0 }),
            work_available: Condvar::new(),
            max_threads: AtomicUsize::new((cpus + 4).min(32)),
        }
    })
}

/// Sets the most threads the pool may run (at least 1). Threads already running above a
/// lowered bound finish their job and exit when idle.
pub fn set_max_threads(n: usize) {
    pool().max_threads.store(n.max(1), Ordering::Relaxed);
}

/// The pool's current queue depth and thread counts.
pub fn stats() -> PoolStats {
    let pool = pool();
    let state = lock(&pool.state);
    PoolStats {
        queued: state.queue.len(),
        threads: state.threads,
        idle: state.idle,
        max_threads: pool.max_threads.load(Ordering::Relaxed),
        completed: state.completed,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A job's panic is caught before it can poison anything, so a poisoned lock can only
    // come from a bug in this file; the data is still consistent, so carry on.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` on the blocking pool and returns a future of its result. A panic in `f`
/// becomes `Err(JoinError::Panicked)`.
///
/// Dropping the future does not stop `f` — a thread cannot be interrupted, exactly as
/// with `run_in_executor` — its result is simply discarded.
pub fn spawn_blocking<F, T>(f: F) -> BlockingTask<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let f = crate::timeline::time_blocking_job(f);
    let slot = Arc::new(Mutex::new(ResultSlot { result: None, waker: None }));
    let job_slot = slot.clone();
    submit(Box::new(move || {
        let result = crate::panic::catch(f).map_err(JoinError::Panicked);
        let waker = {
            let mut slot = lock(&job_slot);
            slot.result = Some(result);
            slot.waker.take()
        };
        // Wake outside the lock: the waker pushes to the loop's inbox and unparks it.
        if let Some(waker) = waker {
            waker.wake();
        }
    }));
    BlockingTask { slot }
}

/// Queues a job, starting a thread if the idle ones cannot take it and the bound allows.
fn submit(job: Job) {
    let pool = pool();
    let mut state = lock(&pool.state);
    state.queue.push_back(job);
    if state.idle > 0 {
        pool.work_available.notify_one();
    }
    // `idle` still counts a thread that was notified but has not woken up yet, so "is
    // a thread idle?" is the wrong question: with one idle thread, a burst of jobs would
    // all queue behind it. Start a thread whenever queued jobs outnumber idle threads.
    if state.queue.len() > state.idle && state.threads < pool.max_threads.load(Ordering::Relaxed) {
        state.threads += 1;
        let spawned = thread::Builder::new().name("rasgi-blocking".into()).spawn(worker);
        if spawned.is_err() {
            // The OS refused a thread: the job stays queued for an existing one. With no
            // thread at all it would wait forever, so say so loudly.
            state.threads -= 1;
            crate::log_error!("blocking pool: could not start a thread; {} jobs queued", state.queue.len());
        }
    }
}

/// A pool thread: take jobs until none arrives for `IDLE_TIMEOUT`.
fn worker() {
    let pool = pool();
    let mut state = lock(&pool.state);
    loop {
        if let Some(job) = state.queue.pop_front() {
            drop(state);
            job();
            state = lock(&pool.state);
            state.completed += 1;
            continue;
        }
        if state.threads > pool.max_threads.load(Ordering::Relaxed) {
            break;
        }
        state.idle += 1;
        let (next, timeout) = pool.work_available.wait_timeout(state, IDLE_TIMEOUT).unwrap_or_else(|e| e.into_inner());
        state = next;
        state.idle -= 1;
        if timeout.timed_out() && state.queue.is_empty() {
            break;
        }
    }
    state.threads -= 1;
}

/// Where a pool thread leaves a job's result for the awaiting task.
struct ResultSlot<T> {
    /// The result, once the job finished.
    result: Option<Result<T, JoinError>>,
    /// The waker of the task awaiting the result; the pool thread calls it.
    waker: Option<Waker>,
}

/// A job's panic that nobody will ever await (its [`BlockingTask`] was dropped) is
/// logged when the slot goes, like a task's (see [`crate::panic`]).
impl<T> Drop for ResultSlot<T> {
    fn drop(&mut self) {
        if let Some(Err(JoinError::Panicked(panic))) = &self.result {
            crate::log_error!("blocking job {panic}, and nobody awaited it");
        }
    }
}

/// Future returned by [`spawn_blocking`].
#[must_use = "the job runs anyway, but its result is lost unless awaited"]
pub struct BlockingTask<T> {
    slot: Arc<Mutex<ResultSlot<T>>>,
}

impl<T> Future for BlockingTask<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut slot = lock(&self.slot);
        if let Some(result) = slot.result.take() {
            return Poll::Ready(result);
        }
        // Checked and registered under the same lock the pool thread takes to store the
        // result, so the result cannot slip in between and leave us asleep.
        match &slot.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => slot.waker = Some(cx.waker().clone()),
        }
        rasgi_reactor::trace::note_wait(rasgi_reactor::trace::Wait::Blocking);
        Poll::Pending
    }
}
