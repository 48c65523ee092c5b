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
//! `postgres` user (`runuser -u postgres --`, the Debian package creates that user).
//!
//! # Safe by construction
//!
//! A development server is still a server, reachable by every local user, and its directory
//! may be named by an environment variable. So:
//! - **The superuser needs a password.** `initdb` sets a random one (32 hex digits from
//!   `/dev/urandom`), kept in `data/rasgi-superuser-password` (mode 0600), and every login —
//!   TCP and the Unix socket alike — is SCRAM-SHA-256. [`Cluster::url`] carries it. (A
//!   password-less superuser would let any local user run `COPY ... TO PROGRAM` as
//!   `postgres`.)
//! - **Only directories rasgi creates change owner.** A missing directory is created, marked
//!   with a `.rasgi-cluster` file and, when we are root, given to `postgres` — that one
//!   directory, never recursively. A directory holding that mark is reused (the demo keeps
//!   its data across restarts). An existing directory without it must be empty, and when we
//!   are root, already owned by `postgres`; anything else is refused with a message that
//!   says what to do, so a mistyped path can never hand someone's files to `postgres`.
//! - **A watchdog stops only the server it started.** [`ClusterOptions::stop_with_process`]
//!   leaves a shell behind that waits for this process to end, then signals the postmaster
//!   by the pid it had when we started it, and only if `postmaster.pid` still names that
//!   pid. A later run that started its own server in the same directory (a demo restarted
//!   within the watchdog's half-second poll) is left alone; stopping "whatever runs in the
//!   directory" with `pg_ctl stop` was the rejected design, because it did exactly that.
//!
//! With [`ClusterOptions::auth_roles`] it also creates one role per authentication method,
//! each with password `pw` and its own `pg_hba.conf` line: `trust_user` (trust),
//! `password_user` (cleartext `password`), `md5_user` (md5, password stored as MD5) and
//! `scram_user` (scram-sha-256). They are ordinary roles, not superusers.
//!
//! These functions block (they run `initdb` and wait for the server): call them before the
//! event loop starts, or through `spawn_blocking`.

use std::fmt;
use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
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
    /// exits — a watchdog process polls our pid, and then stops the postmaster it was told
    /// about, if that one still runs the directory. For clusters kept in a `static`, whose
    /// `Drop` never runs (test binaries), and for a demo that may be killed.
    pub stop_with_process: bool,
    /// Delete the directory after stopping (for temporary clusters).
    pub remove_on_stop: bool,
}

/// A running throwaway cluster; stopped when dropped.
pub struct Cluster {
    /// The PostgreSQL `bin` directory used.
    bin: PathBuf,
    /// The directory holding `data/`, the log and the Unix socket.
    dir: PathBuf,
    /// The TCP port on 127.0.0.1.
    port: u16,
    /// The pid of the postmaster this handle started (0 while none runs): the only server
    /// `stop` and the watchdog will ever signal.
    postmaster_pid: u32,
    /// The superuser's password, as stored in `data/rasgi-superuser-password`. Never
    /// printed: `Debug` leaves it out.
    password: String,
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
    /// Creates (or reuses: a directory rasgi created in an earlier run is started again) and
    /// starts a cluster in `dir`; see the module docs for what it refuses and why.
    pub fn start(dir: impl AsRef<Path>, options: ClusterOptions) -> Result<Cluster, PgError> {
        let bin = find_postgres_bin()?;
        let as_postgres = running_as_root();
        prepare_dir(dir.as_ref(), as_postgres)?;
        let dir = fs::canonicalize(dir.as_ref()).map_err(|e| cluster_error(format!("bad directory: {e}")))?;
        let mut cluster = Cluster {
            bin,
            dir,
            port: 0,
            postmaster_pid: 0,
            password: String::new(),
            as_postgres,
            remove_on_stop: options.remove_on_stop,
            stopped: true,
        };

        if cluster.data_dir().join("PG_VERSION").is_file() {
            cluster.password = cluster.read_password()?;
        } else {
            cluster.initdb(&options)?;
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
        cluster.postmaster_pid = cluster.running_postmaster().ok_or_else(|| {
            cluster_error(format!("the server started but {:?} names no postmaster", cluster.pid_file()))
        })?;
        cluster.stopped = false;
        if options.auth_roles {
            cluster.psql(ROLES_SQL)?;
        }
        if options.stop_with_process {
            cluster.spawn_watchdog()?;
        }
        Ok(cluster)
    }

    /// The superuser URL, password included: `postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres`.
    /// [`crate::pg::Config`] never shows the password; do not log this string yourself.
    pub fn url(&self) -> String {
        self.url_for("postgres", Some(&self.password))
    }

    /// Promotes a standby (a cluster made with `pg_basebackup -R`) to a primary, and waits
    /// until it accepts writes (`pg_ctl promote -w`).
    pub fn promote(&self) -> Result<(), PgError> {
        run(self.command("pg_ctl").arg("-D").arg(self.data_dir()).args(["-w", "-t", "60", "promote"]))
    }

    /// The pid of the postmaster this handle started.
    pub fn postmaster_pid(&self) -> u32 {
        self.postmaster_pid
    }

    /// The data directory (`DIR/data`), where `rasgi-superuser-password` is kept.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
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

    /// Stops the server (`pg_ctl -m fast stop`: disconnect clients, shut down cleanly) — if
    /// the postmaster running the directory is still the one this handle started. If another
    /// took its place, that one is left running and `Ok` returned: ours is already gone.
    pub fn stop(&mut self) -> Result<(), PgError> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        if self.running_postmaster() != Some(self.postmaster_pid) {
            return Ok(());
        }
        let result = run(self.command("pg_ctl").arg("-D").arg(self.data_dir()).args(["-m", "fast", "-w", "stop"]));
        if self.remove_on_stop {
            let _ = fs::remove_dir_all(&self.dir);
        }
        result
    }

