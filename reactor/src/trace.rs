//! Making the loop visible: the narrated trace and what the live loop view reads.
//!
//! With `RASGI_TRACE=1` the loop narrates itself on stderr, one plain sentence per
//! event: a task was spawned, polled, parked waiting on a socket or a timer, woken (and
//! by what), finished; the reactor went to sleep for so long; a socket became ready; a
//! timer fired. asyncio's debug mode only warns about slow callbacks; tokio-console
//! needs a special build. Here the narration is always compiled in and costs one relaxed
//! atomic load per event when it is off.
//!
//! Two kinds of facts are collected:
//! - **wait reasons**: a leaf future that returns `Pending` says what it waits for
//!   ([`note_wait`]); the executor collects them after each poll, so it can say "task 4
//!   waits for socket 7 to become readable" instead of just "task 4 is pending";
//! - **wake sources**: while the reactor calls `wake()` for a readiness event or a timer,
//!   it says why ([`with_wake_source`]); the task's waker reads it and can say "woken by
//!   socket 7 readable".
//!
//! The reactor still knows nothing of tasks: it only leaves these notes in thread-locals
//! for whoever runs the futures to pick up.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Narrate on stderr.
static NARRATING: AtomicBool = AtomicBool::new(false);
/// Collect wait reasons (narration and the live view both need them).
static RECORDING: AtomicBool = AtomicBool::new(false);

/// True when the narration is on.
#[inline]
pub fn narrating() -> bool {
    NARRATING.load(Ordering::Relaxed)
}

/// True when wait reasons are collected.
#[inline]
pub fn recording() -> bool {
    RECORDING.load(Ordering::Relaxed)
}

/// Turns the narration on or off (it implies recording).
pub fn set_narrating(on: bool) {
    NARRATING.store(on, Ordering::Relaxed);
    if on {
        RECORDING.store(true, Ordering::Relaxed);
    }
}

/// Turns the collection of wait reasons on or off (the live loop view turns it on).
pub fn set_recording(on: bool) {
    RECORDING.store(on || narrating(), Ordering::Relaxed);
}

/// Reads `RASGI_TRACE` (`1`, `true` or `on` turn the narration on).
pub fn init_from_env() {
    if let Ok(value) = std::env::var("RASGI_TRACE") {
        if matches!(value.trim().to_ascii_lowercase().as_str(), "1" | "true" | "on" | "yes") {
            set_narrating(true);
        }
    }
}

/// Writes one narration line (call only when [`narrating`] is true).
pub fn narrate(args: fmt::Arguments<'_>) {
    let line = format!("TRACE:   {args}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// What a parked future waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wait {
    /// A socket becoming readable (bytes, a connection to accept, or end of stream).
    Readable {
        /// The socket's reactor token.
        token: usize,
    },
    /// A socket becoming writable (room in the send buffer, or a connect finishing).
    Writable {
        /// The socket's reactor token.
        token: usize,
    },
    /// A timer.
    Timer {
        /// When it fires.
        deadline: Instant,
    },
    /// A channel or other synchronisation primitive, named.
    Channel(&'static str),
    /// A job on the blocking pool.
    Blocking,
    /// Another task's completion (a `JoinHandle`).
    Task,
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Wait::Readable { token } => write!(f, "socket {token} readable"),
            Wait::Writable { token } => write!(f, "socket {token} writable"),
            Wait::Timer { deadline } => {
                let ms = deadline.saturating_duration_since(Instant::now()).as_secs_f64() * 1000.0;
                write!(f, "timer in {ms:.0} ms")
            }
            Wait::Channel(what) => write!(f, "{what}"),
            Wait::Blocking => f.write_str("a blocking-pool job"),
            Wait::Task => f.write_str("another task to finish"),
        }
    }
}

/// Why the reactor is calling `wake()` right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeSource {
    /// A readiness event for this socket.
    Socket {
        /// The socket's token.
        token: usize,
        /// Readable (or read-closed) was reported.
        readable: bool,
        /// Writable was reported.
        writable: bool,
    },
    /// A timer reached its deadline.
    Timer,
}

impl fmt::Display for WakeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WakeSource::Socket { token, readable: true, writable: true } => {
                write!(f, "socket {token} readable+writable")
            }
            WakeSource::Socket { token, readable: true, .. } => write!(f, "socket {token} readable"),
            WakeSource::Socket { token, .. } => write!(f, "socket {token} writable"),
            WakeSource::Timer => f.write_str("a timer"),
        }
    }
}

thread_local! {
    /// Wait reasons noted during the current poll.
    static WAITS: RefCell<Vec<Wait>> = const { RefCell::new(Vec::new()) };
    /// The reason for the `wake()` calls in progress.
    static WAKE_SOURCE: Cell<Option<WakeSource>> = const { Cell::new(None) };
}

/// Records what the current poll waits for (a no-op unless recording).
#[inline]
pub fn note_wait(wait: Wait) {
    if recording() {
        WAITS.with(|w| w.borrow_mut().push(wait));
    }
}

/// Takes the wait reasons noted since the last call.
pub fn take_waits() -> Vec<Wait> {
    WAITS.with(|w| std::mem::take(&mut *w.borrow_mut()))
}

/// Runs `f` (which calls `wake()`) with `source` as the reason any waker can read.
pub fn with_wake_source<R>(source: WakeSource, f: impl FnOnce() -> R) -> R {
    let previous = WAKE_SOURCE.with(|s| s.replace(Some(source)));
    let result = f();
    WAKE_SOURCE.with(|s| s.set(previous));
    result
}

/// The reason for the `wake()` in progress, if the reactor gave one.
pub fn wake_source() -> Option<WakeSource> {
    WAKE_SOURCE.with(Cell::get)
}
