//! The reactor: the part of the event loop that sleeps in the kernel.
//!
//! One [`Reactor`] lives on each loop thread. It owns a `mio::Poll` (epoll on Linux),
//! a table of registered sockets, and the timers. Each loop turn the executor calls
//! [`Reactor::wait`] with a timeout it computed from [`Reactor::next_deadline`], then
//! [`Reactor::fire_expired_timers`]. In asyncio this is `BaseEventLoop._run_once`'s call
//! to `selector.select(timeout)` followed by the scan of the `_scheduled` heap.
//!
//! Futures reach the reactor of their thread through a thread-local set by
//! [`Reactor::enter`]: a socket or a timer created on a loop thread belongs to that
//! loop. That is also why the types here are `!Send` — they are tied to one loop.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::task::Waker;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use crate::source::{Direction, Waiters};
use crate::timer::{TimerKey, Timers};
use crate::trace::{self, WakeSource};
use crate::unpark::Unparker;

/// The token under which the cross-thread `mio::Waker` is registered. Socket tokens are
/// slab indices, which never reach this value.
pub(crate) const UNPARK_TOKEN: Token = Token(usize::MAX);

/// How many readiness events one `wait` can return. More ready sockets than this are
/// simply reported by the next `epoll_wait`, which returns immediately.
const EVENTS_CAPACITY: usize = 1024;

thread_local! {
    /// The reactor of the loop running on this thread, set by [`Reactor::enter`].
    static CURRENT: RefCell<Option<Rc<Inner>>> = const { RefCell::new(None) };
}

/// The waiting half of an event loop: I/O readiness, timers and cross-thread wake-ups.
///
/// Cloning a `Reactor` gives another handle to the same reactor.
#[derive(Clone)]
pub struct Reactor {
    inner: Rc<Inner>,
}

/// The reactor's state. Every `RefCell` here is borrowed only for the length of one
/// method call and never across a call into user code (a `wake()` included), so a waker
/// that re-enters the reactor cannot find it borrowed.
pub(crate) struct Inner {
    /// The OS selector. Borrowed only inside [`Reactor::wait`].
    poll: RefCell<Poll>,
    /// Reused event buffer for `poll`; its contents are meaningless outside `wait`.
    events: RefCell<Events>,
    /// Waiters of every registered socket, indexed by `Token`. A freed slot is reused,
    /// so a late event for a closed socket can at worst wake a newer socket spuriously —
    /// which every future must tolerate anyway.
    sources: RefCell<Slab>,
    /// Pending timers ordered by deadline.
    timers: RefCell<Timers>,
    /// Shared with other threads so they can interrupt `wait`.
    unparker: Unparker,
    /// Counters for diagnostics and tests.
    stats: Cell<Stats>,
}

/// Counters a reactor keeps about itself, for tests and the live loop view.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Calls to [`Reactor::wait`] (each one `epoll_wait` system call).
    pub waits: u64,
    /// Readiness events delivered by the kernel.
    pub events: u64,
    /// Timers that reached their deadline and woke their future.
    pub timers_fired: u64,
    /// Sockets registered right now.
    pub sources: usize,
    /// Timers pending right now.
    pub timers: usize,
}

/// One registered socket, as the live loop view shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceInfo {
    /// The socket's token.
    pub token: usize,
    /// A future waits for it to become readable.
    pub read_waiting: bool,
    /// A future waits for it to become writable.
    pub write_waiting: bool,
}

/// Restores the previous current reactor when dropped; see [`Reactor::enter`].
pub struct ReactorGuard {
    previous: Option<Rc<Inner>>,
}

impl Drop for ReactorGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = self.previous.take());
    }
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Deliberately borrow-free: a `Sleep` may be formatted while the reactor's tables
        // are borrowed, and `Debug` must never panic.
        f.write_str("Reactor")
    }
}

