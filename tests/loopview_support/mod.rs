//! Shared by the live loop view's tests: the real demo binary on a free port, its
//! `/_rasgi/state` read as JSON, and clients that keep slow requests in flight so the
//! view has tasks to show.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::app_support::get;

/// The demo binary running on a free port, with its stderr collected line by line.
pub struct Demo {
    child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Demo {
    pub fn start(extra: &[&str]) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rasgi"))
            .args(["--port", "0", "--no-access-log"])
            .args(extra)
            .env("RASGI_DEMO_DATABASE", "off")
            // The narration would flood stderr; the view does not need it.
            .env_remove("RASGI_TRACE")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start the demo binary");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("running on http://").nth(1) {
                    let addr = rest.split_whitespace().next().unwrap_or_default().to_owned();
                    let _ = addr_tx.send(addr);
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(30)).expect("the demo prints its address");
        Demo { child, addr: addr.parse().expect("a socket address"), log }
    }

    /// `GET /_rasgi/state`, parsed.
    pub fn state(&self) -> Value {
        let reply = get(self.addr, "/_rasgi/state");
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", reply.body))
    }

    /// Reads the state until `done` accepts it, or panics after `limit` showing the last.
    pub fn state_when(&self, limit: Duration, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let state = self.state();
            if done(&state) {
                return state;
            }
            assert!(Instant::now() < deadline, "no state showed {what} within {limit:?}; the last was:\n{state:#}");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
