//! The runtime: one reactor and one executor on the current thread, and `block_on`,
//! which runs a main future to completion — `asyncio.run(main())`.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use rasgi_reactor::{trace, Reactor, ReactorGuard};

use crate::executor::{Config, Executor};
use crate::waker::MainWaker;

/// The default slow-poll threshold: asyncio's debug mode uses 100 ms too.
const DEFAULT_SLOW_POLL: Duration = Duration::from_millis(100);

/// Configures a [`Runtime`].
#[derive(Clone, Debug)]
pub struct Builder {
    config: Config,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// Default settings: 256 task polls per turn; a 100 ms slow-poll threshold, or the
    /// number of milliseconds in `RASGI_SLOW_POLL_MS` (0 turns the detector off).
    pub fn new() -> Builder {
        rasgi_reactor::trace::init_from_env();
        let slow_poll_threshold = std::env::var("RASGI_SLOW_POLL_MS")
            .ok()
            .and_then(|ms| ms.trim().parse::<u64>().ok())
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_SLOW_POLL);
        Builder { config: Config { tasks_per_turn: 256, slow_poll_threshold } }
    }

    /// A poll that holds the loop longer than `threshold` logs a warning naming the
    /// task. `Duration::ZERO` turns the detector off.
    pub fn slow_poll_threshold(mut self, threshold: Duration) -> Builder {
        self.config.slow_poll_threshold = threshold;
        self
    }

    /// How many tasks one loop turn may poll before checking I/O again (at least 1).
    pub fn tasks_per_turn(mut self, n: usize) -> Builder {
        self.config.tasks_per_turn = n.max(1);
        self
    }

    /// Creates the runtime on the current thread.
    pub fn build(self) -> io::Result<Runtime> {
        let reactor = Reactor::new()?;
        let executor = Rc::new(Executor::new(reactor.clone(), self.config));
        crate::timeline::loop_started();
        Ok(Runtime { reactor, executor })
    }
}

/// One event loop: a reactor and an executor, bound to the thread that created it.
pub struct Runtime {
    reactor: Reactor,
    executor: Rc<Executor>,
}

impl Runtime {
    /// A runtime with default settings.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A builder for custom settings.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `future` to completion, turning the loop as long as it is pending. Tasks it
    /// spawned that are still running when it finishes stay in the runtime (a later
    /// `block_on` continues them) until the runtime is dropped.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _entered = self.enter();
        let mut future = pin!(future);
        let shared = self.executor.shared().clone();
        let waker = Waker::from(Arc::new(MainWaker { shared: shared.clone() }));
        let mut cx = Context::from_waker(&waker);
        // `main_woken` starts true so the main future gets its first poll.
        shared.main_woken.store(true, Ordering::Release);
        loop {
            if shared.main_woken.swap(false, Ordering::AcqRel) {
                let narrating = trace::narrating();
                if narrating {
                    trace::narrate(format_args!("main future polled"));
                }
                if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                    return output;
                }
                self.executor.after_main_poll();
                // The main future is not a task: its wait notes are narrated here and
                // must not be left for the next task's poll to pick up.
                let waits = if trace::recording() { trace::take_waits() } else { Vec::new() };
                if narrating {
                    let waits: Vec<String> = waits.iter().map(ToString::to_string).collect();
                    trace::narrate(format_args!("main future returned Pending; it waits for {}", waits.join(", ")));
                }
            }
            if let Err(e) = self.executor.turn() {
                // epoll_wait only fails on programming errors (a bad fd, EFAULT); there
                // is no way to keep running a loop that cannot wait.
                panic!("the reactor failed to wait for events: {e}");
            }
        }
    }

    /// Makes this runtime current on this thread (so `spawn` and sockets work) until the
    /// guard drops. `block_on` does this itself.
    pub fn enter(&self) -> EnterGuard {
        EnterGuard { _reactor: self.reactor.enter(), _executor: self.executor.enter() }
    }

    /// The reactor of this runtime.
    pub fn reactor(&self) -> &Reactor {
        &self.reactor
    }

    /// Number of tasks alive in this runtime.
    pub fn task_count(&self) -> usize {
        self.executor.task_count()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Remaining tasks are dropped with the runtime entered, so their destructors
        // (closing sockets, cancelling timers) find the reactor they belong to.
        let _entered = self.enter();
        self.executor.drop_all_tasks();
        crate::timeline::loop_finished();
    }
}

/// Keeps a runtime current on this thread; see [`Runtime::enter`].
pub struct EnterGuard {
    // Field order matters: the executor guard drops first, then the reactor's.
    _executor: crate::executor::ExecutorGuard,
    _reactor: ReactorGuard,
}

/// Runs `future` on a new single-threaded runtime: the `asyncio.run` of rasgi.
///
/// # Panics
/// If the OS refuses to create an epoll instance (out of file descriptors).
pub fn block_on<F: Future>(future: F) -> F::Output {
    match Runtime::new() {
        Ok(runtime) => runtime.block_on(future),
        Err(e) => panic!("cannot create a rasgi runtime: {e}"),
    }
}
