//! Build it yourself, step 2: a real waker that parks the thread, so nothing spins.
//!
//! **What it fixes:** step 1's busy loop. The future now keeps the waker it is handed
//! (`cx.waker()`) and the background thread calls it when the time is up. The loop polls
//! once, and if the answer is `Pending` it *parks* its thread — the kernel stops
//! scheduling it — until the waker unparks it. The program prints two polls: the first
//! that found the delay running, and the one after the wake that found it over.
//!
//! This is the Future contract in action: a future may return `Pending` only after it
//! has arranged for `cx.waker()` to be called. asyncio's counterpart is a task adding
//! its `__wakeup` as a done-callback on the future it awaits.
//!
//! **What it still gets wrong:** every delay costs a thread, and the only thing that can
//! wake the loop is another thread. A server waits on thousands of sockets and timers at
//! once; it needs one place that waits on all of them. Step 3 adds that place.
//!
//! Run it: `cargo run -p rasgi-executor --example step2_parking_waker`.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

/// State shared by the delay and its thread.
pub struct Shared {
    /// True once the time is up.
    pub done: bool,
    /// The waker of the last poll that found `done` false; called when it flips.
    pub waker: Option<Waker>,
}

/// Finishes after `duration`; wakes its task instead of waiting to be polled.
pub struct Delay {
    /// How long to wait; read once, by the first poll.
    pub duration: Duration,
    /// `None` before the first poll starts the thread.
    pub shared: Option<Arc<Mutex<Shared>>>,
}

impl Future for Delay {
    type Output = &'static str;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
        let duration = self.duration;
        let shared = self.shared.get_or_insert_with(|| {
            let shared = Arc::new(Mutex::new(Shared { done: false, waker: None }));
            let theirs = shared.clone();
            thread::spawn(move || {
                thread::sleep(duration);
                let waker = {
                    let mut state = theirs.lock().unwrap_or_else(|e| e.into_inner());
                    state.done = true;
                    state.waker.take()
                };
                // Wake outside the lock: the woken task will take it at once.
                if let Some(waker) = waker {
                    waker.wake();
                }
            });
            shared
        });
        let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
        if state.done {
            return Poll::Ready("the delay is over");
        }
        // Under the same lock as the check: the thread cannot flip `done` in between
        // and miss the waker.
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Wakes the thread running [`block_on`].
struct ThreadWaker {
    /// The thread to unpark.
    thread: Thread,
    /// Set by `wake`, cleared by the loop before it polls: `park` may return without
    /// anyone calling `unpark` (the documentation allows it), so the loop checks this.
    woken: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Polls `future` to completion, parking between polls; returns the output and the
/// number of polls.
pub fn block_on<F: Future>(future: F) -> (F::Output, u64) {
    let mut future = pin!(future);
    let thread_waker = Arc::new(ThreadWaker { thread: thread::current(), woken: AtomicBool::new(false) });
    let waker = Waker::from(thread_waker.clone());
    let mut cx = Context::from_waker(&waker);
    let mut polls = 0;
    loop {
        polls += 1;
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return (output, polls);
        }
        while !thread_waker.woken.swap(false, Ordering::Acquire) {
            thread::park();
        }
    }
}

/// The program's output, one line per entry, so a test can check it.
pub fn run() -> Vec<String> {
    let (message, polls) = block_on(Delay { duration: Duration::from_millis(20), shared: None });
    // The first poll starts the delay and the last one collects it; any other poll
    // found nothing to do.
    vec![message.to_owned(), format!("polls: {polls}"), format!("wasted polls: {}", polls - 2)]
}

fn main() {
    for line in run() {
        println!("{line}");
    }
}
