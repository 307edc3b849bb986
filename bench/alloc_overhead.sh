#!/bin/sh
# alloc_overhead.sh: throughput of an allocation-heavy target untraced, under
# each mode of loadscope's allocation tracer, and under heaptrack, as ratios
# of wall time against the untraced run of the same invocation (best of
# RUNS). The target is a C program (built here with and without frame
# pointers) whose call chains of depth 6 allocate and free mixed sizes from
# 8 sites, keeping a window of live blocks; THREADS threads run it at once.
#
# usage: bench/alloc_overhead.sh [BUILD_DIR]   (default: build)
#        ITER=2000000 THREADS=1 RUNS=3 bench/alloc_overhead.sh
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
LS=$BUILD/loadscope
ITER=${ITER:-2000000}
THREADS=${THREADS:-1}
RUNS=${RUNS:-3}
[ -x "$LS" ] || { echo "no $LS: build first" >&2; exit 1; }
TMP=$(mktemp -d /tmp/alloc-bench-XXXXXX)
trap 'rm -rf "$TMP"' EXIT

cat > "$TMP/heavy.c" <<'C'
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#define WINDOW 256
static long iters;
static void *volatile sink;
#define LEVEL(n, next) __attribute__((noinline)) static void *n(size_t s, int k) { void *p = next(s + 1, k); sink = p; return p; }
__attribute__((noinline)) static void *leaf(size_t s, int k) { return k & 1 ? malloc(s) : calloc(1, s); }
LEVEL(l5, leaf) LEVEL(l4, l5) LEVEL(l3, l4) LEVEL(l2, l3) LEVEL(l1, l2)
static void *work(void *arg) {
    void *win[WINDOW] = {0};
    unsigned x = (unsigned)(size_t)arg * 2654435761u + 1;
    for (long i = 0; i < iters; i++) {
        x = x * 1103515245u + 12345u;
        int k = (int)(x >> 16) & 7;
        size_t s = 16u << (k & 5);
        void *p;
        switch (k) {
        case 0: p = l1(s, k); break; case 1: p = l2(s, k); break;
        case 2: p = l3(s, k); break; case 3: p = l4(s, k); break;
        case 4: p = l5(s, k); break; case 5: p = leaf(s, k); break;
        case 6: p = realloc(malloc(s), 2 * s); break;
        default: p = l1(s * 3, k); break;
        }
        int slot = (int)(x >> 8) % WINDOW;
        free(win[slot]);
        win[slot] = p;
    }
    for (int i = 0; i < WINDOW; i++) free(win[i]);
    return NULL;
}
int main(int argc, char **argv) {
    iters = atol(argv[1]);
    int n = atoi(argv[2]);
    pthread_t t[64];
    for (int i = 0; i < n && i < 64; i++) pthread_create(&t[i], NULL, work, (void *)(size_t)(i + 1));
    for (int i = 0; i < n && i < 64; i++) pthread_join(t[i], NULL);
    return 0;
}
C
gcc -O2 -g -fno-omit-frame-pointer -pthread -o "$TMP/heavy_fp" "$TMP/heavy.c"
gcc -O2 -g -fomit-frame-pointer -pthread -o "$TMP/heavy_nofp" "$TMP/heavy.c"

now() { date +%s.%N; }
best() { # best wall time of RUNS runs of "$@"
    b=
    i=0
    while [ $i -lt "$RUNS" ]; do
        t0=$(now); "$@" >/dev/null 2>&1; t1=$(now)
        t=$(echo "$t1 - $t0" | bc -l)
        if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then b=$t; fi
        i=$((i + 1))
    done
    echo "$b"
}
DB=$TMP/bench.db
base=$(best "$TMP/heavy_fp" "$ITER" "$THREADS")
base_nofp=$(best "$TMP/heavy_nofp" "$ITER" "$THREADS")
row() { printf '%-34s %8.3f s  %6.2fx\n' "$1" "$2" "$(echo "$2 / $3" | bc -l)"; }
echo "allocation-heavy target: $ITER iterations x $THREADS thread(s), best of $RUNS"
row "untraced (frame pointers)" "$base" "$base"
row "untraced (no frame pointers)" "$base_nofp" "$base_nofp"
row "loadscope count" "$(best "$LS" trace --db "$DB" --mode count -- "$TMP/heavy_fp" "$ITER" "$THREADS")" "$base"
row "loadscope full, frame pointers" "$(best "$LS" trace --db "$DB" --mode full -- "$TMP/heavy_fp" "$ITER" "$THREADS")" "$base"
row "loadscope sampled (512 KiB)" "$(best "$LS" trace --db "$DB" --mode sampled -- "$TMP/heavy_fp" "$ITER" "$THREADS")" "$base"
row "loadscope full, libunwind (no fp)" "$(best "$LS" trace --db "$DB" --mode full -- "$TMP/heavy_nofp" "$ITER" "$THREADS")" "$base_nofp"
if command -v heaptrack >/dev/null 2>&1; then
    row "heaptrack" "$(best sh -c "cd '$TMP' && heaptrack -o '$TMP/ht' '$TMP/heavy_fp' $ITER $THREADS")" "$base"
else
    echo "heaptrack: not installed (apt-get install heaptrack)"
fi
