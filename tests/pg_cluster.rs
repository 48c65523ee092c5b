//! The throwaway cluster's safety rules, each against a real PostgreSQL: the superuser needs
//! its generated password (over TCP and over the Unix socket), a directory rasgi did not
//! create is refused and left exactly as it was, a directory it did create is reused with
//! the same password, and a watchdog stops the server it started — and never a server that
//! a later run started in the same directory.
//!
//! The watchdog tests need a process that exits: this test binary runs itself again as the
//! child (`watchdog_child`, which does nothing unless `RASGI_WATCHDOG_CHILD` is set).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use rasgi::pg::cluster::{find_postgres_bin, Cluster, ClusterOptions};
use rasgi::pg::{Connection, PgError};
use rasgi_executor::block_on;

fn postgres_installed() -> bool {
    let found = find_postgres_bin().is_ok();
    if !found {
        assert!(std::env::var_os("CI").is_none(), "PostgreSQL is not installed, and CI requires this test");
        eprintln!("SKIPPED: PostgreSQL is not installed (apt-get install -y postgresql)");
    }
    found
}

/// A path under the temporary directory that does not exist yet; removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Scratch {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!("rasgi-cluster-{label}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&path);
        Scratch(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

async fn select_one(url: &str) -> Result<i32, PgError> {
    let mut conn = Connection::connect(url).await?;
    conn.fetch_value("SELECT 1", &[]).await
}

#[test]
fn the_superuser_needs_its_generated_password() {
    if !postgres_installed() {
        return;
    }
    let scratch = Scratch::new("scram");
    let cluster = Cluster::start(&scratch.0, ClusterOptions::default()).expect("cluster");
    let password_file = cluster.data_dir().join("rasgi-superuser-password");
    let password = std::fs::read_to_string(&password_file).expect("the password is kept in the data directory");
    let password = password.trim();
    assert_eq!(password.len(), 32, "128 bits as hex");
    assert!(password.bytes().all(|b| b.is_ascii_hexdigit()));
    let mode = std::fs::metadata(&password_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "only its owner may read the password");
    assert!(cluster.url().contains(password), "the URL carries the password");
    assert!(!format!("{cluster:?}").contains(password), "Debug never shows the password");

    block_on(async {
        assert_eq!(select_one(&cluster.url()).await.unwrap(), 1);
        let mut conn = Connection::connect(&cluster.url()).await.unwrap();
        let stored: String =
            conn.fetch_value("SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'", &[]).await.unwrap();
        assert!(stored.starts_with("SCRAM-SHA-256$"), "stored as a SCRAM verifier");

        let port = cluster.port();
        let without = select_one(&format!("postgres://postgres@127.0.0.1:{port}/postgres")).await.unwrap_err();
        assert!(without.to_string().contains("password"), "no password, no login: {without}");
        let wrong = select_one(&format!("postgres://postgres:guess@127.0.0.1:{port}/postgres")).await.unwrap_err();
        assert!(matches!(&wrong, PgError::Server(db) if db.code == "28P01"), "a wrong password fails: {wrong:?}");
    });

    // The Unix socket asks for the password too: psql without one, never prompting (-w).
    let psql = find_postgres_bin().unwrap().join("psql");
    let mut command = if running_as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&psql);
        c
    } else {
        Command::new(&psql)
    };
    let output = command
        .current_dir("/")
        .env_remove("PGPASSWORD")
        .args(["-X", "-w", "-U", "postgres", "-d", "postgres", "-h"])
        .arg(&scratch.0)
        .args(["-p", &cluster.port().to_string(), "-c", "SELECT 1"])
        .output()
        .expect("psql runs");
    assert!(!output.status.success(), "the socket let the superuser in without a password");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("password"), "psql says a password is needed: {stderr}");
}

#[test]
fn a_non_empty_directory_rasgi_did_not_create_is_refused_and_left_alone() {
    if !postgres_installed() {
        return;
    }
    let scratch = Scratch::new("foreign");
    std::fs::create_dir_all(&scratch.0).unwrap();
    let precious = scratch.0.join("precious.txt");
    std::fs::write(&precious, "not yours").unwrap();
    let before = (std::fs::metadata(&scratch.0).unwrap().uid(), std::fs::metadata(&precious).unwrap().uid());

    let err = Cluster::start(&scratch.0, ClusterOptions::default()).unwrap_err().to_string();
    assert!(err.contains("is not empty") && err.contains("not created by rasgi"), "{err}");
    let after = (std::fs::metadata(&scratch.0).unwrap().uid(), std::fs::metadata(&precious).unwrap().uid());
    assert_eq!(before, after, "no owner changed");
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "not yours");
    let names: Vec<_> = std::fs::read_dir(&scratch.0).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["precious.txt"], "nothing was added");
}

