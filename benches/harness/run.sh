#!/usr/bin/env bash
# rasgi side-by-side benchmarks — the one command
# ===============================================
#
# Compares rasgi with the runtimes it is modelled on, on the same machine, in the same run:
# hyper on a current-thread tokio runtime, FastAPI and a raw ASGI app on uvicorn, asyncpg and
# tokio-postgres, httpx and hyper-rustls. Everything it needs is installed, built and started
# by this script, and everything it starts is stopped again when it exits.
#
# Usage
# -----
#   benches/harness/run.sh [--short] [--suite SUITE[,SUITE]|all] [--only NAME[,NAME]]
#                          [--contenders NAME[,NAME]] [--rounds N] [--duration S] [--warmup S]
#                          [--idle-connections N] [--requests N] [--no-install] [--no-build]
#
#   --short          1 round of 5 s per run (1 s warm-up): the whole server suite in a few
#                    minutes. The default is 3 rounds of 15 s with a 2 s warm-up.
#   --suite          server (default), pg, https, exec, compress, memory, instructions, ws, or all.
#   --only           scenarios or measurements to run, e.g. `--only db,fortunes` or
#                    `--suite pg --only rows`. Each suite keeps the names that are its own.
#   --contenders     e.g. `--contenders rasgi,hyper`. Names: rasgi, hyper, fastapi, raw-asgi
#                    (servers), tokio-postgres, asyncpg (pg), hyper-rustls, httpx (https),
#                    tokio (exec), zlib, flate2 (compress), tokio-tungstenite, uvicorn (ws).
#                    Only when named: rasgi-no-busy-poll (server: rasgi with the Postgres
#                    client's busy-poll window off, `?busy_poll_us=0`).
#   --rounds/--duration/--warmup   override the mode's defaults.
#   --idle-connections N   connections the memory suite holds (default 10000).
#   --requests N     requests the instructions suite counts (default 20000, 5000 with --short).
#   --no-install     do not apt-get / pip install anything (fail if something is missing).
#   --no-build       use the binaries already built (may be stale).
#   KEEP_WORK=1      keep the scratch directory (server logs, callgrind files, the database).
#   BENCH_VENV, PEER_TARGET_DIR   where the Python virtualenv and the peers' cargo target
#                    directory live (default target/bench-venv and target/peers).
#
# Examples
#   benches/harness/run.sh --short                          # quick look, all servers
#   benches/harness/run.sh --only pipelined --contenders rasgi,hyper   # rerun one row
#   benches/harness/run.sh --suite all                      # everything, about 40 minutes
#
# What each suite measures
# ------------------------
# server        TechEmpower's shapes against each HTTP server: `plaintext`, `pipelined`
#               (plaintext, 16 requests per write via pipeline.lua), `json`, `db` (one random
#               World row), `queries` (?queries=20), `fortunes` (12 rows + 1, sorted, escaped
#               HTML) and `updates` (?queries=20). Load is `wrk -t1 -c64 --latency`. Reports
#               requests/s, p99 latency, and the server's CPU time per request (utime+stime
#               from /proc/PID/stat around the wrk run, divided by the requests), which holds
#               even when wrk, on its own core, is the bottleneck, and the user-space part of
#               it (utime alone): what the server's own code costs, above the kernel's TCP
#               work that every server pays alike. Every server's responses are checked once per run
#               (headers, bodies, row counts, the fortunes page, the ?queries= clamping); a
#               contender that fails a check is flagged under the table.
#               Contenders: rasgi's `techempower` binary, benches/peers/hyper
#               (`hyper-techempower`), benches/peers/python/fastapi_app.py and raw_asgi.py on
#               uvicorn with one worker (raw ASGI serves plaintext and json only).
# pg            Postgres client cost: single-row round trips/s with one connection
#               (`roundtrips_c1`) and with 16 connections driven by one thread
#               (`roundtrips_c16`), both on a prepared statement; rows/s decoding the fixed
#               100,000-row query
#               `SELECT g, 'row-' || g, g::float8 / 7 FROM generate_series(1, 100000) AS g`
#               (`rows`, prepared, every value read as i32, string, f64); rows/s receiving the
#               same rows as `COPY (...) TO STDOUT`, text format (`copy_out`: asyncpg's
#               `copy_from_query`, tokio-postgres's `copy_out`); and rows/s storing 100,000
#               rows (n, 'row-' || n, n / 7.0), made before the clock starts, with TRUNCATE +
#               `COPY copy_bench (n, label, ratio) FROM STDIN (FORMAT binary)` into an
#               unlogged table (`copy_in`: asyncpg's `copy_records_to_table`, which only sends
#               binary, tokio-postgres's `BinaryCopyInWriter`, rasgi's `send_binary_row`).
#               rasgi's `pgbench` vs tokio-postgres vs asyncpg. Both Rust `pgbench` binaries
#               also take `--ops N` (a fixed amount of work instead of a duration), so that
#               callgrind or `strace -c` runs of two sizes, subtracted, give the cost per op.
# https         Keep-alive HTTPS GETs/s against a local nginx, with a CA generated at test
#               time, at concurrency 1 and 16 (`gets_c1`, `gets_c16`), and the client's own
#               CPU time per GET (rusage of the finished client): at 16 at a time nginx's core
#               sets the pace, and CPU per GET still compares the clients. rasgi's `httpsbench`
#               vs hyper + hyper-rustls vs httpx.
# exec          Executor micro-benchmarks in ns/op: `spawn` (1M trivial tasks spawned and
#               awaited), `pingpong` (100k wake round trips between two tasks), `timers`
#               (100k sleeps of 1-10 ms; CPU time per timer). rasgi's `execbench` vs tokio
#               current-thread.
# ws            WebSocket servers, all driven by rasgi's `wsbench client` pinned to the load
#               core: echo round trips/s of a 32-byte text message over 1 and 64 connections
#               (`echo_c1`, `echo_c64`), and `broadcast_1000`: 1,000 clients on
#               /ws/broadcast, one sends, timed until all 1,000 have it (median of 50, as
#               broadcasts/s). rasgi's `wsbench serve` vs benches/peers/tungstenite
#               (tokio-tungstenite, current-thread) vs benches/peers/python/ws_app.py (FastAPI's
#               `@app.websocket` on uvicorn with `--ws websockets`).
# compress      MB/s to compress (`deflate1_*`, `deflate6_*`, zlib format) and decompress
#               (`inflate_*`, the stream C zlib wrote at level 6) a JSON and a text corpus, and
#               the size ratio at level 6 (`ratio6_*`, lower is better). rasgi's
#               `compressbench` vs C zlib through Python's `zlib` (only the call is timed) vs
#               flate2 with miniz_oxide (benches/peers/flate2).
# memory        Server RSS growth per idle keep-alive connection, 10,000 connections opened by
#               an asyncio client (clients.py), VmRSS from /proc/PID/status.
# instructions  User-space instructions per request, counted by `valgrind --tool=callgrind`:
#               (Ir after N keep-alive requests − Ir of the same server started and stopped
#               with no request) / N, for `plaintext` (one request per write), `pipelined`
#               (16 per write), `json`, and `db` and `fortunes` (the server's side of its
#               Postgres round trips). rasgi vs hyper. Deterministic: the figure to trust
#               on a noisy machine.
#
# Method
# ------
# The machine has 2 cores. The process under test is pinned to CPU 0 and the load generator
# to CPU 1 (`taskset`), and so is the other end of the measured conversation (PostgreSQL for
# the server and pg suites, nginx for https): a server that had to share its core with wrk
# would be measured partly on wrk's appetite. Contenders run alternately, each round starting
# with a different one, and every server is started fresh for each run; the table reports the
# median over rounds, the min–max spread, and the ratio of each median to rasgi's. While
# rasgi's binaries do not exist yet, rasgi is skipped with a message and the ratios are to the
# strongest peer (hyper, tokio-postgres, hyper-rustls, tokio). Before each run the harness
# samples the machine's CPU use for 0.3 s; a run that starts while something else keeps the
# machine more than 15 % busy (a build, a test suite) is flagged with ⚠ under the table, since
# on 2 cores any other work lands on a measured core. Only loopback addresses are used, ports
# are picked free at run time, and every load is bounded in time.
#
# rasgi's side
# ------------
# Built from the rasgi package with `cargo build --release --bin NAME`, when the package has
# the binary; the harness expects this interface, shared with the peers:
#   techempower --port P          serves the seven scenarios' routes on 127.0.0.1:P, reads
#                                 DATABASE_URL from the environment, exits on SIGTERM.
#   pgbench --database-url URL --duration S [--only m1,m2] [--ops N]
#   httpsbench --url URL --cacert FILE --duration S --concurrency C
#   execbench [--only m1,m2]
#   compressbench --corpus DIR [--only m1,m2] [--seconds S]
# The three bench binaries print one JSON object per measurement, one per line:
#   {"bench":"pg","impl":"rasgi","measure":"rows","value":1234567.8,"unit":"rows/s","ops":N,"seconds":S}
# with the measure names and units listed above.
#
# Results
# -------
#   benches/results/latest.md    one markdown table per suite (printed as well)
#   benches/results/latest.svg   the same as grouped bar charts: bar = ratio to the baseline,
#                                label = the median itself
#   benches/results/raw/         every run's numbers (and wrk's output) as JSON, one file per
#                                suite and invocation, plus latest.json, the merged store the
#                                table is built from (gitignored). A run filtered with --only
#                                or --contenders replaces just its rows; an unfiltered run
#                                replaces its whole suite. `python3 benches/harness/report.py`
#                                re-renders the table and chart from latest.json.
#
# Files: run.sh (this: install, build, start PostgreSQL/nginx, clean up), bench.py (runs the
# suites), report.py (tables, SVG), clients.py (memory and instructions clients), setup.sql
# (the TechEmpower tables), pipeline.lua (wrk pipelining). The peers live in benches/peers/.

