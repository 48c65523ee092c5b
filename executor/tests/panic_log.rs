//! Every caught panic is logged exactly once, with where it happened — and not at all
//! when someone awaited it and so received it as a value. std's panic hook prints nothing
//! for the panics rasgi catches (`rasgi_executor::panic`); a panic outside every catch
//! point still prints as usual.
//!
//! What is written to stderr is the point, so each scenario runs in a child process and
//! the parent checks the child's stderr line by line.

mod common;

use std::time::Duration;

use common::{in_child, stderr_of_child};
use rasgi_executor::{block_on, sleep, spawn, spawn_blocking, spawn_named};

/// Where the `panic!` whose message starts with `message` is in this file: `file:line:column`,
/// read from the source so that the expectations follow edits.
fn location_of(message: &str) -> String {
    let needle = format!("panic!(\"{message}");
    let (index, line) = include_str!("panic_log.rs")
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(&needle) && !l.contains("needle"))
        .unwrap_or_else(|| panic!("no panic!({message:?}) in this file"));
    let column = line.find("panic!").expect("a column") + 1;
    format!("{}:{}:{column}", file!(), index + 1)
}

#[test]
fn an_awaited_panic_is_a_value_and_prints_nothing() {
    const NAME: &str = "an_awaited_panic_is_a_value_and_prints_nothing";
    if in_child(NAME) {
        block_on(async {
            let err = spawn(async { panic!("seen by the awaiter") }).await.unwrap_err();
            assert_eq!(err.panic_message(), Some("seen by the awaiter"));
            let err = spawn_blocking(|| panic!("seen too")).await.unwrap_err();
            assert_eq!(err.panic_message(), Some("seen too"));
        });
        return;
    }
    assert_eq!(stderr_of_child(NAME), Vec::<String>::new());
}

#[test]
fn a_panic_nobody_awaits_is_logged_once_with_its_task_and_location() {
    const NAME: &str = "a_panic_nobody_awaits_is_logged_once_with_its_task_and_location";
    if in_child(NAME) {
        block_on(async {
            // Detached: the handle is dropped at once.
            drop(spawn_named("detached", async { panic!("lost boom") }));
            // A handle kept but dropped unawaited after the task panicked.
            let kept = spawn_named("kept", async { panic!("also lost") });
            sleep(Duration::from_millis(5)).await;
            assert!(kept.is_finished());
            drop(kept);
            // A blocking job whose future is dropped before the job ends.
            drop(spawn_blocking(|| {
                std::thread::sleep(Duration::from_millis(20));
                panic!("lost on the pool")
            }));
            // The pool counts a job as completed after its closure, and with it the
            // result slot, is gone: by then the line is written.
            for _ in 0..500 {
                if rasgi_executor::blocking::stats().completed >= 1 {
                    break;
                }
                sleep(Duration::from_millis(10)).await;
            }
        });
        return;
    }
    assert_eq!(
        stderr_of_child(NAME),
        [
            format!(
                "ERROR:   task 'detached' panicked at {}: lost boom, and nobody awaited it",
                location_of("lost boom")
            ),
            format!("ERROR:   task 'kept' panicked at {}: also lost, and nobody awaited it", location_of("also lost")),
            format!(
                "ERROR:   blocking job panicked at {}: lost on the pool, and nobody awaited it",
                location_of("lost on the pool")
            ),
        ]
    );
}

#[test]
fn a_panic_outside_every_catch_point_still_prints() {
    const NAME: &str = "a_panic_outside_every_catch_point_still_prints";
    if in_child(NAME) {
        // Install the quiet hook first, as a running server would have.
        assert!(rasgi_executor::catch(|| ()).is_ok());
        let outside = std::panic::catch_unwind(|| panic!("not rasgi's to catch"));
        assert!(outside.is_err());
        return;
    }
    let lines = stderr_of_child(NAME);
    let place = location_of("not rasgi's to catch");
    assert!(
        lines.iter().any(|l| l.ends_with(&format!("panicked at {place}:"))),
        "std's hook did not print the panic: {lines:?}"
    );
    assert!(lines.iter().any(|l| l == "not rasgi's to catch"), "{lines:?}");
}
