//! `--reload` end to end: a small app in a temporary directory (depending on rasgi by
//! path, built into this test's own target directory so nothing but the app itself is
//! compiled), run under the supervisor, edited while a client hammers its port.
//!
//! What it proves: an edit that compiles replaces the response; an edit that does not
//! compile prints the compiler's error and leaves the old server answering; and through
//! both rebuilds not one connection is refused or fails, because the supervisor never
//! closes the listening socket.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The app: `GET /` answers its version. The supervisor is the same binary.
const MAIN_RS: &str = r#"use rasgi::app::{App, Request};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if rasgi::reload::requested(&args) {
        if let Err(e) = rasgi::reload::run(args, &[]) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    }
    let config = match rasgi_http::server::Config::from_args(args) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = rasgi_http::server::run(config, || App::new().get("/", hello)) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn hello(_request: Request) -> &'static str {
    "version 1"
}
"#;

/// The supervisor's stderr, collected by a reader thread.
type Log = Arc<Mutex<String>>;

/// What the hammering client saw.
#[derive(Default)]
struct Tally {
    /// Response bodies in arrival order.
    bodies: Vec<String>,
    /// Every connection that was refused, reset or answered with anything but a 200.
    failures: Vec<String>,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// This test binary lives in `<target>/debug/deps/`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors().nth(3).expect("target directory").to_path_buf()
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Writes the app's project under `dir`.
fn write_app(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("src")).expect("app dir");
    let root = repo();
    let manifest = format!(
        "[package]\nname = \"reload-app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\nrasgi = {{ path = {:?} }}\nrasgi-http = {{ path = {:?} }}\n\n\
         # A workspace of its own, whatever directory it sits in.\n[workspace]\n",
        root.display().to_string(),
        root.join("http").display().to_string()
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("Cargo.toml");
    // The repository's lock file pins the same versions, so the dependencies already in
    // the target directory are reused rather than resolved and rebuilt.
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).expect("Cargo.lock");
    std::fs::write(dir.join("src/main.rs"), MAIN_RS).expect("main.rs");
}

/// Waits until `log` contains `needle`, or panics with the log.
fn wait_for_log(log: &Log, needle: &str, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let text = log.lock().unwrap().clone();
        if text.contains(needle) {
            return text;
        }
        assert!(Instant::now() < deadline, "no {needle:?} within {limit:?}; supervisor output:\n{text}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// One request on a fresh connection: the body of a 200, or why it failed.
fn get(addr: SocketAddr) -> Result<String, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut response = String::new();
    stream.read_to_string(&mut response).map_err(|e| format!("read: {e}"))?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(|| format!("no head: {response:?}"))?;
    if !head.starts_with("HTTP/1.1 200 OK\r\n") || !head.contains("\r\ncontent-length: 9") {
        return Err(format!("unexpected response: {response:?}"));
    }
    Ok(body.to_owned())
}

/// Starts a thread that requests `GET /` back to back until `stop`.
fn hammer(addr: SocketAddr, stop: Arc<AtomicBool>, tally: Arc<Mutex<Tally>>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let outcome = get(addr);
            let mut tally = tally.lock().unwrap();
            match outcome {
                Ok(body) => tally.bodies.push(body),
                Err(why) => tally.failures.push(why),
            }
        }
    })
}

/// Waits until the hammer has seen `body` `times` times in a row.
fn wait_for_body(tally: &Mutex<Tally>, log: &Log, body: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        {
            let tally = tally.lock().unwrap();
            let n = tally.bodies.len();
            if n >= 20 && tally.bodies[n - 20..].iter().all(|b| b == body) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "never saw {body:?}; supervisor output:\n{}", log.lock().unwrap());
        thread::sleep(Duration::from_millis(50));
    }
}

/// The supervisor process; a failing test stops it (and so its server) rather than
/// leaving it serving.
struct Supervisor(Child);

impl Drop for Supervisor {
    fn drop(&mut self) {
        if self.0.try_wait().is_ok_and(|s| s.is_none()) {
            // SAFETY: kill() on the child this test started and has not reaped.
            unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
            let _ = self.0.wait();
        }
    }
}

