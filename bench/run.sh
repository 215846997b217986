#!/usr/bin/env bash
# run.sh - configure, build and run taskring_bench (Release), then plot all_tasks.
#
# Usage: bench/run.sh [taskring_bench flags...]      e.g. bench/run.sh --quick
# Build dir: $BUILD_DIR (default build-bench). Results: $BUILD_DIR/taskring_bench.json,
# $BUILD_DIR/taskring_peer.json, docs/img/all_tasks.svg (when gnuplot is installed).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTASKRING_BUILD_TESTS=OFF \
    -DTASKRING_BUILD_BENCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target taskring_bench

cd "$build"
status=0
"$build/bench/taskring_bench" "$@" || status=$?

if command -v gnuplot >/dev/null 2>&1; then
    "$root/tools/plot_all_tasks.sh" "$build/taskring_bench.json" "$build/taskring_peer.json" ||
        true
else
    echo "gnuplot not installed: skipping docs/img/all_tasks.svg (apt-get install gnuplot-nox)"
fi
exit "$status"
