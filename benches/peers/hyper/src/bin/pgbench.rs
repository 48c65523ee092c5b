//! `pgbench`: tokio-postgres round trips and row decoding, for the `pg` suite.
//!
//! Five measurements, identical in the asyncpg peer (`benches/peers/python/pg_bench.py`) and in
//! rasgi's own `pgbench` binary:
//!
//! - `roundtrips_c1`: one connection, one query in flight at a time, for `--duration` seconds:
//!   `SELECT id, randomnumber FROM world WHERE id = $1` (prepared once) with a random id.
//!   This is pure latency: one loop turn, one write, one read per query.
//! - `roundtrips_c16`: the same query on 16 connections, each with one query in flight, all
//!   driven by the one thread. Connections rather than pipelining because asyncpg cannot run two
//!   queries on one connection at once; 16 connections is the shape both drivers support.
//! - `rows`: `SELECT g, 'row-' || g, g::float8 / 7 FROM generate_series(1, 100000) AS g`
//!   (prepared once), every column of every row decoded into a native value (i32, String, f64),
//!   repeated for `--duration` seconds. Reported as rows decoded per second.
//!
//! - `copy_out`: the same 100,000 rows as `COPY (...) TO STDOUT` (text format) through
//!   `copy_out`, every row's CopyData received; rows/s.
//! - `copy_in`: TRUNCATE, then 100,000 rows `(n, 'row-' || n, n / 7.0)`, made before the clock
//!   starts, through `BinaryCopyInWriter` into an unlogged table (COPY's binary format, as
//!   asyncpg's `copy_records_to_table` sends it); rows/s.
//!
//! Why a current-thread runtime: asyncpg runs on one asyncio loop and rasgi on one event loop,
//! so the client side of every contender gets exactly one core.
//!
//! Usage: `pgbench --database-url URL [--duration SECONDS] [--only roundtrips_c1,rows] [--ops N]`
//!
//! `--ops N` replaces the duration with a fixed amount of work, for profiling (callgrind,
//! `strace -c`), exactly as in rasgi's `pgbench`: N round trips in all for `roundtrips_*` (N / 16
//! per connection), N repetitions of the 100,000-row query for the others.

use std::time::{Duration, Instant};

use futures_util::{pin_mut, TryStreamExt};
use rasgi_peer_hyper::{fail, Flags, Measurement};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, Statement};

const PROGRAM: &str = "pgbench";
const WORLD_QUERY: &str = "SELECT id, randomnumber FROM world WHERE id = $1";
/// The fixed 100,000-row query; its text must stay identical across the three implementations.
const ROWS_QUERY: &str =
    "SELECT g, 'row-' || g, g::float8 / 7 FROM generate_series(1, 100000) AS g";
const CONCURRENCY: usize = 16;
/// The table, statement and row count of `copy_in`; identical in rasgi's `pgbench`.
const COPY_TABLE: &str =
    "CREATE UNLOGGED TABLE IF NOT EXISTS copy_bench (n int, label text, ratio float8)";
const COPY_IN: &str = "COPY copy_bench (n, label, ratio) FROM STDIN (FORMAT binary)";
const COPY_ROWS: i32 = 100_000;

fn main() {
    let flags = Flags::parse(PROGRAM, &["database-url", "duration", "only", "ops"]);
    let url = flags.get(
        "database-url",
        &std::env::var("DATABASE_URL").unwrap_or_default(),
    );
    if url.is_empty() {
        fail(PROGRAM, "give --database-url or set DATABASE_URL");
    }
    let duration = flags.seconds(PROGRAM, "duration", 5.0);
    let only = flags.get("only", "roundtrips_c1,roundtrips_c16,rows,copy_out,copy_in");
    let ops = flags
        .has("ops")
        .then(|| flags.count(PROGRAM, "ops", 1) as u64);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot build the tokio runtime");
    runtime.block_on(async {
        for measure in only.split(',') {
            let result = match measure {
                "roundtrips_c1" => roundtrips(&url, 1, Budget::new(duration, ops)).await,
                "roundtrips_c16" => {
                    let per_connection = ops.map(|n| n.div_ceil(CONCURRENCY as u64));
                    roundtrips(&url, CONCURRENCY, Budget::new(duration, per_connection)).await
                }
                "rows" => rows(&url, Budget::new(duration, ops)).await,
                "copy_out" => copy_out(&url, Budget::new(duration, ops)).await,
                "copy_in" => copy_in(&url, Budget::new(duration, ops)).await,
                other => fail(PROGRAM, &format!("unknown measurement {other}")),
            };
            match result {
                Ok((ops, elapsed, unit)) => Measurement {
                    bench: "pg",
                    implementation: "tokio-postgres",
                    measure,
                    value: ops as f64 / elapsed.as_secs_f64(),
                    unit,
                    ops,
                    seconds: elapsed.as_secs_f64(),
                }
                .emit(),
                Err(e) => fail(PROGRAM, &format!("{measure}: {e}")),
            }
        }
    });
}

/// When a measurement loop stops: after the duration, or after a fixed number of operations.
#[derive(Clone, Copy)]
struct Budget {
    /// How long a timed loop keeps starting operations (ignored when `ops` is set).
    duration: Duration,
    /// The fixed number of operations of one loop, from `--ops`; `None` for a timed run.
    ops: Option<u64>,
}

