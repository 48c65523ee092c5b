//! Finding the headless Chromium the browser tests drive (Debian's `chromium`, installed
//! by `.ci/test-all`; `RASGI_CHROMIUM` names another). Without one, a test is skipped
//! loudly — unless `CI` is set, where a missing browser fails it. Also the one way the
//! tests run it: headless, with a fresh profile, a virtual-time budget and a time limit.

#![allow(dead_code)]

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The Chromium executable, or `None` (after the SKIPPED message) when there is none;
/// `what` names the test in that message.
pub fn chromium(what: &str) -> Option<PathBuf> {
    let found = match std::env::var_os("RASGI_CHROMIUM") {
        Some(path) => Some(PathBuf::from(path)).filter(|p| p.is_file()),
        None => {
            let path = std::env::var_os("PATH").unwrap_or_default();
            std::env::split_paths(&path)
                .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
                .chain([PathBuf::from("/usr/bin/chromium")])
                .find(|candidate| candidate.is_file())
        }
    };
    if found.is_none() {
        let message =
            format!("Chromium not found (apt-get install chromium, or set RASGI_CHROMIUM): {what} cannot run");
        assert!(std::env::var_os("CI").is_none(), "{message}");
        eprintln!("\n!!!!!!!!!!\n!!! SKIPPED: {message}\n!!!!!!!!!!\n");
    }
    found
}

/// How long one Chromium run may take: it starts in a second or two, far slower on a
/// loaded machine.
pub const BROWSER_LIMIT: Duration = Duration::from_secs(90);

/// Virtual time Chromium gives the page before it dumps or shoots it: enough for
/// several 300 ms refreshes. Virtual time stands still while a fetch is pending, so
/// each refresh still waits for the real server's answer.
pub const PAGE_TIME_MS: u32 = 2500;

/// A fresh directory under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("rasgi-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs headless Chromium on `url` with `extra` flags (each run with its own fresh
/// profile) and returns its standard output.
pub fn run_chromium(chromium: &Path, url: &str, extra: &[String]) -> String {
    run_chromium_for(chromium, url, PAGE_TIME_MS, extra)
}

/// [`run_chromium`] with the page given `budget_ms` of virtual time.
pub fn run_chromium_for(chromium: &Path, url: &str, budget_ms: u32, extra: &[String]) -> String {
    let profile = TempDir::new("chromium-profile");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--run-all-compositor-stages-before-draw",
        ])
        .arg(format!("--user-data-dir={}", profile.0.display()))
        .arg(format!("--virtual-time-budget={budget_ms}"))
        .args(extra)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        // Its own process group: on a timeout the renderer and GPU processes it started
        // are stopped with it.
        .process_group(0)
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let deadline = Instant::now() + BROWSER_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            // SAFETY: kill() with the id of the process group this test created.
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            let _ = child.wait();
            panic!("chromium did not finish within {BROWSER_LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(50));
    };
    let out = reader.join().expect("stdout reader");
    assert!(status.success(), "chromium failed: {status}");
    out
}
