#!/bin/sh
# alloc_ab.sh: compares two builds of the allocation tracer's shim on the
# allocation-heavy targets of alloc_overhead.sh, alternating them in one loop.
#
# usage: bench/alloc_ab.sh SHIM_A.so SHIM_B.so
#   e.g. git worktree add /tmp/old HEAD~1 && cmake -S /tmp/old -B /tmp/old/build && \
#        cmake --build /tmp/old/build && \
#        bench/alloc_ab.sh /tmp/old/build/libloadscope-shim.so build/libloadscope-shim.so
# environment: ROUNDS (9), MODES ("count sampled full"), TARGETS ("c rust"),
#              ITER_C (2000000), ITER_RS (1000000)
#
# The shims report to a socket that reads and discards (no loadscope), so the
# comparison is of the shims alone. Every round runs, per target, the untraced
# binary and then each mode under A and under B; a configuration's figure is
# its best work time over the rounds (the least disturbed run on a noisy
# machine), printed with its ratio to the best untraced time. Differences of
# a hundredth or two are within the noise of a 2-core machine: rerun before
# believing one.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[ $# -eq 2 ] || { sed -n '4,10p' "$0" >&2; exit 2; }
A=$(realpath "$1")
B=$(realpath "$2")
[ -f "$A" ] && [ -f "$B" ] || { echo "alloc_ab.sh: both shims must exist" >&2; exit 2; }
ROUNDS=${ROUNDS:-9}
MODES=${MODES:-count sampled full}
TARGETS=${TARGETS:-c rust}
ITER_C=${ITER_C:-2000000}
ITER_RS=${ITER_RS:-1000000}
TMP=$(mktemp -d /tmp/alloc-ab-XXXXXX)
SINK_PID=
cleanup() {
    [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

gcc -O2 -g -fno-omit-frame-pointer -pthread -o "$TMP/c" "$ROOT/fixtures/alloc/alloc_heavy.c"
case " $TARGETS " in *" rust "*)
    RUSTC=$(command -v rustc || echo "$HOME/.cargo/bin/rustc")
    "$RUSTC" -O -g -C force-frame-pointers=yes -o "$TMP/rust" "$ROOT/fixtures/alloc/alloc_heavy.rs" ;;
esac

# The socket the shims report to: accepts every connection and discards what it reads.
python3 - "$TMP/sink.sock" <<'EOF' &
import os, socket, sys, threading
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(16)
def drain(c):
    while c.recv(1 << 16):
        pass
while True:
    c, _ = s.accept()
    threading.Thread(target=drain, args=(c,), daemon=True).start()
EOF
SINK_PID=$!
while [ ! -S "$TMP/sink.sock" ]; do sleep 0.05; done

# one TARGET SHIM MODE: the work time in ns of one run (SHIM "-": untraced).
one() {
    iter=$ITER_C
    [ "$1" = rust ] && iter=$ITER_RS
    rm -f "$TMP/w"
    if [ "$2" = - ]; then
        "$TMP/$1" "$iter" 1 "$TMP/w" >/dev/null 2>&1
    else
        LOADSCOPE_SHIM_SOCKET=$TMP/sink.sock LOADSCOPE_SHIM_MODE=$3 LD_PRELOAD=$2 \
            "$TMP/$1" "$iter" 1 "$TMP/w" >/dev/null 2>&1
    fi
    awk '/^work_ns/ {print $2}' "$TMP/w"
}

: > "$TMP/results"
r=1
while [ "$r" -le "$ROUNDS" ]; do
    for t in $TARGETS; do
        echo "$t untraced - $(one "$t" - -)" >> "$TMP/results"
        for m in $MODES; do
            echo "$t $m A $(one "$t" "$A" "$m")" >> "$TMP/results"
            echo "$t $m B $(one "$t" "$B" "$m")" >> "$TMP/results"
        done
    done
    printf '.' >&2
    r=$((r + 1))
done
echo >&2

echo "best work time of $ROUNDS rounds; A = $A"
echo "                                     B = $B"
awk '
{ k = $1 " " $2 " " $3; if (!(k in best) || $4 < best[k]) best[k] = $4; if (!(k in seen)) { seen[k] = 1; order[n++] = k } }
END {
    printf "%-6s %-10s %-2s %10s %7s\n", "target", "mode", "", "work ms", "ratio"
    for (i = 0; i < n; i++) {
        split(order[i], f, " ")
        printf "%-6s %-10s %-2s %10.1f %6.3fx\n", f[1], f[2], f[3] == "-" ? "" : f[3],
               best[order[i]] / 1e6, best[order[i]] / best[f[1] " untraced -"]
    }
}' "$TMP/results"
