//! The slow-poll detector — asyncio debug mode's "Executing <Task> took 0.301 seconds".
//! A task that blocks the loop (here `std::thread::sleep`, the classic mistake) gets
//! exactly one warning naming it and saying for how long it held the loop; tasks that
//! behave get none. The threshold comes from `Builder::slow_poll_threshold`, and zero
//! turns the detector off.
//!
//! The warning goes to stderr, so each scenario runs in a child process
//! (`common::stderr_of_child`) and the parent reads the child's stderr.

mod common;

use std::time::Duration;

use common::{in_child, stderr_of_child};
use rasgi_executor::{sleep, spawn, spawn_named, yield_now, Builder, Runtime};

/// Well-behaved tasks: they sleep and yield, and never hold the loop for long.
fn spawn_polite_tasks() -> Vec<rasgi_executor::JoinHandle<()>> {
    (0..4)
        .map(|i| {
            spawn_named(format!("polite-{i}"), async move {
                for _ in 0..3 {
                    yield_now().await;
                    sleep(Duration::from_millis(5 + i)).await;
                }
            })
        })
        .collect()
}

/// The "held the event loop for N ms" figure of a warning line.
fn held_ms(line: &str) -> f64 {
    let after = line.split("held the event loop for ").nth(1).expect("no duration in the warning");
    after.split(" ms").next().unwrap().parse().expect("the duration is not a number")
}

#[test]
fn a_blocking_task_is_named_in_exactly_one_warning() {
    const NAME: &str = "a_blocking_task_is_named_in_exactly_one_warning";
    if in_child(NAME) {
        let runtime = Runtime::new().unwrap(); // default threshold: 100 ms
        runtime.block_on(async {
            let polite = spawn_polite_tasks();
            // Blocks for a while, but below the threshold: no warning.
            let brief = spawn_named("brief-block", async { std::thread::sleep(Duration::from_millis(20)) });
            let slowpoke = spawn_named("slowpoke", async {
                yield_now().await;
                std::thread::sleep(Duration::from_millis(300));
                yield_now().await;
            });
            slowpoke.await.unwrap();
            brief.await.unwrap();
            for task in polite {
                task.await.unwrap();
            }
        });
        return;
    }

    let lines = stderr_of_child(NAME);
    assert_eq!(lines.len(), 1, "expected exactly one warning, got: {lines:#?}");
    let line = &lines[0];
    assert!(line.starts_with("WARNING: slow poll: task 'slowpoke' (#"), "unexpected warning: {line}");
    assert!(line.contains("(threshold 100 ms)"), "threshold missing: {line}");
    assert!(line.contains("spawn_blocking"), "the warning does not say what to do: {line}");
    let ms = held_ms(line);
    assert!((300.0..2000.0).contains(&ms), "reported {ms} ms for a 300 ms block: {line}");
}

#[test]
fn the_threshold_is_configurable() {
    const NAME: &str = "the_threshold_is_configurable";
    if in_child(NAME) {
        let runtime = Builder::new().slow_poll_threshold(Duration::from_millis(30)).build().unwrap();
        runtime.block_on(async {
            // 60 ms would pass under the default 100 ms threshold, but not under 30 ms.
            let medium = spawn_named("medium", async { std::thread::sleep(Duration::from_millis(60)) });
            let quick = spawn_named("quick", async { std::thread::sleep(Duration::from_millis(2)) });
            medium.await.unwrap();
            quick.await.unwrap();
            for task in spawn_polite_tasks() {
                task.await.unwrap();
            }
        });
        return;
    }

    let lines = stderr_of_child(NAME);
    assert_eq!(lines.len(), 1, "expected exactly one warning, got: {lines:#?}");
    let line = &lines[0];
    assert!(line.starts_with("WARNING: slow poll: task 'medium' (#"), "unexpected warning: {line}");
    assert!(line.contains("(threshold 30 ms)"), "threshold missing: {line}");
    let ms = held_ms(line);
    assert!((60.0..1000.0).contains(&ms), "reported {ms} ms for a 60 ms block: {line}");
}

#[test]
fn a_zero_threshold_turns_the_detector_off() {
    const NAME: &str = "a_zero_threshold_turns_the_detector_off";
    if in_child(NAME) {
        let runtime = Builder::new().slow_poll_threshold(Duration::ZERO).build().unwrap();
        runtime.block_on(async {
            spawn_named("slowpoke", async { std::thread::sleep(Duration::from_millis(300)) }).await.unwrap();
        });
        return;
    }

    let lines = stderr_of_child(NAME);
    assert!(lines.is_empty(), "the detector is off, yet: {lines:#?}");
}

#[test]
fn a_task_renamed_with_set_name_is_reported_under_its_new_name() {
    const NAME: &str = "a_task_renamed_with_set_name_is_reported_under_its_new_name";
    if in_child(NAME) {
        let runtime = Builder::new().slow_poll_threshold(Duration::from_millis(30)).build().unwrap();
        runtime.block_on(async {
            spawn(async {
                // A server names its connection task after the request it serves.
                rasgi_executor::task::set_name("GET /blocking");
                assert_eq!(rasgi_executor::task::name().as_deref(), Some("GET /blocking"));
                std::thread::sleep(Duration::from_millis(60));
            })
            .await
            .unwrap();
        });
        return;
    }

    let lines = stderr_of_child(NAME);
    assert_eq!(lines.len(), 1, "expected exactly one warning, got: {lines:#?}");
    assert!(lines[0].starts_with("WARNING: slow poll: task 'GET /blocking' (#"), "unexpected warning: {}", lines[0]);
}
