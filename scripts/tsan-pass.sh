#!/usr/bin/env bash
# The ThreadSanitizer pass of scripts/test.sh: builds build-tsan, runs the unit
# tests (ring, collector, hot-path model, writer, ...) under TSan, then three
# short live runs where the workers, the collector, the storage writer and the
# allocation reader all run at once: the native HTTP echo server under two
# workers with each HTTP client (native, libcurl), and a stdio server traced in
# sampled mode. Any race report fails it. Appends a ctest-style totals line for
# the live runs to the file named by $1 (scripts/test.sh's results).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
results=${1:-/dev/null}
jobs=$(nproc)
dir=$root/build-tsan

echo "== build build-tsan (ThreadSanitizer)"
cmake -S "$root" -B "$dir" -DLOADSCOPE_WERROR=ON -DCMAKE_BUILD_TYPE=Debug -DLOADSCOPE_TSAN=ON >/dev/null
cmake --build "$dir" -j"$jobs"
echo "== unit tests (build-tsan)"
# Left out, each for a reason of its own (still run in the plain and ASan passes):
# test_proc forks from a threaded process (ThreadSanitizer refuses: die_after_fork),
# and test_procstat counts this process's own threads (TSan adds one).
TSAN_OPTIONS=halt_on_error=1 ctest --test-dir "$dir" -L unit -E 'test_proc$|test_procstat' \
  -j"$jobs" --output-on-failure | tee -a "$results"

echo "== live runs (build-tsan)"
tmp=$(mktemp -d /tmp/loadscope-tsan-XXXXXX)
"$dir/mcp_echo_server" --port 0 --threads 1 >"$tmp/echo.out" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
url=
for _ in $(seq 100); do
  url=$(sed -n 's/^LISTENING \(http:[^ ]*\)$/\1/p' "$tmp/echo.out")
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "tsan: the echo server did not start" >&2; exit 1; }
steps='"steps": [{"name": "echo", "method": "tools/call", "tool": "echo", "arguments": {"message": "m${seq}"}}]'
load='"load": {"model": "closed", "concurrency": 8, "duration": "2s", "warmup": "1s"}'
printf '{"name": "tsan http", "target": {"transport": "http", "url": "%s"}, %s, %s}\n' \
  "$url" "$load" "$steps" >"$tmp/http.json"
printf '{"name": "tsan curl", "target": {"transport": "http", "url": "%s"}, "http": {"client": "curl"}, %s, %s}\n' \
  "$url" "$load" "$steps" >"$tmp/curl.json"
printf '{"name": "tsan stdio", "target": {"transport": "stdio", "command": ["node", "%s", "stdio"]}, %s, %s}\n' \
  "$root/fixtures/node_modules/@modelcontextprotocol/server-everything/dist/index.js" \
  '"load": {"model": "closed", "concurrency": 4, "duration": "2s"}' "$steps" >"$tmp/stdio.json"

ok=0
bad=0
for run in "http.json --workers 2" "curl.json --workers 2" "stdio.json --trace-allocations=sampled"; do
  # shellcheck disable=SC2086 # the options split on purpose
  if TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$dir/loadscope" run "$tmp"/$run --headless --quiet \
      --db "$tmp/tsan.db" >"$tmp/run.out" 2>"$tmp/run.err"; then
    echo "tsan live run ($run): ok"
    ok=$((ok + 1))
  else
    echo "tsan live run ($run): FAILED"
    grep -A40 'ThreadSanitizer' "$tmp/run.err" | head -80 || tail -20 "$tmp/run.err"
    bad=$((bad + 1))
  fi
done
echo "tsan live runs: $ok passed, $bad failed"
# The same shape as ctest's summary line, so scripts/test.sh counts these runs too.
echo "$((100 * ok / (ok + bad)))% tests passed, $bad tests failed out of $((ok + bad))" >>"$results"
[ "$bad" -eq 0 ]
