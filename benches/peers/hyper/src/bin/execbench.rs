//! `execbench`: the tokio current-thread executor's costs, for the `exec` suite.
//!
//! Three measurements, defined identically for rasgi's own `execbench` binary, each printed as
//! nanoseconds per operation:
//!
//! - `spawn`: spawn 1,000,000 tasks that each return a number, then await every `JoinHandle`.
//!   One operation = allocate a task, schedule it, run it, hand its output to the awaiting task.
//! - `pingpong`: two tasks wake each other 100,000 times through a pair of `Notify`s. One
//!   operation = one round trip (two wakes, two reschedules). This is the path every I/O
//!   completion takes: something wakes a parked task and the loop runs it.
//! - `timers`: 100,000 tasks each sleep 1..=10 ms (task i sleeps 1 + i % 10 ms), all awaited.
//!   Wall time would mostly be the sleeping itself, so the value is the process's CPU time
//!   (user + system, from `getrusage`) per timer: insert into the timer wheel, fire, wake, run.
//!
//! Why current-thread: rasgi's loop is single-threaded; the multi-threaded scheduler would add
//! work stealing and cross-thread wakeups that rasgi's design does not have.
//!
//! Usage: `execbench [--only spawn,pingpong,timers]`

use std::rc::Rc;
use std::time::{Duration, Instant};

use rasgi_peer_hyper::{fail, Flags, Measurement};
use tokio::sync::Notify;

const PROGRAM: &str = "execbench";
const SPAWNS: u64 = 1_000_000;
const ROUND_TRIPS: u64 = 100_000;
const TIMERS: u64 = 100_000;

fn main() {
    let flags = Flags::parse(PROGRAM, &["only"]);
    let only = flags.get("only", "spawn,pingpong,timers");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot build the tokio runtime");
    // A LocalSet lets the ping-pong tasks share `Rc`s, as tasks on rasgi's one thread may.
    let local = tokio::task::LocalSet::new();
    for measure in only.split(',') {
        let (ops, elapsed) = match measure {
            "spawn" => local.block_on(&runtime, spawn_complete()),
            "pingpong" => local.block_on(&runtime, ping_pong()),
            "timers" => local.block_on(&runtime, timers()),
            other => fail(PROGRAM, &format!("unknown measurement {other}")),
        };
        Measurement {
            bench: "exec",
            implementation: "tokio",
            measure,
            value: elapsed.as_nanos() as f64 / ops as f64,
            unit: "ns/op",
            ops,
            seconds: elapsed.as_secs_f64(),
        }
        .emit();
    }
}

async fn spawn_complete() -> (u64, Duration) {
    let start = Instant::now();
    let handles: Vec<_> = (0..SPAWNS)
        .map(|i| tokio::spawn(async move { i }))
        .collect();
    let mut sum = 0u64;
    for handle in handles {
        sum = sum.wrapping_add(handle.await.expect("a trivial task cannot panic"));
    }
    std::hint::black_box(sum);
    (SPAWNS, start.elapsed())
}

async fn ping_pong() -> (u64, Duration) {
    let ping = Rc::new(Notify::new());
    let pong = Rc::new(Notify::new());
    let start = Instant::now();
    // `Notify` stores a permit when nobody is waiting yet, so no wake can be lost between
    // one side's `notify_one` and the other side's `notified().await`.
    let responder = {
        let (ping, pong) = (ping.clone(), pong.clone());
        tokio::task::spawn_local(async move {
            for _ in 0..ROUND_TRIPS {
                ping.notified().await;
                pong.notify_one();
            }
        })
    };
    for _ in 0..ROUND_TRIPS {
        ping.notify_one();
        pong.notified().await;
    }
    responder.await.expect("the responder cannot panic");
    (ROUND_TRIPS, start.elapsed())
}

async fn timers() -> (u64, Duration) {
    let cpu_before = cpu_time();
    let handles: Vec<_> = (0..TIMERS)
        .map(|i| {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(1 + i % 10)).await;
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("a sleeping task cannot panic");
    }
    (TIMERS, cpu_time() - cpu_before)
}

/// User + system CPU time of this process so far.
fn cpu_time() -> Duration {
    // SAFETY: `getrusage` only writes into the zero-initialised struct we pass; RUSAGE_SELF is
    // always a valid target.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}
