#!/bin/sh
# cpuprof_overhead.sh: what watching a server's threads and profiling its CPU
# cost the server under load.
#
# The target is fixtures/alloc/mcp_server.rs (built here, with frame
# pointers): a Rust MCP server over stdio. loadscope drives it in a closed
# loop; the server runs under build/inside_attach (bench/inside_attach.c),
# which samples it with loadscope's thread sampler at 100 Hz
# (core/target/threads.h: "threads"), its CPU profiler at 99 Hz
# (core/target/cpuprof.h: "cpu", system-wide events when the kernel allows
# them, as it does for root; "cpu-task", the per-task events an unprivileged
# loadscope gets), both ("both": threads and cpu), or neither ("none": the
# same wrapper, idle, so every configuration has the same process tree).
# "hooks" traces the server with the allocation tracer in count mode (the
# shim with its inside-the-target hooks, --trace-allocations=count) and
# "hooks+threads" adds the thread sampler: issue 11's "hooks + thread
# sampling" budget.
#
# Every round runs every configuration once, in an order rotated from round
# to round. Per configuration it prints the medians over rounds of:
#   srv us/req   the server's CPU time per request (its own clock: the
#                profiler's interrupts and call-chain walks land here) and
#                its ratio to "none" in the same round
#   +obs us/req  the same plus the observer's own CPU (the sampler thread,
#                the profiler's reader: loadscope's cost, outside the
#                target) and its ratio to "none"
#   req/s        the rate loadscope measured, and its ratio
#   csw/req      the server's context switches per request (what a per-task
#                perf event costs is paid at each of them)
# Goals (issue 11): hooks + thread sampling <= 1.05x, CPU profiling at 99 Hz <= 1.03x.
# On this 2-core machine loadscope, the server and the observer share the
# cores with whatever else runs: medians of same-round ratios, not absolutes.
#
# usage: bench/cpuprof_overhead.sh [BUILD_DIR]            (default: build)
# environment: ROUNDS (5), DURATION (3s), CONCURRENCY (32),
#              CONFIGS ("none threads cpu cpu-task both hooks hooks+threads"; "none" must be among them)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
LS=$BUILD/loadscope
ATTACH=$BUILD/inside_attach
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-3s}
CONCURRENCY=${CONCURRENCY:-32}
CONFIGS=${CONFIGS:-none threads cpu cpu-task both hooks hooks+threads}
[ -x "$LS" ] || { echo "no $LS: build first" >&2; exit 1; }
[ -x "$ATTACH" ] || { echo "no $ATTACH: build first (cmake --build build --target inside_attach)" >&2; exit 1; }
RUSTC=$(command -v rustc || echo "$HOME/.cargo/bin/rustc")
[ -x "$RUSTC" ] || { echo "rustc not found (PATH or ~/.cargo/bin)" >&2; exit 1; }
TMP=$(mktemp -d /tmp/cpuprof-overhead-XXXXXX)
trap 'rm -rf "$TMP"' EXIT

"$RUSTC" -O -g -C force-frame-pointers=yes -o "$TMP/server" "$ROOT/fixtures/alloc/mcp_server.rs"

# run ROUND CONFIG: one run; appends "round config srv_ns_per_req obs_ns_per_req rate switches_per_req".
run() {
    how=
    mode=$2
    case $2 in
    hooks) how=--trace-allocations=count mode=none ;;
    hooks+*) how=--trace-allocations=count mode=${2#hooks+} ;;
    esac
    cat > "$TMP/s.json" <<EOF
{"name": "rust mcp server", "target": {"transport": "stdio",
   "command": ["$ATTACH", "$mode", "$TMP/attach", "--", "$TMP/server", "$TMP/stats"]},
 "load": {"model": "closed", "concurrency": $CONCURRENCY, "duration": "$DURATION", "warmup": "500ms"},
 "steps": [{"name": "echo", "method": "tools/call", "tool": "echo",
            "arguments": {"message": "hello \${seq}"}}]}
EOF
    rm -f "$TMP/stats" "$TMP/attach" "$TMP/t.db"*
    # shellcheck disable=SC2086 # $how is one word or none
    if ! (cd "$TMP" && "$LS" run "$TMP/s.json" --headless --quiet --db "$TMP/t.db" $how) >"$TMP/out" 2>&1; then
        echo "$2: loadscope run failed:" >&2
        tail -5 "$TMP/out" >&2
        exit 1
    fi
    # the wrapper writes its figures after the server has exited
    i=0
    while [ ! -s "$TMP/attach" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    stats=$(cat "$TMP/stats" 2>/dev/null || true)
    attach=$(cat "$TMP/attach" 2>/dev/null || true)
    [ -n "$stats" ] || { echo "$2: the server wrote no statistics" >&2; exit 1; }
    [ -n "$attach" ] || { echo "$2: inside_attach wrote no statistics" >&2; exit 1; }
    rate=$("$LS" export latest --what summary --db "$TMP/t.db" | awk -F, '$1 == "-1" { print $4 }')
    echo "$1 $2 $(echo "$stats $attach" | awk '{ printf "%.1f %.1f", $4 / $2, ($4 + $8) / $2 }') $rate" \
         "$(echo "$stats $attach" | awk '{ printf "%.2f", $14 / $2 }')" >> "$TMP/results"
}

: > "$TMP/results"
n=$(echo "$CONFIGS" | wc -w)
round=1
while [ "$round" -le "$ROUNDS" ]; do
    order=$(echo "$CONFIGS" | tr ' ' '\n' | awk -v r="$round" -v n="$n" '{ a[NR] = $0 } END { for (i = 0; i < n; i++) print a[(i + r) % n + 1] }')
    for c in $order; do
        run "$round" "$c"
    done
    printf '.' >&2
    round=$((round + 1))
done
echo >&2

echo "Rust MCP server over stdio, closed loop of $CONCURRENCY, $DURATION per run, $ROUNDS rounds (medians)"
awk -v configs="$CONFIGS" '
function median(list,    a, k, i, j, t) {
    k = split(list, a, " ")
    for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
{ srv[$1, $2] = $3; obs[$1, $2] = $4; rate[$1, $2] = $5; csw[$2] = csw[$2] " " $6; rounds[$1] = 1 }
END {
    printf "%-13s %12s %7s %13s %7s %10s %7s %9s\n", "config", "srv us/req", "ratio", "+obs us/req", "ratio",
           "req/s", "ratio", "csw/req"
    nc = split(configs, c, " ")
    for (i = 1; i <= nc; i++) {
        sl = ""; sr = ""; ol = ""; or = ""; rl = ""; rr = ""
        for (r in rounds) {
            sl = sl " " srv[r, c[i]] / 1000; sr = sr " " srv[r, c[i]] / srv[r, "none"]
            ol = ol " " obs[r, c[i]] / 1000; or = or " " obs[r, c[i]] / obs[r, "none"]
            rl = rl " " rate[r, c[i]]; rr = rr " " rate[r, c[i]] / rate[r, "none"]
        }
        printf "%-13s %12.2f %6.3fx %13.2f %6.3fx %10.0f %6.3fx %9.2f\n", c[i], median(sl), median(sr),
               median(ol), median(or), median(rl), median(rr), median(csw[c[i]])
    }
}' "$TMP/results"
