#!/usr/bin/env bash
# Builds every fuzz target and runs each for MINUTES (default 1; decimals allowed, e.g.
# 0.15 for nine seconds), one after the other and at the lowest CPU priority, then prints
# the executions and crashes per target. Exits non-zero if any target crashed; the input
# that crashed it is in fuzz/artifacts/TARGET/.
#
#     fuzz/run.sh          # a minute each
#     fuzz/run.sh 30       # half an hour each
#
# fuzz/make-seeds.py regenerates the seeds from the tests.
#
# Each target's corpus grows in fuzz/corpus/TARGET (not committed); the committed seeds
# in fuzz/seeds/TARGET (raw requests, responses, chunked bodies and URLs from the tests)
# are read as a second corpus, and fuzz/dict/ holds the tokens of each format. cargo-fuzz
# needs nightly features; RUSTC_BOOTSTRAP=1 lets the stable toolchain provide them.
set -euo pipefail
cd "$(dirname "$0")"
minutes="${1:-1}"
seconds=$(awk -v m="$minutes" 'BEGIN { s = int(m * 60); if (s < 1) s = 1; print s }')
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --help >/dev/null 2>&1; then
  echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
  exit 2
fi

echo "== building the fuzz targets"
nice -n 19 cargo fuzz build -O
mapfile -t targets < <(cargo fuzz list)

mkdir -p logs
summary=()
failed=0
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "artifacts/$target"
  corpora=("corpus/$target")
  [ -d "seeds/$target" ] && corpora+=("seeds/$target")
  # A dictionary of the format's tokens helps the fuzzer past checks like "://".
  case "$target" in
    url) options=(-dict=dict/url.dict) ;;
    ws_handshake) options=(-dict=dict/ws.dict) ;;
    request_head | head_differential | response_head | chunked) options=(-dict=dict/http.dict) ;;
    *) options=() ;;
  esac
  before=$(find "artifacts/$target" -type f | wc -l)
  log="logs/$target.log"
  echo "== $target: ${seconds}s"
  status=0
  nice -n 19 cargo fuzz run -O "$target" "${corpora[@]}" -- "${options[@]}" \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1 || status=$?
  executions=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  after=$(find "artifacts/$target" -type f | wc -l)
  crashes=$((after - before))
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    # A failure without an artifact (a build or run error) still fails the run.
    crashes=1
  fi
  if [ "$crashes" -ne 0 ]; then
    failed=1
    echo "   CRASH (exit $status); see fuzz/$log and fuzz/artifacts/$target/"
    grep -m 5 -E 'panicked|ERROR: libFuzzer|SUMMARY' "$log" | sed 's/^/   /' || true
  fi
  summary+=("$(printf '%-20s %8ss %14s %8s' "$target" "$seconds" "${executions:-?}" "$crashes")")
done

echo
printf '%-20s %9s %14s %8s\n' target time executions crashes
printf '%s\n' "${summary[@]}"
exit "$failed"
