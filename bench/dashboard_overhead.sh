#!/usr/bin/env bash
# dashboard_overhead.sh [SECONDS] [CONNECTIONS]: what the live dashboard costs the load.
#
# Starts fixtures/mcp_echo_server (one thread) on 127.0.0.1 and runs the same
# closed-loop scenario against it, alternating ROUNDS (default 5) rounds of
#   loadscope run --headless   (output to files)
#   loadscope run              (the dashboard)
# each in its own tmux pane of 120x40 on a private socket, so the two modes
# differ only by the dashboard. (A tmux pane is a new session, and Linux's
# autogroup scheduling gives every session its own share of the CPU: a
# headless run started straight from this script would share the echo
# server's group while the dashboard would not, which alone moved the result
# by -16 % to +10 % depending on what else the machine ran. HEADLESS=direct
# runs the headless rounds that way, to see it.) Nothing polls the pane while
# the load runs: the script sleeps through warm-up and duration, then waits
# for the run to end (the dashboard's DONE, then q).
#
# For every round: the stored summary's rate (all steps, measured part);
# loadscope's CPU time (user + system, whole process) per request including
# the warm-up's; the echo server's CPU per request; the tmux server's CPU
# time (drawing the pane); and other%, the share of the machine used by none
# of them (other jobs: a noisy round shows there). At the
# end: the medians, the median of the per-round ratios dashboard/headless
# (each round runs both modes back to back, so slow drifts cancel), the cost
# (1 - that ratio), the CPU-per-request ratios (loadscope alone, and with the
# echo server and tmux: on a machine with nothing else running, where the
# two CPUs are all theirs, throughput goes as its inverse), and the ratio over the quiet
# rounds only (other% at most QUIET_PCT, default 5, in both modes of the
# round). The goal is a cost under 3 %.
#
# Needs build/loadscope, tmux and sqlite3. Builds build/mcp_echo_server with
# cc -O2 when missing. Environment: LOADSCOPE (binary), ECHO_SERVER, ROUNDS,
# WORKERS (default 2), HEADLESS=pane|direct (default pane), QUIET_PCT,
# KEEP_TMP=1 keeps the database.
set -euo pipefail

SECS=${1:-5}
CONNS=${2:-64}
ROUNDS=${ROUNDS:-5}
WORKERS=${WORKERS:-2}
HEADLESS=${HEADLESS:-pane}
WARMUP_S=1
case $SECS in '' | *[!0-9]*) echo "dashboard_overhead: SECONDS must be a whole number" >&2; exit 2 ;; esac
case $CONNS in '' | *[!0-9]*) echo "dashboard_overhead: CONNECTIONS must be a whole number" >&2; exit 2 ;; esac
case $HEADLESS in pane | direct) ;; *) echo "dashboard_overhead: HEADLESS must be pane or direct" >&2; exit 2 ;; esac

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
  "load": { "model": "closed", "concurrency": $CONNS, "duration": "${SECS}s", "warmup": "${WARMUP_S}s" },
  "steps": [ { "name": "echo", "method": "tools/call", "tool": "echo", "arguments": { "message": "hello" } } ]
}
EOF
DB=$TMP/bench.db

# One round's loadscope, timed by bash (user and system CPU of the process):
# round.sh MODE. The same script runs in the pane and, for HEADLESS=direct, here.
cat >"$TMP/round.sh" <<EOF
#!/usr/bin/env bash
TIMEFORMAT='%3U %3S'
if [[ \$1 == headless ]]; then
    { time '$LOADSCOPE' run '$TMP/scenario.json' --headless --db '$DB' --workers $WORKERS \
        >'$TMP/headless.out' 2>'$TMP/headless.err'; } 2>'$TMP/time'
else
    { time '$LOADSCOPE' run '$TMP/scenario.json' --db '$DB' --workers $WORKERS 2>'$TMP/dash.err'; } 2>'$TMP/time'
