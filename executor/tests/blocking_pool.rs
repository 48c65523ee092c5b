//! The blocking pool's bound and queue, seen through `blocking::stats`.
//!
//! `set_max_threads` changes a process-wide pool, so this scenario is the only test in
//! its binary (cargo runs each test file as its own process). The jobs wait on a gate
//! the test opens, which makes every count below exact rather than a matter of timing:
//! - threads start on demand up to the bound, even when an idle thread already exists
//!   (several jobs submitted at once must not all queue behind that one thread);
//! - past the bound, jobs wait in the queue, and `stats().queued` shows how many;
//! - every job runs, and the queue drains, once the gate opens.

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::within;
use rasgi_executor::blocking::{self, BlockingTask};
use rasgi_executor::{block_on, join_all, spawn_blocking};

/// A door the pool's jobs wait at until the test opens it.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn wait(&self) {
        let (open, changed) = &*self.0;
        let mut open = open.lock().unwrap();
        while !*open {
            open = changed.wait(open).unwrap();
        }
    }

    fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }
}

/// A job that reports when it starts, then waits at the gate and returns `i`.
fn gated_job(i: usize, gate: &Gate, started: &mpsc::Sender<usize>) -> BlockingTask<usize> {
    let (gate, started) = (gate.clone(), started.clone());
    spawn_blocking(move || {
        started.send(i).unwrap();
        gate.wait();
        i
    })
}

/// Polls `stats()` until `check` holds: a pool thread updates its counters just after
/// it hands back a result, so the loop can see the result a moment before the counter.
fn eventually(what: &str, check: impl Fn(blocking::PoolStats) -> bool) {
    let give_up = Instant::now() + Duration::from_secs(5);
    while !check(blocking::stats()) {
        assert!(Instant::now() < give_up, "{what}: pool stats stuck at {:?}", blocking::stats());
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn the_pool_grows_to_its_bound_then_queues() {
    within(Duration::from_secs(30), || {
        blocking::set_max_threads(3);
        let gate = Gate::default();
        let (started_tx, started) = mpsc::channel();
        let expect_start = |n: usize| -> Vec<usize> {
            let mut ids: Vec<usize> =
                (0..n).map(|_| started.recv_timeout(Duration::from_secs(5)).expect("a job never started")).collect();
            ids.sort_unstable();
            ids
        };

        block_on(async {
            // One job leaves one idle thread behind.
            assert_eq!(spawn_blocking(|| 1).await.unwrap(), 1);
            eventually("one idle thread", |s| s.threads == 1 && s.idle == 1);
            let completed_before = blocking::stats().completed;

            // Three jobs at once: the idle thread takes one, two new threads the others.
            let mut jobs: Vec<_> = (0..3).map(|i| gated_job(i, &gate, &started_tx)).collect();
            assert_eq!(expect_start(3), [0, 1, 2], "jobs queued behind the idle thread");
            let stats = blocking::stats();
            assert_eq!((stats.threads, stats.idle, stats.queued, stats.max_threads), (3, 0, 0, 3));

            // The bound is reached: the next jobs wait in the queue.
            jobs.extend((3..7).map(|i| gated_job(i, &gate, &started_tx)));
            let stats = blocking::stats();
            assert_eq!((stats.threads, stats.queued), (3, 4));
            assert!(started.try_recv().is_err(), "a job started beyond the bound");

            gate.open();
            let results: Vec<usize> = join_all(jobs).await.into_iter().map(Result::unwrap).collect();
            assert_eq!(results, [0, 1, 2, 3, 4, 5, 6]);
            assert_eq!(expect_start(4), [3, 4, 5, 6]);
            eventually("all seven jobs counted", |s| s.completed == completed_before + 7);
            let stats = blocking::stats();
            assert_eq!((stats.queued, stats.threads), (0, 3));
        });
    });
}
