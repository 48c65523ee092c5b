//! Helpers shared by the executor's tests.

// Every test binary compiles this module but uses only part of it.
#![allow(dead_code)]

use std::cell::Cell;
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration;

/// Runs `body` (which typically calls `block_on`) on its own thread and fails the test
/// if it has not returned within `limit`. A lost wake-up leaves a loop asleep in
/// `epoll_wait` forever; this turns that into a failure with a message instead of a
/// `cargo test` that never ends. Panics inside `body` propagate as usual.
pub fn within<T: Send + 'static>(limit: Duration, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (done_tx, done_rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let output = body();
        let _ = done_tx.send(());
        output
    });
    match done_rx.recv_timeout(limit) {
        // Finished, or panicked (the sender was dropped): join tells which.
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match thread.join() {
            Ok(output) => output,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("the test did not finish within {limit:?}: a wake-up was lost")
        }
    }
}

/// Sets its flag when dropped: proof that a future was dropped (cancelled), and when.
pub struct DropGuard(pub Rc<Cell<bool>>);

impl DropGuard {
    /// A guard and the flag it will set.
    pub fn new() -> (DropGuard, Rc<Cell<bool>>) {
        let flag = Rc::new(Cell::new(false));
        (DropGuard(flag.clone()), flag)
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// A log of events shared by the tasks of one test.
#[derive(Clone, Default)]
pub struct Log(Rc<std::cell::RefCell<Vec<String>>>);

impl Log {
    pub fn push(&self, event: impl Into<String>) {
        self.0.borrow_mut().push(event.into());
    }

    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.borrow_mut())
    }

    pub fn snapshot(&self) -> Vec<String> {
        self.0.borrow().clone()
    }
}

/// The variable that tells a child process which scenario to run.
const SCENARIO: &str = "RASGI_TEST_SCENARIO";

/// Runs `test_name` alone in a child process (this test binary again, with the one test
/// selected and [`in_child`] true there) and returns the child's stderr lines: the way to
/// check what the loop writes to stderr. The variables that change what is written (the
/// slow-poll threshold, backtraces) are removed; each scenario sets what it needs in code.
pub fn stderr_of_child(test_name: &str) -> Vec<String> {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, test_name)
        .env_remove("RASGI_SLOW_POLL_MS")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .output()
        .expect("cannot run the test binary again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8(output.stderr).expect("stderr is not UTF-8");
    assert!(output.status.success(), "the child scenario failed:\n{stdout}{stderr}");
    // Proof that the filter selected the scenario: an empty stderr means nothing if
    // no test ran at all.
    assert!(stdout.contains("1 passed"), "the child ran no scenario:\n{stdout}");
    stderr.lines().map(str::to_owned).collect()
}

/// True in the child started by [`stderr_of_child`]: run the scenario instead of checking it.
pub fn in_child(test_name: &str) -> bool {
    std::env::var(SCENARIO).as_deref() == Ok(test_name)
}