fi
echo \$? >'$TMP/rc'
EOF
chmod +x "$TMP/round.sh"

HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
machine_busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }

sessions() {
    [[ -f $DB ]] || { echo 0; return; }
    sqlite3 "$DB" "SELECT count(*) FROM sessions"
}

# Runs one round of MODE and prints "rate cpu_s requests srv_ticks other_pct tmux_ticks".
run_round() {
    local mode=$1 before s0 m0 t0 t1 tmux_pid= tmux_ticks=0
    before=$(sessions)
    rm -f "$TMP/rc" "$TMP/time"
    tmux -L "$SOCK" kill-server 2>/dev/null || true
    s0=$(proc_ticks "$SERVER_PID")
    m0=$(machine_busy_ticks)
    t0=$(date +%s%N)
    if [[ $mode == headless && $HEADLESS == direct ]]; then
        "$TMP/round.sh" headless
    else
        tmux -L "$SOCK" new-session -d -s b -x 120 -y 40 "'$TMP/round.sh' $mode" </dev/null >/dev/null 2>&1
        # Kept after the pane ends, so its CPU time can be read.
        tmux -L "$SOCK" set-option -s exit-empty off 2>/dev/null || true
        tmux_pid=$(tmux -L "$SOCK" display-message -p '#{pid}' 2>/dev/null || true)
        # Through warm-up and duration without a sound; then wait for the end.
        sleep $((WARMUP_S + SECS))
        local limit=$((SECS * 10 + 300))
        if [[ $mode == dashboard ]]; then
            for _ in $(seq $limit); do
                tmux -L "$SOCK" capture-pane -p -t b 2>/dev/null | grep -q ' DONE' && break
                [[ -s $TMP/rc ]] && break
                sleep 0.1
            done
            tmux -L "$SOCK" send-keys -t b q 2>/dev/null || true
        fi
        for _ in $(seq $limit); do
            [[ -s $TMP/rc ]] && break
            sleep 0.1
        done
    fi
    t1=$(date +%s%N)
    [[ -n $tmux_pid ]] && tmux_ticks=$(proc_ticks "$tmux_pid" 2>/dev/null || echo 0)
    [[ -s $TMP/rc ]] || { echo "dashboard_overhead: the $mode round did not finish" >&2; exit 1; }
    if [[ $(sessions) -le $before || ! -s $TMP/time ]]; then
        echo "dashboard_overhead: the $mode round stored no session (exit $(cat "$TMP/rc")); see $TMP (KEEP_TMP=1)" >&2
        cat "$TMP/headless.err" "$TMP/dash.err" >&2 2>/dev/null || true
        exit 1
    fi
    local srv busy
    srv=$(($(proc_ticks "$SERVER_PID") - s0))
    busy=$(($(machine_busy_ticks) - m0))
    local q="SELECT printf('%.1f', (SELECT rate FROM summaries WHERE step = -1 AND session_id = m.id)),
                    (SELECT sum(count) FROM intervals WHERE step = -1 AND session_id = m.id)
             FROM (SELECT max(id) AS id FROM sessions) m"
    local rate reqs
    IFS='|' read -r rate reqs < <(sqlite3 "$DB" "$q")
    awk -v rate="$rate" -v reqs="$reqs" -v t="$(cat "$TMP/time")" -v srv="$srv" -v busy="$busy" \
        -v hz="$HZ" -v n="$NCPU" -v ns=$((t1 - t0)) -v tm="$tmux_ticks" 'BEGIN {
        split(t, c, " "); cpu = c[1] + c[2]
        o = busy / hz - srv / hz - tm / hz - cpu; if (o < 0) o = 0
        printf "%s %.3f %d %d %.0f %d\n", rate, cpu, reqs, srv, 100 * o / (n * ns / 1e9), tm }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "dashboard_overhead: $ROUNDS rounds of ${SECS}s (+${WARMUP_S}s warm-up), $CONNS connections, $WORKERS workers, $NCPU CPUs, headless in ${HEADLESS/pane/a tmux pane}, against $URL"
