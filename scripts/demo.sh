#!/usr/bin/env bash
# The first README command: install what is missing, build loadscope, and run
# the bundled demo scenario (server-everything over stdio): with the dashboard
# on a terminal, headless otherwise.
# Extra arguments go to `loadscope run` (e.g. --duration 30s).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j"$(nproc)" >/dev/null
# On a terminal the run opens the live dashboard (q quits, the summary follows);
# elsewhere (CI, a pipe) it runs headless with progress lines.
if [ -t 0 ] && [ -t 1 ]; then
    exec "$root/build/loadscope" run "$root/fixtures/scenarios/demo.json" "$@"
fi
exec "$root/build/loadscope" run "$root/fixtures/scenarios/demo.json" --headless "$@"
