#!/usr/bin/env bash
# vs_wrk.sh [SECONDS] [CONNECTIONS]: loadscope's engine against wrk, same server, same run.
#
# Starts fixtures/mcp_echo_server (one thread) on 127.0.0.1, then alternates
# three rounds of each client against it:
#   wrk -t2 -cC -dS -s bench/wrk_mcp.lua URL
#   loadscope run (closed loop, concurrency C, 2 workers, S seconds, every sample stored)
# and prints each round's throughput, the medians and their ratio, plus the
# CPU time each client process spent per request (user + system, from
# wait4's rusage via /usr/bin/time) and that ratio. See bench/README.md.
#
# Needs build/loadscope (cmake --build build). Builds build/mcp_echo_server
# with cc -O2 when it is missing or older than its source, and installs wrk
# with apt-get when it is missing. Environment: LOADSCOPE (binary),
# ECHO_SERVER (binary), ROUNDS (default 3), KEEP_TMP=1 keeps the databases,
# CLIENT=native|curl picks loadscope's HTTP client (default: the scenario default, native).
set -euo pipefail

SECS=${1:-5}
CONNS=${2:-64}
ROUNDS=${ROUNDS:-3}
case $SECS in '' | *[!0-9]*) echo "vs_wrk: SECONDS must be a whole number" >&2; exit 2 ;; esac
case $CONNS in '' | *[!0-9]*) echo "vs_wrk: CONNECTIONS must be a whole number" >&2; exit 2 ;; esac
CLIENT=${CLIENT:-}
case $CLIENT in '' | native | curl) ;; *) echo "vs_wrk: CLIENT must be native or curl" >&2; exit 2 ;; esac
HTTP_SECTION=
[[ -n $CLIENT ]] && HTTP_SECTION="\"http\": { \"client\": \"$CLIENT\" },"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOADSCOPE=${LOADSCOPE:-$ROOT/build/loadscope}
ECHO_SERVER=${ECHO_SERVER:-$ROOT/build/mcp_echo_server}
ECHO_SRC=$ROOT/fixtures/mcp_echo_server.c
LUA=$ROOT/bench/wrk_mcp.lua

if [[ ! -x $LOADSCOPE ]]; then
    echo "vs_wrk: $LOADSCOPE not found; build it first: cmake -S . -B build && cmake --build build -j2" >&2
    exit 1
fi
if [[ ! -x $ECHO_SERVER || $ECHO_SRC -nt $ECHO_SERVER ]]; then
    echo "vs_wrk: compiling $ECHO_SERVER"
    mkdir -p "$(dirname "$ECHO_SERVER")"
    cc -std=c11 -D_GNU_SOURCE -O2 -o "$ECHO_SERVER" "$ECHO_SRC" -pthread
fi
if ! command -v wrk >/dev/null 2>&1; then
    echo "vs_wrk: installing wrk"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
HAVE_SQLITE=0
command -v sqlite3 >/dev/null 2>&1 && HAVE_SQLITE=1

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vs_wrk.XXXXXX")
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do # it exits within milliseconds; never hang on it
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ ${KEEP_TMP:-0} == 1 ]]; then
        echo "vs_wrk: kept $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- server
