//! A panicking task does not take the loop down: the panic is caught at the task's
//! boundary and handed to whoever awaits its `JoinHandle` — as asyncio stores a task's
//! exception in the `Task` — while every other task carries on with its work.

mod common;

use std::time::Duration;

use common::{within, Log};
use rasgi_executor::{sleep, spawn, yield_now, Runtime};

#[test]
fn a_panic_becomes_a_join_error_and_other_tasks_finish() {
    let (events, tasks_left) = within(Duration::from_secs(10), || {
        let runtime = Runtime::new().unwrap();
        let events = runtime.block_on(async {
            let log = Log::default();
            let worker = spawn({
                let log = log.clone();
                async move {
                    for i in 0..3 {
                        log.push(format!("worker step {i}"));
                        yield_now().await;
                    }
                    "worker done"
                }
            });
            let sleeper = spawn(async {
                sleep(Duration::from_millis(20)).await;
                7
            });
            // Panics in its second poll, after an await, with a formatted message.
            let bomb = spawn({
                let log = log.clone();
                async move {
                    log.push("bomb armed");
                    yield_now().await;
                    let code = 42;
                    if code == 42 {
                        panic!("boom {code}");
                    }
                    code
                }
            });
            // Panics in its first poll, with a `&'static str` payload.
            let dud = spawn(async { panic!("static boom") });

            let err = bomb.await.expect_err("the panicking task returned a value");
            assert!(err.is_panic());
            assert!(!err.is_cancelled());
            assert_eq!(err.panic_message(), Some("boom 42"));
            // The location is the `panic!` line, kept by the quiet panic hook.
            let text = err.to_string().lines().next().unwrap_or_default().to_owned();
            assert!(text.starts_with(concat!("task panicked at ", file!(), ":")), "{text}");
            assert!(text.ends_with(": boom 42"), "{text}");
            let err = dud.await.expect_err("the panicking task returned a value");
            assert_eq!(err.panic_message(), Some("static boom"));

            assert_eq!(worker.await.unwrap(), "worker done");
            assert_eq!(sleeper.await.unwrap(), 7);
            // The loop still runs new tasks after the panics.
            assert_eq!(spawn(async { 3 }).await.unwrap(), 3);
            log.take()
        });
        (events, runtime.task_count())
    });
    assert_eq!(events, ["worker step 0", "bomb armed", "worker step 1", "worker step 2"]);
    assert_eq!(tasks_left, 0);
}

#[test]
fn a_panic_without_a_string_payload_has_no_message() {
    let err = rasgi_executor::block_on(async { spawn(async { std::panic::panic_any(17_u32) }).await.unwrap_err() });
    assert!(err.is_panic());
    assert_eq!(err.panic_message(), None);
    let text = err.to_string().lines().next().unwrap_or_default().to_owned();
    assert!(text.starts_with(concat!("task panicked at ", file!(), ":")), "{text}");
    assert!(text.ends_with(": (no message)"), "{text}");
}
