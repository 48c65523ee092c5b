#!/usr/bin/env python3
"""Runs the benchmark suites. Started by run.sh, which has already installed the tools, built
every contender, started PostgreSQL (and nginx for the https suite) and exported where they
are; see the top of run.sh for the user-facing documentation.

Standard library only: the harness must not depend on the Python environment it benchmarks.

Environment (set by run.sh):
  PEER_BIN_DIR    the hyper peer's release binaries
  BENCH_VENV      the virtualenv with FastAPI, uvicorn, asyncpg, httpx
  RASGI_BIN_DIR   rasgi's release binaries; RASGI_BINS lists the ones built in this run and
                  RASGI_WHY_<bin> says why any other one is missing
  DATABASE_URL    the throwaway cluster (suites server, pg, memory, instructions)
  PG_DATA         its data directory (to find the postmaster and pin it to a core)
  HTTPS_URL, CACERT   the local nginx TLS endpoint and its CA (suite https)
  BENCH_WORK      a scratch directory for server logs and callgrind output
"""

import argparse
import asyncio
import contextlib
import html
import http.client
import json
import os
import platform
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import clients
import report

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PY_PEERS = ROOT / "benches" / "peers" / "python"
PEER_BIN = Path(os.environ.get("PEER_BIN_DIR", ROOT / "target" / "peers" / "release"))
VENV = Path(os.environ.get("BENCH_VENV", ROOT / "target" / "bench-venv"))
RASGI_BIN = Path(os.environ.get("RASGI_BIN_DIR", ROOT / "target" / "release"))
RASGI_BINS = set(os.environ.get("RASGI_BINS", "").split())
WORK = Path(os.environ.get("BENCH_WORK", "/tmp"))

# Two cores: the process under test gets core 0, the load generator (and Postgres / nginx,
# the other side of the measured conversation) core 1. Pinning keeps the scheduler from
# moving the server onto wrk's core mid-run, which otherwise shows up as run-to-run noise of
# 10-20 % on a 2-core machine and hides the differences being measured.
SUBJECT_CPU = 0
LOAD_CPU = 1
PINNING = (os.cpu_count() or 1) >= 2

WRK_THREADS = 1
WRK_CONNECTIONS = 64

# name, request path, pipeline depth (None = one request per write)
SCENARIOS = [
    ("plaintext", "/plaintext", None),
    ("pipelined", "/plaintext", 16),
    ("json", "/json", None),
    ("db", "/db", None),
    ("queries", "/queries?queries=20", None),
    ("fortunes", "/fortunes", None),
    ("updates", "/updates?queries=20", None),
]
SCENARIO_NAMES = [s[0] for s in SCENARIOS]

FORTUNES = [
    "fortune: No such file or directory",
    "A computer scientist is someone who fixes things that aren't broken.",
    "After enough decimal places, nobody gives a damn.",
    "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1",
    "A computer program does what you tell it to do, not what you want it to do.",
    "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen",
    "Any program that runs right is obsolete.",
    "A list is only as strong as its weakest link. — Donald Knuth",
    "Feature: A bug with seniority.",
    "Computers make very fast, very accurate mistakes.",
    '<script>alert("This should not be displayed in a browser alert box.");</script>',
    "フレームワークのベンチマーク",
    "Additional fortune added at request time.",
]


def progress(message):
    print(message, flush=True)


def pinned(cpu, argv):
    return ["taskset", "-c", str(cpu)] + argv if PINNING else argv


def now_utc():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def machine_description():
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} cores, Linux {platform.release()}"


def cpu_busy(seconds=0.3):
    """Fraction of all CPU time spent busy over a short sample, taken between runs when the
    harness itself is idle: anything well above zero is someone else's work (a build, a test
    suite) competing with the next measurement."""
    def sample():
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields), idle
    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


def busy_before_run():
    """CPU use by other work just before a run (0..1); printed and recorded when it is above
    report.BUSY_THRESHOLD so that the table can flag the run."""
    return round(cpu_busy(), 2)


def busy_flag(busy):
    return f"  ⚠ machine {busy:.0%} busy with other work before the run" if busy > report.BUSY_THRESHOLD else ""


# ----------------------------------------------------------------------------- contenders


def rasgi_binary(name):
    """Path of rasgi's `name` binary, or None with the reason recorded by run.sh."""
    if name in RASGI_BINS and (RASGI_BIN / name).exists():
        return RASGI_BIN / name, None
    why = os.environ.get(f"RASGI_WHY_{name}", f"rasgi's `{name}` binary was not built")
    return None, why


