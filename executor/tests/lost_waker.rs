//! The waker diagnostic: a task whose future returns `Pending` without handing its
//! waker to anyone can never be woken. The loop notices (nobody holds a clone of the
//! task's waker) and says so once; well-behaved waiting tasks are never reported.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rasgi_executor::{block_on, sleep, spawn_named, sync::oneshot, task, yield_now};

/// The classic mistake: "not ready yet" without registering the waker.
struct Forgetful;

impl Future for Forgetful {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

#[test]
fn a_pending_task_that_kept_no_waker_is_reported_once() {
    block_on(async {
        let forgetful = spawn_named("forgetful", Forgetful);
        // Well-behaved waiters: a timer and a channel each keep the waker.
        let (_tx, rx) = oneshot::channel::<()>();
        let on_channel = spawn_named("on-channel", async move {
            let _ = rx.await;
        });
        let on_timer = spawn_named("on-timer", sleep(Duration::from_secs(60)));
        for _ in 0..3 {
            yield_now().await;
        }
        let warnings = task::recent_warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let message = &warnings[0].message;
        assert!(message.starts_with("lost waker: task #"), "{message}");
        assert!(message.contains("'forgetful' returned Pending but no one kept its waker"), "{message}");
        // Aborting wakes the task through the executor, so even a lost task can be
        // stopped; the diagnostic does not repeat.
        forgetful.abort();
        assert!(forgetful.await.unwrap_err().is_cancelled());
        on_channel.abort();
        on_timer.abort();
        yield_now().await;
        assert_eq!(task::recent_warnings().len(), 1);
    });
}
