//! `pgbench`: rasgi's side of the Postgres client benchmark (`benches/harness`, suite `pg`),
//! measured exactly like its peers `benches/peers/hyper/src/bin/pgbench.rs` (tokio-postgres)
//! and `benches/peers/python/pg_bench.py` (asyncpg):
//!
//! - `roundtrips_c1`: one connection, one query in flight, for the whole duration:
//!   `SELECT id, randomnumber FROM world WHERE id = $1` with a varying id;
//! - `roundtrips_c16`: the same on 16 connections, one task each, all on one event loop;
//! - `rows`: `SELECT g, 'row-' || g, g::float8 / 7 FROM generate_series(1, 100000) AS g`,
//!   every value decoded (i32, String, f64), repeated for the duration; reported in rows/s.
//! - `copy_out`: the same 100,000 rows as `COPY (...) TO STDOUT` in the text format, every
//!   row's CopyData received, repeated; rows/s. asyncpg's peer is `copy_from_query`,
//!   tokio-postgres's `copy_out`.
//! - `copy_in`: TRUNCATE, then 100,000 rows `(n, 'row-' || n, n / 7.0)`, made before the clock
//!   starts, sent with `COPY copy_bench (n, label, ratio) FROM STDIN (FORMAT binary)` into an
//!   unlogged table, every value encoded in COPY's binary format; repeated; rows/s. asyncpg's
//!   peer is `copy_records_to_table` (always binary), tokio-postgres's `BinaryCopyInWriter`.
//!
//! Each measurement prints one JSON line:
//! `{"bench":"pg","impl":"rasgi","measure":"roundtrips_c1","value":...,"unit":"ops/s","ops":N,"seconds":S,"concurrency":1}`.
//!
//! Usage: `pgbench [--database-url URL | --url URL] [--duration S | --seconds S] [--only m1,m2]
//! [--ops N]`. `--ops N` replaces the duration with a fixed amount of work, for profiling
//! (`valgrind --tool=callgrind`, `strace -c`): N round trips in all for `roundtrips_*` (N / 16
//! per connection), N repetitions of the 100,000-row query or COPY for the others. Two runs with
//! different N, subtracted, give the cost of one operation without the connection set-up.
//! Without a URL (and no `DATABASE_URL`) it starts a throwaway PostgreSQL under
//! `target/pgbench-cluster`. A database without the TechEmpower `world` table gets one
//! (10,000 rows, as `benches/harness/setup.sql` makes it).

use std::process::exit;
use std::time::{Duration, Instant};

use rasgi::pg::cluster::{Cluster, ClusterOptions};
use rasgi::pg::{Connection, PgError, Type};
use rasgi_executor::{block_on, join_all, spawn};

const WORLD_QUERY: &str = "SELECT id, randomnumber FROM world WHERE id = $1";
/// Must stay identical to the peers' ROWS_QUERY.
const ROWS_QUERY: &str = "SELECT g, 'row-' || g, g::float8 / 7 FROM generate_series(1, 100000) AS g";
const CONCURRENCY: usize = 16;
/// The table `copy_in` fills; must stay identical to the peers'.
const COPY_TABLE: &str = "CREATE UNLOGGED TABLE IF NOT EXISTS copy_bench (n int, label text, ratio float8)";
/// Must stay identical to the tokio-postgres peer's (asyncpg's `copy_records_to_table` sends
/// the same statement for the same columns).
const COPY_IN: &str = "COPY copy_bench (n, label, ratio) FROM STDIN (FORMAT binary)";
/// Rows per `copy_in`.
const COPY_ROWS: i32 = 100_000;

fn fail(message: &str) -> ! {
    eprintln!("pgbench: {message}");
    exit(2)
}

/// `--name value` flags; the first name of each pair is the harness's, the second the alias.
struct Flags {
    url: Option<String>,
    duration: Duration,
    only: Vec<String>,
    /// A fixed amount of work in place of `duration` (see the module docs).
    ops: Option<u64>,
}

/// When a measurement loop stops: at a deadline, or after a fixed number of operations.
#[derive(Clone, Copy)]
struct Budget {
    /// When a timed loop stops starting operations (ignored when `ops` is set).
    deadline: Instant,
    /// The fixed number of operations of one loop, from `--ops`; `None` for a timed run.
    ops: Option<u64>,
}

impl Budget {
    fn starting_now(duration: Duration, ops: Option<u64>) -> Budget {
        Budget { deadline: Instant::now() + duration, ops }
    }