fn collect_stderr(child: &mut Child) -> Log {
    let log: Log = Arc::default();
    let pipe = child.stderr.take().expect("stderr pipe");
    let sink = log.clone();
    thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = String::new();
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
            sink.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
    log
}

#[test]
fn an_edit_is_rebuilt_and_served_without_refusing_a_single_connection() {
    let dir = std::env::temp_dir().join(format!("rasgi-reload-{}", std::process::id()));
    write_app(&dir);
    let target = target_dir();
    let built = Command::new(cargo())
        .args(["build", "--bin", "reload-app"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("run cargo");
    assert!(built.success(), "the app builds");

    let mut supervisor = Supervisor(
        Command::new(target.join("debug/reload-app"))
            .args(["--reload", "--host", "127.0.0.1", "--port", "0", "--no-access-log"])
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", &target)
            .env("CARGO", cargo())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the supervisor"),
    );
    let log = collect_stderr(&mut supervisor.0);
    let text = wait_for_log(&log, "is ready", Duration::from_secs(30));
    let addr: SocketAddr = text
        .split("reloader listening on http://")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in:\n{text}"));
    assert!(text.contains(&format!("rasgi running on http://{addr} with 1 worker loop(s)")), "{text}");
    assert_eq!(get(addr).as_deref(), Ok("version 1"));

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let client = hammer(addr, stop.clone(), tally.clone());

    // An edit that compiles: the new response appears; the old server drains away.
    let main_rs = dir.join("src/main.rs");
    std::fs::write(&main_rs, MAIN_RS.replace("\"version 1\"", "\"version 2\"")).expect("edit");
    wait_for_log(&log, "has drained and exited", Duration::from_secs(120));
    wait_for_body(&tally, &log, "version 2", Duration::from_secs(10));

    // An edit that does not compile: the error is printed, version 2 keeps answering.
    std::fs::write(&main_rs, MAIN_RS.replace("\"version 1\"", "\"version 3\" + 1")).expect("edit");
    let text = wait_for_log(&log, "the build failed", Duration::from_secs(120));
    assert!(text.contains("error[E0369]: cannot add `{integer}` to `&str`"), "the compiler's error is shown:\n{text}");
    assert!(text.contains("the running server keeps serving"), "{text}");
    let seen = tally.lock().unwrap().bodies.len();
    let deadline = Instant::now() + Duration::from_secs(10);
    while tally.lock().unwrap().bodies.len() < seen + 20 {
        assert!(Instant::now() < deadline, "not answering after the failed build:\n{}", log.lock().unwrap());
        thread::sleep(Duration::from_millis(20));
    }
    wait_for_body(&tally, &log, "version 2", Duration::from_secs(10));

    stop.store(true, Ordering::Relaxed);
    client.join().expect("client thread");
    let tally = tally.lock().unwrap();
    assert_eq!(tally.failures, Vec::<String>::new(), "no connection failed during the rebuilds");
    let first_v2 = tally.bodies.iter().position(|b| b == "version 2").expect("version 2 served");
    assert!(tally.bodies[..first_v2].iter().all(|b| b == "version 1"), "only version 1 before the swap");
    assert!(tally.bodies.iter().all(|b| b == "version 1" || b == "version 2"), "nothing else was served");

    // SIGTERM: the server drains, then the supervisor exits cleanly and the port closes.
    // SAFETY: kill() on the child this test started and has not reaped.
    unsafe { libc::kill(supervisor.0.id() as libc::pid_t, libc::SIGTERM) };
    let status = supervisor.0.wait().expect("wait for the supervisor");
    assert!(status.success(), "supervisor exit: {status}");
    let text = log.lock().unwrap().clone();
    assert!(text.contains("SIGTERM received: stopping the server, then the supervisor"), "{text}");
    assert!(TcpStream::connect(addr).is_err(), "the port is closed once the supervisor is gone");
    let _ = std::fs::remove_dir_all(&dir);
}