printf '%-6s %-10s %12s %12s %12s %8s %7s\n' round mode "req/s" "cpu_us/req" "srv_us/req" "tmux_ms" "other%"
: >"$TMP/rows"
for r in $(seq "$ROUNDS"); do
    # Alternate which goes first, so a drifting machine does not favour one side.
    if ((r % 2)); then order="headless dashboard"; else order="dashboard headless"; fi
    for mode in $order; do
        read -r rate cpu reqs srv other tm < <(run_round "$mode") || true
        [[ -n ${tm:-} ]] || exit 1 # run_round said why
        echo "$r $mode $rate $cpu $reqs $srv $other $tm" >>"$TMP/rows"
        awk -v r="$r" -v m="$mode" -v rate="$rate" -v cpu="$cpu" -v reqs="$reqs" -v srv="$srv" -v hz="$HZ" \
            -v o="$other" -v tm="$tm" 'BEGIN { printf "%-6s %-10s %12.1f %12.2f %12.2f %8.0f %7s\n", r, m, rate,
                                   1e6 * cpu / reqs, 1e6 * srv / hz / reqs, 1e3 * tm / hz, o }'
    done
done
H=$(awk '$2 == "headless" {print $3}' "$TMP/rows" | median)
D=$(awk '$2 == "dashboard" {print $3}' "$TMP/rows" | median)
HC=$(awk '$2 == "headless" {print 1e6 * $4 / $5}' "$TMP/rows" | median)
DC=$(awk '$2 == "dashboard" {print 1e6 * $4 / $5}' "$TMP/rows" | median)
AH=$(awk -v hz="$HZ" '$2 == "headless" {print 1e6 * ($4 + ($6 + $8) / hz) / $5}' "$TMP/rows" | median)
AD=$(awk -v hz="$HZ" '$2 == "dashboard" {print 1e6 * ($4 + ($6 + $8) / hz) / $5}' "$TMP/rows" | median)
R=$(awk '{ if ($2 == "headless") h[$1] = $3; else d[$1] = $3 } END { for (r in h) if (r in d) print d[r] / h[r] }' "$TMP/rows" | median)
awk -v h="$H" -v d="$D" -v r="$R" -v hc="$HC" -v dc="$DC" -v ah="$AH" -v ad="$AD" 'BEGIN {
    printf "median     headless %.1f req/s, dashboard %.1f req/s (ratio of medians %.4f)\n", h, d, d / h
    printf "cpu        loadscope: headless %.2f us/req, dashboard %.2f us/req (ratio %.4f)\n", hc, dc, dc / hc
    printf "           with the server and tmux: headless %.2f us/req, dashboard %.2f us/req (ratio %.4f)\n", ah, ad, ad / ah
    printf "ratio      dashboard/headless, median of the rounds %.4f  (cost %.2f %%; goal under 3 %%)\n", r, 100 * (1 - r)
}'
# The same, over the rounds where other jobs took at most QUIET_PCT % of the machine in both modes.
QUIET_PCT=${QUIET_PCT:-5}
QR=$(awk -v q="$QUIET_PCT" '{ if ($2 == "headless") { h[$1] = $3; ho[$1] = $7 } else { d[$1] = $3; do_[$1] = $7 } }
    END { for (r in h) if ((r in d) && ho[r] <= q && do_[r] <= q) print d[r] / h[r] }' "$TMP/rows")
if [[ -n $QR ]]; then
    echo "$QR" | median | awk -v n="$(echo "$QR" | wc -l)" -v q="$QUIET_PCT" '{
        printf "quiet      %d round(s) with other%% <= %d in both modes: median ratio %.4f (cost %.2f %%)\n", n, q, $1, 100 * (1 - $1) }'
else
    echo "quiet      no round had other% <= $QUIET_PCT in both modes: the machine was busy, the ratio is noisy"
fi