"$ECHO_SERVER" --port 0 --threads 1 >"$TMP/server.out" 2>"$TMP/server.err" &
SERVER_PID=$!
URL=
for _ in $(seq 100); do
    URL=$(sed -n 's/^LISTENING \(http:[^ ]*\)$/\1/p' "$TMP/server.out")
    [[ -n $URL ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
done
if [[ -z $URL ]]; then
    echo "vs_wrk: the echo server did not start:" >&2
    cat "$TMP/server.err" >&2
    exit 1
fi

cat >"$TMP/scenario.json" <<EOF
{
  "name": "bench: loadscope vs wrk on mcp_echo_server",
  "target": { "transport": "http", "url": "$URL" },$HTTP_SECTION
  "load": { "model": "closed", "concurrency": $CONNS, "duration": "${SECS}s" },
  "steps": [ { "name": "echo", "method": "tools/call", "tool": "echo",
               "arguments": { "message": "hello" } } ]
}
EOF

# ---------------------------------------------------------------- helpers
HZ=$(getconf CLK_TCK)
proc_ticks() { # utime + stime of a live process, in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat"
}
machine_busy_ticks() { # all CPUs: everything but idle and iowait
    awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}
NCPU=$(nproc)

# Runs "$@" under /usr/bin/time; sets CPU_S (user + system seconds of the
# client), SRV_TICKS (server CPU during it) and OTHER_PCT (share of the
# machine used by neither, e.g. other jobs) for the round.
timed() {
    local out=$1
    shift
    local s0 m0 t0 t1
    s0=$(proc_ticks "$SERVER_PID")
    m0=$(machine_busy_ticks)
    t0=$(date +%s%N)
    RC=0
    /usr/bin/time -f '%U %S' -o "$TMP/time" "$@" >"$out" 2>"$out.err" || RC=$?
    t1=$(date +%s%N)
    CPU_S=$(awk '{printf "%.3f", $1 + $2}' "$TMP/time")
    SRV_TICKS=$(($(proc_ticks "$SERVER_PID") - s0))
    local busy=$(($(machine_busy_ticks) - m0))
    OTHER_PCT=$(awk -v b="$busy" -v c="$CPU_S" -v s="$SRV_TICKS" -v hz="$HZ" -v n="$NCPU" \
        -v ns=$((t1 - t0)) 'BEGIN { o = (b - s) / hz - c; if (o < 0) o = 0;
                                    printf "%.0f", 100 * o / (n * ns / 1e9) }')
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2];
                                                 else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

ROWS=$TMP/rows
: >"$ROWS"
FAILED=0

run_wrk() {
    local r=$1 out=$TMP/wrk.$1
    timed "$out" wrk -t2 -c"$CONNS" -d"${SECS}s" -s "$LUA" "$URL"
    local rate reqs bad
    rate=$(awk '/^Requests\/sec:/{print $2}' "$out")
    reqs=$(sed -n 's/^wrk_mcp: requests=\([0-9]*\).*/\1/p' "$out")
    bad=$(sed -n 's/^wrk_mcp: requests=[0-9]* non2xx=\([0-9]*\) connect=\([0-9]*\) read=\([0-9]*\) write=\([0-9]*\) timeout=\([0-9]*\)/\1 \2 \3 \4 \5/p' "$out" |
        awk '{print $1 + $2 + $3 + $4 + $5}')
    if [[ $RC != 0 || -z $rate || -z $reqs ]]; then
        echo "vs_wrk: wrk round $r failed (exit $RC):" >&2
        cat "$out" "$out.err" >&2
        FAILED=1
        return
    fi
    [[ ${bad:-0} == 0 ]] || { echo "vs_wrk: wrk round $r saw $bad errors" >&2; FAILED=1; }
    echo "$r wrk $rate $reqs ${bad:-0} $CPU_S $SRV_TICKS $OTHER_PCT - -" >>"$ROWS"
}

run_loadscope() {
    local r=$1 out=$TMP/ls.$1 db=$TMP/ls.$1.db
    timed "$out" "$LOADSCOPE" run "$TMP/scenario.json" --headless --quiet --workers 2 --db "$db"
    # "ALL STEPS  requests  rate/s  errors ..."
    local rate reqs errs bytes samples
    reqs=$(awk '/^ALL STEPS/{print $3}' "$out")
    rate=$(awk '/^ALL STEPS/{print $4}' "$out")
    errs=$(awk '/^ALL STEPS/{print $5}' "$out")
    if [[ $RC != 0 || -z $rate || -z $reqs ]]; then
        echo "vs_wrk: loadscope round $r failed (exit $RC):" >&2
        cat "$out" "$out.err" >&2
        FAILED=1
        return
    fi
    [[ $errs == 0.00% ]] || { echo "vs_wrk: loadscope round $r saw $errs errors" >&2; FAILED=1; }
    bytes=0
    for f in "$db" "$db-wal"; do
        [[ -f $f ]] && bytes=$((bytes + $(stat -c %s "$f")))
    done
    # Samples of the measured step only (step 0); the handshakes are stored too, as their own step.
    if [[ $HAVE_SQLITE == 1 ]]; then
        samples=$(sqlite3 "$db" 'SELECT count(*) FROM samples WHERE step = 0')
    else
        samples=$(python3 -c 'import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM samples WHERE step = 0").fetchone()[0])' "$db")
    fi
    if [[ $samples != "$reqs" ]]; then
        echo "vs_wrk: loadscope round $r reported $reqs requests but stored $samples samples" >&2
        FAILED=1
    fi
    echo "$r loadscope $rate $reqs 0 $CPU_S $SRV_TICKS $OTHER_PCT $bytes $samples" >>"$ROWS"
}

echo "vs_wrk: $URL, ${SECS}s x $ROUNDS rounds each, $CONNS connections, $NCPU CPUs"
echo "        wrk -t2 -c$CONNS   vs   loadscope closed loop, concurrency $CONNS, --workers 2, client ${CLIENT:-default (native)}"
for r in $(seq "$ROUNDS"); do
    run_wrk "$r"
    run_loadscope "$r"
done

# ---------------------------------------------------------------- report
echo
awk -v hz="$HZ" '
BEGIN {
    printf "%-5s %-9s %10s %10s %9s %11s %11s %7s %11s %10s\n", "round", "client", "req/s",
           "requests", "cpu_s", "cpu_us/req", "srv_us/req", "other%", "db_bytes", "samples"
}
{
    us = $4 > 0 ? 1e6 * $6 / $4 : 0
    srv = $4 > 0 ? 1e6 * ($7 / hz) / $4 : 0
    printf "%-5s %-9s %10.0f %10d %9.3f %11.2f %11.2f %7s %11s %10s\n", $1, $2, $3, $4, $6, us,
           srv, $8, $9, $10
}' "$ROWS"

med() { # median of column $2 (awk expression over $0) for client $1
    awk -v c="$1" '$2 == c { print '"$2"' }' "$ROWS" | median
}
W_RATE=$(med wrk '$3')
L_RATE=$(med loadscope '$3')
W_CPU=$(med wrk '($4 > 0 ? 1e6 * $6 / $4 : 0)')
L_CPU=$(med loadscope '($4 > 0 ? 1e6 * $6 / $4 : 0)')
echo
awk -v wr="$W_RATE" -v lr="$L_RATE" -v wc="$W_CPU" -v lc="$L_CPU" 'BEGIN {
    printf "median req/s        wrk %10.0f   loadscope %10.0f   loadscope/wrk %.3f\n", wr, lr,
           (wr > 0 ? lr / wr : 0)
    printf "median cpu us/req   wrk %10.2f   loadscope %10.2f   loadscope/wrk %.2f\n", wc, lc,
           (wc > 0 ? lc / wc : 0)
}'
echo "(other% = machine CPU used by neither the client nor the server during the round:"
echo " anything well above 0 means other jobs shared the CPUs and the numbers are noisy)"
exit "$FAILED"
