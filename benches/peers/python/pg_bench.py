"""asyncpg side of the `pg` suite: the same five measurements as the tokio-postgres `pgbench`.

- roundtrips_c1:  one connection, one query in flight, for --duration seconds:
                  SELECT id, randomnumber FROM world WHERE id = $1 (prepared once).
- roundtrips_c16: the same on 16 connections, each with one query in flight, one event loop.
                  (asyncpg runs one operation at a time per connection, so concurrency means
                  connections; the Rust peers are measured the same way.)
- rows:           SELECT g, 'row-' || g, g::float8 / 7 FROM generate_series(1, 100000) AS g,
                  every value of every row read into a Python object, repeated for --duration
                  seconds; reported as rows per second.
- copy_out:       the same rows as COPY (...) TO STDOUT in the text format, through
                  copy_from_query, every chunk handed to a sink; rows per second.
- copy_in:        TRUNCATE, then 100,000 records (n, 'row-n', n / 7), made before the clock
                  starts, through copy_records_to_table (COPY's binary format, the only one it
                  sends) into an unlogged table; rows per second.

Each measurement prints one JSON line, the format shared with the Rust binaries:
    {"bench": "pg", "impl": "asyncpg", "measure": "rows", "value": ..., "unit": "rows/s", ...}

uvloop is used when installed, as uvicorn uses it: this is asyncpg at its best.

Usage: python pg_bench.py --database-url URL [--duration S] [--only roundtrips_c1,rows]
"""

import argparse
import asyncio
import json
import os
import sys
import time

import asyncpg

WORLD_QUERY = "SELECT id, randomnumber FROM world WHERE id = $1"
# Must stay identical to ROWS_QUERY in benches/peers/hyper/src/bin/pgbench.rs.
ROWS_QUERY = "SELECT g, 'row-' || g, g::float8 / 7 FROM generate_series(1, 100000) AS g"
CONCURRENCY = 16


def emit(measure, ops, seconds, unit):
    line = {
        "bench": "pg",
        "impl": "asyncpg",
        "measure": measure,
        "value": round(ops / seconds, 2),
        "unit": unit,
        "ops": ops,
        "seconds": round(seconds, 3),
    }
    print(json.dumps(line), flush=True)


async def query_loop(conn, deadline, seed):
    statement = await conn.prepare(WORLD_QUERY)
    done = 0
    key = (seed * 7919) % 10000
    while time.perf_counter() < deadline:
        # The same cheap stride through 1..10,000 as the Rust loop.
        key = (key + 3371) % 10000
        row = await statement.fetchrow(key + 1)
        assert row[0] == key + 1
        done += 1
    return done


async def roundtrips(url, concurrency, duration):
    conns = [await asyncpg.connect(url) for _ in range(concurrency)]
    try:
        # Prepare outside the timed region, as the Rust side does.
        for conn in conns:
            await conn.prepare(WORLD_QUERY)
        start = time.perf_counter()
        deadline = start + duration
        counts = await asyncio.gather(*(query_loop(c, deadline, i) for i, c in enumerate(conns)))
        return sum(counts), time.perf_counter() - start
    finally:
        for conn in conns:
            await conn.close()


async def rows(url, duration):
    conn = await asyncpg.connect(url)
    try:
        statement = await conn.prepare(ROWS_QUERY)
        start = time.perf_counter()
        decoded = 0
        checksum = 0.0
        while True:
            for row in await statement.fetch():
                n, label, ratio = row[0], row[1], row[2]
                checksum += n + len(label) + ratio
                decoded += 1
            if time.perf_counter() - start >= duration:
                break
        return decoded, time.perf_counter() - start
    finally:
        await conn.close()


async def copy_out(url, duration):
    conn = await asyncpg.connect(url)
    try:
        received = 0
        start = time.perf_counter()

        async def sink(chunk):
            pass

        while True:
            status = await conn.copy_from_query(ROWS_QUERY, output=sink)
            received += int(status.split()[-1])
            if time.perf_counter() - start >= duration:
                break
        return received, time.perf_counter() - start
    finally:
        await conn.close()


async def copy_in(url, duration):
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE UNLOGGED TABLE IF NOT EXISTS copy_bench (n int, label text, ratio float8)")
        records = [(n, f"row-{n}", n / 7) for n in range(1, 100001)]
        stored = 0
        start = time.perf_counter()
        while True:
            await conn.execute("TRUNCATE copy_bench")
            status = await conn.copy_records_to_table("copy_bench", records=records, columns=["n", "label", "ratio"])
            stored += int(status.split()[-1])
            if time.perf_counter() - start >= duration:
                break
        return stored, time.perf_counter() - start
    finally:
        await conn.close()


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--only", default="roundtrips_c1,roundtrips_c16,rows,copy_out,copy_in")
    args = parser.parse_args()
    if not args.database_url:
        sys.exit("pg_bench.py: give --database-url or set DATABASE_URL")
    for measure in args.only.split(","):
        if measure == "roundtrips_c1":
            ops, seconds = await roundtrips(args.database_url, 1, args.duration)
            emit(measure, ops, seconds, "ops/s")
        elif measure == "roundtrips_c16":
            ops, seconds = await roundtrips(args.database_url, CONCURRENCY, args.duration)
            emit(measure, ops, seconds, "ops/s")
        elif measure == "rows":
            ops, seconds = await rows(args.database_url, args.duration)
            emit(measure, ops, seconds, "rows/s")
        elif measure == "copy_out":
            ops, seconds = await copy_out(args.database_url, args.duration)
            emit(measure, ops, seconds, "rows/s")
        elif measure == "copy_in":
            ops, seconds = await copy_in(args.database_url, args.duration)
            emit(measure, ops, seconds, "rows/s")
        else:
            sys.exit(f"pg_bench.py: unknown measurement {measure}")


def run():
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())


if __name__ == "__main__":
    run()
