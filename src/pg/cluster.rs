//! A throwaway PostgreSQL cluster for development and tests — no counterpart in asyncpg
//! (whose test suite has its own `asyncpg.cluster` module doing the same thing).
//!
//! [`Cluster::start`] finds the server binaries (`/usr/lib/postgresql/<version>/bin`, the
//! Debian layout, or `$PG_BIN`), runs `initdb` into a directory of your choosing, starts the
//! server on a free loopback port with durability switched off (`fsync=off`: this data is
//! disposable and tests should not wait for disks), and returns a handle whose `Drop` stops it
//! with `pg_ctl -m fast stop`.
//!
//! PostgreSQL refuses to run as root, so when we are root every server command runs as the
//! `postgres` user (`runuser -u postgres --`, the Debian package creates that user) in a
//! directory `chown`ed to it — the recipe in DESIGN.md.
//!
//! With [`ClusterOptions::auth_roles`] it also creates one role per authentication method,
//! each with password `pw` and its own `pg_hba.conf` line: `trust_user` (trust),
//! `password_user` (cleartext `password`), `md5_user` (md5, password stored as MD5) and
//! `scram_user` (scram-sha-256). The superuser `postgres` logs in over TCP without a password.
//!
//! These functions block (they run `initdb` and wait for the server): call them before the
//! event loop starts, or through `spawn_blocking`.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::pg::conn::Connection;
use crate::pg::error::PgError;

/// The password of every role [`ClusterOptions::auth_roles`] creates.
pub const TEST_PASSWORD: &str = "pw";

/// What to set up besides the bare server.
#[derive(Clone, Debug, Default)]
pub struct ClusterOptions {
    /// Create `trust_user`, `password_user`, `md5_user` and `scram_user` (password `pw`).
    pub auth_roles: bool,
    /// Also stop the server (and delete its directory) when *this process* exits, however it
    /// exits — a watchdog process polls our pid. For clusters kept in a `static`, whose `Drop`
    /// never runs (test binaries).
    pub stop_with_process: bool,
    /// Delete the directory after stopping (for temporary clusters).
    pub remove_on_stop: bool,
}

/// A running throwaway cluster; stopped when dropped.
#[derive(Debug)]
pub struct Cluster {
    /// The PostgreSQL `bin` directory used.
    bin: PathBuf,
    /// The directory holding `data/`, the log and the Unix socket.
    dir: PathBuf,
    /// The TCP port on 127.0.0.1.
    port: u16,
    /// True when server commands must run as the `postgres` user (we are root).
    as_postgres: bool,
    /// Delete `dir` after stopping.
    remove_on_stop: bool,
    /// Set once stopped, so `Drop` does not stop twice.
    stopped: bool,
}

/// Finds PostgreSQL's server binaries: `$PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin` holding `initdb`.
pub fn find_postgres_bin() -> Result<PathBuf, PgError> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        let dir = PathBuf::from(dir);
        if dir.join("initdb").is_file() {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        PgError::Cluster(
            "PostgreSQL's server binaries were not found under /usr/lib/postgresql/*/bin. Install them \
             with `apt-get install -y postgresql` (Debian/Ubuntu), set PG_BIN to the directory holding \
             initdb, or set DATABASE_URL to an existing server"
                .to_string(),
        )
    })
}