    /// True while a loop that has done `done` operations should do another. A loop always
    /// does at least one, so that every measurement has something to divide by.
    fn more(&self, done: u64) -> bool {
        match self.ops {
            Some(ops) => done < ops.max(1),
            None => done == 0 || Instant::now() < self.deadline,
        }
    }
}

fn parse_flags() -> Flags {
    let mut flags = Flags {
        url: std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()),
        duration: Duration::from_secs(5),
        only: ["roundtrips_c1", "roundtrips_c16", "rows", "copy_out", "copy_in"].map(String::from).to_vec(),
        ops: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| fail(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--database-url" | "--url" => flags.url = Some(value),
            "--duration" | "--seconds" => {
                let seconds: f64 = value.parse().unwrap_or_else(|_| fail(&format!("bad duration {value:?}")));
                flags.duration = Duration::from_secs_f64(seconds.max(0.0));
            }
            "--only" => flags.only = value.split(',').map(String::from).collect(),
            "--ops" => flags.ops = Some(value.parse().unwrap_or_else(|_| fail(&format!("bad --ops {value:?}")))),
            other => fail(&format!("unknown flag {other}; see the doc comment of src/bin/pgbench.rs")),
        }
    }
    flags
}

fn main() {
    let flags = parse_flags();
    // Kept alive until the end of main: dropping it stops the throwaway server.
    let mut _cluster: Option<Cluster> = None;
    let url = match flags.url.clone() {
        Some(url) => url,
        None => {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pgbench-cluster");
            eprintln!(
                "pgbench: no --database-url or DATABASE_URL; starting a throwaway PostgreSQL in {}",
                dir.display()
            );
            let options = ClusterOptions { stop_with_process: true, ..ClusterOptions::default() };
            let cluster = Cluster::start(&dir, options).unwrap_or_else(|e| fail(&e.to_string()));
            let url = cluster.url();
            _cluster = Some(cluster);
            url
        }
    };
    block_on(async {
        if let Err(e) = ensure_world_table(&url).await {
            fail(&format!("preparing the world table: {e}"));
        }
        for measure in &flags.only {
            let (duration, ops) = (flags.duration, flags.ops);
            let (result, unit, concurrency) = match measure.as_str() {
                "roundtrips_c1" => (roundtrips(&url, 1, duration, ops).await, "ops/s", 1),
                "roundtrips_c16" => (roundtrips(&url, CONCURRENCY, duration, ops).await, "ops/s", CONCURRENCY),
                "rows" => (rows(&url, duration, ops).await, "rows/s", 1),
                "copy_out" => (copy_out(&url, duration, ops).await, "rows/s", 1),
                "copy_in" => (copy_in(&url, duration, ops).await, "rows/s", 1),
                other => fail(&format!("unknown measurement {other}")),
            };
            let (ops, elapsed) = result.unwrap_or_else(|e| fail(&format!("{measure}: {e}")));
            let seconds = elapsed.as_secs_f64();
            let line = serde_json::json!({
                "bench": "pg", "impl": "rasgi", "measure": measure,
                "value": (ops as f64 / seconds * 100.0).round() / 100.0, "unit": unit,
                "ops": ops, "seconds": (seconds * 1000.0).round() / 1000.0, "concurrency": concurrency,
            });
            println!("{line}");
        }
    });
}

/// Creates and fills `world` if the database has none.
async fn ensure_world_table(url: &str) -> Result<(), PgError> {
    let mut conn = Connection::connect(url).await?;
    let exists: bool = conn.fetch_value("SELECT to_regclass('world') IS NOT NULL", &[]).await?;
    if !exists {
        eprintln!("pgbench: creating the world table (10,000 rows)");
        conn.execute_script(
            "CREATE TABLE world (id integer NOT NULL PRIMARY KEY, randomnumber integer NOT NULL DEFAULT 0);
             INSERT INTO world (id, randomnumber)
                 SELECT g, floor(random() * 10000)::integer + 1 FROM generate_series(1, 10000) AS g;
             ANALYZE world;",
        )
        .await?;
    }
    conn.close().await
}

/// `concurrency` query loops, one connection each, until `duration` passes.
async fn roundtrips(
    url: &str,
    concurrency: usize,
    duration: Duration,
    ops: Option<u64>,
) -> Result<(u64, Duration), PgError> {
    let mut conns = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let mut conn = Connection::connect(url).await?;
        // Prepared (and cached) outside the timed region, as the peers do.
        conn.fetch_one(WORLD_QUERY, &[&1]).await?;
        conns.push(conn);
    }
    let start = Instant::now();
    let budget = Budget::starting_now(duration, ops.map(|n| n.div_ceil(concurrency as u64)));
    let loops = conns.into_iter().enumerate().map(|(i, conn)| spawn(query_loop(conn, budget, i as u32)));
    let mut total = 0;
    for result in join_all(loops.collect::<Vec<_>>()).await {
        match result {
            Ok(done) => total += done?,
            Err(e) => return Err(PgError::Protocol(format!("a query loop failed: {e}"))),
        }
    }
    Ok((total, start.elapsed()))
}

