//! Several servers in one URL, on a real streaming replica: a second throwaway cluster made
//! with `pg_basebackup -R` from the first. `target_session_attrs` picks the primary or the
//! standby whatever their order in the URL, and after the primary stops and the standby is
//! promoted, a pool serves writes again within 15 seconds.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rasgi::pg::cluster::{find_postgres_bin, Cluster, ClusterOptions};
use rasgi::pg::{Config, Connection, PgError, Pool};
use rasgi_executor::{block_on, sleep};

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The superuser password both clusters share (pg_basebackup copies the data directory).
fn password(cluster: &Cluster) -> String {
    std::fs::read_to_string(cluster.data_dir().join("rasgi-superuser-password")).unwrap().trim().to_string()
}

/// Makes `dir` a streaming replica of `primary`: a directory marked as rasgi's, owned by the
/// server's user, filled by `pg_basebackup -R` (which also writes `standby.signal` and the
/// `primary_conninfo` to follow).
fn base_backup(primary: &Cluster, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(".rasgi-cluster"), "a standby made by the failover test\n").unwrap();
    let basebackup = find_postgres_bin().unwrap().join("pg_basebackup");
    let mut command = if running_as_root() {
        assert!(Command::new("chown").arg("-R").arg("postgres:postgres").arg(dir).status().unwrap().success());
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(basebackup);
        c
    } else {
        Command::new(basebackup)
    };
    let output = command
        .current_dir(dir)
        .env("PGPASSWORD", password(primary))
        .arg("-D")
        .arg(dir.join("data"))
        .args(["-R", "-X", "stream", "-h", "127.0.0.1", "-U", "postgres", "-p", &primary.port().to_string()])
        .output()
        .unwrap();
    assert!(output.status.success(), "pg_basebackup: {}", String::from_utf8_lossy(&output.stderr));
}

/// The port of the server a connection reached, and whether it is a standby.
async fn reached(conn: &mut Connection) -> (i32, bool) {
    let row = conn.fetch_one("SELECT inet_server_port(), pg_is_in_recovery()", &[]).await.unwrap().unwrap();
    (row.get(0).unwrap(), row.get(1).unwrap())
}

#[test]
fn target_session_attrs_and_recovery_after_failover() {
    if find_postgres_bin().is_err() {
        assert!(std::env::var_os("CI").is_none(), "PostgreSQL is not installed, and CI requires this test");
        return;
    }
    let base = std::env::temp_dir().join(format!("rasgi-pg_failover-{}", std::process::id()));
    let options = ClusterOptions { remove_on_stop: true, ..ClusterOptions::default() };
    let mut primary = Cluster::start(base.join("primary"), options.clone()).unwrap();
    // Let the superuser stream WAL: a `replication` line (the `all` lines do not cover it).
    let hba = primary.data_dir().join("pg_hba.conf");
    let lines = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(&hba, format!("host replication postgres 127.0.0.1/32 scram-sha-256\n{lines}")).unwrap();
    block_on(async {
        let mut conn = Connection::connect(&primary.url()).await.unwrap();
        conn.execute_script("SELECT pg_reload_conf()").await.unwrap();
        conn.execute_script("CREATE TABLE events (n int)").await.unwrap();
    });
    base_backup(&primary, &base.join("standby"));
    let standby = Cluster::start(base.join("standby"), options).unwrap();
    let (p, s) = (primary.port() as i32, standby.port() as i32);
    // The standby first in the list, so that skipping it is visible.
    let secret = password(&primary);
    let url = |attrs: &str| {
        format!("postgres://postgres:{secret}@127.0.0.1:{s},127.0.0.1:{p}/postgres?target_session_attrs={attrs}")
    };

    block_on(async {
        for (attrs, port, in_recovery) in [
            ("any", s, true),
            ("read-write", p, false),
            ("primary", p, false),
            ("read-only", s, true),
            ("standby", s, true),
            ("prefer-standby", s, true),
        ] {
            let mut conn = Connection::connect(&url(attrs)).await.unwrap_or_else(|e| panic!("{attrs}: {e}"));
            assert_eq!(reached(&mut conn).await, (port, in_recovery), "target_session_attrs={attrs}");
        }
        // A list with no standby: `standby` names every host and why it did not do.
        let only_primary = url("standby").replace(&format!("127.0.0.1:{s},"), "");
        let err = Connection::connect(&only_primary).await.unwrap_err();
        assert!(
            matches!(&err, PgError::NoSuitableServer(m) if m.contains(&format!("127.0.0.1:{p} is not a standby"))),
            "{err}"
        );

        let pool = Pool::builder(Config::from_url(&url("read-write")).unwrap()).max_size(2).build();
        assert_eq!(pool.execute("INSERT INTO events VALUES (1)", &[]).await.unwrap(), 1);
        let mut conn = pool.acquire().await.unwrap();
        assert_eq!(reached(&mut conn).await, (p, false));
        drop(conn);

        // Failover: the primary goes away, the standby is promoted.
        primary.stop().unwrap();
        standby.promote().unwrap();
        let promoted = Instant::now();
        let bound = Duration::from_secs(15);
        let mut attempts = 0;
        loop {
            attempts += 1;
            match pool.execute("INSERT INTO events VALUES (2)", &[]).await {
                Ok(1) => break,
                Ok(n) => panic!("inserted {n} rows"),
                Err(e) => assert!(promoted.elapsed() < bound, "no write succeeded within {bound:?}: {e}"),
            }
            sleep(Duration::from_millis(100)).await;
        }
        let mut conn = pool.acquire().await.unwrap();
        assert_eq!(reached(&mut conn).await, (s, false), "the pool now writes to the promoted standby");
        let rows: i64 = conn.fetch_value("SELECT count(*) FROM events", &[]).await.unwrap();
        assert_eq!(rows, 2, "the write before the failover was replicated (after {attempts} attempts)");
    });
    drop(standby);
    let _ = std::fs::remove_dir_all(&base);
}