def uvicorn(module, port, extra=()):
    return [str(VENV / "bin" / "uvicorn"), module, "--app-dir", str(PY_PEERS),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--no-access-log", "--log-level", "warning", *extra]


def server_contenders(extra_uvicorn=()):
    """The HTTP servers: name -> (argv builder taking a port, scenarios it serves, why-absent)."""
    rasgi, why = rasgi_binary("techempower")
    table = {}
    table["rasgi"] = (
        (lambda port: [str(rasgi), "--port", str(port)]) if rasgi else None,
        SCENARIO_NAMES,
        why,
    )
    # The same binary with the Postgres client's busy-poll window off: an ablation, run only
    # when named (`--contenders rasgi,rasgi-no-busy-poll,hyper`), that shows what the window
    # buys on the database rows and what it costs in CPU.
    # (Its environment is in CONTENDER_ENV.)
    table["rasgi-no-busy-poll"] = (
        (lambda port: [str(rasgi), "--port", str(port)]) if rasgi else None,
        ["db", "queries", "fortunes", "updates"],
        why,
    )
    table["hyper"] = (
        lambda port: [str(PEER_BIN / "hyper-techempower"), "--port", str(port)],
        SCENARIO_NAMES,
        None,
    )
    table["fastapi"] = (lambda port: uvicorn("fastapi_app:app", port, extra_uvicorn), SCENARIO_NAMES, None)
    table["raw-asgi"] = (lambda port: uvicorn("raw_asgi:app", port, extra_uvicorn), ["plaintext", "pipelined", "json"], None)
    return table


# Contenders that run only when --contenders names them.
OPT_IN = {"rasgi-no-busy-poll"}


def no_busy_poll_env():
    """rasgi's database URL with the Postgres client's busy-poll window off."""
    url = os.environ.get("DATABASE_URL", "")
    return {"DATABASE_URL": url + ("&" if "?" in url else "?") + "busy_poll_us=0"}


# Extra environment of a contender's server process, by name.
CONTENDER_ENV = {"rasgi-no-busy-poll": no_busy_poll_env}


def select(table, wanted, suite):
    """Applies --contenders; returns (available {name: value}, skipped {name: reason})."""
    available, skipped = {}, {}
    for name, entry in table.items():
        if (wanted and name not in wanted) or (not wanted and name in OPT_IN):
            if name == "rasgi":
                skipped[name] = "not selected with --contenders"
            continue
        builder, why = entry[0], entry[-1]
        if builder is None:
            skipped[name] = why
            progress(f"[{suite}] skipping {name}: {why}")
        else:
            available[name] = entry
    return available, skipped


# ----------------------------------------------------------------------------- processes


def free_port():
    """A loopback port nobody listens on right now. Fixed ports would collide with servers
    other people run on the same machine (test suites, a demo on 8080)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StartError(Exception):
    pass


def log_tail(path, lines=15):
    with contextlib.suppress(OSError):
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    return ""


@contextlib.contextmanager
def running_server(name, argv, port, cpu=SUBJECT_CPU, wrap=(), start_timeout=30.0, env=None):
    """Starts a server, waits until its port accepts connections, yields the process, and
    always stops it afterwards (SIGTERM, then SIGKILL after 10 s)."""
    log = WORK / f"{name}-{port}.log"
    full_env = dict(os.environ)
    full_env.update(env or {})
    with open(log, "wb") as out:
        # A session of its own, so stopping it reaches any worker it forks, and only those.
        proc = subprocess.Popen(pinned(cpu, list(wrap) + argv), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, env=full_env)
    try:
        wait_for_port(port, proc, start_timeout, log)
        yield proc
    finally:
        stop(proc)


def wait_for_port(port, proc, timeout, log):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartError(f"exited with status {proc.returncode} before listening:\n{log_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise StartError(f"port {port} not open after {timeout:.0f} s:\n{log_tail(log)}")


def stop(proc, grace=10.0):
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # Reap anything the server forked that outlived it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def run_json_lines(argv, timeout, env=None):
    """Runs a measurement binary and returns the JSON objects it printed, one per line.

    A run that printed one measurement with an op count also gets the program's own CPU time
    per op (user + kernel, and user alone, from the rusage of the finished child): for a client
    whose throughput is set by the server it talks to, the figure that still compares the
    clients."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=full_env,
                          stdin=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-800:]}")
    lines = []
    for line in done.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            lines.append(json.loads(line))
    if not lines:
        raise RuntimeError(f"{' '.join(argv)} printed no JSON lines: {done.stdout[-400:]}")
    if len(lines) == 1 and lines[0].get("ops"):
        ops = lines[0]["ops"]
        user = after.ru_utime - before.ru_utime
        kernel = after.ru_stime - before.ru_stime
        lines[0]["user_ns_per_op"] = user * 1e9 / ops
        lines[0]["cpu_ns_per_op"] = (user + kernel) * 1e9 / ops
    return lines