impl Reactor {
    /// Creates a reactor with its own `epoll` instance.
    pub fn new() -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let unparker = Unparker::new(poll.registry(), UNPARK_TOKEN)?;
        Ok(Reactor {
            inner: Rc::new(Inner {
                poll: RefCell::new(poll),
                events: RefCell::new(Events::with_capacity(EVENTS_CAPACITY)),
                sources: RefCell::new(Slab::default()),
                timers: RefCell::new(Timers::default()),
                unparker,
                stats: Cell::new(Stats::default()),
            }),
        })
    }

    /// Makes this the current reactor of the calling thread until the guard is dropped.
    /// Sockets and timers created meanwhile register here.
    pub fn enter(&self) -> ReactorGuard {
        let previous = CURRENT.with(|c| c.borrow_mut().replace(self.inner.clone()));
        ReactorGuard { previous }
    }

    /// A handle other threads use to interrupt [`Reactor::wait`].
    pub fn unparker(&self) -> Unparker {
        self.inner.unparker.clone()
    }

    /// The earliest pending timer deadline, if any: the loop sleeps no longer than this.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.inner.timers.borrow().next_deadline()
    }

    /// Blocks in the kernel until a registered socket is ready, another thread unparks
    /// the loop, or `timeout` passes (`None` = no limit), then wakes the futures waiting
    /// on the sockets that became ready. Returns how many readiness events arrived.
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<usize> {
        let inner = &*self.inner;
        let mut events = inner.events.borrow_mut();
        let narrating = trace::narrating();
        if narrating {
            self.narrate_sleep(timeout);
        }
        match inner.poll.borrow_mut().poll(&mut events, timeout) {
            Ok(()) => {}
            // A signal arrived while we slept: not an error, just an early return.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(0),
            Err(e) => return Err(e),
        }
        let mut count = 0;
        for event in events.iter() {
            if event.token() == UNPARK_TOKEN {
                // Nothing to do here: whoever unparked us left their work in a queue
                // the executor drains on its next turn.
                continue;
            }
            count += 1;
            // Errors and hang-ups wake both directions: the next read or write
            // attempt is what reports the error to the future.
            let read = event.is_readable() || event.is_read_closed() || event.is_error();
            let write = event.is_writable() || event.is_write_closed() || event.is_error();
            let read_closed = event.is_read_closed() || event.is_error();
            let write_closed = event.is_write_closed() || event.is_error();
            // Take the wakers out before waking: `wake()` may run arbitrary code (the
            // executor's queue push), and must not find `sources` borrowed.
            let token = event.token().0;
            if narrating {
                trace::narrate(format_args!(
                    "reactor: socket {token} is {}",
                    match (read, write) {
                        (true, true) => "readable and writable",
                        (true, false) => "readable",
                        _ => "writable",
                    }
                ));
            }
            let (r, w) = inner.sources.borrow_mut().take_wakers(token, read, write, read_closed, write_closed);
            if r.is_some() || w.is_some() {
                trace::with_wake_source(WakeSource::Socket { token, readable: read, writable: write }, || {
                    if let Some(w) = r {
                        w.wake();
                    }
                    if let Some(w) = w {
                        w.wake();
                    }
                });
            }
        }
        let mut stats = inner.stats.get();
        stats.waits += 1;
        stats.events += count as u64;
        inner.stats.set(stats);
        Ok(count)
    }

    /// Wakes every timer whose deadline is at or before `now`, in deadline order (ties
    /// in the order they were registered). Returns how many fired. `now` must be a fresh
    /// reading of the clock: it becomes [`loop_time`], which sleeps trust to be no later
    /// than the real time.
    pub fn fire_expired_timers(&self, now: Instant) -> usize {
        set_loop_time(now);
        let mut fired = 0;
        // One timer at a time, so that no borrow is held while `wake()` runs.
        loop {
            let next = self.inner.timers.borrow_mut().pop_expired(now);
            match next {
                Some(waker) => {
                    fired += 1;
                    if trace::narrating() {
                        trace::narrate(format_args!("reactor: a timer fired"));
                    }
                    trace::with_wake_source(WakeSource::Timer, || waker.wake());
                }
                None => break,
            }
        }
        if fired > 0 {
            let mut stats = self.inner.stats.get();
            stats.timers_fired += fired as u64;
            self.inner.stats.set(stats);
        }
        fired
    }

    /// A snapshot of this reactor's counters.
    pub fn stats(&self) -> Stats {
        let mut stats = self.inner.stats.get();
        stats.sources = self.inner.sources.borrow().len();
        stats.timers = self.inner.timers.borrow().len();
        stats
    }

    /// Describes the coming sleep in the narration.
    fn narrate_sleep(&self, timeout: Option<Duration>) {
        let (sockets, timers) = (self.inner.sources.borrow().len(), self.inner.timers.borrow().len());
        match timeout {
            Some(t) if t.is_zero() => {
                trace::narrate(format_args!("reactor: checking for I/O without sleeping (tasks are ready)"))
            }
            Some(t) => trace::narrate(format_args!(
                "reactor: sleeping up to {:.1} ms, until the next timer ({sockets} sockets, {timers} timers registered)",
                t.as_secs_f64() * 1000.0
            )),
            None => trace::narrate(format_args!(
                "reactor: sleeping until a socket is ready ({sockets} sockets registered, no timers)"
            )),
        }
    }

    /// Every registered socket and which directions someone waits in.
    pub fn sources(&self) -> Vec<SourceInfo> {
        let sources = self.inner.sources.borrow();
        sources
            .slots
            .iter()
            .enumerate()
            .filter_map(|(token, slot)| {
                let waiters = slot.as_ref()?;
                Some(SourceInfo {
                    token,
                    read_waiting: waiters.is_waiting(Direction::Read),
                    write_waiting: waiters.is_waiting(Direction::Write),
                })
            })
            .collect()
    }

    /// The deadlines of pending timers, earliest first.
    pub fn timer_deadlines(&self) -> Vec<Instant> {
        self.inner.timers.borrow().deadlines().collect()
    }

    /// Runs `f` with the reactor of the current thread.
    ///
    /// # Panics
    /// When no reactor was entered on this thread: sockets and timers only work inside
    /// a running loop (`rasgi_executor::block_on` enters one).
    pub fn with_current<R>(f: impl FnOnce(&Reactor) -> R) -> R {
        match Reactor::try_current() {
            Some(reactor) => f(&reactor),
            None => panic!(
                "no rasgi reactor on this thread: sockets and timers must be used \
                 inside a running event loop (see rasgi_executor::block_on)"
            ),
        }
    }

    /// The reactor of the current thread, if one was entered.
    pub fn try_current() -> Option<Reactor> {
        CURRENT.with(|c| c.borrow().clone().map(|inner| Reactor { inner }))
    }

    /// Registers a mio source for the readiness in `interest` and returns its token.
    ///
    /// The interest is chosen once, up front, and never changed: a stream passes
    /// `READABLE | WRITABLE`, a listener only `READABLE` (it is never written to). With
    /// edge-triggered epoll an interest that is not currently awaited costs nothing (no
    /// event repeats), while changing interests per operation would cost an `epoll_ctl`
    /// system call each time.
    pub(crate) fn register(&self, source: &mut impl mio::event::Source, interest: Interest) -> io::Result<usize> {
        let token = self.inner.sources.borrow_mut().insert();
        let registered = self.inner.poll.borrow().registry().register(source, Token(token), interest);
        if let Err(e) = registered {
            self.inner.sources.borrow_mut().remove(token);
            return Err(e);
        }
        Ok(token)
    }

    /// Removes a source registered under `token` and drops its waiters.
    pub(crate) fn deregister(&self, source: &mut impl mio::event::Source, token: usize) {
        // Closing the fd removes it from epoll anyway, so a failure here leaks nothing.
        let _ = self.inner.poll.borrow().registry().deregister(source);
        let waiters = self.inner.sources.borrow_mut().remove(token);
        drop(waiters);
    }

    /// Whether an operation on `token` in `direction` may succeed.
    pub(crate) fn is_ready(&self, token: usize, direction: Direction) -> bool {
        match self.inner.sources.borrow().slots.get(token) {
            Some(Some(waiters)) => waiters.is_ready(direction),
            _ => true,
        }
    }

    /// Records the readiness of `token` in `direction`.
    pub(crate) fn set_ready(&self, token: usize, direction: Direction, ready: bool) {
        if let Some(Some(waiters)) = self.inner.sources.borrow_mut().slots.get_mut(token) {
            waiters.set_ready(direction, ready);
        }
    }

    /// Stores `waker` as the one waiting on `token` in `direction`.
    pub(crate) fn set_waker(&self, token: usize, direction: Direction, waker: &Waker) {
        self.inner.sources.borrow_mut().set_waker(token, direction, waker);
    }

    /// Inserts a timer; see [`Timers::insert`].
    pub(crate) fn insert_timer(&self, deadline: Instant, waker: Waker) -> TimerKey {
        self.inner.timers.borrow_mut().insert(deadline, waker)
    }

    /// Replaces a pending timer's waker; returns false when the timer already fired.
    pub(crate) fn update_timer(&self, key: TimerKey, waker: &Waker) -> bool {
        self.inner.timers.borrow_mut().update(key, waker)
    }

    /// Cancels a timer; the waker it held is dropped outside the borrow.
    pub(crate) fn remove_timer(&self, key: TimerKey) {
        let waker = self.inner.timers.borrow_mut().remove(key);
        drop(waker);
    }
}