impl Cluster {
    /// Creates (or reuses: a `data/` directory from an earlier run is started again) and
    /// starts a cluster in `dir`; see the module docs.
    pub fn start(dir: impl AsRef<Path>, options: ClusterOptions) -> Result<Cluster, PgError> {
        let bin = find_postgres_bin()?;
        fs::create_dir_all(dir.as_ref())
            .map_err(|e| cluster_error(format!("cannot create {:?}: {e}", dir.as_ref())))?;
        let dir = fs::canonicalize(dir.as_ref()).map_err(|e| cluster_error(format!("bad directory: {e}")))?;
        let as_postgres = running_as_root();
        if as_postgres {
            run(Command::new("chown").arg("-R").arg("postgres:postgres").arg(&dir))?;
        }
        let mut cluster =
            Cluster { bin, dir, port: 0, as_postgres, remove_on_stop: options.remove_on_stop, stopped: true };

        if !cluster.data_dir().join("PG_VERSION").is_file() {
            cluster.initdb()?;
        }
        // A free port can be taken by someone else between our probe and the server's bind;
        // try a few.
        let mut last_error = None;
        for _ in 0..3 {
            cluster.port = free_port()?;
            match cluster.pg_ctl_start() {
                Ok(()) => {
                    last_error = None;
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        if let Some(e) = last_error {
            return Err(e);
        }
        cluster.stopped = false;
        if options.auth_roles {
            cluster.psql(ROLES_SQL)?;
        }
        if options.stop_with_process {
            cluster.spawn_watchdog()?;
        }
        Ok(cluster)
    }

    /// The superuser URL: `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        self.url_for("postgres", None)
    }

    /// A URL for `user` (with `password`, if any) on the `postgres` database.
    pub fn url_for(&self, user: &str, password: Option<&str>) -> String {
        match password {
            Some(password) => format!("postgres://{user}:{password}@127.0.0.1:{}/postgres", self.port),
            None => format!("postgres://{user}@127.0.0.1:{}/postgres", self.port),
        }
    }

    /// The server's TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server log (`log_min_messages` default: errors, cancellations, disconnections).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("log")
    }

    /// Stops the server (`pg_ctl -m fast stop`: disconnect clients, shut down cleanly).
    pub fn stop(&mut self) -> Result<(), PgError> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let result = run(self.command("pg_ctl").arg("-D").arg(self.data_dir()).args(["-m", "fast", "-w", "stop"]));
        if self.remove_on_stop {
            let _ = fs::remove_dir_all(&self.dir);
        }
        result
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A server command, run as `postgres` when we are root, from the cluster directory (a
    /// current directory the `postgres` user cannot enter makes some tools complain).
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        command.current_dir(&self.dir);
        command
    }

    fn initdb(&self) -> Result<(), PgError> {
        run(self
            .command("initdb")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"]))?;
        // Our own pg_hba.conf: first matching line wins, so each test role gets its method.
        let hba =
            HBA_LINES.iter().flat_map(|line| [line.replace("ADDR", "127.0.0.1/32"), line.replace("ADDR", "::1/128")]);
        let mut text = String::from("# written by rasgi's throwaway cluster helper\nlocal all all trust\n");
        for line in hba {
            text.push_str(&line);
            text.push('\n');
        }
        fs::write(self.data_dir().join("pg_hba.conf"), text)
            .map_err(|e| cluster_error(format!("writing pg_hba.conf: {e}")))?;
        if self.as_postgres {
            run(Command::new("chown").arg("postgres:postgres").arg(self.data_dir().join("pg_hba.conf")))?;
        }
        Ok(())
    }

    fn pg_ctl_start(&self) -> Result<(), PgError> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.log_path())
            .args(["-w", "-t", "60", "-o", &options, "start"]))
    }

    fn psql(&self, sql: &str) -> Result<(), PgError> {
        run(self
            .command("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", "postgres", "-h"])
            .arg(&self.dir)
            .args(["-p", &self.port.to_string(), "-c", sql]))
    }

    /// Starts a detached shell that waits for this process to end, then stops the server.
    fn spawn_watchdog(&self) -> Result<(), PgError> {
        let mut stop =
            format!("'{}' -D '{}' -m immediate -w stop", self.bin.join("pg_ctl").display(), self.data_dir().display());
        if self.as_postgres {
            stop = format!("runuser -u postgres -- {stop}");
        }
        if self.remove_on_stop {
            stop.push_str(&format!("; rm -rf '{}'", self.dir.display()));
        }
        let script =
            format!("while kill -0 {} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1", std::process::id());
        Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(drop)
            .map_err(|e| cluster_error(format!("cannot start the cluster watchdog: {e}")))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("rasgi: could not stop the throwaway PostgreSQL: {e}");
        }
    }
}

/// Creates the seed's demo table `mytable` and fills it with a few rows, unless it exists.
pub async fn create_demo_table(conn: &mut Connection) -> Result<(), PgError> {
    conn.execute_script(
        "CREATE TABLE IF NOT EXISTS mytable (
             id    serial PRIMARY KEY,
             name  text NOT NULL,
             value numeric(12, 2)
         )",
    )
    .await?;
    let count: i64 = conn.fetch_value("SELECT count(*) FROM mytable", &[]).await?;
    if count == 0 {
        conn.execute_script(
            "INSERT INTO mytable (name, value) VALUES
                 ('alpha', 1.50), ('beta', 20.00), ('gamma', 333.33), ('delta', NULL), ('epsilon', 0.05)",
        )
        .await?;
    }
    Ok(())
}

/// One pg_hba.conf line per test role, then a password-less superuser, then SCRAM for all
/// others. `ADDR` becomes the IPv4 and the IPv6 loopback.
const HBA_LINES: &[&str] = &[
    "host all trust_user ADDR trust",
    "host all password_user ADDR password",
    "host all md5_user ADDR md5",
    "host all scram_user ADDR scram-sha-256",
    "host all postgres ADDR trust",
    "host all all ADDR scram-sha-256",
];

/// Creates the test roles; safe to run again on a reused cluster.
const ROLES_SQL: &str = "
    DO $$
    DECLARE r text;
    BEGIN
        FOREACH r IN ARRAY ARRAY['trust_user', 'password_user', 'md5_user', 'scram_user'] LOOP
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
                EXECUTE format('CREATE ROLE %I LOGIN', r);
            END IF;
            EXECUTE format('GRANT ALL ON SCHEMA public TO %I', r);
        END LOOP;
    END $$;
    SET password_encryption = 'scram-sha-256';
    ALTER ROLE password_user PASSWORD 'pw';
    ALTER ROLE scram_user PASSWORD 'pw';
    SET password_encryption = 'md5';
    ALTER ROLE md5_user PASSWORD 'pw';
";

fn cluster_error(message: String) -> PgError {
    PgError::Cluster(message)
}

/// Runs a command to completion; a failure carries its output.
fn run(command: &mut Command) -> Result<(), PgError> {
    let output = command.output().map_err(|e| cluster_error(format!("cannot run {command:?}: {e}")))?;
    if output.status.success() {
        return Ok(());
    }
    Err(cluster_error(format!(
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )))
}

/// True when this process runs as root (uid 0), read from `/proc/self/status`.
fn running_as_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("Uid:"))?;
            line.split_whitespace().nth(1).map(|uid| uid == "0")
        })
        .unwrap_or(false)
}

/// A loopback port nobody listens on right now.
fn free_port() -> Result<u16, PgError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| cluster_error(format!("no free port: {e}")))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| cluster_error(e.to_string()))
}
