#!/usr/bin/env bash
# dashboard_overhead.sh [SECONDS] [CONNECTIONS]: what the live dashboard costs the load.
#
# Starts fixtures/mcp_echo_server (one thread) on 127.0.0.1 and runs the same
# closed-loop scenario against it, alternating ROUNDS (default 3) rounds of
#   loadscope run --headless                     (progress lines to a file)
#   loadscope run  (the dashboard, in a tmux pane of 120x40 on a private socket)
# Each round's throughput is the stored summary's rate (all steps, measured
# part); the script prints every round, the medians, their ratio and the
# cost (1 - dashboard/headless). The goal is a cost under 3 %.
#
# Needs build/loadscope, tmux and sqlite3. Builds build/mcp_echo_server with
# cc -O2 when missing. Environment: LOADSCOPE (binary), ECHO_SERVER, ROUNDS,
# WORKERS (default 2), KEEP_TMP=1 keeps the database.
set -euo pipefail

SECS=${1:-5}
CONNS=${2:-64}
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-2}
case $SECS in '' | *[!0-9]*) echo "dashboard_overhead: SECONDS must be a whole number" >&2; exit 2 ;; esac
case $CONNS in '' | *[!0-9]*) echo "dashboard_overhead: CONNECTIONS must be a whole number" >&2; exit 2 ;; esac

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOADSCOPE=${LOADSCOPE:-$ROOT/build/loadscope}
ECHO_SERVER=${ECHO_SERVER:-$ROOT/build/mcp_echo_server}
ECHO_SRC=$ROOT/fixtures/mcp_echo_server.c
for tool in tmux sqlite3; do
    command -v $tool >/dev/null 2>&1 || { echo "dashboard_overhead: needs $tool (scripts/install-deps.sh)" >&2; exit 1; }
done
if [[ ! -x $LOADSCOPE ]]; then
    echo "dashboard_overhead: $LOADSCOPE not found; build it first: cmake -S . -B build && cmake --build build -j2" >&2
    exit 1
fi
if [[ ! -x $ECHO_SERVER || $ECHO_SRC -nt $ECHO_SERVER ]]; then
    echo "dashboard_overhead: compiling $ECHO_SERVER"
    mkdir -p "$(dirname "$ECHO_SERVER")"
    cc -std=c11 -D_GNU_SOURCE -O2 -o "$ECHO_SERVER" "$ECHO_SRC" -pthread
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/dash_overhead.XXXXXX")
SOCK=lsbench-$$
SERVER_PID=
cleanup() {
    tmux -L "$SOCK" kill-server 2>/dev/null || true
    if [[ -n $SERVER_PID ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ ${KEEP_TMP:-0} == 1 ]]; then echo "dashboard_overhead: kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

: >"$TMP/server.out"
"$ECHO_SERVER" --port 0 --threads 1 >"$TMP/server.out" 2>"$TMP/server.err" &
SERVER_PID=$!
URL=
for _ in $(seq 100); do
    URL=$(sed -n 's/^LISTENING \(http:[^ ]*\)$/\1/p' "$TMP/server.out")
    [[ -n $URL ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
done
[[ -n $URL ]] || { echo "dashboard_overhead: the echo server did not start" >&2; cat "$TMP/server.err" >&2; exit 1; }

cat >"$TMP/scenario.json" <<EOF
{
  "name": "bench: dashboard overhead",
  "target": { "transport": "http", "url": "$URL" },
  "load": { "model": "closed", "concurrency": $CONNS, "duration": "${SECS}s", "warmup": "1s" },
  "steps": [ { "name": "echo", "method": "tools/call", "tool": "echo", "arguments": { "message": "hello" } } ]
}
EOF
DB=$TMP/bench.db

sessions() {
    [[ -f $DB ]] || { echo 0; return; }
    sqlite3 "$DB" "SELECT count(*) FROM sessions"
}

# The rate of the session just run; fails if the round stored none.
last_rate() {
    local before=$1
    if [[ $(sessions) -le $before ]]; then
        echo "dashboard_overhead: the $2 round stored no session; see $TMP (KEEP_TMP=1)" >&2
        cat "$TMP/$2.err" >&2 || true
        exit 1
    fi
    sqlite3 "$DB" "SELECT printf('%.1f', rate) FROM summaries WHERE step = -1 AND session_id = (SELECT max(id) FROM sessions)"
}

run_headless() {
    local before
    before=$(sessions)
    "$LOADSCOPE" run "$TMP/scenario.json" --headless --db "$DB" --workers "$WORKERS" >"$TMP/headless.out" 2>"$TMP/headless.err"
    last_rate "$before" headless
}

run_dashboard() {
    local before
    before=$(sessions)
    tmux -L "$SOCK" kill-server 2>/dev/null || true
    rm -f "$TMP/dash.rc"
    tmux -L "$SOCK" new-session -d -s b -x 120 -y 40 \
        "'$LOADSCOPE' run '$TMP/scenario.json' --db '$DB' --workers $WORKERS 2>'$TMP/dash.err'; echo \$? >'$TMP/dash.rc'"
    # Wait for the run to end on screen, then quit the dashboard with q.
    local limit=$((SECS * 10 + 300))
    for _ in $(seq $limit); do
        tmux -L "$SOCK" capture-pane -p -t b 2>/dev/null | grep -q ' DONE' && break
        sleep 0.1
    done
    tmux -L "$SOCK" send-keys -t b q 2>/dev/null || true
    for _ in $(seq 300); do
        [[ -s $TMP/dash.rc ]] && break
        sleep 0.1
    done
    [[ -s $TMP/dash.rc ]] || { echo "dashboard_overhead: the dashboard run did not finish" >&2; exit 1; }
    last_rate "$before" dash
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "dashboard_overhead: $ROUNDS rounds of ${SECS}s, $CONNS connections, $WORKERS workers, against $URL"
printf '%-6s %-10s %12s\n' round mode "req/s"
: >"$TMP/h"
: >"$TMP/d"
for r in $(seq "$ROUNDS"); do
    # Alternate which goes first, so a drifting machine does not favour one side.
    if ((r % 2)); then order="headless dashboard"; else order="dashboard headless"; fi
    for mode in $order; do
        if [[ $mode == headless ]]; then rate=$(run_headless); echo "$rate" >>"$TMP/h"
        else rate=$(run_dashboard); echo "$rate" >>"$TMP/d"; fi
        printf '%-6s %-10s %12s\n' "$r" "$mode" "$rate"
    done
done
H=$(median <"$TMP/h")
D=$(median <"$TMP/d")
awk -v h="$H" -v d="$D" 'BEGIN {
    printf "median     headless %.1f req/s, dashboard %.1f req/s\n", h, d
    printf "ratio      dashboard/headless %.4f  (cost %.2f %%; goal under 3 %%)\n", d / h, 100 * (1 - d / h)
}'
