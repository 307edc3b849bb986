#!/usr/bin/env bash
# downstream_overhead.sh [SECONDS] [CONCURRENCY]: what the downstream recording
# proxy adds to each call, against the same upstream called directly, same run.
#
# Upstream: fixtures/mcp_echo_server (C, one thread) on 127.0.0.1, a server
# that costs almost nothing per request, so what is measured is the proxy.
# The proxy: build/ds_driver with "downstream": {"dynamodb": <the server>}
# (plain http://, recording every call into a database, no faults). Client:
# loadscope's engine itself (native HTTP/1.1 client, closed loop, CONCURRENCY
# virtual users, one worker), in rounds that alternate
#   direct   loadscope run -> mcp_echo_server
#   proxied  loadscope run -> proxy -> mcp_echo_server
# ROUNDS times (default 3). Prints each round's p50/p99 and req/s, the
# medians, the added latency (proxied p50 - direct p50) and the ratios, plus
# the proxy's own time per call as it recorded it (reply sent minus the
# upstream's part: parsing, recording, relaying), median over every call.
# Goal: added p50 < 50 us at concurrency 1.
#
# Needs build/loadscope and build/ds_driver (cmake --build build); builds
# build/mcp_echo_server with cc -O2 when it is missing or older than its
# source. Environment: ROUNDS, KEEP_TMP=1 keeps the databases.
set -euo pipefail

SECS=${1:-5}
CONC=${2:-1}
ROUNDS=${ROUNDS:-3}
case $SECS in '' | *[!0-9]*) echo "downstream_overhead: SECONDS must be a whole number" >&2; exit 2 ;; esac
case $CONC in '' | *[!0-9]*) echo "downstream_overhead: CONCURRENCY must be a whole number" >&2; exit 2 ;; esac

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOADSCOPE=${LOADSCOPE:-$ROOT/build/loadscope}
DRIVER=${DRIVER:-$ROOT/build/ds_driver}
ECHO_SERVER=${ECHO_SERVER:-$ROOT/build/mcp_echo_server}
ECHO_SRC=$ROOT/fixtures/mcp_echo_server.c
for b in "$LOADSCOPE" "$DRIVER"; do
    if [[ ! -x $b ]]; then
        echo "downstream_overhead: $b not found; build first: cmake -S . -B build && cmake --build build -j2" >&2
        exit 1
    fi
done
command -v sqlite3 >/dev/null 2>&1 || { echo "downstream_overhead: needs the sqlite3 shell" >&2; exit 1; }
if [[ ! -x $ECHO_SERVER || $ECHO_SRC -nt $ECHO_SERVER ]]; then
    echo "downstream_overhead: compiling $ECHO_SERVER"
    mkdir -p "$(dirname "$ECHO_SERVER")"
    cc -std=c11 -D_GNU_SOURCE -O2 -o "$ECHO_SERVER" "$ECHO_SRC" -pthread
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ds_overhead.XXXXXX")
SERVER_PID=
DRIVER_PID=
cleanup() {
    for pid in $DRIVER_PID $SERVER_PID; do
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ ${KEEP_TMP:-0} == 1 ]]; then echo "downstream_overhead: kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- the upstream
"$ECHO_SERVER" --port 0 --threads 1 >"$TMP/server.out" 2>"$TMP/server.err" &
SERVER_PID=$!
URL=
for _ in $(seq 100); do
    URL=$(sed -n 's/^LISTENING \(http:[^ ]*\)$/\1/p' "$TMP/server.out")
    [[ -n $URL ]] && break
    sleep 0.05
done
[[ -n $URL ]] || { echo "downstream_overhead: the echo server did not start" >&2; exit 1; }
BASE=${URL%/mcp}

# ---------------------------------------------------------------- the proxy
cat >"$TMP/proxy.json" <<EOF
{ "name": "downstream overhead proxy",
  "target": { "transport": "stdio", "command": ["true"], "downstream": { "dynamodb": "$BASE" } },
  "load": { "duration": "1s" }, "steps": [ { "method": "ping" } ] }
EOF
mkfifo "$TMP/driver.in"
AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_REGION=us-east-1 \
    "$DRIVER" "$TMP/proxy.json" "$TMP/proxy.db" <"$TMP/driver.in" >"$TMP/driver.out" 2>"$TMP/driver.err" &
DRIVER_PID=$!
exec 3>"$TMP/driver.in"
PROXY=
for _ in $(seq 100); do
    grep -q '^READY' "$TMP/driver.out" 2>/dev/null && break
    sleep 0.05
