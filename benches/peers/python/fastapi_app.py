"""FastAPI peer: the six TechEmpower routes, written the way a FastAPI user would write them.

Run by the harness as
    uvicorn fastapi_app:app --host 127.0.0.1 --port P --workers 1 --no-access-log
with DATABASE_URL in the environment. uvicorn[standard] brings uvloop and httptools, so this
is FastAPI at its usual best: one worker process, one event loop, like one rasgi loop.

Choices, and why:
- JSONResponse serializes with the standard json module on every request (no cached bytes,
  no orjson): the TechEmpower rules require per-request serialization, and plain FastAPI is
  what the seed text teaches.
- One asyncpg pool of 16 connections. asyncpg runs one operation at a time per connection, so
  /queries awaits its SELECTs one after another on one acquired connection (as FastAPI's own
  TechEmpower entry does); /updates writes back with executemany, which asyncpg pipelines.
- /fortunes escapes with html.escape instead of a Jinja2 template, to keep the dependency
  list to what is being compared; the output is the standard template byte for byte.
"""

import html
import os
import random
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse

READ_ROW = "SELECT id, randomnumber FROM world WHERE id = $1"
WRITE_ROW = "UPDATE world SET randomnumber = $1 WHERE id = $2"
READ_FORTUNES = "SELECT id, message FROM fortune"
ADDITIONAL_FORTUNE = (0, "Additional fortune added at request time.")
POOL_SIZE = 16

pool = None


@asynccontextmanager
async def lifespan(app):
    """Open the pool before the first request and close it at shutdown."""
    global pool
    url = os.environ.get("DATABASE_URL")
    if url:
        pool = await asyncpg.create_pool(url, min_size=POOL_SIZE, max_size=POOL_SIZE)
    yield
    if pool is not None:
        await pool.close()


app = FastAPI(lifespan=lifespan)


def queries_param(request: Request) -> int:
    """TechEmpower's rule: missing or non-numeric means 1, then clamp to 1..500."""
    try:
        n = int(request.query_params.get("queries", "1"))
    except ValueError:
        return 1
    return min(max(n, 1), 500)


def random_id() -> int:
    return random.randint(1, 10000)


def no_database():
    return PlainTextResponse("no DATABASE_URL configured", status_code=503)


@app.get("/plaintext")
async def plaintext():
    return PlainTextResponse(b"Hello, World!")


@app.get("/json")
async def json_route():
    return JSONResponse({"message": "Hello, World!"})


@app.get("/db")
async def single_query():
    if pool is None:
        return no_database()
    async with pool.acquire() as conn:
        # asyncpg caches the prepared statement per connection after the first use.
        row = await conn.fetchrow(READ_ROW, random_id())
    return JSONResponse({"id": row[0], "randomNumber": row[1]})


@app.get("/queries")
async def multiple_queries(request: Request):
    if pool is None:
        return no_database()
    count = queries_param(request)
    async with pool.acquire() as conn:
        statement = await conn.prepare(READ_ROW)
        worlds = []
        for _ in range(count):
            row = await statement.fetchrow(random_id())
            worlds.append({"id": row[0], "randomNumber": row[1]})
    return JSONResponse(worlds)


@app.get("/fortunes")
async def fortunes():
    if pool is None:
        return no_database()
    async with pool.acquire() as conn:
        rows = [tuple(r) for r in await conn.fetch(READ_FORTUNES)]
    rows.append(ADDITIONAL_FORTUNE)
    rows.sort(key=lambda r: r[1])
    cells = "".join(
        f"<tr><td>{fid}</td><td>{html.escape(message)}</td></tr>" for fid, message in rows
    )
    page = (
        "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
        "<tr><th>id</th><th>message</th></tr>" + cells + "</table></body></html>"
    )
    return HTMLResponse(page)


@app.get("/updates")
async def updates(request: Request):
    if pool is None:
        return no_database()
    count = queries_param(request)
    async with pool.acquire() as conn:
        statement = await conn.prepare(READ_ROW)
        worlds = []
        for _ in range(count):
            row = await statement.fetchrow(random_id())
            worlds.append({"id": row[0], "randomNumber": random_id()})
        # Sorted by id so that two requests updating overlapping rows lock them in the same
        # order: executemany runs in one transaction, and unordered locks could deadlock.
        rows = sorted(((w["randomNumber"], w["id"]) for w in worlds), key=lambda row: row[1])
        await conn.executemany(WRITE_ROW, rows)
    return JSONResponse(worlds)
