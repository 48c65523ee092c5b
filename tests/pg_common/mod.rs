//! Shared by the `pg_*` test binaries: one throwaway PostgreSQL per test binary.
//!
//! Each test function runs on its own thread with its own rasgi runtime (`block_on`), but all
//! the tests of one binary share one cluster, started by whichever test asks first (a
//! `OnceLock`). A cluster in a `static` is never dropped, so it is started with
//! `stop_with_process`: a watchdog process stops it and deletes its directory when the test
//! binary exits, however it exits. Starting a cluster takes one to two seconds; one per
//! binary keeps the whole suite fast while each binary stays independent.
//!
//! Without PostgreSQL installed the tests print a loud SKIPPED message and pass — unless the
//! `CI` environment variable is set, in which case a missing PostgreSQL fails them.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::sync::OnceLock;

use rasgi::pg::cluster::{find_postgres_bin, Cluster, ClusterOptions, TEST_PASSWORD};
use rasgi::pg::Connection;

static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();

/// This binary's cluster, or `None` when the test must be skipped.
pub fn cluster() -> Option<&'static Cluster> {
    CLUSTER
        .get_or_init(|| {
            if let Err(e) = find_postgres_bin() {
                let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
                if ci {
                    panic!("CI is set, so PostgreSQL must be installed: {e}");
                }
                eprintln!("\n\n*** SKIPPED: PostgreSQL tests need a local PostgreSQL. {e} ***\n");
                return None;
            }
            let binary = std::env::args().next().unwrap_or_default();
            let name = std::path::Path::new(&binary).file_name().and_then(|n| n.to_str()).unwrap_or("pg").to_string();
            let dir = std::env::temp_dir().join(format!("rasgi-{name}-{}", std::process::id()));
            let options = ClusterOptions { auth_roles: true, stop_with_process: true, remove_on_stop: true };
            match Cluster::start(&dir, options) {
                Ok(cluster) => Some(cluster),
                Err(e) => panic!("{e}"),
            }
        })
        .as_ref()
}

/// The cluster, or return from the test (after the loud message) when skipped.
#[macro_export]
macro_rules! cluster_or_skip {
    () => {
        match pg_common::cluster() {
            Some(cluster) => cluster,
            None => return,
        }
    };
}

/// A superuser connection.
pub async fn superuser(cluster: &Cluster) -> Connection {
    match Connection::connect(&cluster.url()).await {
        Ok(conn) => conn,
        Err(e) => panic!("cannot connect as postgres: {e}"),
    }
}

/// A URL for one of the auth-method roles, with the right password.
pub fn role_url(cluster: &Cluster, user: &str) -> String {
    cluster.url_for(user, Some(TEST_PASSWORD))
}

/// A table name unique to the calling test, so tests of one binary never collide.
pub fn table(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// CPU time (user + system) the calling thread has used so far, from
/// `/proc/thread-self/stat` (in clock ticks, usually 10 ms each).
pub fn thread_cpu() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("read /proc/thread-self/stat");
    // The command name (field 2) may hold spaces; the fields after its ')' are fixed.
    let fields: Vec<&str> = stat.rsplit_once(')').expect("a stat line").1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // Linux reports these in USER_HZ, which is 100 on every architecture it runs on.
    std::time::Duration::from_millis(ticks * 10)
}