impl Budget {
    fn new(duration: Duration, ops: Option<u64>) -> Budget {
        Budget { duration, ops }
    }

    /// True while a loop started at `start` that has done `done` operations should do another
    /// (always at least one).
    fn more(&self, start: Instant, done: u64) -> bool {
        match self.ops {
            Some(ops) => done < ops.max(1),
            None => done == 0 || start.elapsed() < self.duration,
        }
    }
}

async fn connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("{PROGRAM}: connection ended: {e}");
        }
    });
    Ok(client)
}

/// Runs `concurrency` independent query loops, one per connection, until `duration` passes.
async fn roundtrips(
    url: &str,
    concurrency: usize,
    budget: Budget,
) -> Result<(u64, Duration, &'static str), tokio_postgres::Error> {
    let mut clients = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let client = connect(url).await?;
        let statement = client.prepare(WORLD_QUERY).await?;
        clients.push((client, statement));
    }
    let start = Instant::now();
    let loops = clients
        .into_iter()
        .enumerate()
        .map(|(i, (client, statement))| {
            tokio::spawn(query_loop(client, statement, start, budget, i as u32))
        });
    let mut total = 0;
    for handle in loops.collect::<Vec<_>>() {
        total += handle.await.expect("a query loop panicked")?;
    }
    Ok((total, start.elapsed(), "ops/s"))
}

async fn query_loop(
    client: Client,
    statement: Statement,
    start: Instant,
    budget: Budget,
    seed: u32,
) -> Result<u64, tokio_postgres::Error> {
    let mut done = 0u64;
    let mut id = seed.wrapping_mul(7919) % 10_000;
    while budget.more(start, done) {
        // A cheap stride through 1..=10,000 keeps ids varied without a random generator.
        id = (id + 3_371) % 10_000;
        let key = id as i32 + 1;
        let row = client.query_one(&statement, &[&key]).await?;
        let found: i32 = row.get(0);
        debug_assert_eq!(found, key);
        done += 1;
    }
    Ok(done)
}

/// Repeats the 100,000-row query, decoding every value, until `duration` passes (at least once).
async fn rows(
    url: &str,
    budget: Budget,
) -> Result<(u64, Duration, &'static str), tokio_postgres::Error> {
    let client = connect(url).await?;
    let statement = client.prepare(ROWS_QUERY).await?;
    let start = Instant::now();
    let (mut decoded, mut queries) = (0u64, 0u64);
    // Accumulate something from every column so the decoding cannot be optimised away.
    let mut checksum = 0f64;
    while budget.more(start, queries) {
        for row in client.query(&statement, &[]).await? {
            let n: i32 = row.get(0);
            let label: String = row.get(1);
            let ratio: f64 = row.get(2);
            checksum += n as f64 + label.len() as f64 + ratio;
            decoded += 1;
        }
        queries += 1;
    }
    std::hint::black_box(checksum);
    Ok((decoded, start.elapsed(), "rows/s"))
}

/// Repeats `COPY (ROWS_QUERY) TO STDOUT`, receiving every row, until the budget is spent.
async fn copy_out(
    url: &str,
    budget: Budget,
) -> Result<(u64, Duration, &'static str), tokio_postgres::Error> {
    let client = connect(url).await?;
    let sql = format!("COPY ({ROWS_QUERY}) TO STDOUT");
    let start = Instant::now();
    let (mut received, mut bytes, mut copies) = (0u64, 0usize, 0u64);
    while budget.more(start, copies) {
        let stream = client.copy_out(sql.as_str()).await?;
        pin_mut!(stream);
        // PostgreSQL sends one CopyData per row.
        while let Some(chunk) = stream.try_next().await? {
            bytes += chunk.len();
            received += 1;
        }
        copies += 1;
    }
    std::hint::black_box(bytes);
    Ok((received, start.elapsed(), "rows/s"))
}

/// Repeats TRUNCATE + a 100,000-row binary COPY FROM STDIN until the budget is spent.
async fn copy_in(
    url: &str,
    budget: Budget,
) -> Result<(u64, Duration, &'static str), tokio_postgres::Error> {
    let client = connect(url).await?;
    client.batch_execute(COPY_TABLE).await?;
    let rows: Vec<(i32, String, f64)> = (1..=COPY_ROWS)
        .map(|n| (n, format!("row-{n}"), n as f64 / 7.0))
        .collect();
    let start = Instant::now();
    let (mut stored, mut copies) = (0u64, 0u64);
    while budget.more(start, copies) {
        client.batch_execute("TRUNCATE copy_bench").await?;
        let sink = client.copy_in(COPY_IN).await?;
        let writer = BinaryCopyInWriter::new(sink, &[Type::INT4, Type::TEXT, Type::FLOAT8]);
        pin_mut!(writer);
        for (n, label, ratio) in &rows {
            let values: [&(dyn ToSql + Sync); 3] = [n, label, ratio];
            writer.as_mut().write(&values).await?;
        }
        stored += writer.finish().await?;
        copies += 1;
    }
    Ok((stored, start.elapsed(), "rows/s"))
}