    fn pid_file(&self) -> PathBuf {
        self.data_dir().join("postmaster.pid")
    }

    /// The pid in `postmaster.pid`'s first line: the server that runs the directory now.
    fn running_postmaster(&self) -> Option<u32> {
        fs::read_to_string(self.pid_file()).ok()?.lines().next()?.trim().parse().ok()
    }

    fn password_file(&self) -> PathBuf {
        self.data_dir().join(PASSWORD_FILE)
    }

    fn read_password(&self) -> Result<String, PgError> {
        let password = fs::read_to_string(self.password_file()).map_err(|e| {
            cluster_error(format!(
                "{:?} holds a cluster but its superuser password cannot be read from {:?} ({e}); remove the \
                 directory to start afresh",
                self.dir,
                self.password_file()
            ))
        })?;
        Ok(password.trim().to_string())
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

    /// Runs `initdb` with a fresh superuser password, then keeps that password in the data
    /// directory and writes rasgi's `pg_hba.conf`.
    fn initdb(&mut self, options: &ClusterOptions) -> Result<(), PgError> {
        self.password = generate_password()?;
        // initdb reads the password from a file (never from the command line, which every
        // local user can see in `ps`); the file then moves into the data directory.
        let pwfile = self.dir.join(".rasgi-pwfile");
        self.write_private(&pwfile, &format!("{}\n", self.password))?;
        let initdb = run(self
            .command("initdb")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-U", "postgres", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
            .args(["--auth-local=scram-sha-256", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display())));
        if let Err(e) = initdb {
            let _ = fs::remove_file(&pwfile);
            return Err(e);
        }
        fs::rename(&pwfile, self.password_file())
            .map_err(|e| cluster_error(format!("cannot move the password file into the data directory: {e}")))?;
        // Our own pg_hba.conf: first matching line wins, so each test role gets its method,
        // and everything else (the superuser included) must prove its password with SCRAM.
        let mut text = String::from("# written by rasgi's throwaway cluster helper\nlocal all all scram-sha-256\n");
        let roles = if options.auth_roles { TEST_ROLE_HBA_LINES } else { &[] };
        for line in roles.iter().chain(&["host all all ADDR scram-sha-256"]) {
            for addr in ["127.0.0.1/32", "::1/128"] {
                text.push_str(&line.replace("ADDR", addr));
                text.push('\n');
            }
        }
        self.write_private(&self.data_dir().join("pg_hba.conf"), &text)
    }

    /// Writes a file only its owner can read, owned by `postgres` when we are root.
    fn write_private(&self, path: &Path, contents: &str) -> Result<(), PgError> {
        let write = || -> std::io::Result<()> {
            let _ = fs::remove_file(path);
            let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
            std::io::Write::write_all(&mut file, contents.as_bytes())
        };
        write().map_err(|e| cluster_error(format!("cannot write {path:?}: {e}")))?;
        if self.as_postgres {
            run(Command::new("chown").arg("postgres:postgres").arg(path))?;
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
        // PGPASSWORD rather than a connection string: the environment of a process is private
        // to its user, its arguments are not. `runuser` passes it on.
        run(self
            .command("psql")
            .env("PGPASSWORD", &self.password)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d", "postgres", "-h"])
            .arg(&self.dir)
            .args(["-p", &self.port.to_string(), "-c", sql]))
    }

    /// Starts a detached shell that waits for this process to end, then stops the postmaster
    /// we started — only if `postmaster.pid` still names it (see the module docs). The paths
    /// and pids reach the script as arguments, never spliced into its text, so no directory
    /// name can become shell syntax. SIGINT is PostgreSQL's fast shutdown.
    fn spawn_watchdog(&self) -> Result<(), PgError> {
        const SCRIPT: &str = r#"
            while kill -0 "$1" 2>/dev/null; do sleep 0.5; done
            [ "$(head -n 1 "$3/postmaster.pid" 2>/dev/null)" = "$2" ] || exit 0
            kill -INT "$2"
            while kill -0 "$2" 2>/dev/null; do sleep 0.1; done
            [ "$5" = remove ] && rm -rf "$4"
            exit 0
        "#;
        let remove = if self.remove_on_stop { "remove" } else { "keep" };
        Command::new("setsid")
            .args(["sh", "-c", SCRIPT, "rasgi-cluster-watchdog"])
            .arg(std::process::id().to_string())
            .arg(self.postmaster_pid.to_string())
            .arg(self.data_dir())
            .arg(&self.dir)
            .arg(remove)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(drop)
            .map_err(|e| cluster_error(format!("cannot start the cluster watchdog: {e}")))
    }
}

/// Everything but the password.
impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("dir", &self.dir)
            .field("port", &self.port)
            .field("postmaster_pid", &self.postmaster_pid)
            .field("stopped", &self.stopped)
            .finish_non_exhaustive()
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

/// The file in the data directory that holds the superuser's password.
const PASSWORD_FILE: &str = "rasgi-superuser-password";

/// The file that marks a directory as created by rasgi (and so safe to reuse).
const MARKER_FILE: &str = ".rasgi-cluster";

/// One pg_hba.conf line per test role (before the catch-all SCRAM line). `ADDR` becomes the
/// IPv4 and the IPv6 loopback.
const TEST_ROLE_HBA_LINES: &[&str] = &[
    "host all trust_user ADDR trust",
    "host all password_user ADDR password",
    "host all md5_user ADDR md5",
    "host all scram_user ADDR scram-sha-256",
];

/// Makes `dir` ready for a cluster, or refuses it; the rules are in the module docs.
fn prepare_dir(dir: &Path, as_root: bool) -> Result<(), PgError> {
    let refuse = |why: String| cluster_error(format!("refusing {dir:?} for a throwaway PostgreSQL: {why}"));
    let mut entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| cluster_error(format!("cannot create {dir:?}: {e}")))?;
            if as_root {
                // This one directory, which we just made; what initdb puts inside is made by
                // `postgres` itself.
                run(Command::new("chown").arg("postgres:postgres").arg(dir))?;
            }
            return mark(dir);
        }
        Err(e) => return Err(refuse(format!("it cannot be read ({e})"))),
    };
    if dir.join(MARKER_FILE).is_file() {
        return Ok(());
    }
    if entries.next().is_some() {
        return Err(refuse(
            "it already exists, is not empty, and was not created by rasgi (it has no .rasgi-cluster file). \
             Name a directory that does not exist yet (rasgi creates it), or an empty one"
                .to_string(),
        ));
    }
    if as_root {
        let owner = fs::metadata(dir).map_err(|e| refuse(e.to_string()))?.uid();
        if Some(owner) != postgres_uid() {
            return Err(refuse(
                "it is empty but not owned by the postgres user, and rasgi changes the owner only of \
                 directories it creates. Name a directory that does not exist yet, or run \
                 `chown postgres:postgres` on this one yourself"
                    .to_string(),
            ));
        }
    }
    mark(dir)
}

fn mark(dir: &Path) -> Result<(), PgError> {
    fs::write(
        dir.join(MARKER_FILE),
        "created by rasgi's throwaway PostgreSQL helper; safe to delete with the directory\n",
    )
    .map_err(|e| cluster_error(format!("cannot write in {dir:?}: {e}")))
}

/// The uid of the `postgres` user, from `/etc/passwd`.
fn postgres_uid() -> Option<u32> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|l| l.starts_with("postgres:"))?;
    line.split(':').nth(2)?.parse().ok()
}

/// 16 random bytes from the kernel, as 32 hex digits: URL-safe, and 128 bits of secret.
fn generate_password() -> Result<String, PgError> {
    let mut bytes = [0u8; 16];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| cluster_error(format!("cannot read /dev/urandom for a password: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

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
