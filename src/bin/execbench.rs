//! The executor micro-benchmarks of the comparison harness (`benches/harness`, suite
//! `exec`), measured the same way as the tokio peer's `execbench`:
//!
//! - `spawn`: 1,000,000 trivial tasks spawned, then each awaited;
//! - `pingpong`: 100,000 wake-ups sent back and forth between two tasks;
//! - `timers`: 100,000 tasks sleeping 1–10 ms; CPU time per timer (wall time would be
//!   mostly the sleeping).
//!
//! Prints one JSON line per measurement. `execbench [--only spawn,pingpong,timers]`

use std::time::{Duration, Instant};

use rasgi_executor::sync::mpsc;
use rasgi_executor::{block_on, sleep, spawn};

const SPAWNS: u64 = 1_000_000;
const ROUND_TRIPS: u64 = 100_000;
const TIMERS: u64 = 100_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let only = match args.iter().position(|a| a == "--only") {
        Some(i) => args.get(i + 1).cloned().unwrap_or_default(),
        None => "spawn,pingpong,timers".to_owned(),
    };
    for measure in only.split(',').filter(|m| !m.is_empty()) {
        let (ops, elapsed) = match measure {
            "spawn" => block_on(spawn_complete()),
            "pingpong" => block_on(ping_pong()),
            "timers" => block_on(timers()),
            other => {
                eprintln!("execbench: unknown measurement {other:?} (spawn, pingpong, timers)");
                std::process::exit(2);
            }
        };
        println!(
            "{{\"bench\":\"exec\",\"impl\":\"rasgi\",\"measure\":\"{measure}\",\"value\":{:.1},\"unit\":\"ns/op\",\"ops\":{ops},\"seconds\":{:.4}}}",
            elapsed.as_nanos() as f64 / ops as f64,
            elapsed.as_secs_f64()
        );
    }
}

async fn spawn_complete() -> (u64, Duration) {
    let start = Instant::now();
    let handles: Vec<_> = (0..SPAWNS).map(|i| spawn(async move { i })).collect();
    let mut sum = 0u64;
    for handle in handles {
        sum = sum.wrapping_add(handle.await.unwrap_or(0));
    }
    std::hint::black_box(sum);
    (SPAWNS, start.elapsed())
}

async fn ping_pong() -> (u64, Duration) {
    // Two one-slot channels stand in for tokio's `Notify`: each send wakes the other task.
    let (ping_tx, mut ping_rx) = mpsc::channel::<()>(1);
    let (pong_tx, mut pong_rx) = mpsc::channel::<()>(1);
    let start = Instant::now();
    let responder = spawn(async move {
        for _ in 0..ROUND_TRIPS {
            if ping_rx.recv().await.is_none() || pong_tx.send(()).await.is_err() {
                return;
            }
        }
    });
    for _ in 0..ROUND_TRIPS {
        if ping_tx.send(()).await.is_err() || pong_rx.recv().await.is_none() {
            break;
        }
    }
    let _ = responder.await;
    (ROUND_TRIPS, start.elapsed())
}

async fn timers() -> (u64, Duration) {
    let cpu_before = cpu_time();
    let handles: Vec<_> = (0..TIMERS).map(|i| spawn(sleep(Duration::from_millis(1 + i % 10)))).collect();
    for handle in handles {
        let _ = handle.await;
    }
    (TIMERS, cpu_time().saturating_sub(cpu_before))
}

/// CPU time of this (single-threaded) process's main thread, from the scheduler's own
/// nanosecond counter.
fn cpu_time() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}