#[test]
fn an_empty_directory_root_does_not_own_for_postgres_is_refused() {
    if !postgres_installed() || !running_as_root() {
        return;
    }
    let scratch = Scratch::new("empty");
    std::fs::create_dir_all(&scratch.0).unwrap();
    let err = Cluster::start(&scratch.0, ClusterOptions::default()).unwrap_err().to_string();
    assert!(err.contains("not owned by the postgres user"), "{err}");
    assert_eq!(std::fs::metadata(&scratch.0).unwrap().uid(), 0, "still root's");
    assert_eq!(std::fs::read_dir(&scratch.0).unwrap().count(), 0, "still empty");
}

#[test]
fn a_directory_rasgi_created_is_reused_with_its_password() {
    if !postgres_installed() {
        return;
    }
    let scratch = Scratch::new("reuse");
    let mut first = Cluster::start(&scratch.0, ClusterOptions::default()).expect("first start");
    let first_url_password = first.url().split('@').next().unwrap_or_default().to_string();
    block_on(async {
        let mut conn = Connection::connect(&first.url()).await.unwrap();
        conn.execute_script("CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)").await.unwrap();
        conn.close().await.unwrap();
    });
    first.stop().unwrap();
    let second = Cluster::start(&scratch.0, ClusterOptions::default()).expect("second start");
    assert_eq!(second.url().split('@').next().unwrap_or_default(), first_url_password, "same password");
    block_on(async {
        let mut conn = Connection::connect(&second.url()).await.unwrap();
        assert_eq!(conn.fetch_value::<i32>("SELECT n FROM kept", &[]).await.unwrap(), 7);
    });
}

/// Runs this test binary again as `watchdog_child` in `mode`, for a cluster in `dir`.
fn spawn_child(mode: &str, dir: &Path) -> (Child, BufReader<ChildStdout>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "watchdog_child", "--nocapture", "--test-threads=1"])
        .env("RASGI_WATCHDOG_CHILD", mode)
        .env("RASGI_WATCHDOG_DIR", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the child starts");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    (child, stdout)
}

/// What the child prints after its next `child: ` (libtest may have started the line with
/// `test watchdog_child ... `).
fn child_says(stdout: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "the child ended without saying anything");
        if let Some(at) = line.find("child: ") {
            return line[at + "child: ".len()..].trim().to_string();
        }
    }
}

/// Not a test on its own: the child process of the two watchdog tests.
#[test]
fn watchdog_child() {
    let (Ok(mode), Some(dir)) = (std::env::var("RASGI_WATCHDOG_CHILD"), std::env::var_os("RASGI_WATCHDOG_DIR")) else {
        return;
    };
    let options = ClusterOptions { stop_with_process: true, ..ClusterOptions::default() };
    let mut cluster = Cluster::start(PathBuf::from(dir), options).expect("child cluster");
    println!("child: pid {}", cluster.postmaster_pid());
    if mode == "stop-then-wait" {
        cluster.stop().unwrap();
        println!("child: stopped");
        std::io::stdout().flush().unwrap();
        // Wait until the parent closes our stdin, then exit without any destructor.
        let mut rest = String::new();
        let _ = std::io::stdin().read_line(&mut rest);
    }
    std::io::stdout().flush().unwrap();
    std::process::exit(0);
}

#[test]
fn the_watchdog_stops_the_server_of_a_process_that_died() {
    if !postgres_installed() {
        return;
    }
    let scratch = Scratch::new("watchdog");
    let (mut child, mut stdout) = spawn_child("exit-running", &scratch.0);
    let pid: u32 = child_says(&mut stdout).strip_prefix("pid ").and_then(|p| p.parse().ok()).expect("a pid");
    child.wait().unwrap();
    // The watchdog polls every half second; stopping takes well under a second more.
    let deadline = Instant::now() + Duration::from_secs(10);
    while process_alive(pid) {
        assert!(Instant::now() < deadline, "the postmaster {pid} outlived its process by 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_watchdog_never_stops_a_server_it_did_not_start() {
    if !postgres_installed() {
        return;
    }
    let scratch = Scratch::new("restart");
    // The first run starts its server and its watchdog, stops the server, and stays alive.
    let (mut child, mut stdout) = spawn_child("stop-then-wait", &scratch.0);
    let old_pid: u32 = child_says(&mut stdout).strip_prefix("pid ").and_then(|p| p.parse().ok()).expect("a pid");
    assert_eq!(child_says(&mut stdout), "stopped");
    // The next run starts its own server in the same directory...
    let ours = Cluster::start(&scratch.0, ClusterOptions::default()).expect("restart in the same directory");
    assert_ne!(ours.postmaster_pid(), old_pid);
    // ...and then the first run exits, which wakes its watchdog.
    drop(child.stdin.take());
    child.wait().unwrap();
    // Longer than the watchdog's poll and its shutdown together; the old code stopped the
    // new server inside this window every time.
    std::thread::sleep(Duration::from_secs(2));
    assert!(process_alive(ours.postmaster_pid()), "the old watchdog stopped the new server");
    block_on(async { assert_eq!(select_one(&ours.url()).await.unwrap(), 1) });
}