set -euo pipefail

HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HARNESS_DIR/../.." && pwd)
PEERS_DIR="$ROOT/benches/peers"
VENV="${BENCH_VENV:-$ROOT/target/bench-venv}"          # env override: reuse another venv
PEER_TARGET="${PEER_TARGET_DIR:-$ROOT/target/peers}"    # env override: another target dir
# No __pycache__ directories in the source tree (the harness and uvicorn import from it).
export PYTHONDONTWRITEBYTECODE=1

# ----------------------------------------------------------------------------- arguments

SUITE=server
SHORT=0
ONLY=""
CONTENDERS=""
ROUNDS=""
DURATION=""
WARMUP=""
IDLE_CONNECTIONS=10000
REQUESTS=""
INSTALL=1
BUILD=1

usage() {
    # The documentation block at the top of this file, without the comment markers.
    sed -n '2,/^set -euo pipefail/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

need_value() {
    [ $# -ge 2 ] && [ -n "$2" ] || { echo "run.sh: $1 needs a value" >&2; exit 2; }
}

while [ $# -gt 0 ]; do
    case "$1" in
        --short) SHORT=1; shift ;;
        --suite) need_value "$@"; SUITE=$2; shift 2 ;;
        --only) need_value "$@"; ONLY=$2; shift 2 ;;
        --contenders) need_value "$@"; CONTENDERS=$2; shift 2 ;;
        --rounds) need_value "$@"; ROUNDS=$2; shift 2 ;;
        --duration) need_value "$@"; DURATION=$2; shift 2 ;;
        --warmup) need_value "$@"; WARMUP=$2; shift 2 ;;
        --idle-connections) need_value "$@"; IDLE_CONNECTIONS=$2; shift 2 ;;
        --requests) need_value "$@"; REQUESTS=$2; shift 2 ;;
        --no-install) INSTALL=0; shift ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [ "$SHORT" = 1 ]; then
    : "${ROUNDS:=1}" "${DURATION:=5}" "${WARMUP:=1}" "${REQUESTS:=5000}"
