#!/bin/sh
# inside_overhead.sh: what the shim's inside-the-target hooks (connect, close,
# getaddrinfo, the blocking calls, read/write, locks, syscall, pthread_create;
# shim/shim_inside_hooks.c) cost a server under load.
#
# The target is fixtures/alloc/mcp_server.rs (built here), the Rust MCP server
# over stdio of bench/alloc_server.sh: every request passes the read and write
# hooks (its stdin and stdout), and nothing else of what the hooks time. The
# same loadscope traces it, in each allocation mode, with two shims:
#   base     the shim built here from shim/*.c without shim_inside_hooks.c
#            (same flags as CMake's), next to a copy of loadscope: the shim as
#            it was before the hooks, speaking the same wire version;
#   hooks    the build's shim, with every hook; the server's threads are no
#            async runtime workers (default LOADSCOPE_WORKER_THREADS);
#   worker   the build's shim with LOADSCOPE_WORKER_THREADS naming the
#            server's own thread: every read and write checks its fd (a pipe,
#            not a regular file: never timed). The worst case of a worker that
#            does no blocking call.
# Every round runs every configuration once, in an order rotated from round
# to round. It prints the medians over rounds of the server's CPU time per
# request (its own clock, the tracer's thread included) and of its user-space
# part, each with its ratio to base in the same mode and round, and the rate.
#
# usage: bench/inside_overhead.sh [BUILD_DIR]            (default: build)
# environment: ROUNDS (5), DURATION (3s), CONCURRENCY (32), MODES ("count full")
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
LS=$BUILD/loadscope
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-3s}
CONCURRENCY=${CONCURRENCY:-32}
MODES=${MODES:-count full}
[ -x "$LS" ] && [ -f "$BUILD/libloadscope-shim.so" ] || { echo "no $LS or its shim: build first" >&2; exit 1; }
RUSTC=$(command -v rustc || echo "$HOME/.cargo/bin/rustc")
[ -x "$RUSTC" ] || { echo "rustc not found (PATH or ~/.cargo/bin)" >&2; exit 1; }
TMP=$(mktemp -d /tmp/inside-overhead-XXXXXX)
trap 'rm -rf "$TMP"' EXIT

"$RUSTC" -O -g -C force-frame-pointers=yes -o "$TMP/server" "$ROOT/fixtures/alloc/mcp_server.rs"

# The shim without the hooks, built as CMake builds the real one (CMakeLists.txt's lsshim).
mkdir -p "$TMP/base"
cp "$LS" "$TMP/base/loadscope"
SRCS=$(ls "$ROOT"/shim/*.c | grep -v shim_inside_hooks.c)
# shellcheck disable=SC2086 # word lists
cc -std=c11 -O2 -g -fPIC -shared -fvisibility=hidden -fno-omit-frame-pointer -ftls-model=initial-exec \
    -fno-plt -D_GNU_SOURCE $(pkg-config --cflags libunwind) -o "$TMP/base/libloadscope-shim.so" \
    $SRCS $(pkg-config --libs libunwind) -lpthread -ldl -Wl,-z,now
nm -D --defined-only "$TMP/base/libloadscope-shim.so" | grep -qw connect &&
    { echo "the base shim exports connect: it has the hooks" >&2; exit 1; }

CONFIGS=""
for m in $MODES; do CONFIGS="$CONFIGS base-$m hooks-$m worker-$m"; done

cat > "$TMP/s.json" <<EOF
{"name": "rust mcp server", "target": {"transport": "stdio", "command": ["$TMP/server", "$TMP/stats"]},
 "load": {"model": "closed", "concurrency": $CONCURRENCY, "duration": "$DURATION", "warmup": "500ms"},
 "steps": [{"name": "echo", "method": "tools/call", "tool": "echo",
            "arguments": {"message": "hello \${seq}"}}]}
EOF

# run ROUND CONFIG: one run; appends "round config cpu_per_req_ns rate user_per_req_ns" to results.
run() {
    kind=${2%%-*}
    mode=${2#*-}
    rm -f "$TMP/stats" "$TMP/t.db"*
    bin=$LS
    workers=tokio-runtime-worker
    case $kind in
    base) bin=$TMP/base/loadscope ;;
    worker) workers=server ;;
    esac
    if ! (cd "$TMP" && LOADSCOPE_WORKER_THREADS=$workers "$bin" run "$TMP/s.json" --headless --quiet \
        --db "$TMP/t.db" --trace-allocations="$mode") >"$TMP/out" 2>&1; then
        echo "$2: loadscope run failed:" >&2
        tail -5 "$TMP/out" >&2
        exit 1
    fi
    stats=$(cat "$TMP/stats" 2>/dev/null || true)
    [ -n "$stats" ] || { echo "$2: the server wrote no statistics" >&2; exit 1; }
    rate=$("$LS" export latest --what summary --db "$TMP/t.db" | awk -F, '$1 == "-1" { print $4 }')
    echo "$1 $2 $(echo "$stats" | awk '{ printf "%.1f", $4 / $2 }') $rate $(echo "$stats" | awk '{ printf "%.1f", $6 / $2 }')" >> "$TMP/results"
}

: > "$TMP/results"
n=$(echo "$CONFIGS" | wc -w)
round=1
while [ "$round" -le "$ROUNDS" ]; do
    order=$(echo "$CONFIGS" | tr ' ' '\n' | grep . | awk -v r="$round" -v n="$n" '{ a[NR] = $0 } END { for (i = 0; i < n; i++) print a[(i + r) % n + 1] }')
    for c in $order; do
        run "$round" "$c"
    done
    printf '.' >&2
    round=$((round + 1))
done
echo >&2

echo "Rust MCP server over stdio, closed loop of $CONCURRENCY, $DURATION per run, $ROUNDS rounds (medians; ratios to base in the same mode and round)"
awk -v configs="$CONFIGS" '
function median(list,    a, k, i, j, t) {
    k = split(list, a, " ")
    for (i = 2; i <= k; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
{ cpu[$1, $2] = $3; rate[$1, $2] = $4; user[$1, $2] = $5; rounds[$1] = 1 }
END {
    printf "%-12s %12s %7s %13s %7s %10s %7s\n", "config", "cpu/req us", "ratio", "user/req us", "ratio",
           "req/s", "ratio"
    nc = split(configs, c, " ")
    for (i = 1; i <= nc; i++) {
        mode = c[i]; sub(/^[a-z]*-/, "", mode); b = "base-" mode
        cl = ""; cr = ""; ul = ""; ur = ""; rl = ""; rr = ""
        for (r in rounds) {
            cl = cl " " cpu[r, c[i]] / 1000; cr = cr " " cpu[r, c[i]] / cpu[r, b]
            ul = ul " " user[r, c[i]] / 1000; ur = ur " " user[r, c[i]] / user[r, b]
            rl = rl " " rate[r, c[i]]; rr = rr " " rate[r, c[i]] / rate[r, b]
        }
        printf "%-12s %12.2f %6.3fx %13.2f %6.3fx %10.0f %6.3fx\n", c[i], median(cl), median(cr),
               median(ul), median(ur), median(rl), median(rr)
    }
}' "$TMP/results"
