#!/usr/bin/env bash
# THE main job: the benchmark suite. Installs what is missing and builds Release in
# build/release (tools/setup.sh), then runs build/release/bench/taskring_bench with this
# script's arguments; it ends with a summary table.
#
#   tools/bench.sh [taskring_bench arguments...]      e.g. --quick, --no_peer, --no_go, --help
#                                                     (--no_ps: no taskring-ps rows)
#
# It also asks setup.sh for golang-go (--with-go), for the Go peer beside the queue ping-pong
# row; where it cannot be installed (not root, no network) the row says the peer was skipped.
# --no_go skips both the install and the peer.
#
# It runs in build/release, so its results land there (taskring_bench.json,
# taskring_peer.json; plot them with tools/plot_all_tasks.sh), and relative paths given as
# arguments are relative to build/release.
#
# The summary's "same loop vs before" rows compare this run with an earlier one: the runs of an
# older commit that tools/bench_before.sh leaves in build/release/before/old-*.json if there
# are any, else the previous run's taskring_bench.json, which this script first copies aside to
# taskring_bench.prev.json. --baseline=JSONS names others.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

setup_args=(--with-go)
for arg in "$@"; do
    [[ $arg == --no_go ]] && setup_args=()
done
tools/setup.sh "${setup_args[@]}" >&2 # build chatter to stderr: stdout is the benchmark's own

bench=bench/taskring_bench
cd build/release
if [[ ! -x $bench ]]; then
    echo "bench.sh: build/release/$bench was not built (TASKRING_BUILD_BENCH off?)" >&2
    exit 1
fi
baseline_given=0
for arg in "$@"; do
    [[ $arg == --baseline=* ]] && baseline_given=1
done
if ((!baseline_given)) && [[ -f taskring_bench.json ]]; then
    cp taskring_bench.json taskring_bench.prev.json
    echo "bench.sh: the previous run's JSON is in build/release/taskring_bench.prev.json" >&2
fi
# --no_ps is this script's: taskring_bench does not see it.
no_ps=0
bench_args=()
for arg in "$@"; do
    if [[ $arg == --no_ps ]]; then no_ps=1; else bench_args+=("$arg"); fi
done
rc=0
"./$bench" "${bench_args[@]}" || rc=$?
# taskring-ps on a 1M-task process and beside a churning one: rows after the summary table,
# from the same run (bench/ps_bench.sh).
if ((!no_ps)); then
    "$root/bench/ps_bench.sh" . || rc=$?
fi
# The all_tasks-vs-N plot in docs/ comes from this run's JSON (needs gnuplot); its chatter
# goes to stderr so that stdout still ends with the summary table.
if command -v gnuplot >/dev/null && [[ -f taskring_bench.json ]]; then
    ../../tools/plot_all_tasks.sh taskring_bench.json taskring_peer.json >&2 || true
fi
exit "$rc"