else
    : "${ROUNDS:=3}" "${DURATION:=15}" "${WARMUP:=2}" "${REQUESTS:=20000}"
fi

[ "$SUITE" = all ] && SUITES="server pg https exec compress memory instructions ws" || SUITES=${SUITE//,/ }
wants() { # wants SUITE...: is any of these suites selected?
    local s
    for s in "$@"; do
        case " $SUITES " in *" $s "*) return 0 ;; esac
    done
    return 1
}
wants_contender() { # is this contender selected (or no filter given)?
    [ -z "$CONTENDERS" ] || case ",$CONTENDERS," in *",$1,"*) return 0 ;; *) return 1 ;; esac
}

BENCH_ARGS=(--suite "${SUITES// /,}" --rounds "$ROUNDS" --duration "$DURATION" --warmup "$WARMUP"
    --only "$ONLY" --contenders "$CONTENDERS" --idle-connections "$IDLE_CONNECTIONS"
    --requests "$REQUESTS")
# Reject a mistyped suite, scenario or contender before spending minutes on setup.
python3 "$HARNESS_DIR/bench.py" "${BENCH_ARGS[@]}" --validate-only || exit 2

say() { printf '%s\n' "== $*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

# ----------------------------------------------------------------------------- scratch space

# Server logs, the database cluster, nginx and the TLS files live here; removed on exit unless
# KEEP_WORK=1 or the run failed (so that the logs can be read).
WORK=$(mktemp -d /tmp/rasgi-bench.XXXXXX)
chmod 755 "$WORK"  # the postgres user must be able to reach its data directory inside
PG_STARTED=""
NGINX_STARTED=""
BENCH_PID=""
AS_PG=()
[ "$(id -u)" = 0 ] && AS_PG=(runuser -u postgres --)

cleanup() {
    local status=$?
    set +e
    if [ -n "$BENCH_PID" ] && kill -0 "$BENCH_PID" 2>/dev/null; then
        kill -TERM "$BENCH_PID"
        wait "$BENCH_PID"
    fi
    if [ -n "$NGINX_STARTED" ] && [ -f "$WORK/nginx/nginx.pid" ]; then
        kill "$(cat "$WORK/nginx/nginx.pid")" 2>/dev/null
    fi
    if [ -n "$PG_STARTED" ]; then
        "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$WORK/pg/data" -m fast -w stop >/dev/null 2>&1
    fi
    # Keep the logs of a failed run for reading; an interrupted one (130/143) needs none.
    if [ "${KEEP_WORK:-0}" = 1 ] || { [ "$status" != 0 ] && [ "$status" != 130 ] && [ "$status" != 143 ]; }; then
        echo "scratch directory kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # wait_port PORT SECONDS
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# ----------------------------------------------------------------------------- tools

find_pgbin() {
    local v
    for v in 15 16 17 14 13; do
        [ -x "/usr/lib/postgresql/$v/bin/initdb" ] && { echo "/usr/lib/postgresql/$v/bin"; return; }
    done
    command -v initdb >/dev/null && dirname "$(command -v initdb)"
}

install_tools() {
    local missing=()
    wants server && ! command -v wrk >/dev/null && missing+=(wrk)
    wants server pg memory instructions && [ -z "$(find_pgbin)" ] && missing+=(postgresql)
    wants https && ! command -v nginx >/dev/null && missing+=(nginx-light)
    wants https && ! command -v openssl >/dev/null && missing+=(openssl)
    wants instructions && ! command -v valgrind >/dev/null && missing+=(valgrind)
    command -v taskset >/dev/null || missing+=(util-linux)
    python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
    [ ${#missing[@]} = 0 ] && return
    [ "$INSTALL" = 1 ] || die "missing: ${missing[*]} (run without --no-install, or apt-get install them)"
    [ "$(id -u)" = 0 ] || die "missing: ${missing[*]}; run: sudo apt-get install -y ${missing[*]}"
    say "installing ${missing[*]}"
    # Wait for another apt run to finish instead of failing on its lock.
    apt-get -o DPkg::Lock::Timeout=900 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq "${missing[@]}" >/dev/null
}

# The Python peers get a virtualenv of their own, so the benchmark measures the pinned
# versions in requirements.txt and not whatever the system Python happens to have.
ensure_venv() {
    local req="$PEERS_DIR/python/requirements.txt" stamp="$VENV/.requirements.sha256"
    local want
    want=$(sha256sum "$req" | cut -d' ' -f1)
    if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return
    fi
    [ "$INSTALL" = 1 ] || die "the benchmark virtualenv $VENV is missing or outdated (run without --no-install)"
    say "creating the Python peers' virtualenv in $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip >"$WORK/pip.log" 2>&1 || { tail -20 "$WORK/pip.log"; die "pip upgrade failed"; }
    "$VENV/bin/pip" install -q -r "$req" >>"$WORK/pip.log" 2>&1 || { tail -20 "$WORK/pip.log"; die "pip install failed"; }
    echo "$want" >"$stamp"
}

# ----------------------------------------------------------------------------- builds

build_peers() {
    say "building the hyper/tokio peers (release, target dir $PEER_TARGET)"
    # Their own manifest and target dir: the peers are not part of rasgi's workspace build.
    if ! CARGO_TARGET_DIR="$PEER_TARGET" cargo build --release \
            --manifest-path "$PEERS_DIR/hyper/Cargo.toml" >"$WORK/build-peers.log" 2>&1; then
        tail -30 "$WORK/build-peers.log"
        die "building the peers failed (log above)"
    fi
    if wants ws && ! CARGO_TARGET_DIR="$PEER_TARGET" cargo build --release \
            --manifest-path "$PEERS_DIR/tungstenite/Cargo.toml" >>"$WORK/build-peers.log" 2>&1; then
        tail -30 "$WORK/build-peers.log"
        die "building the tokio-tungstenite peer failed (log above)"
    fi
    if wants compress && ! CARGO_TARGET_DIR="$PEER_TARGET" cargo build --release \
            --manifest-path "$PEERS_DIR/flate2/Cargo.toml" >>"$WORK/build-peers.log" 2>&1; then
        tail -30 "$WORK/build-peers.log"
        die "building the flate2 peer failed (log above)"
    fi
}

# rasgi's binaries for the selected suites. A binary the package does not declare yet is
# skipped with a reason (bench.py prints it and says so under the table); one that fails to
# build is skipped too, loudly.
build_rasgi() {
    local bins=() bin
    wants server memory instructions && bins+=(techempower)
    wants pg && bins+=(pgbench)
    wants https && bins+=(httpsbench)
    wants exec && bins+=(execbench)
    wants ws && bins+=(wsbench)
    wants compress && bins+=(compressbench)
    export RASGI_BINS=""
    for bin in "${bins[@]}"; do export "RASGI_WHY_$bin=not selected"; done
    wants_contender rasgi || return 0
    [ ${#bins[@]} -gt 0 ] || return 0

    local meta declared target_dir
    meta=$(cargo metadata --no-deps --format-version 1 --manifest-path "$ROOT/Cargo.toml" 2>"$WORK/metadata.log") \
        || { tail -5 "$WORK/metadata.log"; die "cargo metadata failed for $ROOT/Cargo.toml"; }
    declared=$(python3 -c '
import json, sys
meta = json.load(sys.stdin)
print(" ".join(t["name"] for p in meta["packages"] if p["name"] == "rasgi"
               for t in p["targets"] if "bin" in t["kind"]))' <<<"$meta")
    target_dir=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' <<<"$meta")
    export RASGI_BIN_DIR="$target_dir/release"

    local build=()
    for bin in "${bins[@]}"; do
        if [[ " $declared " == *" $bin "* ]]; then
            build+=("$bin")
        else
            export "RASGI_WHY_$bin=the rasgi package has no \`$bin\` binary yet"
        fi
    done
    [ ${#build[@]} -gt 0 ] || return 0
    if [ "$BUILD" = 0 ]; then
        for bin in "${build[@]}"; do
            if [ -x "$RASGI_BIN_DIR/$bin" ]; then RASGI_BINS+=" $bin"
            else export "RASGI_WHY_$bin=--no-build and no $RASGI_BIN_DIR/$bin"; fi
        done
        return 0
    fi
    say "building rasgi: ${build[*]} (release)"
    local args=()
    for bin in "${build[@]}"; do args+=(--bin "$bin"); done
    if cargo build --release --manifest-path "$ROOT/Cargo.toml" -p rasgi "${args[@]}" >"$WORK/build-rasgi.log" 2>&1; then
        RASGI_BINS="${build[*]}"
    else
        tail -30 "$WORK/build-rasgi.log"
        echo "run.sh: building rasgi failed (log above); rasgi is skipped in this run" >&2
        for bin in "${build[@]}"; do export "RASGI_WHY_$bin=its build failed"; done
    fi
}

# ----------------------------------------------------------------------------- PostgreSQL

# One throwaway cluster for the whole run: initdb as the postgres user (initdb refuses to run
# as root), loopback only, scram-sha-256 for TCP logins (what a production server uses, and
# what every contender's driver must speak), fsync off because durability is not what is
# measured and a disk flush per /updates transaction would measure the disk instead.
start_postgres() {
    PGBIN=$(find_pgbin)
    [ -n "$PGBIN" ] || die "PostgreSQL is not installed"
    local dir="$WORK/pg" port
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    port=$(free_port)
    say "starting PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
    "${AS_PG[@]}" "$PGBIN/initdb" -D "$dir/data" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$WORK/initdb.log" 2>&1 \
        || { tail -20 "$WORK/initdb.log"; die "initdb failed"; }
    PG_STARTED=1
    "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-p $port -k $dir \
        -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB \
        -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null \
        || { tail -20 "$dir/log"; die "PostgreSQL did not start"; }
    "${AS_PG[@]}" "$PGBIN/psql" -h "$dir" -p "$port" -U postgres -v ON_ERROR_STOP=1 -q \
        -c "CREATE ROLE benchmarkdbuser LOGIN PASSWORD 'benchmarkdbpass'" \
        -c "CREATE DATABASE hello_world OWNER benchmarkdbuser" >/dev/null
    # Through the local socket (trust) as benchmarkdbuser, so the tables belong to that role.
    "${AS_PG[@]}" "$PGBIN/psql" -h "$dir" -p "$port" -U benchmarkdbuser -d hello_world \
        -v ON_ERROR_STOP=1 -q -f - <"$HARNESS_DIR/setup.sql" >/dev/null
    export DATABASE_URL="postgres://benchmarkdbuser:benchmarkdbpass@127.0.0.1:$port/hello_world"
    export PG_DATA="$dir/data"
}

# ----------------------------------------------------------------------------- nginx + TLS

# A CA and a server certificate made for this run only (nothing is trusted system-wide), and
# nginx returning `Hello, World!` over TLS. keepalive_requests is raised from nginx's default
# of 1000 so that the clients measure keep-alive GETs, not reconnections.
start_nginx() {
    local dir="$WORK/nginx" port affinity=""
    mkdir -p "$dir/tmp"
    (
        cd "$dir"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
            -keyout ca.key -out ca.pem -subj "/CN=rasgi bench CA" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key \
            -out server.csr -subj "/CN=localhost"
        printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
            -sha256 -extfile server.ext -out server.pem
    ) >"$WORK/openssl.log" 2>&1 || { tail -20 "$WORK/openssl.log"; die "making the test CA failed"; }
    port=$(free_port)
    # nginx on CPU 1 (mask 10), the client under test on CPU 0.
    [ "$(nproc)" -ge 2 ] && affinity="worker_cpu_affinity 10;"
    cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
$affinity
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 75s;
    server {
        listen 127.0.0.1:$port ssl;
        server_name localhost;
        ssl_certificate $dir/server.pem;
        ssl_certificate_key $dir/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {
            default_type text/plain;
            return 200 "Hello, World!";
        }
    }
}
EOF
    say "starting nginx with TLS on 127.0.0.1:$port"
    nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
        || { cat "$dir/error.log" 2>/dev/null; die "nginx did not start"; }
    NGINX_STARTED=1
    wait_port "$port" 10 || die "nginx is not listening on $port"
    export HTTPS_URL="https://127.0.0.1:$port/" CACERT="$dir/ca.pem"
}

# ----------------------------------------------------------------------------- main

say "rasgi benchmarks: suites [$SUITES], $ROUNDS round(s) × ${DURATION} s$([ "$SHORT" = 1 ] && echo ' (short mode)')"
install_tools
wants server pg https memory ws && ensure_venv
if [ "$BUILD" = 1 ]; then
    build_peers
else
    [ -x "$PEER_TARGET/release/hyper-techempower" ] || die "--no-build, but the peers are not built in $PEER_TARGET"
fi
build_rasgi
wants server pg memory instructions && start_postgres
wants https && start_nginx
# 10,000 idle connections need 10,000 descriptors in the server and as many in the client.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

export PEER_BIN_DIR="$PEER_TARGET/release" BENCH_VENV="$VENV" BENCH_WORK="$WORK"
# In the background plus `wait`, so that a SIGTERM or Ctrl-C reaches the traps at once (bash
# runs traps only between foreground commands); cleanup then stops bench.py first, which stops
# any server it started, and only then the database.
python3 "$HARNESS_DIR/bench.py" "${BENCH_ARGS[@]}" &
BENCH_PID=$!
wait "$BENCH_PID"
