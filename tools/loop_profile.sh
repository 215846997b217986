#!/usr/bin/env bash
# Where a cross-loop round trip's cost goes: instructions (callgrind) and syscalls, wake-ups and
# context switches (perf stat, software events and tracepoints only), per round trip, for the
# driver bench/loop_rtt.c (build/release/bench/taskring_loop_rtt). docs/performance.md
# ("Loops") quotes its output.
#
#   tools/loop_profile.sh [MODE...]
#       MODE: same spawn queue queue-prod msg_ring to_thread condvar (default: all of them)
#
# Each figure is the difference of two runs, N1 and N2 round trips (setup and teardown cancel
# out), divided by N2 - N1. Under valgrind the driver runs with bench/vg_uring_wait.c preloaded
# (valgrind 3.19 hangs a runtime of two loops otherwise); the instructions of its polling wait
# are left out (the inclusive cost of its two wrappers), so the count is the runtime's own
# user-space work per round trip: the kernel's side (io_uring_enter, the wake-ups) is what perf
# stat shows. Needs valgrind and perf; builds build/release first (tools/setup.sh).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
modes=("$@")
((${#modes[@]})) || modes=(same spawn queue queue-prod msg_ring to_thread condvar)
n1=${LOOP_PROFILE_N1:-1000} n2=${LOOP_PROFILE_N2:-3000}

tools/setup.sh >&2
bin=$root/build/release/bench/taskring_loop_rtt
preload=$root/build/release/bench/libtaskring_vg_wait.so
for f in "$bin" "$preload"; do
    [[ -e $f ]] || { echo "loop_profile.sh: $f was not built" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/loop_profile.XXXXXX")
trap 'rm -rf "$work"' EXIT

# callgrind MODE N -> $work/MODE.N.out
callgrind() {
    LD_PRELOAD=$preload timeout -s KILL 600 valgrind --tool=callgrind \
        --callgrind-out-file="$work/$1.$2.out" "$bin" "$1" "$2" >/dev/null 2>"$work/$1.$2.err" || {
        echo "loop_profile.sh: valgrind $1 $2 failed:" >&2
        tail -5 "$work/$1.$2.err" >&2
        exit 1
    }
}
# Cost per function ("cost<TAB>function [object]"; self, or with --inclusive=yes), the entries
# of one name (a function inlined from several files) added up.
costs() { # out-file [--inclusive=yes]
    callgrind_annotate --threshold=100 "${@:2}" "$1" 2>/dev/null |
        awk '/^-+$/ { sep++; next } sep == 6 && /^ *[0-9,]+ \(/ {
                 c = $1; gsub(",", "", c); sub(/^ *[0-9,]+ \([^)]*\) +/, "");
                 sub(/^[^ ]*:/, ""); sub(/\[.*\//, "["); cost[$0] += c }
             END { for (f in cost) print cost[f] "\t" f }'
}
total() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'; }
waits() { # inclusive cost of the preloaded wrappers (their polling waits)
    costs "$1" --inclusive=yes | awk -F'\t' '$2 ~ /io_uring_submit_and_wait.*vg_wait/ { s += $1 }
        END { print s + 0 }'
}

events=task-clock,context-switches,cpu-migrations,raw_syscalls:sys_enter
events+=,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_write,syscalls:sys_enter_futex
events+=,sched:sched_waking
# perf MODE N -> "event value" lines
perfstat() {
    perf stat -x, -e "$events" "$bin" "$1" "$2" 2>&1 >/dev/null |
        awk -F, 'NF > 3 && $1 ~ /^[0-9.]+$/ { print $3, $1 }'
}

for mode in "${modes[@]}"; do
    echo "==== $mode: per round trip (difference of $n1 and $n2 round trips) ===="
    callgrind "$mode" "$n1"
    callgrind "$mode" "$n2"
    a=$(($(total "$work/$mode.$n1.out") - $(waits "$work/$mode.$n1.out")))
    b=$(($(total "$work/$mode.$n2.out") - $(waits "$work/$mode.$n2.out")))
    awk -v a="$a" -v b="$b" -v d=$((n2 - n1)) \
        'BEGIN { printf "instructions (user space, without the waits): %.0f\n", (b - a) / d }'
    echo "  where they go (self cost per round trip, >= 20; the wrappers' polling left out):"
    join -t $'\t' -1 2 -2 2 -a 2 -e 0 -o 0,1.1,2.1 \
        <(costs "$work/$mode.$n1.out" | sort -t $'\t' -k2,2) \
        <(costs "$work/$mode.$n2.out" | sort -t $'\t' -k2,2) |
        awk -F'\t' -v d=$((n2 - n1)) '$1 !~ /vg_wait|sched_yield|clock_gettime|^syscall \[libc/ {
                 x = ($3 - $2) / d; if (x >= 20) printf "  %8.0f  %s\n", x, $1 }' |
        sort -rn | head -25
    echo "  kernel side (perf stat, natively; per round trip):"
    perfstat "$mode" "$n1" >"$work/p1"
    perfstat "$mode" "$n2" >"$work/p2"
    join <(sort "$work/p1") <(sort "$work/p2") |
        awk -v d=$((n2 - n1)) '{ v = ($3 - $2) / d;
                 if ($1 == "task-clock") printf "  %-40s %10.2f us CPU\n", $1, v * 1000;
                 else printf "  %-40s %10.2f\n", $1, v }'
done