/// Slot table of socket waiters, indexed by token. A plain `Vec` plus a free list: the
/// token of a closed socket is handed to the next one, so the table stays as large as
/// the most sockets ever open at once.
#[derive(Default)]
struct Slab {
    /// `None` marks a free slot, whose index is also on `free`.
    slots: Vec<Option<Waiters>>,
    /// Indices of free slots, reused last-in first-out (the most recently freed slot is
    /// the most likely to still be in cache).
    free: Vec<usize>,
}

impl Slab {
    fn insert(&mut self) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(Waiters::default());
                i
            }
            None => {
                self.slots.push(Some(Waiters::default()));
                self.slots.len() - 1
            }
        }
    }

    fn remove(&mut self, token: usize) -> Option<Waiters> {
        let waiters = self.slots.get_mut(token).and_then(Option::take);
        if waiters.is_some() {
            self.free.push(token);
        }
        waiters
    }

    fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    fn set_waker(&mut self, token: usize, direction: Direction, waker: &Waker) {
        if let Some(Some(waiters)) = self.slots.get_mut(token) {
            waiters.set(direction, waker);
        }
    }

    fn take_wakers(
        &mut self,
        token: usize,
        read: bool,
        write: bool,
        read_closed: bool,
        write_closed: bool,
    ) -> (Option<Waker>, Option<Waker>) {
        match self.slots.get_mut(token) {
            Some(Some(waiters)) => {
                if read_closed {
                    waiters.set_closed(Direction::Read);
                }
                if write_closed {
                    waiters.set_closed(Direction::Write);
                }
                // The event is news of readiness, whether or not anyone waits now.
                if read {
                    waiters.set_ready(Direction::Read, true);
                }
                if write {
                    waiters.set_ready(Direction::Write, true);
                }
                (
                    if read { waiters.take(Direction::Read) } else { None },
                    if write { waiters.take(Direction::Write) } else { None },
                )
            }
            _ => (None, None),
        }
    }
}

thread_local! {
    /// This thread's loop's latest reading of the clock: when it last woke from its wait
    /// (set where the timers are fired, which reads the clock anyway), or when its last
    /// timed poll ended. Never ahead of the real clock. `None` on a thread that runs no
    /// loop.
    static LOOP_TIME: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

/// The loop's latest reading of the clock: "now", give or take one turn, without
/// asking the kernel. For values that change once a second — the `Date` header — a
/// clock read per response was measurable (about 1 % of a pipelined request's
/// instructions); this costs a thread-local read. Off a loop thread it reads the clock.
pub fn loop_time() -> Instant {
    LOOP_TIME.get().unwrap_or_else(Instant::now)
}

/// Records a reading of the clock as the loop's [`loop_time`]. `now` must be fresh (just
/// read): sleeps trust the loop time never to be ahead of the real clock.
pub fn set_loop_time(now: Instant) {
    LOOP_TIME.set(Some(now));
}