done
PROXY=$(sed -n 's/^ENV AWS_ENDPOINT_URL_DYNAMODB=//p' "$TMP/driver.out")
[[ -n $PROXY ]] || { echo "downstream_overhead: the proxy did not start:" >&2; cat "$TMP/driver.err" >&2; exit 1; }
echo origin >&3

scenario() { # URL -> scenario file
    cat <<EOF
{ "name": "downstream overhead",
  "target": { "transport": "http", "url": "$1/mcp" },
  "load": { "model": "closed", "concurrency": $CONC, "duration": "${SECS}s", "warmup": "1s" },
  "steps": [ { "name": "echo", "method": "tools/call", "tool": "echo", "arguments": { "message": "hello" } } ] }
EOF
}
scenario "$BASE" >"$TMP/direct.json"
scenario "$PROXY" >"$TMP/proxied.json"

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2];
                                                 else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

ROWS=$TMP/rows
: >"$ROWS"
run() { # KIND ROUND
    local db=$TMP/$1.$2.db
    "$LOADSCOPE" run "$TMP/$1.json" --headless --quiet --workers 1 --db "$db" >"$TMP/$1.$2.out" 2>&1 || {
        echo "downstream_overhead: loadscope run ($1) failed:" >&2
        tail -5 "$TMP/$1.$2.out" >&2
        exit 1
    }
    sqlite3 -separator ' ' "$db" "SELECT '$1', $2, u_p50_us, u_p99_us, rate, errors FROM summaries
                                   WHERE step = 0 AND session_id = (SELECT max(id) FROM sessions)" >>"$ROWS"
}
for r in $(seq "$ROUNDS"); do
    run direct "$r"
    run proxied "$r"
done

echo stop 3000 >&3
exec 3>&-
wait "$DRIVER_PID" || true
DRIVER_PID=

printf "\ndownstream proxy overhead: mcp_echo_server on 127.0.0.1, loadscope closed loop, %d VU, %ds x %d rounds\n" \
    "$CONC" "$SECS" "$ROUNDS"
printf "%-8s %5s %9s %9s %11s %7s\n" client round p50_us p99_us req/s errors
awk '{ printf "%-8s %5d %9d %9d %11.0f %7d\n", $1, $2, $3, $4, $5, $6 }' "$ROWS"
dp50=$(awk '$1 == "direct" {print $3}' "$ROWS" | median)
pp50=$(awk '$1 == "proxied" {print $3}' "$ROWS" | median)
dp99=$(awk '$1 == "direct" {print $4}' "$ROWS" | median)
pp99=$(awk '$1 == "proxied" {print $4}' "$ROWS" | median)
drate=$(awk '$1 == "direct" {print $5}' "$ROWS" | median)
prate=$(awk '$1 == "proxied" {print $5}' "$ROWS" | median)
errs=$(awk '{ s += $6 } END { print s + 0 }' "$ROWS")
calls=$(sqlite3 "$TMP/proxy.db" "SELECT count(*) FROM downstream_calls")
own=$(sqlite3 "$TMP/proxy.db" "SELECT latency_us - upstream_us FROM downstream_calls WHERE upstream_us IS NOT NULL" | median)
reqs=$(for f in "$TMP"/proxied.*.db; do sqlite3 "$f" "SELECT count(*) FROM samples"; done | awk '{ s += $1 } END { print s }')
echo
printf "medians            p50 %6d us -> %6d us   p99 %6d us -> %6d us   %8.0f -> %8.0f req/s\n" \
    "$dp50" "$pp50" "$dp99" "$pp99" "$drate" "$prate"
printf "added latency      p50 %+d us (goal < 50 us)   p99 %+d us\n" $((pp50 - dp50)) $((pp99 - dp99))
awk -v a="$pp50" -v b="$dp50" -v c="$pp99" -v d="$dp99" -v e="$prate" -v f="$drate" \
    'BEGIN { printf "ratios proxied/direct   p50 %.2fx   p99 %.2fx   req/s %.2fx\n", a / b, c / d, e / f }'
printf "the proxy's own time per call (reply sent - upstream), median of %d calls: %d us\n" "$calls" "$own"
printf "calls recorded by the proxy %d; samples loadscope stored through it %d (the rest: MCP notifications and session ends)\n" "$calls" "$reqs"
status=0
[[ $errs -eq 0 ]] || { echo "downstream_overhead: $errs errors" >&2; status=1; }
[[ $calls -ge $reqs ]] || { echo "downstream_overhead: the proxy recorded $calls calls for $reqs samples" >&2; status=1; }
exit $status
