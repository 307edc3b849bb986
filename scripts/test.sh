#!/usr/bin/env bash
# The second README command: install what is missing, then build and run the
# whole test suite twice: a normal build with warnings as errors, and one under
# AddressSanitizer + UndefinedBehaviorSanitizer; then the unit tests and three
# short live runs under ThreadSanitizer; then the fuzz targets run briefly over
# their seeds. Tests start their own servers on 127.0.0.1.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc)
bash "$root/scripts/install-deps.sh"

results=$(mktemp /tmp/loadscope-ctest-XXXXXX)
trap 'rm -f "$results"' EXIT

# Runs ctest, keeping its "N% tests passed, F tests failed out of T" line for the total.
run_ctest() {
  ctest "$@" | tee -a "$results"
}

run_suite() {
  local dir=$1; shift
  echo "== build $dir ($*)"
  cmake -S "$root" -B "$root/$dir" -DLOADSCOPE_WERROR=ON "$@" >/dev/null
  cmake --build "$root/$dir" -j"$jobs"
  echo "== unit tests ($dir)"
  run_ctest --test-dir "$root/$dir" -L unit -j"$jobs" --output-on-failure
  echo "== integration tests ($dir)"
  run_ctest --test-dir "$root/$dir" -L integration --output-on-failure
}

run_suite build-ci -DCMAKE_BUILD_TYPE=RelWithDebInfo
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DLOADSCOPE_SANITIZE=ON

# ThreadSanitizer: the unit tests and three short live runs (scripts/tsan-pass.sh).
bash "$root/scripts/tsan-pass.sh" "$results"

if [ -x "$root/tests/fuzz/run.sh" ]; then
  echo "== fuzz targets"
  bash "$root/tests/fuzz/run.sh" "${LOADSCOPE_FUZZ_SECONDS:-15}"
fi
fuzzed=$(ls "$root"/tests/fuzz/fuzz_*.c | wc -l)
# One closing line for the whole run: every ctest test of both builds, plus the fuzz targets.
awk -v fz="$fuzzed" '/tests failed out of/ { total += $NF; failed += $(NF-5) }
  END { printf "%d passed, %d failed\n", total - failed + fz, failed }' "$results"
