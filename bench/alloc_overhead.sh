#!/bin/sh
# alloc_overhead.sh: how much loadscope's allocation tracer slows an
# allocation-heavy target, in each mode, against the same target untraced
# and under heaptrack, in one invocation.
#
# Targets (built here): fixtures/alloc/alloc_heavy.c (8 sites, call chains
# of depth up to 6, malloc/calloc/realloc of mixed sizes, a window of 256
# live blocks per thread) and fixtures/alloc/alloc_heavy.rs (std only: Vec
# growth, format!, HashMap inserts, Box, clone), each with and without frame
# pointers. Each target times its own work loop (monotonic clock from before
# its first thread starts to after the last is joined, and the CPU time of
# its work threads) and writes both to a file, so the ratios compare the work
# alone: no exec, no dynamic loading, no loadscope start-up or
# symbolization, no heaptrack post-processing. Columns: work (wall time of
# the work loop: the headline), cpu (CPU time of the work threads: steadier
# when other jobs share the machine; the tracer's own flush thread is not in
# it) and command (wall time of the whole command, start-up and exit
# included).
#
# Every round runs every configuration once, in an order rotated from round
# to round; a configuration's ratio is the median over rounds of
# (its work time / the untraced work time of the same target in the same
# round), so slow drifts of a shared machine fall on both sides.
#
# usage: bench/alloc_overhead.sh [BUILD_DIR]       (default: build)
# environment: ROUNDS (7), THREADS (1), ITER_C (2000000), ITER_RS (1000000),
#              TARGETS ("c rust"), HEAPTRACK (1: include heaptrack when installed),
#              KEEP_TMP (1: keep the raw results)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
case $BUILD in /*) ;; *) BUILD=$(pwd)/$BUILD ;; esac
LS=$BUILD/loadscope
ROUNDS=${ROUNDS:-7}
THREADS=${THREADS:-1}
ITER_C=${ITER_C:-2000000}
ITER_RS=${ITER_RS:-1000000}
TARGETS=${TARGETS:-c rust}
HEAPTRACK=${HEAPTRACK:-1}
[ -x "$LS" ] || { echo "no $LS: build first" >&2; exit 1; }
TMP=$(mktemp -d /tmp/alloc-bench-XXXXXX)
if [ "${KEEP_TMP:-0}" = 1 ]; then
    echo "raw results kept in $TMP"
else
    trap 'rm -rf "$TMP"' EXIT
fi

RUSTC=$(command -v rustc || true)
[ -n "$RUSTC" ] || { [ -x "$HOME/.cargo/bin/rustc" ] && RUSTC=$HOME/.cargo/bin/rustc; } || true
gcc -O2 -g -fno-omit-frame-pointer -pthread -o "$TMP/c_fp" "$ROOT/fixtures/alloc/alloc_heavy.c"
gcc -O2 -g -fomit-frame-pointer -pthread -o "$TMP/c_nofp" "$ROOT/fixtures/alloc/alloc_heavy.c"
case " $TARGETS " in *" rust "*)
    if [ -z "$RUSTC" ]; then
        echo "rustc not found (PATH or ~/.cargo/bin): Rust target skipped" >&2
        TARGETS=$(echo "$TARGETS" | sed 's/rust//')
    else
        "$RUSTC" -O -g -C force-frame-pointers=yes -o "$TMP/rust_fp" "$ROOT/fixtures/alloc/alloc_heavy.rs"
        "$RUSTC" -O -g -C force-frame-pointers=no -o "$TMP/rust_nofp" "$ROOT/fixtures/alloc/alloc_heavy.rs"
    fi ;;
esac
HT=
if [ "$HEAPTRACK" = 1 ]; then
    if command -v heaptrack >/dev/null 2>&1; then HT=1; else
        echo "heaptrack not installed (apt-get install heaptrack): its rows are skipped" >&2; fi
fi

# Configurations: "name|binary suffix|how to run". The untraced run of each
# binary is the baseline of the rows that run the same binary. "preload only"
# loads the shim with no loadscope to talk to, so it stays inactive: the
# hooks only forward to glibc, which is the floor every mode starts from.
CONFIGS="untraced|fp|plain
untraced|nofp|plain
preload only|fp|preload
count|fp|count
full|fp|full
sampled|fp|sampled
full|nofp|full
sampled|nofp|sampled"
[ -n "$HT" ] && CONFIGS="$CONFIGS
heaptrack|fp|heaptrack"

now_ns() { date +%s%N; }

# run TARGET SUFFIX HOW: one run; appends "round target suffix how work_ns cpu_ns wall_ns" to results.
run() {
    bin=$TMP/$1_$2
    iter=$ITER_C
    [ "$1" = rust ] && iter=$ITER_RS
    out=$TMP/work.txt
    rm -f "$out" "$TMP/t.db" "$TMP"/ht*
    t0=$(now_ns)
    case $3 in
    plain) "$bin" "$iter" "$THREADS" "$out" >/dev/null 2>&1 ;;
    preload) LD_PRELOAD=$BUILD/libloadscope-shim.so "$bin" "$iter" "$THREADS" "$out" >/dev/null 2>&1 ;;
    heaptrack) (cd "$TMP" && heaptrack -o "$TMP/ht" "$bin" "$iter" "$THREADS" "$out") >/dev/null 2>&1 ;;
    *) "$LS" trace --db "$TMP/t.db" --mode "$3" -- "$bin" "$iter" "$THREADS" "$out" >/dev/null 2>&1 ;;
    esac
    t1=$(now_ns)
    w=$(awk '/^work_ns/ {print $2, $4}' "$out" 2>/dev/null || true)
    if [ -z "$w" ]; then
        echo "$1 $2 $3: no work time written (the run failed)" >&2
        exit 1
    fi
    echo "$round $1 $2 $3 $w $((t1 - t0))" >> "$TMP/results"
}

: > "$TMP/results"
ncfg=$(echo "$CONFIGS" | wc -l)
round=1
while [ $round -le "$ROUNDS" ]; do
    for tgt in $TARGETS; do
        # rotate the order by the round number
        echo "$CONFIGS" | awk -v r="$round" -v n="$ncfg" '{ a[NR] = $0 } END { for (i = 0; i < n; i++) print a[(i + r) % n + 1] }' > "$TMP/order"
        while IFS='|' read -r name suffix how; do
            run "$tgt" "$suffix" "$how"
        done < "$TMP/order"
    done
    printf '.' >&2
    round=$((round + 1))
done
echo >&2

echo "allocation-heavy targets, $THREADS thread(s), $ROUNDS rounds; work = the target's own timing of its work loop"
echo "ratio = median over rounds of (time / untraced time of the same binary in the same round)"
for tgt in $TARGETS; do
    iter=$ITER_C
    [ "$tgt" = rust ] && iter=$ITER_RS
    echo
    echo "$tgt target, $iter iterations per thread:"
    printf '%-18s %9s %7s %9s %7s %9s %7s\n' configuration "work ms" "ratio" "cpu ms" "ratio" "command" "ratio"
    echo "$CONFIGS" | while IFS='|' read -r name suffix how; do
        label="$name, $suffix"
        [ "$name" = untraced ] && label="untraced, $suffix"
        awk -v t="$tgt" -v s="$suffix" -v h="$how" -v label="$label" '
            function median(v, n,   i, j, x) {
                for (i = 2; i <= n; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
                return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
            }
            $2 == t && $3 == s && $4 == "plain" { bw[$1] = $5; bc[$1] = $6; bl[$1] = $7 }
            $2 == t && $3 == s && $4 == h { w[$1] = $5; c[$1] = $6; l[$1] = $7 }
            END {
                n = 0
                for (r in w) {
                    n++; ws[n] = w[r]; cs[n] = c[r]; ls[n] = l[r]
                    rw[n] = w[r] / bw[r]; rc[n] = c[r] / bc[r]; rl[n] = l[r] / bl[r]
                }
                printf "%-18s %9.1f %6.2fx %9.1f %6.2fx %9.1f %6.2fx\n", label, median(ws, n) / 1e6, median(rw, n),
                       median(cs, n) / 1e6, median(rc, n), median(ls, n) / 1e6, median(rl, n)
            }' "$TMP/results"
    done
done
