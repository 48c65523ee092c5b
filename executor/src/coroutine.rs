//! A coroutine, desugared.
//!
//! The seed's first example is
//!
//! ```python
//! async def my_coroutine():
//!     print("Starting coroutine")
//!     await asyncio.sleep(1)
//!     print("Coroutine finished")
//! ```
//!
//! [`my_coroutine`] is that coroutine as an `async fn`. [`MyCoroutine`] is the same
//! coroutine written the way the compiler writes it: an enum with one variant per place
//! the function can be suspended, and a `poll` that runs from one `.await` to the next.
//! Reading them side by side is the shortest explanation of what `async` means: calling
//! the function runs *nothing* — it builds the state machine in its first state — and
//! each `poll` advances it until it either finishes or must wait.
//!
//! Both take a `say` callback instead of printing, so a test can check they say the same
//! things at the same points (`cargo run --bin coroutine` prints them).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rasgi_reactor::{sleep, Sleep};

/// The seed's coroutine as an `async fn`.
pub async fn my_coroutine(mut say: impl FnMut(&str), pause: Duration) {
    say("Starting coroutine");
    sleep(pause).await;
    say("Coroutine finished");
}

/// The same coroutine as the state machine the compiler generates for
/// [`my_coroutine`]. Build it with [`MyCoroutine::new`] (the "call" of the function).
pub enum MyCoroutine<S: FnMut(&str)> {
    /// Called but never polled. Holds the arguments; no line of the body has run — in
    /// Python too, `my_coroutine()` only creates a coroutine object.
    Start {
        /// The output callback.
        say: S,
        /// How long to sleep.
        pause: Duration,
    },
    /// Suspended at `sleep(pause).await`. Holds what is still needed after the await
    /// (`say`) and the future being awaited: the locals that live across an `.await`
    /// are exactly the fields of its state.
    Sleeping {
        /// The output callback, needed for the second line.
        say: S,
        /// The sleep in progress.
        sleep: Sleep,
    },
    /// Returned. Polling again is a bug (the compiler's version panics too).
    Done,
}

impl<S: FnMut(&str)> MyCoroutine<S> {
    /// "Calls" the coroutine: captures the arguments, runs nothing.
    pub fn new(say: S, pause: Duration) -> Self {
        MyCoroutine::Start { say, pause }
    }
}

// No field is pinned (a `Sleep` may move freely), so the state machine is `Unpin` and
// `poll` can use `&mut self`. The compiler's version is `!Unpin` because its states may
// hold references into themselves; ours never do.
impl<S: FnMut(&str)> Unpin for MyCoroutine<S> {}

impl<S: FnMut(&str)> Future for MyCoroutine<S> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            // Take the current state out, leaving `Done` behind; every arm either puts
            // the next state back or returns with `Done` in place.
            match std::mem::replace(&mut *self, MyCoroutine::Done) {
                MyCoroutine::Start { mut say, pause } => {
                    // The code before the first `.await` runs on the first poll.
                    say("Starting coroutine");
                    // `sleep(pause)` creates the awaited future; `.await` moves into
                    // the state that polls it.
                    *self = MyCoroutine::Sleeping { say, sleep: sleep(pause) };
                }
                MyCoroutine::Sleeping { mut say, mut sleep } => {
                    // `.await` is this: poll the inner future; if it is pending, stay in
                    // this state and return Pending. The Sleep has registered our waker
                    // with the reactor's timers, so we will be polled again.
                    if Pin::new(&mut sleep).poll(cx).is_pending() {
                        *self = MyCoroutine::Sleeping { say, sleep };
                        return Poll::Pending;
                    }
                    // The inner future finished: run the code after the `.await`.
                    say("Coroutine finished");
                    return Poll::Ready(());
                }
                MyCoroutine::Done => panic!("`MyCoroutine` polled after completion"),
            }
        }
    }
}
