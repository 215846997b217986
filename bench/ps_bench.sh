#!/usr/bin/env bash
# taskring-ps rows for the benchmark summary (tools/bench.sh runs this after taskring_bench,
# in the same run): how long taskring-ps takes on a process of 1,000,000 tasks, and how much
# listing a process in a loop slows it.
#
#   bench/ps_bench.sh [BUILD_DIR] [ROUNDS]      (default: build/release, 7)
#
# Rows (medians of ROUNDS runs, timed here with bash's EPOCHREALTIME; hyperfine is not used):
#   ps --count, 1M tasks        target < 0.1 s
#   ps listing, 1M tasks        to /dev/null; target < 1 s (the JVM: 4.5 s for 200,000 threads)
#   ps read floor, 1M tasks     the same-run floor: taskring-ps --floor reads the slot table and
#                               every record's first bytes as --count does, decoding nothing
#   churn while listed          a 1-loop process spawning and finishing tasks flat out: its
#                               rate while taskring-ps lists it in a loop, over its rate while an
#                               idle process runs beside it instead; alternating 1 s rounds,
#                               median of per-round ratios; target >= 0.98. Also paced: a
#                               listing then `sleep 0.2`, over the same loop without the
#                               listing (the harness's own forks in both); and over the rate
#                               while the same reader lists another process in the same loop
#                               (the CPU a listing takes, nothing of the churn's shared)
# The 1M target holds tasks that never run (ps_target unstarted: its loop is blocked in main),
# the cheapest way to hold a million: their records are what taskring-ps reads.
set -euo pipefail

build=${1:-build/release}
rounds=${2:-7}
ps=$build/taskring-ps
target=$build/tests/ps/ps_target
if [[ ! -x $ps || ! -x $target ]]; then
    echo "ps_bench: $ps or $target was not built (TASKRING_BUILD_TESTS off?): rows skipped"
    exit 0
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

start_target() { # MODE N -> sets tpid; waits for READY
    local fifo
    fifo=$(mktemp -u)
    mkfifo "$fifo"
    "$target" "$1" "$2" >"$fifo" &
    tpid=$!
    pids+=("$tpid")
    exec {fd}<"$fifo"
    rm -f "$fifo"
    local line
    while read -r -u "$fd" line; do
        [[ $line == READY* ]] && break
    done
    tfd=$fd
}

now() { echo "${EPOCHREALTIME/./}"; } # microseconds

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else printf "%.6f\n", (a[NR/2]+a[NR/2+1])/2}'; }

time_runs() { # ARGS... -> one line per run: seconds
    for ((i = 0; i < rounds; i++)); do
        local t0 t1
        t0=$(now)
        "$ps" "$@" >/dev/null
        t1=$(now)
        awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f\n", (b-a)/1e6}'
    done
}

start_target unstarted 1000000
big=$tpid
"$ps" --count "$big" >/dev/null # warm the reader's page cache
# alternate: count, listing, floor, in turn, so that load drifts alike over the three
count_t=() list_t=() floor_t=()
for ((r = 0; r < rounds; r++)); do
    rounds_saved=$rounds
    rounds=1
    count_t+=("$(time_runs --count "$big")")
    list_t+=("$(time_runs "$big")")
    floor_t+=("$(time_runs --floor "$big")")
    rounds=$rounds_saved
done
count_med=$(printf '%s\n' "${count_t[@]}" | median)
list_med=$(printf '%s\n' "${list_t[@]}" | median)
floor_med=$(printf '%s\n' "${floor_t[@]}" | median)
kill -9 "$big"

