#!/usr/bin/env bash
# plot_all_tasks.sh - plot all_tasks cost per task against the number of live tasks, for taskring
# (tr_all_tasks and tr_all_tasks_fill from a non-loop thread, beside the same-run memcpy floor)
# and CPython asyncio (asyncio.all_tasks), log-log, as an SVG.
#
# Usage: tools/plot_all_tasks.sh [BENCH_JSON [PEER_JSON [OUT_SVG]]]
#   BENCH_JSON  taskring_bench --benchmark_out file (default: build-bench/taskring_bench.json,
#               else ./taskring_bench.json)
#   PEER_JSON   asyncio peer output (default: taskring_peer.json beside BENCH_JSON; optional:
#               without it the asyncio series is left out)
#   OUT_SVG     default: docs/img/all_tasks.svg
# Needs gnuplot and awk. Reads the median aggregates (or the single run when run without
# repetitions); per-task time = real_time / the benchmark's "items" counter.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if ! command -v gnuplot >/dev/null 2>&1; then
    echo "plot_all_tasks.sh: gnuplot not found." >&2
    echo "  Debian/Ubuntu: sudo apt-get install gnuplot-nox" >&2
    echo "  Fedora:        sudo dnf install gnuplot" >&2
    echo "  macOS:         brew install gnuplot" >&2
    exit 1
fi

bench=${1:-}
if [[ -z $bench ]]; then
    if [[ -f $root/build-bench/taskring_bench.json ]]; then
        bench=$root/build-bench/taskring_bench.json
    else
        bench=taskring_bench.json
    fi
fi
if [[ ! -f $bench ]]; then
    echo "plot_all_tasks.sh: no benchmark JSON at '$bench' (run taskring_bench first)" >&2
    exit 1
fi
peer=${2:-$(dirname "$bench")/taskring_peer.json}
out=${3:-$root/docs/img/all_tasks.svg}
mkdir -p "$(dirname "$out")"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# google-benchmark's JSON writes one key per line; collect each benchmark object's fields and
# print "series N ns_per_task" for the median (or sole) run of the series we plot.
awk -v dir="$tmp" '
function unit_ns(u) { return u == "us" ? 1e3 : u == "ms" ? 1e6 : u == "s" ? 1e9 : 1 }
function val(line) { sub(/^[^:]*:[ \t]*/, "", line); sub(/,[ \t]*$/, "", line); gsub(/"/, "", line); return line }
/^[ \t]*"run_name":/       { run = val($0) }
/^[ \t]*"run_type":/       { type = val($0) }
/^[ \t]*"aggregate_name":/ { agg = val($0) }
/^[ \t]*"repetitions":/    { reps = val($0) + 0 }
/^[ \t]*"real_time":/      { rt = val($0) + 0 }
/^[ \t]*"time_unit":/      { tu = val($0) }
/^[ \t]*"items":/          { items = val($0) + 0 }
/^[ \t]*"error_occurred":/ { err = val($0) }
/^[ \t]*}/ {
    if (run != "" && err != "true" && items > 0 &&
        ((type == "aggregate" && agg == "median") || (type == "iteration" && reps <= 1))) {
        series = ""
        if (run ~ /^all_tasks\/unstarted\/alloc\/n:[0-9]+$/) series = "alloc"
        else if (run ~ /^all_tasks\/unstarted\/fill\/n:[0-9]+$/) series = "fill"
        else if (run ~ /^all_tasks\/sleeping\/alloc\/n:[0-9]+$/) series = "sleeping"
        else if (run ~ /^floor\/memcpy_8B_x_N\/n:[0-9]+$/) series = "memcpy"
        if (series != "") {
            n = run; sub(/.*n:/, "", n)
            printf "%s %.6g\n", n, rt * unit_ns(tu) / items > (dir "/" series ".dat")
        }
    }
    run = type = agg = tu = err = ""; reps = rt = items = 0
}' "$bench"

have_peer=0
if [[ -f $peer ]]; then
    awk '/"all_tasks_ns_per_task_[0-9]+":/ {
        line = $0; gsub(/[",]/, "", line); split(line, kv, ":")
        key = kv[1]; gsub(/[ \t]/, "", key); sub(/all_tasks_ns_per_task_/, "", key)
        printf "%s %s\n", key, kv[2] + 0
    }' "$peer" >"$tmp/asyncio.dat"
    [[ -s $tmp/asyncio.dat ]] && have_peer=1
else
    echo "plot_all_tasks.sh: no peer JSON at '$peer': plotting taskring only" >&2
fi

for s in alloc fill sleeping memcpy; do
    [[ -f $tmp/$s.dat ]] && sort -n -o "$tmp/$s.dat" "$tmp/$s.dat"
done
if [[ ! -s $tmp/alloc.dat && ! -s $tmp/fill.dat ]]; then
    echo "plot_all_tasks.sh: no all_tasks results in '$bench'" >&2
    exit 1
fi
[[ $have_peer == 1 ]] && sort -n -o "$tmp/asyncio.dat" "$tmp/asyncio.dat"

plots=()
add() { [[ -s $tmp/$1.dat ]] && plots+=("'$tmp/$1.dat' using 1:2 $2"); return 0; }
add alloc "with linespoints lw 2 pt 7 ps 0.8 lc rgb '#1f77b4' title 'taskring tr\\_all\\_tasks (other thread)'"
add fill "with linespoints lw 2 pt 5 ps 0.8 lc rgb '#2ca02c' title 'taskring tr\\_all\\_tasks\\_fill (reused set)'"
add sleeping "with linespoints lw 1 pt 6 lc rgb '#17becf' title 'taskring tr\\_all\\_tasks, tasks in tr\\_sleep'"
add memcpy "with linespoints lw 1 pt 1 lc rgb '#7f7f7f' title 'memcpy floor (8 B per task)'"
[[ $have_peer == 1 ]] && add asyncio "with linespoints lw 2 pt 9 ps 0.8 lc rgb '#d62728' title 'CPython asyncio.all\\_tasks (loop thread)'"

plot_cmd=$(IFS=,; echo "${plots[*]}")
gnuplot <<EOF
set terminal svg size 820,600 dynamic enhanced font 'sans,11' background rgb 'white'
set output '$out'
set title 'all\_tasks cost per task vs live tasks (median of repetitions)'
set xlabel 'live tasks N'
set ylabel 'ns per task'
set logscale x 10
set logscale y 10
set xtics ('1' 1, '10' 10, '100' 100, '1K' 1e3, '10K' 1e4, '100K' 1e5, '1M' 1e6, '4M' 4e6)
set format y '%g'
set grid xtics ytics mxtics mytics lc rgb '#dddddd'
set key below box
set xrange [0.5:8e6]
plot $plot_cmd
EOF
echo "wrote $out"
