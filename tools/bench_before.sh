#!/usr/bin/env bash
# The summary's "same loop vs before" rows measured against an older commit, in alternating
# runs: build that commit's taskring_bench in a temporary directory, then run it and this
# tree's build/release one in turn on the same-loop rows (spawn+run+finish, spawn+await,
# tr_yield, tr_queue ping-pong), each run 5 repetitions, and compare the medians of the runs;
# then count the same operations' instructions on both sides with callgrind
# (bench/same_loop_ops.c), which no noise moves.
#
#   tools/bench_before.sh [--rev=REV] [--rounds=N]     (about 15 s per round, + 30 s)
#
# REV defaults to the parent of the commit whose subject starts with "multiloop:" (the runtime
# before it had several loops); N to 5. Each run's JSON stays in build/release/before/
# (old-K.json, new-K.json): tools/bench.sh's summary then takes before/old-*.json as its
# baseline (delete the directory to go back to the previous run's JSON). The old build is kept
# in ${TMPDIR:-/tmp}/taskring-before-<commit> for the next call.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

rev='' rounds=5
for arg in "$@"; do
    case $arg in
    --rev=*) rev=${arg#--rev=} ;;
    --rounds=*) rounds=${arg#--rounds=} ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench_before.sh: unknown argument $arg" >&2; exit 2 ;;
    esac
done
if [[ -z $rev ]]; then
    multiloop=$(git log -n1 --format=%H --grep='^multiloop:')
    if [[ -z $multiloop ]]; then
        echo "bench_before.sh: no \"multiloop:\" commit in this branch's history: give --rev" >&2
        exit 2
    fi
    rev="$multiloop~1"
fi
sha=$(git rev-parse --verify "$rev^{commit}")

src=${TMPDIR:-/tmp}/taskring-before-${sha:0:12}
old=$src/build/bench/taskring_bench
if [[ ! -x $old ]]; then
    echo "bench_before.sh: building $(git log -1 --format='%h %s' "$sha" | cut -c1-80) in $src" >&2
    rm -rf "$src"
    mkdir -p "$src"
    git archive "$sha" | tar -x -C "$src"
    # The release preset's settings, without the tests.
    cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release -DTASKRING_BUILD_TESTS=OFF \
        -DTASKRING_BUILD_BENCH=ON -DTASKRING_WERROR=OFF >&2
    cmake --build "$src/build" -j2 --target taskring_bench >&2
fi
tools/setup.sh >&2
new=$root/build/release/bench/taskring_bench

out=$root/build/release/before
mkdir -p "$out"
rm -f "$out"/old-*.json "$out"/new-*.json
filter='^(task/spawn_run_release/k:1000|task/spawn_await_release/k:1000|task/yield_rtt|sync/queue_pingpong/maxsize:1)$'
run() { # side round
    local bin=$old
    [[ $1 == new ]] && bin=$new
    (cd "$out" && "$bin" --no_peer --no_go --benchmark_filter="$filter" \
        --benchmark_out="$1-$2.json" >/dev/null 2>&1)
}
for ((k = 1; k <= rounds; k++)); do
    echo "bench_before.sh: round $k of $rounds" >&2
    if ((k % 2)); then
        run old "$k"
        run new "$k"
    else # every other round the new build goes first: drift hits both alike
        run new "$k"
        run old "$k"
    fi
done
echo "before: $(git log -1 --format='%h %s' "$sha" | cut -c1-90)"
echo "after:  $(git log -1 --format='%h %s' | cut -c1-90)$(git diff --quiet HEAD -- runtime include || echo ' (+ uncommitted changes)')"
"$new" --tr-compare="$out/old-*.json:$out/new-*.json" || rc=$?

# The same operations counted in instructions (callgrind: no noise), with bench/same_loop_ops.c
# built against each side's libtaskring.a; per operation from the difference of N and 3N.
if command -v valgrind >/dev/null; then
    libs=(-luring -lboost_context -lpthread -ldl)
    flags=(-std=gnu17 -O2 -Wall -Wextra -Werror)
    cc "${flags[@]}" -I"$src/include" bench/same_loop_ops.c "$src/build/libtaskring.a" \
        "${libs[@]}" -o "$out/ops-old"
    cc "${flags[@]}" -Iinclude bench/same_loop_ops.c build/release/libtaskring.a "${libs[@]}" \
        -o "$out/ops-new"
    irs() { # side mode n
        valgrind --tool=callgrind --callgrind-out-file=/dev/null "$out/ops-$1" "$2" "$3" 2>&1 |
            awk '/Collected/ { print $4 }'
    }
    echo
    echo "instructions per operation (callgrind; difference of N and 3N):"
    printf '%-12s %10s %10s %8s\n' operation before after after/before
    for spec in spawn_run:20:1000 spawn_await:20:1000 yield:100000:1 queue:100000:1; do
        IFS=: read -r mode n per <<<"$spec" # per: operations per unit of n
        line=$mode
        for side in old new; do
            a=$(irs "$side" "$mode" "$n") b=$(irs "$side" "$mode" $((3 * n)))
            line+=" $(awk -v a="$a" -v b="$b" -v d=$((2 * n * per)) 'BEGIN { printf "%.1f", (b - a) / d }')"
        done
        awk '{ printf "%-12s %10s %10s %7.3fx\n", $1, $2, $3, $3 / $2 }' <<<"$line"
    done
fi
exit "${rc:-0}"