async fn query_loop(mut conn: Connection, budget: Budget, seed: u32) -> Result<u64, PgError> {
    let mut done = 0u64;
    let mut id = seed.wrapping_mul(7919) % 10_000;
    while budget.more(done) {
        // The same cheap stride through 1..=10,000 as the peers.
        id = (id + 3_371) % 10_000;
        let key = id as i32 + 1;
        let row = conn.fetch_one(WORLD_QUERY, &[&key]).await?.ok_or(PgError::NoRows)?;
        let found: i32 = row.get(0)?;
        debug_assert_eq!(found, key);
        done += 1;
    }
    Ok(done)
}

/// Repeats the 100,000-row query, decoding every value, until `duration` passes.
async fn rows(url: &str, duration: Duration, ops: Option<u64>) -> Result<(u64, Duration), PgError> {
    let mut conn = Connection::connect(url).await?;
    conn.fetch(ROWS_QUERY, &[]).await?; // prepare outside the timed region
    let start = Instant::now();
    let budget = Budget::starting_now(duration, ops);
    let (mut decoded, mut queries) = (0u64, 0u64);
    let mut checksum = 0f64;
    while budget.more(queries) {
        for row in conn.fetch(ROWS_QUERY, &[]).await? {
            let n: i32 = row.get(0)?;
            let label: String = row.get(1)?;
            let ratio: f64 = row.get(2)?;
            checksum += n as f64 + label.len() as f64 + ratio;
            decoded += 1;
        }
        queries += 1;
    }
    std::hint::black_box(checksum);
    Ok((decoded, start.elapsed()))
}

/// Repeats `COPY (ROWS_QUERY) TO STDOUT` (text format), receiving every row, until the
/// budget is spent. PostgreSQL sends one CopyData per row; each is one chunk here.
async fn copy_out(url: &str, duration: Duration, ops: Option<u64>) -> Result<(u64, Duration), PgError> {
    let mut conn = Connection::connect(url).await?;
    let sql = format!("COPY ({ROWS_QUERY}) TO STDOUT");
    let start = Instant::now();
    let budget = Budget::starting_now(duration, ops);
    let (mut received, mut bytes, mut copies) = (0u64, 0usize, 0u64);
    while budget.more(copies) {
        let mut out = conn.copy_out(&sql).await?;
        while let Some(chunk) = out.next_chunk().await? {
            bytes += chunk.len();
            received += 1;
        }
        copies += 1;
    }
    std::hint::black_box(bytes);
    Ok((received, start.elapsed()))
}

/// The rows `copy_in` stores: `(n, 'row-' || n, n / 7.0)` for n in 1..=100,000, made once
/// before the clock starts, as asyncpg's peer builds its list of records.
fn copy_rows() -> Vec<(i32, String, f64)> {
    (1..=COPY_ROWS).map(|n| (n, format!("row-{n}"), n as f64 / 7.0)).collect()
}

/// Repeats TRUNCATE + a 100,000-row binary `COPY ... FROM STDIN` into an unlogged table until
/// the budget is spent: every value encoded in COPY's binary format, as asyncpg's
/// `copy_records_to_table` and tokio-postgres's `BinaryCopyInWriter` do.
async fn copy_in(url: &str, duration: Duration, ops: Option<u64>) -> Result<(u64, Duration), PgError> {
    let mut conn = Connection::connect(url).await?;
    conn.execute_script(COPY_TABLE).await?;
    let rows = copy_rows();
    let types = [Type::INT4, Type::TEXT, Type::FLOAT8];
    let start = Instant::now();
    let budget = Budget::starting_now(duration, ops);
    let (mut stored, mut copies) = (0u64, 0u64);
    while budget.more(copies) {
        conn.execute_script("TRUNCATE copy_bench").await?;
        let mut copy = conn.copy_in(COPY_IN).await?;
        for (n, label, ratio) in &rows {
            copy.send_binary_row(&types, &[n, label, ratio]).await?;
        }
        stored += copy.finish().await?;
        copies += 1;
    }
    Ok((stored, start.elapsed()))
}
