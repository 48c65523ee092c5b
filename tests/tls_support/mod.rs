//! Helpers shared by the client's integration tests: real peers, never mocks.
//!
//! - [`pki`]: a CA and server certificates made with `openssl` at test time, so no key
//!   material is checked in;
//! - [`nginx`]: a real nginx (Debian `nginx-light`) serving TLS on loopback ports, with a
//!   configuration in a temporary directory, stopped when dropped;
//! - [`plain`]: a tiny plain-HTTP server on std threads whose every answer the test
//!   scripts (chunked, close-delimited, never answering, closing a kept-alive connection).
//!
//! Every socket is on 127.0.0.1: no test may contact another address.

// Every test binary compiles this module but uses only part of it.
#![allow(dead_code)]

pub mod nginx;
pub mod pki;
pub mod plain;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A directory under the system's temporary directory, removed with everything in it when
/// dropped.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let name = format!("rasgi-{label}-{}-{}-{nanos}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).expect("cannot create a temporary directory");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A loopback port that was free a moment ago (bind to port 0, read it, let it go).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("cannot bind a loopback port");
    listener.local_addr().expect("no local address").port()
}

/// Runs `body` on its own thread and fails the test if it has not returned within `limit`:
/// a lost wake-up or a missing timeout becomes a failure with a message rather than a
/// `cargo test` that never ends.
pub fn within<T: Send + 'static>(limit: Duration, body: impl FnOnce() -> T + Send + 'static) -> T {
    let (done_tx, done_rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let output = body();
        let _ = done_tx.send(());
        output
    });
    match done_rx.recv_timeout(limit) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match thread.join() {
            Ok(output) => output,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the test did not finish within {limit:?}"),
    }
}

/// True when the test process runs as root (nginx then needs `user root;` to let its
/// worker write to our temporary directory).
pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}
