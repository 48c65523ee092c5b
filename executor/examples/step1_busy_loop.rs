//! Build it yourself, step 1: a future written by hand, driven by a busy loop.
//!
//! A future is a value with a `poll` method: each call either finishes (`Ready`) or
//! says "not yet" (`Pending`). [`Delay`] is the smallest useful one — it finishes once a
//! background thread has waited out a duration. [`block_on`] drives it the naive way:
//! poll, and if it is not ready, poll again, and again.
//!
//! **What it fixes:** nothing yet; it is the baseline. It shows that `async` needs no
//! magic: a future is a state machine, and "running" it is calling `poll`.
//!
//! **What it still gets wrong:** the loop spins. It burns a whole core while the delay
//! runs, and the program prints how many of its polls found nothing to do — typically
//! hundreds of thousands for a 20 ms wait. The waker the loop passes in does nothing, so
//! the future has no way to say "poll me when I can progress". Step 2 fixes that.
//!
//! Run it: `cargo run -p rasgi-executor --example step1_busy_loop`.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

/// Finishes after `duration`, measured by a thread started on the first poll.
pub struct Delay {
    /// How long to wait; read once, by the first poll.
    pub duration: Duration,
    /// Set by the background thread when the time is up; `None` before the first poll.
    pub done: Option<Arc<AtomicBool>>,
}

impl Future for Delay {
    type Output = &'static str;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<&'static str> {
        let duration = self.duration;
        let done = self.done.get_or_insert_with(|| {
            let done = Arc::new(AtomicBool::new(false));
            let flag = done.clone();
            thread::spawn(move || {
                thread::sleep(duration);
                flag.store(true, Ordering::Release);
            });
            done
        });
        // Nothing is told when the flag flips: the caller has to come back and look.
        if done.load(Ordering::Acquire) {
            Poll::Ready("the delay is over")
        } else {
            Poll::Pending
        }
    }
}

/// A waker that does nothing when woken: `poll` needs one, this loop ignores it.
struct IgnoredWaker;

impl Wake for IgnoredWaker {
    fn wake(self: Arc<Self>) {}
}

/// Polls `future` until it is ready; returns its output and how many polls it took.
pub fn block_on<F: Future>(future: F) -> (F::Output, u64) {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(IgnoredWaker));
    let mut cx = Context::from_waker(&waker);
    let mut polls = 0;
    loop {
        polls += 1;
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return (output, polls);
        }
    }
}

/// The program's output, one line per entry, so a test can check it.
pub fn run() -> Vec<String> {
    let (message, polls) = block_on(Delay { duration: Duration::from_millis(20), done: None });
    // The first poll starts the delay and the last one collects it; any other poll
    // found nothing to do.
    vec![message.to_owned(), format!("polls: {polls}"), format!("wasted polls: {}", polls - 2)]
}

fn main() {
    for line in run() {
        println!("{line}");
    }
}
