#!/bin/sh
# alloc_server.sh: what the allocation tracer costs a server under load.
#
# The target is fixtures/alloc/mcp_server.rs (built here): an MCP server over
# stdio written the way Rust MCP servers usually are, about 40 allocations a
# request (a JSON value tree per message, the response built as a tree and
# serialized into a String). loadscope drives it in a closed loop, untraced,
# with --trace-allocations in each mode and, when installed, under heaptrack
# (which launches the server itself: its own stdio passes through).
#
# Every round runs every configuration once, in an order rotated from round to
# round. Per configuration it prints the medians over rounds of: the server's
# CPU time per request (its own clock, the tracer's thread included) and its
# ratio to the untraced run of the same round, the user-space part of that CPU
# time and its ratio (the system part, mostly pipe reads, writes and
# wake-ups, varies with how requests happen to batch), the request rate
# loadscope measured and its ratio, and p50 and p99 latency. On this 2-core machine
# loadscope and the server share the cores, so the rate is the pair's; the
# CPU per request is the server's alone.
#
# usage: bench/alloc_server.sh [BUILD_DIR]            (default: build)
# environment: ROUNDS (5), DURATION (3s), CONCURRENCY (32),
#              MODES ("count sampled full"), HEAPTRACK (1: include it when installed)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
LS=$BUILD/loadscope
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-3s}
CONCURRENCY=${CONCURRENCY:-32}
MODES=${MODES:-count sampled full}
HEAPTRACK=${HEAPTRACK:-1}
[ -x "$LS" ] || { echo "no $LS: build first" >&2; exit 1; }
RUSTC=$(command -v rustc || echo "$HOME/.cargo/bin/rustc")
[ -x "$RUSTC" ] || { echo "rustc not found (PATH or ~/.cargo/bin)" >&2; exit 1; }
TMP=$(mktemp -d /tmp/alloc-server-XXXXXX)
trap 'rm -rf "$TMP"' EXIT

"$RUSTC" -O -g -C force-frame-pointers=yes -o "$TMP/server" "$ROOT/fixtures/alloc/mcp_server.rs"
CONFIGS="untraced"
for m in $MODES; do CONFIGS="$CONFIGS $m"; done
if [ "$HEAPTRACK" = 1 ]; then
    if command -v heaptrack >/dev/null 2>&1; then CONFIGS="$CONFIGS heaptrack"; else
        echo "heaptrack not installed (apt-get install heaptrack): its row is skipped" >&2; fi
fi

# scenario CONFIG: the scenario file for one configuration (heaptrack wraps the command).
scenario() {
    if [ "$1" = heaptrack ]; then
        cmd="[\"heaptrack\", \"-o\", \"$TMP/ht\", \"$TMP/server\", \"$TMP/stats\"]"
    else
        cmd="[\"$TMP/server\", \"$TMP/stats\"]"
    fi
    cat > "$TMP/s.json" <<EOF
{"name": "rust mcp server", "target": {"transport": "stdio", "command": $cmd},
 "load": {"model": "closed", "concurrency": $CONCURRENCY, "duration": "$DURATION", "warmup": "500ms"},
 "steps": [{"name": "echo", "method": "tools/call", "tool": "echo",
            "arguments": {"message": "hello \${seq}"}}]}
EOF
}

# run ROUND CONFIG: one run; appends "round config cpu_per_req_ns rate p50_us p99_us user_per_req_ns" to results.
run() {
    scenario "$2"
    rm -f "$TMP/stats" "$TMP/t.db"* "$TMP"/ht*
    how=
    case $2 in untraced | heaptrack) ;; *) how=--trace-allocations=$2 ;; esac
    # shellcheck disable=SC2086 # $how is one word or none
    if ! (cd "$TMP" && "$LS" run "$TMP/s.json" --headless --quiet --db "$TMP/t.db" $how) \
        >"$TMP/out" 2>&1; then
        echo "$2: loadscope run failed:" >&2
        tail -5 "$TMP/out" >&2
        exit 1
    fi
    stats=$(cat "$TMP/stats" 2>/dev/null || true)
    [ -n "$stats" ] || { echo "$2: the server wrote no statistics" >&2; exit 1; }
    # the all-steps row of the stored summary: rate, p50 and p99
    sum=$("$LS" export latest --what summary --db "$TMP/t.db" |
        awk -F, '$1 == "-1" { print $4, $7, $9 }')
    echo "$1 $2 $(echo "$stats" | awk '{ printf "%.1f", $4 / $2 }') $sum $(echo "$stats" | awk '{ printf "%.1f", $6 / $2 }')" >> "$TMP/results"
}

: > "$TMP/results"
n=$(echo "$CONFIGS" | wc -w)
round=1
while [ "$round" -le "$ROUNDS" ]; do
    # rotate the order by the round number
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
{ cpu[$1, $2] = $3; rate[$1, $2] = $4; p50[$2] = p50[$2] " " $5; p99[$2] = p99[$2] " " $6
  user[$1, $2] = $7; rounds[$1] = 1 }
END {
    printf "%-10s %12s %7s %13s %7s %12s %7s %8s %8s\n", "config", "cpu/req us", "ratio",
           "user/req us", "ratio", "req/s", "ratio", "p50 us", "p99 us"
    nc = split(configs, c, " ")
    for (i = 1; i <= nc; i++) {
        cl = ""; cr = ""; ul = ""; ur = ""; rl = ""; rr = ""
        for (r in rounds) {
            cl = cl " " cpu[r, c[i]] / 1000; cr = cr " " cpu[r, c[i]] / cpu[r, "untraced"]
            ul = ul " " user[r, c[i]] / 1000; ur = ur " " user[r, c[i]] / user[r, "untraced"]
            rl = rl " " rate[r, c[i]]; rr = rr " " rate[r, c[i]] / rate[r, "untraced"]
        }
        printf "%-10s %12.2f %6.2fx %13.2f %6.2fx %12.0f %6.2fx %8.0f %8.0f\n", c[i], median(cl),
               median(cr), median(ul), median(ur), median(rl), median(rr), median(p50[c[i]]),
               median(p99[c[i]])
    }
}' "$TMP/results"
