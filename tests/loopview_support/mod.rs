//! Shared by the live loop view's tests: the real demo binary on a free port, its
//! `/_rasgi/state` read as JSON, and clients that keep slow requests in flight so the
//! view has tasks to show.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use serde_json::Value;

use crate::app_support::get;

pub use crate::app_support::Demo;

/// The tasks of a state whose name is `name`.
pub fn tasks_named<'a>(state: &'a Value, name: &str) -> Vec<&'a Value> {
    state["tasks"].as_array().map(|tasks| tasks.iter().filter(|t| t["name"] == name).collect()).unwrap_or_default()
}

/// Clients that each repeat `GET path` until dropped, so that requests are always in
/// flight however long the observer (a browser, say) takes to look.
pub struct Repeaters {
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Repeaters {
    pub fn start(addr: SocketAddr, path: &'static str, clients: usize) -> Repeaters {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..clients)
            .map(|_| {
                let stop = stop.clone();
                thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        assert_eq!(get(addr, path).status, 200, "{path}");
                    }
                })
            })
            .collect();
        Repeaters { stop, threads }
    }
}

impl Drop for Repeaters {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