def postgres_pids():
    """The postmaster and its children (backends, checkpointer, ...)."""
    data = os.environ.get("PG_DATA")
    if not data:
        return []
    try:
        master = int(Path(data, "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    pids = [master]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == master:
                pids.append(int(stat.parent.name))
    return pids


@contextlib.contextmanager
def postgres_on(cpus):
    """Pins the database to `cpus` for the duration; backends forked later inherit it from the
    postmaster. Restores "any core" afterwards."""
    pids = postgres_pids() if PINNING else []
    for pid in pids:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, cpus)
    try:
        yield
    finally:
        everywhere = set(range(os.cpu_count() or 1))
        for pid in postgres_pids() if PINNING else []:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(pid, everywhere)


# ----------------------------------------------------------------------------- correctness


def http_get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def check_world(item):
    return (isinstance(item, dict) and set(item) == {"id", "randomNumber"}
            and all(isinstance(item[k], int) and 1 <= item[k] <= 10000 for k in item))


def check_scenario(port, scenario, path):
    """Fetches a scenario's URL once and returns the problems found (empty list = correct).

    The checks follow the TechEmpower verifier in spirit: required headers, exact plaintext and
    JSON bodies, the right number of well-formed rows, and a fortunes page whose rows come out
    unescaped-equal to the expected list in the expected order."""
    problems = []
    try:
        status, headers, body = http_get(port, path)
    except (OSError, http.client.HTTPException) as e:
        return [f"{path}: request failed: {e}"]
    if status != 200:
        return [f"{path}: status {status}: {body[:120]!r}"]
    for name in ("Server", "Date", "Content-Type", "Content-Length"):
        if headers.get(name) is None:
            problems.append(f"{path}: no {name} header")
    ctype = (headers.get("Content-Type") or "").lower()
    try:
        if scenario in ("plaintext", "pipelined"):
            if body != b"Hello, World!" or not ctype.startswith("text/plain"):
                problems.append(f"{path}: body {body[:40]!r}, type {ctype}")
        elif scenario == "json":
            if json.loads(body) != {"message": "Hello, World!"} or not ctype.startswith("application/json"):
                problems.append(f"{path}: body {body[:60]!r}, type {ctype}")
        elif scenario == "db":
            if not check_world(json.loads(body)):
                problems.append(f"{path}: not one World row: {body[:80]!r}")
        elif scenario in ("queries", "updates"):
            rows = json.loads(body)
            if not (isinstance(rows, list) and len(rows) == 20 and all(map(check_world, rows))):
                problems.append(f"{path}: not 20 World rows: {body[:80]!r}")
            base = path.split("?")[0]
            for query, expected in (("queries=foo", 1), ("queries=0", 1), ("queries=501", 500)):
                _, _, extra = http_get(port, f"{base}?{query}")
                got = json.loads(extra)
                if not (isinstance(got, list) and len(got) == expected):
                    problems.append(f"{base}?{query}: expected {expected} rows")
        elif scenario == "fortunes":
            if ctype.replace(" ", "") != "text/html;charset=utf-8":
                problems.append(f"{path}: Content-Type {ctype}")
            page = body.decode("utf-8")
            cells = re.findall(r"<tr>\s*<td>\s*(\d+)\s*</td>\s*<td>(.*?)</td>\s*</tr>", page, re.S)
            got = [html.unescape(message) for _, message in cells]
            if got != sorted(FORTUNES):
                problems.append(f"{path}: rows differ from the expected sorted fortunes")
            if "<script>" in page:
                problems.append(f"{path}: <script> not escaped")
            if not page.lstrip().lower().startswith("<!doctype html>"):
                problems.append(f"{path}: no <!DOCTYPE html>")
    except (ValueError, UnicodeDecodeError) as e:
        problems.append(f"{path}: unparsable body: {e}")
    return problems


# ----------------------------------------------------------------------------- wrk


def parse_wrk(output):
    """Requests/s, p99 latency (ms) and error counts from `wrk --latency` output."""
    result = {"problems": []}
    m = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not m:
        raise RuntimeError("no Requests/sec in wrk output:\n" + output[-600:])
    result["value"] = float(m.group(1))
    m = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
    if m:
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[m.group(2)]
        # wrk 4.1 prints 0.00us for the upper percentiles when requests are pipelined (its
        # histogram counts batches, its percentile walk counts requests): no usable p99 then.
        if float(m.group(1)) > 0:
            result["p99_ms"] = float(m.group(1)) * scale
    m = re.search(r"(\d+) requests in", output)
    result["requests"] = int(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if m:
        result["problems"].append(f"{m.group(1)} non-2xx responses")
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if m:
        kinds = ("connect", "read", "write", "timeout")
        errs = [f"{n} {k}" for k, n in zip(kinds, map(int, m.groups())) if n]
        if errs:
            result["problems"].append("socket errors: " + ", ".join(errs))
    return result


def cpu_seconds(pid):
    """(utime, stime) of a process (all its threads) in seconds, from /proc/PID/stat: the time
    spent in the program itself and in the kernel on its behalf (system calls, the TCP stack)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the ")" that ends the command name: field 3 is index 0, so utime (14) and
    # stime (15) are at 11 and 12.
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def run_wrk(port, path, depth, seconds):
    seconds = max(1, round(seconds))  # wrk takes whole seconds only
    argv = ["wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds}s", "--latency"]
    if depth:
        argv += ["-s", str(HERE / "pipeline.lua")]
    argv.append(f"http://127.0.0.1:{port}{path}")
    if depth:
        argv += ["--", str(depth)]
    done = subprocess.run(pinned(LOAD_CPU, argv), capture_output=True, text=True,
                          timeout=seconds + 60, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        message = (done.stderr.strip() or done.stdout.strip())[-400:]
        raise RuntimeError(f"wrk exited {done.returncode}: {message}")
    return parse_wrk(done.stdout), done.stdout


# ----------------------------------------------------------------------------- suites


def rotated(names, round_index):
    """Each round starts with a different contender, so none always runs first (on a cold
    cache) or last (after the machine has warmed up)."""
    names = list(names)
    k = round_index % len(names) if names else 0
    return names[k:] + names[:k]


def new_result(suite, args, contenders, skipped, description, **settings):
    return {
        "suite": suite,
        "started": now_utc(),
        "machine": machine_description(),
        "filtered": bool(args.only or args.contenders),
        "contenders": list(contenders),
        "skipped": skipped,
        "settings": {"description": description, "rounds": args.rounds, **settings},
        "notes": [],
        "runs": [],
    }


def suite_server(args):
    table, skipped = select(server_contenders(), args.contenders, "server")
    scenarios = [s for s in SCENARIOS if not args.only or s[0] in args.only]
    warm = f", {args.warmup:g} s warm-up" if args.warmup else ""
    description = (
        f"`wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} --latency`, {args.rounds} alternating round(s) of "
        f"{args.duration:g} s{warm}; server pinned to CPU {SUBJECT_CPU}, wrk and PostgreSQL to CPU {LOAD_CPU}; "
        "each server started fresh for each run. `pipelined` = /plaintext 16 requests per write; "
        "`queries` and `updates` use ?queries=20."
    )
    result = new_result("server", args, table, skipped, description,
                        duration_s=args.duration, warmup_s=args.warmup,
                        wrk=f"-t{WRK_THREADS} -c{WRK_CONNECTIONS}")
    if not scenarios or not table:
        progress("[server] nothing to run after filtering")
        return result
    plan = [(s, r, c) for s in scenarios for r in range(args.rounds)
            for c in rotated(table, r) if s[0] in table[c][1]]
    checked = {}
    broken = {}
    with postgres_on({LOAD_CPU}):
        for step, ((scenario, path, depth), rnd, name) in enumerate(plan, 1):
            builder = table[name][0]
            port = free_port()
            label = f"[server {step}/{len(plan)}] {scenario:<9} round {rnd + 1}/{args.rounds} {name:<8}"
            if name in broken:
                progress(f"{label}: skipped ({name} {broken[name]})")
                continue
            busy = busy_before_run()
            try:
                env = CONTENDER_ENV[name]() if name in CONTENDER_ENV else None
                with running_server(name, builder(port), port, env=env) as proc:
                    if name not in checked:
                        problems = []
                        for other, other_path, _ in SCENARIOS:
                            if other in table[name][1] and (not args.only or other in args.only):
                                problems += check_scenario(port, other, other_path)
                        checked[name] = problems
                        verdict = "all routes correct" if not problems else "; ".join(problems)
                        progress(f"[server] check {name}: {verdict}")
                        if problems:
                            result["notes"].append(f"{name} failed response checks: " + "; ".join(problems))
                    if args.warmup:
                        run_wrk(port, path, depth, args.warmup)
                    # Server CPU per request: the figure that holds even when wrk, on its
                    # own core, is the bottleneck (then req/s ties but CPU does not).
                    # Split into user and kernel time: both servers make the same system
                    # calls, so the kernel half is the floor neither can go below, and the
                    # user half is what the server's own code costs.
                    user_before, kernel_before = cpu_seconds(proc.pid)
                    measured, raw = run_wrk(port, path, depth, args.duration)
                    user_after, kernel_after = cpu_seconds(proc.pid)
                    if measured.get("requests"):
                        per_request = 1e9 / measured["requests"]
                        measured["user_ns_per_request"] = (user_after - user_before) * per_request
                        measured["kernel_ns_per_request"] = (kernel_after - kernel_before) * per_request
                        measured["cpu_ns_per_request"] = (measured["user_ns_per_request"]
                                                          + measured["kernel_ns_per_request"])
            except StartError as e:
                # A server that cannot start will not start on the next try either.
                broken[name] = "did not start"
                progress(f"{label}: FAILED to start: {e}")
                result["notes"].append(f"{name} did not start: {str(e).splitlines()[0]} (log: {WORK})")
                continue
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                progress(f"{label}: FAILED: {e}")
                result["notes"].append(f"{scenario} / {name} round {rnd + 1} failed: {str(e).splitlines()[0]}")
                continue
            p99 = f", p99 {measured['p99_ms']:.2f} ms" if "p99_ms" in measured else ""
            if "cpu_ns_per_request" in measured:
                p99 += (f", {measured['cpu_ns_per_request']:,.0f} CPU ns/request"
                        f" ({measured['user_ns_per_request']:,.0f} user)")
            flag = f"  ⚠ {'; '.join(measured['problems'])}" if measured["problems"] else ""
            progress(f"{label}: {measured['value']:>12,.0f} req/s{p99}{flag}{busy_flag(busy)}")
            result["runs"].append({
                "group": scenario, "contender": name, "round": rnd + 1, "unit": "req/s",
                "measured": result["started"], "busy": busy, "wrk_output": raw, **measured,
            })
    return result


def suite_pg(args):
    url = os.environ["DATABASE_URL"]
    rasgi, why = rasgi_binary("pgbench")
    only = ["--only", ",".join(args.only)] if args.only else []
    d = ["--duration", f"{args.duration:g}"]
    table = {
        "rasgi": ((lambda: [str(rasgi), "--database-url", url, *d, *only]) if rasgi else None, why),
        "tokio-postgres": (lambda: [str(PEER_BIN / "pgbench"), "--database-url", url, *d, *only], None),
        "asyncpg": (lambda: [str(VENV / "bin" / "python"), str(PY_PEERS / "pg_bench.py"),
                             "--database-url", url, *d, *only], None),
    }
    table, skipped = select(table, args.contenders, "pg")
    description = (
        f"{args.rounds} alternating round(s), {args.duration:g} s per measurement; client pinned to "
        f"CPU {SUBJECT_CPU}, PostgreSQL to CPU {LOAD_CPU}. `roundtrips_c1`: one connection, "
        "`SELECT id, randomnumber FROM world WHERE id = $1` back to back; `roundtrips_c16`: the same "
        "on 16 connections at once from one thread; `rows`: "
        "`SELECT g, 'row-' || g, g::float8 / 7 FROM generate_series(1, 100000) AS g`, every value decoded; "
        "`copy_out`: the same rows as `COPY (...) TO STDOUT` (text), every row received; `copy_in`: TRUNCATE + "
        "100,000 prepared rows (n, 'row-' || n, n / 7.0) through binary `COPY copy_bench FROM STDIN` into an "
        "unlogged table (asyncpg's `copy_records_to_table` only sends binary). "
        "With PostgreSQL on one core, `roundtrips_c16` is usually bounded by the server: equal numbers "
        "there mean every client keeps up, and a client below the others is the finding."
    )
    result = new_result("pg", args, table, skipped, description, duration_s=args.duration)
    return run_measurement_suite("pg", args, table, result, lambda: 5 * args.duration + 120)


def suite_https(args):
    url, cacert = os.environ["HTTPS_URL"], os.environ["CACERT"]
    rasgi, why = rasgi_binary("httpsbench")
    common = ["--url", url, "--cacert", cacert, "--duration", f"{args.duration:g}"]
    table = {
        "rasgi": ((lambda c: [str(rasgi), *common, "--concurrency", str(c)]) if rasgi else None, why),
        "hyper-rustls": (lambda c: [str(PEER_BIN / "httpsbench"), *common, "--concurrency", str(c)], None),
        "httpx": (lambda c: [str(VENV / "bin" / "python"), str(PY_PEERS / "https_bench.py"), *common,
                             "--concurrency", str(c)], None),
    }
    table, skipped = select(table, args.contenders, "https")
    levels = [c for c in (1, 16) if not args.only or f"gets_c{c}" in args.only]
    description = (
        f"{args.rounds} alternating round(s) of {args.duration:g} s; nginx (1 worker, CPU {LOAD_CPU}) "
        f"returns `Hello, World!` over TLS with a CA made at test time; client pinned to CPU {SUBJECT_CPU}. "
        "`gets_cN`: N concurrent keep-alive GET loops sharing one client. Every contender sends "
        "`host`, `user-agent`, `accept: */*` and `accept-encoding: gzip, deflate` (httpx adds "
        "`connection: keep-alive`), so nginx parses the same request from each."
    )
    result = new_result("https", args, table, skipped, description, duration_s=args.duration)
    expanded = {}
    for name, (builder, why) in table.items():
        for level in levels:
            expanded.setdefault(name, []).append(lambda b=builder, c=level: b(c))
    return run_measurement_suite("https", args, expanded, result, lambda: args.duration + 60)


def suite_exec(args):
    rasgi, why = rasgi_binary("execbench")
    only = ["--only", ",".join(args.only)] if args.only else []
    table = {
        "rasgi": ((lambda: [str(rasgi), *only]) if rasgi else None, why),
        "tokio": (lambda: [str(PEER_BIN / "execbench"), *only], None),
    }
    table, skipped = select(table, args.contenders, "exec")
    description = (
        f"{args.rounds} alternating round(s), pinned to CPU {SUBJECT_CPU}. `spawn`: spawn 1,000,000 "
        "trivial tasks and await them all; `pingpong`: 100,000 wake round trips between two tasks; "
        "`timers`: 100,000 tasks sleeping 1–10 ms, CPU time per timer."
    )
    result = new_result("exec", args, table, skipped, description)
    return run_measurement_suite("exec", args, table, result, lambda: 300)


WS_MEASURES = ["echo_c1", "echo_c64", "broadcast_1000"]


def suite_ws(args):
    """WebSocket servers, all driven by rasgi's `wsbench client` on the load core."""
    client, why_client = rasgi_binary("wsbench")
    rasgi, why = rasgi_binary("wsbench")
    table = {
        "rasgi": ((lambda port: [str(rasgi), "serve", "--port", str(port)]) if rasgi else None, why),
        "tokio-tungstenite": (lambda port: [str(PEER_BIN / "tungstenite-ws"), "--port", str(port)], None),
        "uvicorn": (lambda port: uvicorn("ws_app:app", port, ("--ws", "websockets")), None),
    }
    table, skipped = select(table, args.contenders, "ws")
    measures = [m for m in WS_MEASURES if not args.only or m in args.only]
    description = (
        f"{args.rounds} alternating round(s); server pinned to CPU {SUBJECT_CPU}, the load client "
        f"(rasgi's `wsbench client`, the same program for every server) to CPU {LOAD_CPU}; each server "
        f"started fresh for each run. `echo_c1`, `echo_c64`: round trips/s of a 32-byte text message "
        f"over 1 and 64 connections, {args.duration:g} s each; `broadcast_1000`: 1,000 clients on "
        "/ws/broadcast, one sends, the clock stops when all 1,000 have it; the median of 50 such "
        "broadcasts as broadcasts/s (1000 ÷ median ms; the raw lines keep `median_ms`)."
    )
    result = new_result("ws", args, table, skipped, description, duration_s=args.duration)
    if not client:
        progress(f"[ws] no load client: {why_client}")
        result["notes"].append(f"the ws suite needs rasgi's `wsbench` binary as its client: {why_client}")
        return result
    if not measures or not table:
        progress("[ws] nothing to run after filtering")
        return result
    plan = [(m, r, c) for m in measures for r in range(args.rounds) for c in rotated(table, r)]
    broken = {}
    for step, (measure, rnd, name) in enumerate(plan, 1):
        label = f"[ws {step}/{len(plan)}] {measure:<14} round {rnd + 1}/{args.rounds} {name:<17}"
        if name in broken:
            progress(f"{label}: skipped ({name} {broken[name]})")
            continue
        port = free_port()
        busy = busy_before_run()
        argv = [str(client), "client", "--url", f"ws://127.0.0.1:{port}", "--only", measure,
                "--duration", f"{args.duration:g}"]
        try:
            with running_server(name, table[name][0](port), port):
                lines = run_json_lines(pinned(LOAD_CPU, argv), args.duration + 120)
        except StartError as e:
            broken[name] = "did not start"
            progress(f"{label}: FAILED to start: {e}")
            result["notes"].append(f"{name} did not start: {str(e).splitlines()[0]} (log: {WORK})")
            continue
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
            progress(f"{label}: FAILED: {e}")
            result["notes"].append(f"{measure} / {name} round {rnd + 1} failed: {str(e).splitlines()[0][:200]}")
            continue
        for line in lines:
            extra = f" (median {line['median_ms']:.2f} ms)" if "median_ms" in line else ""
            progress(f"{label}: {line['value']:>12,.1f} {line['unit']}{extra}{busy_flag(busy)}")
            result["runs"].append({
                "group": line["measure"], "contender": name, "round": rnd + 1,
                "value": float(line["value"]), "unit": line["unit"], "measured": result["started"],
                "busy": busy, "raw": line,
            })
    return result
def compress_corpus():
    """Writes the compress suite's corpus into the work directory: `json` (TechEmpower-style
    rows, 4 MB), `text` (words drawn from a fixed vocabulary with Zipf-like frequencies, 4 MB),
    and for each the `.z6` stream that C zlib writes at level 6, which every contender
    inflates. Seeded, so every run measures the same bytes."""
    import random
    import zlib
    out = Path(os.environ.get("BENCH_WORK", ROOT / "target")) / "compress-corpus"
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(15)
    rows = []
    size = 0
    while size < 4_000_000:
        row = json.dumps({"id": len(rows) + 1, "randomNumber": rng.randint(1, 10000),
                          "message": "Hello, World!", "tags": rng.sample(["a", "db", "json", "fast", "io"], 2)},
                         separators=(",", ":"))
        rows.append(row)
        size += len(row) + 1
    corpus = {"json": ("[" + ",".join(rows) + "]").encode()}
    words = ("the of and to a in is it you that he was for on are with as I his they be at one have this from "
             "or had by hot word but what some we can out other were all there when up use your how said an each "
             "event loop task waker future socket reactor timer poll ready").split()
    weights = [1 / (i + 1) for i in range(len(words))]
    text = []
    size = 0
    while size < 4_000_000:
        line = " ".join(rng.choices(words, weights, k=rng.randint(5, 15))).capitalize() + ".\n"
        text.append(line)
        size += len(line)
    corpus["text"] = "".join(text).encode()
    for name, data in corpus.items():
        (out / name).write_bytes(data)
        (out / f"{name}.z6").write_bytes(zlib.compress(data, 6))
    return out


def suite_compress(args):
    rasgi, why = rasgi_binary("compressbench")
    corpus = compress_corpus()
    common = ["--corpus", str(corpus), *(["--only", ",".join(args.only)] if args.only else [])]
    table = {
        "rasgi": ((lambda: [str(rasgi), *common]) if rasgi else None, why),
        "zlib": (lambda: [sys.executable, str(PY_PEERS / "compress_bench.py"), *common], None),
        "flate2": (lambda: [str(PEER_BIN / "compressbench"), *common], None),
    }
    table, skipped = select(table, args.contenders, "compress")
    description = (
        f"{args.rounds} alternating round(s), pinned to CPU {SUBJECT_CPU}; 4 MB of JSON rows and 4 MB of "
        "text, in memory. `deflateN`: MB/s of input compressed into the zlib format at level N; `inflate`: "
        "MB/s of output from the stream C zlib wrote at level 6; `ratio6`: compressed/original at level 6. "
        "C zlib is called through Python's `zlib`, timing only the call."
    )
    result = new_result("compress", args, table, skipped, description)
    return run_measurement_suite("compress", args, table, result, lambda: 300)


def run_measurement_suite(suite, args, table, result, timeout):
    """Runs programs that print JSON measurement lines, alternating contenders per round.

    `table` maps a contender to either (argv builder, why) or a list of argv builders (one
    program run per builder)."""
    if not table:
        progress(f"[{suite}] nothing to run after filtering")
        return result
    runs_per = {n: (e if isinstance(e, list) else [e[0]]) for n, e in table.items()}
    plan = [(r, n, b) for r in range(args.rounds) for n in rotated(table, r) for b in runs_per[n]]
    context = postgres_on({LOAD_CPU}) if suite == "pg" else contextlib.nullcontext()
    with context:
        for step, (rnd, name, builder) in enumerate(plan, 1):
            label = f"[{suite} {step}/{len(plan)}] round {rnd + 1}/{args.rounds} {name:<14}"
            busy = busy_before_run()
            try:
                lines = run_json_lines(pinned(SUBJECT_CPU, builder()), timeout())
            except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                progress(f"{label}: FAILED: {e}")
                result["notes"].append(f"{name} round {rnd + 1} failed: {str(e).splitlines()[0][:200]}")
                continue
            for line in lines:
                progress(f"{label}: {line['measure']:<15} {line['value']:>14,.1f} {line['unit']}{busy_flag(busy)}")
                cpu = {}
                if "cpu_ns_per_op" in line:
                    cpu = {"cpu_ns_per_request": line["cpu_ns_per_op"],
                           "user_ns_per_request": line["user_ns_per_op"]}
                result["runs"].append({
                    "group": line["measure"], "contender": name, "round": rnd + 1,
                    "value": float(line["value"]), "unit": line["unit"], "measured": result["started"],
                    "busy": busy, "raw": line, **cpu,
                })
    return result


def rss_bytes(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def suite_memory(args):
    # uvicorn closes idle keep-alive connections after 5 s by default; the client refreshes
    # every connection right before measuring, and a 30 s timeout gives it room on slow runs.
    table, skipped = select(server_contenders(extra_uvicorn=("--timeout-keep-alive", "30")),
                            args.contenders, "memory")
    count = args.idle_connections
    description = (
        f"{count:,} idle keep-alive connections, each used for one GET /plaintext; server RSS "
        "(VmRSS) after opening them minus RSS after a warm-up request, divided by the connections "
        f"held; {args.rounds} alternating round(s); server pinned to CPU {SUBJECT_CPU}."
    )
    result = new_result("memory", args, table, skipped, description, connections=count)
    plan = [(r, n) for r in range(args.rounds) for n in rotated(table, r)]
    for step, (rnd, name) in enumerate(plan, 1):
        label = f"[memory {step}/{len(plan)}] round {rnd + 1}/{args.rounds} {name:<8}"
        port = free_port()
        try:
            with running_server(name, table[name][0](port), port) as proc:
                clients.sequential_requests(port, 20)
                time.sleep(0.5)
                before = rss_bytes(proc.pid)
                held = asyncio.run(clients.hold_idle_connections(
                    port, count, lambda: rss_bytes(proc.pid)))
        except (StartError, RuntimeError, OSError) as e:
            progress(f"{label}: FAILED: {e}")
            result["notes"].append(f"{name} round {rnd + 1} failed: {str(e).splitlines()[0]}")
            continue
        problems = []
        if held["opened"] < count:
            problems.append(f"only {held['opened']} of {count} connections opened")
        if held["alive_after"] < held["opened"]:
            problems.append(f"{held['opened'] - held['alive_after']} connections closed by the server "
                            "before the measurement finished")
        per_conn = (held["measured"] - before) / max(held["refreshed"], 1)
        flag = f"  ⚠ {'; '.join(problems)}" if problems else ""
        progress(f"{label}: {per_conn:>10,.0f} bytes/conn (RSS {before / 2**20:.1f} → "
                 f"{held['measured'] / 2**20:.1f} MiB, {held['refreshed']} held, "
                 f"opened in {held['seconds_to_open']} s){flag}")
        result["runs"].append({
            "group": "idle_conn", "contender": name, "round": rnd + 1, "value": per_conn,
            "unit": "bytes/conn", "measured": result["started"], "problems": problems,
            "rss_before": before, "rss_after": held["measured"], **{k: held[k] for k in
                                                                    ("opened", "refreshed", "alive_after")},
        })
    return result


def callgrind_total(path):
    text = Path(path).read_text(errors="replace")
    m = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
    if not m:
        raise RuntimeError(f"no instruction total in {path}")
    return int(m.group(1))


# The shapes the instructions suite counts: name, path, requests per write.
INSTRUCTION_SHAPES = [("plaintext", "/plaintext", 1), ("pipelined", "/plaintext", 16), ("json", "/json", 1),
                      ("db", "/db", 1), ("fortunes", "/fortunes", 1)]


def suite_instructions(args):
    # rasgi runs with its Postgres busy-poll window off here: the instructions it spends
    # polling a socket while PostgreSQL computes are waiting, whose count depends on how fast
    # PostgreSQL answers under valgrind, not work a request needs. (The server suite's CPU
    # column is where the window's cost shows.)
    table, skipped = select({k: v for k, v in server_contenders().items() if k in ("rasgi", "hyper")},
                            args.contenders, "instructions")
    count = args.requests
    shapes = [s for s in INSTRUCTION_SHAPES if not args.only or s[0] in args.only]
    description = (
        f"`valgrind --tool=callgrind`; Ir of a server that answered {count:,} keep-alive requests on "
        "one connection (one per write, or 16 per write for `pipelined`), minus Ir of the same server "
        "started and stopped with no request, divided by the request count. Counts user-space "
        "instructions only (no kernel): repeatable for the same binaries whatever else the machine does. "
        "`db` and `fortunes` count the server's side of its Postgres conversation, not PostgreSQL's, "
        "with rasgi's busy-poll window off (`?busy_poll_us=0`): polling while PostgreSQL computes is "
        "waiting, not work."
    )
    result = new_result("instructions", args, table, skipped, description, requests=count)
    for name, (builder, _, _) in table.items():
        def counted(label, send):
            port = free_port()
            out = WORK / f"callgrind-{name}-{label}.out"
            wrap = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no"]
            progress(f"[instructions] {name}: {label} under callgrind …")
            env = no_busy_poll_env() if name == "rasgi" else None
            with running_server(name, builder(port), port, wrap=wrap, start_timeout=180, env=env) as proc:
                send(port)
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(120)
            return callgrind_total(out)

        try:
            baseline = counted("baseline", lambda port: None)
        except (StartError, RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            progress(f"[instructions] {name}: FAILED: {e}")
            result["notes"].append(f"{name} failed: {str(e).splitlines()[0]}")
            continue
        for shape, path, depth in shapes:
            def send(port, path=path, depth=depth):
                ok = (clients.sequential_requests(port, count, path=path) if depth == 1
                      else clients.pipelined_requests(port, count, depth=depth, path=path))
                if ok != count:
                    raise RuntimeError(f"only {ok} of {count} requests got 200")
            try:
                total = counted(shape, send)
            except (StartError, RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                progress(f"[instructions] {name} {shape}: FAILED: {e}")
                result["notes"].append(f"{name} {shape} failed: {str(e).splitlines()[0]}")
                continue
            per = (total - baseline) / count
            progress(f"[instructions] {name} {shape}: {per:,.0f} Ir/request (baseline {baseline:,}, total {total:,})")
            result["runs"].append({
                "group": shape, "contender": name, "round": 1, "value": per,
                "unit": "Ir/request", "measured": result["started"], "ir_baseline": baseline,
                "ir_total": total, "requests": count,
            })
    return result


# The names --only accepts, per suite (scenarios for `server`, measurements elsewhere).
MEASURES = {suite: meta["groups"] for suite, meta in report.SUITES.items()}
assert MEASURES["server"] == SCENARIO_NAMES

SUITE_FUNCTIONS = {
    "server": suite_server,
    "pg": suite_pg,
    "https": suite_https,
    "exec": suite_exec,
    "compress": suite_compress,
    "memory": suite_memory,
    "instructions": suite_instructions,
    "ws": suite_ws,
}


def main():
    # The ws suite opens 1,000 client and 1,000 server sockets; children inherit the limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < min(hard, 8192):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    parser = argparse.ArgumentParser(description="rasgi benchmark suites (run via run.sh)")
    parser.add_argument("--suite", default="server")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--only", default="")
    parser.add_argument("--contenders", default="")
    parser.add_argument("--idle-connections", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--validate-only", action="store_true",
                        help="check the arguments and exit (run.sh does this before any setup)")
    args = parser.parse_args()
    args.only = [s for s in args.only.split(",") if s]
    args.contenders = [s for s in args.contenders.split(",") if s]
    suites = list(SUITE_FUNCTIONS) if args.suite == "all" else args.suite.split(",")
    for suite in suites:
        if suite not in SUITE_FUNCTIONS:
            sys.exit(f"bench.py: unknown suite {suite}; choose from {', '.join(SUITE_FUNCTIONS)} or all")
    # --only names scenarios or measurements; each suite keeps the names that are its own, and a
    # suite left with none is skipped.
    known = {name for suite in suites for name in MEASURES[suite]}
    unknown = [name for name in args.only if name not in known]
    if unknown:
        choices = "; ".join(f"{s}: {','.join(MEASURES[s])}" for s in suites)
        sys.exit(f"bench.py: --only {','.join(unknown)} matches nothing in the selected suites ({choices})")
    all_contenders = {"rasgi", "hyper", "fastapi", "raw-asgi", "tokio-postgres", "asyncpg",
                      "hyper-rustls", "httpx", "tokio", "tokio-tungstenite", "uvicorn", "zlib", "flate2"} | OPT_IN
    unknown = [name for name in args.contenders if name not in all_contenders]
    if unknown:
        sys.exit(f"bench.py: unknown contender {','.join(unknown)}; choose from {','.join(sorted(all_contenders))}")
    if args.validate_only:
        return
    # SIGTERM (from run.sh's cleanup, or `timeout`) becomes SystemExit, so every `finally`
    # runs and no server outlives the harness.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    if PINNING:
        # The harness itself is load (wrk's parent, the in-process clients): keep it off the
        # subject's core.
        os.sched_setaffinity(0, {LOAD_CPU})
    else:
        progress("fewer than 2 CPUs: running without core pinning; numbers will be noisier")

    requested_only = args.only
    failures = 0
    for suite in suites:
        args.only = [name for name in requested_only if name in MEASURES[suite]]
        if requested_only and not args.only:
            progress(f"== suite {suite}: skipped, --only names none of its measurements ==")
            continue
        progress(f"== suite {suite} ==")
        result = SUITE_FUNCTIONS[suite](args)
        failures += len(result["notes"])
        section = report.record(result)
        progress("")
        progress(section)
    progress(f"results: {report.RESULTS / 'latest.md'}, {report.RESULTS / 'latest.svg'}, "
             f"raw runs under {report.RESULTS / 'raw'}")
    if failures:
        progress(f"{failures} problem(s) noted above and under the tables")
        sys.exit(1)


if __name__ == "__main__":
    main()