# churn: rounds of 1 s each, listed / idle beside, alternating; rates from the target itself.
# A second control, "other": the same reader, listing in the same loop a different process of
# 2,000 still tasks, so that it takes the CPU a listing takes and shares nothing with the churn.
start_target unstarted 2000
other=$tpid
start_target churn 2000
churn=$tpid
churn_fd=$tfd
rate() { # -> tasks finished per second since the previous call
    kill -USR1 "$churn"
    local line
    while read -r -u "$churn_fd" line; do
        [[ $line == RATE* ]] && { echo "${line#RATE }"; return; }
    done
}
rate >/dev/null
ratios=() paced_ratios=()
listed_rates=() idle_rates=() paced_rates=() pacedc_rates=() other_rates=() other_ratios=()
for ((r = 0; r < rounds; r++)); do
    for phase in listed idle other paced pacedc; do
        end=$((${EPOCHREALTIME/./} + 1000000)) # no $(now): a subshell is a fork
        if [[ $phase == listed ]]; then
            while ((${EPOCHREALTIME/./} < end)); do "$ps" "$churn" >/dev/null || true; done
            listed_rates+=("$(rate)")
        elif [[ $phase == other ]]; then
            while ((${EPOCHREALTIME/./} < end)); do "$ps" "$other" >/dev/null || true; done
            other_rates+=("$(rate)")
        elif [[ $phase == paced ]]; then
            while ((${EPOCHREALTIME/./} < end)); do
                "$ps" "$churn" >/dev/null || true
                sleep 0.2
            done
            paced_rates+=("$(rate)")
        elif [[ $phase == pacedc ]]; then # the same loop without the reader: its control
            while ((${EPOCHREALTIME/./} < end)); do
                true
                sleep 0.2
            done
            pacedc_rates+=("$(rate)")
        else
            sleep 1 & # the idle process beside it
            wait $!
            idle_rates+=("$(rate)")
        fi
    done
    ratios+=("$(awk -v a="${listed_rates[-1]}" -v b="${idle_rates[-1]}" 'BEGIN {printf "%.4f\n", a/b}')")
    other_ratios+=("$(awk -v a="${listed_rates[-1]}" -v b="${other_rates[-1]}" 'BEGIN {printf "%.4f\n", a/b}')")
    paced_ratios+=("$(awk -v a="${paced_rates[-1]}" -v b="${pacedc_rates[-1]}" 'BEGIN {printf "%.4f\n", a/b}')")
done
kill -0 "$other" 2>/dev/null || { echo "ps_bench: the 'other' control process died" >&2; exit 1; }
paced_med=$(printf '%s\n' "${paced_ratios[@]}" | median)
ratio_med=$(printf '%s\n' "${ratios[@]}" | median)
other_med=$(printf '%s\n' "${other_ratios[@]}" | median)
listed_med=$(printf '%s\n' "${listed_rates[@]}" | median)
idle_med=$(printf '%s\n' "${idle_rates[@]}" | median)

printf '\n==== taskring-ps rows (bench/ps_bench.sh, medians of %d alternating rounds)\n' "$rounds"
printf '%-34s %12s   %s\n' "row" "median" "target / same-run baseline"
printf '%-34s %10.3f s   %s\n' "ps --count, 1M tasks" "$count_med" "< 0.1 s; read floor $floor_med s"
printf '%-34s %10.3f s   %s\n' "ps listing, 1M tasks (/dev/null)" "$list_med" "< 1 s (JVM: 4.5 s for 200K)"
printf '%-34s %10.3f s   %s\n' "ps read floor, 1M tasks (--floor)" "$floor_med" "the reads alone, no decoding"
printf '%-34s %12s   %s\n' "churn rate listed / idle beside" "$ratio_med" \
    ">= 0.98 (listed $listed_med/s, idle $idle_med/s)"
printf '%-34s %12s   %s\n' "churn rate listed / other listed" "$other_med" \
    "the same reader listing another process of 2,000 tasks instead (same CPU, nothing shared)"
printf '%-34s %12s   %s\n' "churn rate listed 5/s / control" "$paced_med" \
    "a listing then sleep 0.2, over the same loop without the listing"
printf '(the churn rows share %s CPUs with the reader: back to back, the reader takes one)\n' "$(nproc)"
