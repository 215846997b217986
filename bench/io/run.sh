#!/usr/bin/env bash
# bench/io/run.sh - taskring's example servers against the usual peers, on loopback:
#
#   1. HTTP: examples/http_server.c vs nginx (one worker), wrk -t1 -c64 -d10s --latency;
#   2. echo: examples/echo_server.c vs bench/io/echo_epoll.c, bench/io/loadgen.c with 64
#      connections, 64-byte and 4 KiB messages;
#   3. 10,000 concurrent connections against echo_server: all served? server RSS?
#   5. (EPOLL=1, the default) the epoll backend: http_server with TASKRING_BACKEND=epoll vs
#      http_server on io_uring vs nginx (one worker), the three alternating in each rep (server
#      CPU per request is the row that matters: target epoll <= 1.1x nginx); echo_server with
#      TASKRING_BACKEND=epoll vs echo_epoll (target >= 0.95x), pinned as in 1.-3.;
#   4. LOOPS (2) loops: http_server --loops 2 vs nginx with 2 workers, echo_server --loops 2
#      vs echo_epoll (one thread, as in 2.), the same clients; server CPU per request beside
#      requests/s. Nothing is pinned here (a server of two threads cannot be pinned to one
#      core), so on a 2-core machine the client competes with the server for the cores.
#
# In 1.-3. every server runs pinned to one core (SERVER_CPU) and every client to the other
# (CLIENT_CPU). Each measurement is repeated REPS times, the two contenders alternating, and
# the medians are reported (each metric's median on its own). Ends with markdown tables.
#
#   bench/io/run.sh
#
# Knobs (environment): REPS=3 DURATION=10 (seconds per measurement) CONNS=64 BODY=4096
#   BIG_CONNS=10000 SERVER_CPU=1 CLIENT_CPU=0 LOOPS=2 (0 or 1: no section 4) EPOLL=1 (0: no
#   section 5)
#   KEEP=1 (keep the raw logs)
#   QUICK=1: REPS=1 DURATION=2 BIG_CONNS=1000, to check the script itself.
#
# Shared machines: before each measurement the script waits (up to QUIET_WAIT=60 s) until
# other processes use less than NOISE_PCT=10 % of a core, and afterwards it works out how much
# CPU others took during the run (the machine's busy time from /proc/stat minus the server's,
# the client's and the kernel's softirq threads'). A run disturbed by more than NOISE_PCT is
# done again, up to RETRIES=3 times; each result line shows its `noise`.
#
# First installs the Debian packages it needs where missing (tools/setup.sh --no-build
# --with-io-bench: apt only, as root; quick when all are there), then builds what it needs
# (Release): the library in build-srv, installed into build-bench-io/prefix, the servers as a
# separate CMake project (examples/servers) through find_package(taskring), echo_epoll and
# loadgen with cc. Everything stops by itself; servers
# are stopped with SIGTERM (their exit status is checked) and killed on any early exit.
# Exit status: 0 when every run completed correctly (targets missed or not), 1 otherwise.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=$root/build-bench-io
if [[ ${QUICK:-0} == 1 ]]; then
    : "${REPS:=1}" "${DURATION:=2}" "${BIG_CONNS:=1000}"
fi
REPS=${REPS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
BODY=${BODY:-4096}
BIG_CONNS=${BIG_CONNS:-10000}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
LOOPS=${LOOPS:-2}
QUIET_WAIT=${QUIET_WAIT:-60}
NOISE_PCT=${NOISE_PCT:-10}
RETRIES=${RETRIES:-3}
ECHO_SIZES=(64 4096)
EPOLL=${EPOLL:-1}

say() { printf '%s\n' "$*"; }
elapsed() { printf '%d:%02d' $((SECONDS / 60)) $((SECONDS % 60)); } # since the script started
step() { printf '\n== %s  [%s]\n' "$*" "$(elapsed)"; }
die() {
    printf 'run.sh: %s\n' "$*" >&2
    exit 1
}
problems=0
problem() {
    printf 'run.sh: PROBLEM: %s\n' "$*" >&2
    problems=$((problems + 1))
}

# What it needs (the build's packages, nginx, wrk, curl, time): Debian packages through
# tools/setup.sh, which installs only what is missing (as root; otherwise it prints the
# apt-get command) and keeps the nginx package's own system service stopped and disabled.
step "packages: tools/setup.sh --no-build --with-io-bench"
"$root/tools/setup.sh" --no-build --with-io-bench ||
    die "tools/setup.sh --with-io-bench could not provide what this script needs"
for tool in cmake cc taskset wrk curl /usr/sbin/nginx /usr/bin/time pgrep; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
(($(nproc) >= 2)) || die "needs two cores (server and client pinned apart)"
if ! [[ $LOOPS =~ ^[0-9]+$ ]] || ((LOOPS > 256)); then
    die "LOOPS=$LOOPS: not a number of loops (0..256)"
fi
# How servers and clients are started: pinned apart, except in section 4.
server_pin=(taskset -c "$SERVER_CPU")
client_pin=(taskset -c "$CLIENT_CPU")

# ---- build ------------------------------------------------------------------------------------
step "build (Release)"
# Warnings are not errors in this build, as in the "release" preset: an optimised build can
# warn where the Debug build (tools/test.sh, -Werror) does not, and the measurement should
# not depend on that. Configured every time, so that an older build-srv gets it too (quick).
cmake -S "$root" -B "$root/build-srv" -DCMAKE_BUILD_TYPE=Release -DTASKRING_WERROR=OFF \
    -DTASKRING_BUILD_TESTS=OFF -DTASKRING_BUILD_BENCH=OFF >/dev/null
cmake --build "$root/build-srv" -j2 >/dev/null
cmake --install "$root/build-srv" --prefix "$out/prefix" >/dev/null
if [[ ! -f $out/servers/CMakeCache.txt ]]; then
    cmake -S "$root/examples/servers" -B "$out/servers" -DCMAKE_PREFIX_PATH="$out/prefix" \
        -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$out/servers" -j2 >/dev/null
mkdir -p "$out/bin"
for prog in echo_epoll loadgen; do
    if [[ ! -x $out/bin/$prog || $root/bench/io/$prog.c -nt $out/bin/$prog ]]; then
        cc -std=c17 -O2 -Wall -Wextra -Werror -pthread "$root/bench/io/$prog.c" -o "$out/bin/$prog"
    fi
done
http_server=$out/servers/http_server
echo_server=$out/servers/echo_server
echo_epoll=$out/bin/echo_epoll
loadgen=$out/bin/loadgen
say "servers: $out/servers  tools: $out/bin  library: $out/prefix"

# ---- processes --------------------------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/taskring-io.XXXXXX")
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ ${KEEP:-0} == 1 ]]; then
        printf 'raw logs kept in %s\n' "$tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Enough descriptors for BIG_CONNS on each side of the 10k test (inherited by everything).
want_nofile=$((BIG_CONNS + 1024))
if (($(ulimit -n) < want_nofile)); then
    hard=$(ulimit -Hn)
    [[ $hard == unlimited ]] || ((hard >= want_nofile)) || want_nofile=$hard
    ulimit -n "$want_nofile"
fi

alive() { # PID: running (not exited, not a zombie)?
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ $state != Z ]]
}

# start_server LOG CMD...: start CMD (pinned to SERVER_CPU, see server_pin); wait for
# "listening on ...:PORT".
# Sets server_pid and server_port.
start_server() {
    local log=$1
    shift
    : >"$log"
    "${server_pin[@]}" "$@" >>"$log" 2>&1 &
    server_pid=$!
    pids+=("$server_pid")
    server_port=
    local i
    for ((i = 0; i < 100; i++)); do
        server_port=$(sed -n 's/^listening on .*:\([0-9][0-9]*\)$/\1/p' "$log" || true)
        [[ -n $server_port ]] && return 0
        alive "$server_pid" || break
        sleep 0.05
    done
    cat "$log" >&2
    die "$* did not start"
}

# stop_server PID NAME: SIGTERM, wait (bounded) and check that it exited 0.
stop_server() {
    local pid=$1 name=$2 i rc=0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        problem "$name did not stop within 10 s of SIGTERM: killed"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" || rc=$?
    local kept=() p
    for p in "${pids[@]}"; do
        [[ $p == "$pid" ]] || kept+=("$p")
    done
    pids=("${kept[@]}")
    if ((rc == 0)); then
        say "$name: stopped by SIGTERM, exit status 0"
    else
        problem "$name exited with status $rc after SIGTERM"
    fi
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# ---- noise: other processes on this shared machine -------------------------------------------
hz=$(getconf CLK_TCK)
# Busy CPU time of the machine, in clock ticks: user + nice + system + irq + softirq (a tick
# spent in a softirq is also charged to the process it interrupted, as system time).
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8; exit}' /proc/stat; }
# Loopback packets are ours: so is the softirq work the kernel defers to its threads.
mapfile -t ksoftirqd_pids < <(pgrep -x 'ksoftirqd/[0-9]+' || true)
# CPU time (ticks) of the given processes and their children (nginx's worker).
proc_ticks() {
    local pid sum=0 t children
    (($# > 0)) || {
        echo 0
        return
    }
    mapfile -t children < <(pgrep -P "$(IFS=,; echo "$*")" || true)
    for pid in "$@" "${children[@]}"; do
        t=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
        sum=$((sum + t))
    done
    echo "$sum"
}
# Wait (bounded) until the machine is quiet: with our servers idle, whatever runs is others'.
wait_quiet() {
    local waited=0 b0 b1 pct
    while :; do
        b0=$(busy_ticks)
        sleep 1
        b1=$(busy_ticks)
        pct=$(((b1 - b0) * 100 / hz))
        ((pct <= NOISE_PCT)) && return 0
        if ((waited == 0)); then
            say "    (machine busy: others use ${pct}% of a core; waiting up to ${QUIET_WAIT}s)"
        fi
        waited=$((waited + 1))
        if ((waited >= QUIET_WAIT)); then
            say "    (still busy after ${QUIET_WAIT}s: measuring anyway)"
            return 0
        fi
    done
}

# measure OUT SERVER_PID -- CMD...: run the client CMD (stdout to OUT, stderr to OUT.err) on
# a quiet machine; sets noise (others' CPU during the run, % of one core), cpu_use, srv_ticks,
# wall_ns and measure_rc. Runs again, up to RETRIES times, while the noise exceeds NOISE_PCT.
measure() {
    local out_file=$1 server_pid=$2 attempt b0 b1 s0 s1 k0 k1 t0 t1 client
    shift 3
    for ((attempt = 0; ; attempt++)); do
        wait_quiet
        b0=$(busy_ticks)
        s0=$(proc_ticks "$server_pid")
        k0=$(proc_ticks "${ksoftirqd_pids[@]}")
        t0=$(date +%s%N)
        measure_rc=0
        /usr/bin/time -f '%U %S' -o "$tmp/time.out" "$@" >"$out_file" 2>"$out_file.err" ||
            measure_rc=$?
        t1=$(date +%s%N)
        s1=$(proc_ticks "$server_pid")
        k1=$(proc_ticks "${ksoftirqd_pids[@]}")
        b1=$(busy_ticks)
        client=$(tail -n 1 "$tmp/time.out" | awk -v hz="$hz" '{printf "%d", ($1 + $2) * hz}')
        noise=$(awk -v busy=$((b1 - b0 - (k1 - k0))) -v srv=$((s1 - s0)) -v cl="$client" -v hz="$hz" \
            -v ns=$((t1 - t0)) 'BEGIN {v = (busy - srv - cl) * 100 / hz / (ns / 1e9);
                                      printf "%d", v < 0 ? 0 : v}')
        srv_ticks=$((s1 - s0)) wall_ns=$((t1 - t0))
        # How busy each side was: near 100% means that side limits the throughput.
        cpu_use=$(awk -v srv=$((s1 - s0)) -v cl="$client" -v hz="$hz" -v ns=$((t1 - t0)) \
            'BEGIN {s = ns / 1e9 * hz; printf "server_cpu=%d%% client_cpu=%d%%", srv * 100 / s,
                   cl * 100 / s}')
        if ((noise <= NOISE_PCT || attempt >= RETRIES)); then
            ((noise <= NOISE_PCT)) || say "    (noise ${noise}% in every attempt: keeping the last)"
            noisiest=$((noise > noisiest ? noise : noisiest))
            return 0
        fi
        say "    (others used ${noise}% of a core during the run: measuring again)"
    done
}
noisiest=0
# Server CPU time per operation (us) at RATE operations/s over the last measurement: the
# server's cost, whichever side limits the throughput.
cpu_per_op() {
    awk -v t="$srv_ticks" -v hz="$hz" -v ns="$wall_ns" -v r="$1" \
        'BEGIN {if (r > 0) printf "%.2f", t / hz * 1e6 / (r * ns / 1e9); else print 0}'
}

# A free TCP port on 127.0.0.1 from a range (nginx needs one given to it).
free_port() {
    local p
    for ((p = 18080; p < 18180; p++)); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    die "no free port in 18080-18179"
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}'; }
# wrk latency "512.00us" / "1.23ms" / "2.00s" -> microseconds
to_us() {
    awk '{v = $1 + 0; if ($1 ~ /ms$/) v *= 1000; else if ($1 ~ /[0-9]s$/) v *= 1000000;
          printf "%.1f", v}'
}
field() { # KEY LINE: the value of KEY=value in a loadgen line
    sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"
}

# wrk_once PORT NAME SERVER_PID: one wrk run; appends rps, p50, p99 to NAME_rps, ...
wrk_once() {
    local port=$1 name=$2 log=$tmp/wrk.$2.$RANDOM.txt
    measure "$log" "$3" -- timeout $((DURATION + 30)) "${client_pin[@]}" \
        wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "http://127.0.0.1:$port/"
    ((measure_rc == 0)) || {
        cat "$log" "$log.err" >&2
        problem "wrk against $name failed ($measure_rc)"
    }
    local rps p50 p99
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$log")
    p50=$(awk '$1 == "50%" {print $2}' "$log" | to_us)
    p99=$(awk '$1 == "99%" {print $2}' "$log" | to_us)
    if grep -qE 'Socket errors|Non-2xx' "$log"; then
        problem "wrk against $name: $(grep -E 'Socket errors|Non-2xx' "$log" | tr -s ' ' | tr '\n' ';')"
    fi
    local per_op
    per_op=$(cpu_per_op "$rps")
    say "  $name: requests/s=$rps p50_us=$p50 p99_us=$p99 $cpu_use server_us_per_req=$per_op" \
        "noise=$noise%"
    eval "${name}_rps+=(\"\$rps\") ${name}_p50+=(\"\$p50\") ${name}_p99+=(\"\$p99\")"
    eval "${name}_cpu+=(\"\$per_op\")"
}

# loadgen_once PORT NAME SERVER_PID CONNS SIZE SECONDS [loadgen args]: prints the loadgen
# line and leaves it in $lg_line.
loadgen_once() {
    local port=$1 name=$2 srv_pid=$3 conns=$4 size=$5 secs=$6
    shift 6
    measure "$tmp/loadgen.out" "$srv_pid" -- timeout $((secs + 90)) "${client_pin[@]}" \
        "$loadgen" --port "$port" --connections "$conns" --size "$size" --seconds "$secs" "$@"
    lg_line=$(cat "$tmp/loadgen.out")
    lg_per_op=$(cpu_per_op "$(field msgs_per_s "$lg_line")")
    say "  $name: ${lg_line#loadgen: } $cpu_use server_us_per_msg=$lg_per_op noise=$noise%"
    if ((measure_rc != 0)); then
        cat "$tmp/loadgen.out.err" >&2
        problem "loadgen against $name: exit status $measure_rc"
    fi
}

# start_nginx WORKERS: nginx from bench/io/nginx.conf.in with WORKERS worker processes, on a
# free port, started like the other servers (server_pin). Sets nginx_pid and nginx_port.
start_nginx() {
    local workers=$1 dir=$tmp/nginx.$1 conf sets='' vars='' part=0 left n i
    nginx_port=$(free_port)
    mkdir -p "$dir"
    conf=$(<"$root/bench/io/nginx.conf.in")
    for ((left = BODY; left > 0; left -= 2048, part++)); do
        n=$((left < 2048 ? left : 2048))
        sets+="        set \$body$part \"$(head -c "$n" /dev/zero | tr '\0' x)\";"$'\n'
        vars+="\$body$part"
    done
    conf=${conf//@TMP@/$dir}
    conf=${conf//@PORT@/$nginx_port}
    conf=${conf//@WORKERS@/$workers}
    conf=${conf//@BODY_SIZE@/$BODY}
    conf=${conf//@BODY_PARTS@/$part}
    conf=${conf//@BODY_SETS@/$sets}
    conf=${conf//@BODY_VARS@/$vars}
    printf '%s\n' "$conf" >"$dir/nginx.conf"
    "${server_pin[@]}" /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" >"$dir/stdout.log" 2>&1 &
    nginx_pid=$!
    pids+=("$nginx_pid")
    for ((i = 0; i < 100; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$nginx_port") 2>/dev/null && break
        alive "$nginx_pid" || break
        sleep 0.05
    done
    alive "$nginx_pid" || {
        cat "$dir/stdout.log" "$dir/error.log" >&2 || true
        die "nginx did not start"
    }
}

# check_bodies NAME PORT NAME PORT...: the same body from every HTTP server (and a look at
# the heads, which differ: nginx adds Server/Date/...).
check_bodies() {
    local name port size head_len
    while (($# >= 2)); do
        name=$1 port=$2
        shift 2
        size=$(curl -s -o /dev/null -w '%{size_download} %{http_code}' "http://127.0.0.1:$port/")
        head_len=$(curl -s -D - -o /dev/null "http://127.0.0.1:$port/" | wc -c)
        say "  $name on port $port: body bytes, status = $size; response head $head_len bytes"
        [[ $size == "$BODY 200" ]] || problem "$name answered '$size', expected '$BODY 200'"
    done
}
# nginx's RSS: master and workers (KiB).
nginx_rss_kb() {
    echo $(($(rss_kb "$1") + $(pgrep -P "$1" | while read -r c; do rss_kb "$c"; done |
        awk '{s += $1} END {print s + 0}')))
}

# ---- 1. HTTP: http_server vs nginx -------------------------------------------------------------
step "HTTP: http_server vs nginx (1 worker): wrk -t1 -c$CONNS -d${DURATION}s --latency, body $BODY B, x$REPS"
start_server "$tmp/http_server.log" "$http_server" --port 0 --body-size "$BODY"
http_pid=$server_pid
http_port=$server_port
start_nginx 1
check_bodies http_server "$http_port" nginx "$nginx_port"

say "  warm-up (2 s each, not counted)"
timeout 40 "${client_pin[@]}" wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$http_port/" >/dev/null
timeout 40 "${client_pin[@]}" wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$nginx_port/" >/dev/null
taskring_http_rps=() taskring_http_p50=() taskring_http_p99=() taskring_http_cpu=()
nginx_rps=() nginx_p50=() nginx_p99=() nginx_cpu=() http_pairs=()
for ((rep = 1; rep <= REPS; rep++)); do
    say " rep $rep/$REPS"
    wrk_once "$http_port" taskring_http "$http_pid"
    wrk_once "$nginx_port" nginx "$nginx_pid"
    # The two runs of a rep are minutes apart at most: their ratio is the fairest one.
    http_pairs+=("$(ratio "${taskring_http_rps[-1]}" "${nginx_rps[-1]}")")
done
say "  server RSS after the runs: http_server $(rss_kb "$http_pid") KiB, nginx master+worker" \
    "$(nginx_rss_kb "$nginx_pid") KiB"
stop_server "$http_pid" http_server
stop_server "$nginx_pid" nginx

h_rps=$(median "${taskring_http_rps[@]}") h_p50=$(median "${taskring_http_p50[@]}")
h_p99=$(median "${taskring_http_p99[@]}")
n_rps=$(median "${nginx_rps[@]}") n_p50=$(median "${nginx_p50[@]}") n_p99=$(median "${nginx_p99[@]}")
http_pair=$(median "${http_pairs[@]}")
h_cpu=$(median "${taskring_http_cpu[@]}") n_cpu=$(median "${nginx_cpu[@]}")
say "  medians: http_server $h_rps req/s p50 ${h_p50}us p99 ${h_p99}us | nginx $n_rps req/s" \
    "p50 ${n_p50}us p99 ${n_p99}us | ratio $(ratio "$h_rps" "$n_rps"); per-rep ratios" \
    "${http_pairs[*]} (median $http_pair)"

# ---- 2. echo: echo_server vs echo_epoll --------------------------------------------------------
step "echo: echo_server vs echo_epoll: loadgen $CONNS connections, ${ECHO_SIZES[*]}-byte messages, ${DURATION}s (+1 s warm-up), x$REPS"
start_server "$tmp/echo_server.log" "$echo_server" --port 0
es_pid=$server_pid es_port=$server_port
start_server "$tmp/echo_epoll.log" "$echo_epoll" --port 0
ee_pid=$server_pid ee_port=$server_port
declare -A echo_med
for size in "${ECHO_SIZES[@]}"; do
    say " size $size B"
    timeout 60 "${client_pin[@]}" "$loadgen" --port "$es_port" --connections "$CONNS" \
        --size "$size" --seconds 1 >/dev/null # warm-up
    timeout 60 "${client_pin[@]}" "$loadgen" --port "$ee_port" --connections "$CONNS" \
        --size "$size" --seconds 1 >/dev/null
    es_rate=() es_p50=() es_p99=() ee_rate=() ee_p50=() ee_p99=() pairs=() es_cpu=() ee_cpu=()
    for ((rep = 1; rep <= REPS; rep++)); do
        loadgen_once "$es_port" echo_server "$es_pid" "$CONNS" "$size" "$DURATION" --warmup 1
        es_rate+=("$(field msgs_per_s "$lg_line")") es_p50+=("$(field p50_us "$lg_line")")
        es_p99+=("$(field p99_us "$lg_line")") es_cpu+=("$lg_per_op")
        loadgen_once "$ee_port" echo_epoll "$ee_pid" "$CONNS" "$size" "$DURATION" --warmup 1
        ee_rate+=("$(field msgs_per_s "$lg_line")") ee_p50+=("$(field p50_us "$lg_line")")
        ee_p99+=("$(field p99_us "$lg_line")") ee_cpu+=("$lg_per_op")
        pairs+=("$(ratio "${es_rate[-1]}" "${ee_rate[-1]}")")
    done
    echo_med[pair_$size]=$(median "${pairs[@]}")
    echo_med[es_cpu_$size]=$(median "${es_cpu[@]}")
    echo_med[ee_cpu_$size]=$(median "${ee_cpu[@]}")
    echo_med[es_rate_$size]=$(median "${es_rate[@]}")
    echo_med[es_p50_$size]=$(median "${es_p50[@]}")
    echo_med[es_p99_$size]=$(median "${es_p99[@]}")
    echo_med[ee_rate_$size]=$(median "${ee_rate[@]}")
    echo_med[ee_p50_$size]=$(median "${ee_p50[@]}")
    echo_med[ee_p99_$size]=$(median "${ee_p99[@]}")
    say "  medians: echo_server ${echo_med[es_rate_$size]} msg/s p99 ${echo_med[es_p99_$size]}us" \
        "| echo_epoll ${echo_med[ee_rate_$size]} msg/s p99 ${echo_med[ee_p99_$size]}us | ratio" \
        "$(ratio "${echo_med[es_rate_$size]}" "${echo_med[ee_rate_$size]}"); per-rep ratios" \
        "${pairs[*]} (median ${echo_med[pair_$size]})"
done
stop_server "$es_pid" echo_server
stop_server "$ee_pid" echo_epoll

# ---- 3. BIG_CONNS concurrent connections -------------------------------------------------------
step "$BIG_CONNS concurrent connections: loadgen 64-byte echoes for ${DURATION}s, x$REPS (open-file limit $(ulimit -n))"
# big_run BINARY NAME REPS: sets big_served, big_rate, big_connect, big_rss (peak, KiB),
# big_idle_rss, big_after_rss.
big_run() {
    local bin=$1 name=$2 reps=$3 rep
    start_server "$tmp/$name.big.log" "$bin" --port 0
    local pid=$server_pid port=$server_port
    local fds0 served=() rate=() conn_s=()
    big_idle_rss=$(rss_kb "$pid")
    fds0=$(fd_count "$pid")
    for ((rep = 1; rep <= reps; rep++)); do
        loadgen_once "$port" "$name" "$pid" "$BIG_CONNS" 64 "$DURATION" --connect-batch 512
        served+=("$(field served "$lg_line")")
        rate+=("$(field msgs_per_s "$lg_line")")
        conn_s+=("$(field connect_s "$lg_line")")
        # Every connection closed by the client: the server's descriptors must come back.
        local fds i
        for ((i = 0; i < 50; i++)); do
            fds=$(fd_count "$pid")
            ((fds <= fds0)) && break
            sleep 0.1
        done
        ((fds <= fds0)) || problem "$name: $((fds - fds0)) descriptors still open after the clients left"
    done
    # The server started fresh, so its high-water mark is the peak with the connections open.
    big_rss=$(hwm_kb "$pid")
    big_after_rss=$(rss_kb "$pid")
    big_served=$(median "${served[@]}")
    big_rate=$(median "${rate[@]}")
    big_connect=$(median "${conn_s[@]}")
    say "  $name: RSS idle $big_idle_rss KiB, peak $big_rss KiB, after the clients left" \
        "$big_after_rss KiB; median served $big_served/$BIG_CONNS, $big_rate msg/s"
    stop_server "$pid" "$name"
}
big_run "$echo_server" echo_server "$REPS"
es_big_served=$big_served es_big_rate=$big_rate es_big_rss=$big_rss es_big_idle=$big_idle_rss
es_big_connect=$big_connect es_big_after=$big_after_rss
big_run "$echo_epoll" echo_epoll 1 # a reference for the RSS, once
ee_big_served=$big_served ee_big_rate=$big_rate ee_big_rss=$big_rss ee_big_idle=$big_idle_rss
ee_big_after=$big_after_rss

# ---- 4. LOOPS loops: --loops LOOPS vs nginx with LOOPS workers, and vs echo_epoll ---------------
if ((LOOPS >= 2)); then
    step "$LOOPS loops: http_server --loops $LOOPS vs nginx ($LOOPS workers), echo_server --loops $LOOPS vs echo_epoll; nothing pinned, x$REPS"
    say "  Nothing is pinned in this section: a server of $LOOPS threads cannot be pinned to one"
    say "  core. On this $(nproc)-core machine the client (wrk -t1, loadgen: one thread each)"
    say "  competes with the server's threads for the same cores, so requests/s measures the"
    say "  whole machine; server CPU per request is the server's own cost."
    server_pin=() client_pin=()
    threads_of() { awk '/^Threads:/ {print $2}' "/proc/$1/status"; }

    start_server "$tmp/http_server.loops.log" "$http_server" --port 0 --body-size "$BODY" \
        --loops "$LOOPS"
    http2_pid=$server_pid http2_port=$server_port
    start_nginx "$LOOPS"
    nginx2_pid=$nginx_pid nginx2_port=$nginx_port
    say "  http_server --loops $LOOPS: $(threads_of "$http2_pid") threads; nginx: master and" \
        "$(pgrep -c -P "$nginx2_pid") workers"
    check_bodies "http_server --loops $LOOPS" "$http2_port" "nginx ($LOOPS workers)" "$nginx2_port"
    say "  warm-up (2 s each, not counted)"
    timeout 40 wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$http2_port/" >/dev/null
    timeout 40 wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$nginx2_port/" >/dev/null
    taskring_http2_rps=() taskring_http2_p50=() taskring_http2_p99=() taskring_http2_cpu=()
    nginx2_rps=() nginx2_p50=() nginx2_p99=() nginx2_cpu=() http2_pairs=()
    for ((rep = 1; rep <= REPS; rep++)); do
        say " rep $rep/$REPS"
        wrk_once "$http2_port" taskring_http2 "$http2_pid"
        wrk_once "$nginx2_port" nginx2 "$nginx2_pid"
        http2_pairs+=("$(ratio "${taskring_http2_rps[-1]}" "${nginx2_rps[-1]}")")
    done
    say "  server RSS after the runs: http_server --loops $LOOPS $(rss_kb "$http2_pid") KiB," \
        "nginx master+workers $(nginx_rss_kb "$nginx2_pid") KiB"
    stop_server "$http2_pid" "http_server --loops $LOOPS"
    stop_server "$nginx2_pid" "nginx ($LOOPS workers)"
    h2_rps=$(median "${taskring_http2_rps[@]}") h2_p50=$(median "${taskring_http2_p50[@]}")
    h2_p99=$(median "${taskring_http2_p99[@]}") h2_cpu=$(median "${taskring_http2_cpu[@]}")
    n2_rps=$(median "${nginx2_rps[@]}") n2_p50=$(median "${nginx2_p50[@]}")
    n2_p99=$(median "${nginx2_p99[@]}") n2_cpu=$(median "${nginx2_cpu[@]}")
    http2_pair=$(median "${http2_pairs[@]}")
    say "  medians: http_server --loops $LOOPS $h2_rps req/s p99 ${h2_p99}us, ${h2_cpu} us CPU/req" \
        "| nginx ($LOOPS workers) $n2_rps req/s p99 ${n2_p99}us, ${n2_cpu} us CPU/req | ratio" \
        "$(ratio "$h2_rps" "$n2_rps"); per-rep ratios ${http2_pairs[*]} (median $http2_pair)"

    start_server "$tmp/echo_server.loops.log" "$echo_server" --port 0 --loops "$LOOPS"
    es2_pid=$server_pid es2_port=$server_port
    start_server "$tmp/echo_epoll.loops.log" "$echo_epoll" --port 0
    ee2_pid=$server_pid ee2_port=$server_port
    say "  echo_server --loops $LOOPS: $(threads_of "$es2_pid") threads; echo_epoll: one"
    for size in "${ECHO_SIZES[@]}"; do
        say " size $size B"
        timeout 60 "$loadgen" --port "$es2_port" --connections "$CONNS" --size "$size" \
            --seconds 1 >/dev/null # warm-up
        timeout 60 "$loadgen" --port "$ee2_port" --connections "$CONNS" --size "$size" \
            --seconds 1 >/dev/null
        es_rate=() es_p50=() es_p99=() ee_rate=() ee_p50=() ee_p99=() pairs=() es_cpu=() ee_cpu=()
        for ((rep = 1; rep <= REPS; rep++)); do
            loadgen_once "$es2_port" "echo_server_loops$LOOPS" "$es2_pid" "$CONNS" "$size" \
                "$DURATION" --warmup 1
            es_rate+=("$(field msgs_per_s "$lg_line")") es_p50+=("$(field p50_us "$lg_line")")
            es_p99+=("$(field p99_us "$lg_line")") es_cpu+=("$lg_per_op")
            loadgen_once "$ee2_port" echo_epoll "$ee2_pid" "$CONNS" "$size" "$DURATION" --warmup 1
            ee_rate+=("$(field msgs_per_s "$lg_line")") ee_p50+=("$(field p50_us "$lg_line")")
            ee_p99+=("$(field p99_us "$lg_line")") ee_cpu+=("$lg_per_op")
            pairs+=("$(ratio "${es_rate[-1]}" "${ee_rate[-1]}")")
        done
        echo_med[es2_rate_$size]=$(median "${es_rate[@]}")
        echo_med[es2_p50_$size]=$(median "${es_p50[@]}")
        echo_med[es2_p99_$size]=$(median "${es_p99[@]}")
        echo_med[es2_cpu_$size]=$(median "${es_cpu[@]}")
        echo_med[ee2_rate_$size]=$(median "${ee_rate[@]}")
        echo_med[ee2_p50_$size]=$(median "${ee_p50[@]}")
        echo_med[ee2_p99_$size]=$(median "${ee_p99[@]}")
        echo_med[ee2_cpu_$size]=$(median "${ee_cpu[@]}")
        echo_med[pair2_$size]=$(median "${pairs[@]}")
        say "  medians: echo_server --loops $LOOPS ${echo_med[es2_rate_$size]} msg/s," \
            "${echo_med[es2_cpu_$size]} us CPU/msg | echo_epoll ${echo_med[ee2_rate_$size]} msg/s," \
            "${echo_med[ee2_cpu_$size]} us CPU/msg | ratio" \
            "$(ratio "${echo_med[es2_rate_$size]}" "${echo_med[ee2_rate_$size]}"); per-rep ratios" \
            "${pairs[*]} (median ${echo_med[pair2_$size]})"
    done
    stop_server "$es2_pid" "echo_server --loops $LOOPS"
    stop_server "$ee2_pid" echo_epoll
fi

# ---- 5. the epoll backend: TASKRING_BACKEND=epoll vs io_uring vs nginx, and vs echo_epoll -----
if ((EPOLL == 1)); then
    server_pin=(taskset -c "$SERVER_CPU")
    client_pin=(taskset -c "$CLIENT_CPU")
    step "epoll backend: http_server (TASKRING_BACKEND=epoll) vs http_server (io_uring) vs nginx (1 worker), echo_server (epoll) vs echo_epoll; pinned, x$REPS"
    start_server "$tmp/http_server.epoll.log" env TASKRING_BACKEND=epoll "$http_server" --port 0 \
        --body-size "$BODY"
    he_pid=$server_pid he_port=$server_port
    start_server "$tmp/http_server.uring.log" "$http_server" --port 0 --body-size "$BODY"
    hu_pid=$server_pid hu_port=$server_port
    start_nginx 1
    ne_pid=$nginx_pid ne_port=$nginx_port
    check_bodies "http_server (epoll)" "$he_port" nginx "$ne_port"
    say "  warm-up (2 s each, not counted)"
    for p in "$he_port" "$hu_port" "$ne_port"; do
        timeout 40 "${client_pin[@]}" wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$p/" >/dev/null
    done
    http_epoll_rps=() http_epoll_p50=() http_epoll_p99=() http_epoll_cpu=()
    http_uring_rps=() http_uring_p50=() http_uring_p99=() http_uring_cpu=()
    nginx_e_rps=() nginx_e_p50=() nginx_e_p99=() nginx_e_cpu=() cpu_pairs_e=()
    for ((rep = 1; rep <= REPS; rep++)); do
        say " rep $rep/$REPS"
        wrk_once "$he_port" http_epoll "$he_pid"
        wrk_once "$hu_port" http_uring "$hu_pid"
        wrk_once "$ne_port" nginx_e "$ne_pid"
        cpu_pairs_e+=("$(ratio "${http_epoll_cpu[-1]}" "${nginx_e_cpu[-1]}")")
    done
    stop_server "$he_pid" "http_server (epoll)"
    stop_server "$hu_pid" "http_server (io_uring)"
    stop_server "$ne_pid" nginx
    he_rps=$(median "${http_epoll_rps[@]}") he_cpu=$(median "${http_epoll_cpu[@]}")
    he_p99=$(median "${http_epoll_p99[@]}")
    hu_rps=$(median "${http_uring_rps[@]}") hu_cpu=$(median "${http_uring_cpu[@]}")
    hu_p99=$(median "${http_uring_p99[@]}")
    ne_rps=$(median "${nginx_e_rps[@]}") ne_cpu=$(median "${nginx_e_cpu[@]}")
    ne_p99=$(median "${nginx_e_p99[@]}")
    cpu_pair_e=$(median "${cpu_pairs_e[@]}")
    say "  medians: epoll $he_rps req/s ${he_cpu} us CPU/req | io_uring $hu_rps req/s ${hu_cpu} us" \
        "CPU/req | nginx $ne_rps req/s ${ne_cpu} us CPU/req; epoll/nginx CPU per-rep" \
        "${cpu_pairs_e[*]} (median $cpu_pair_e)"

    start_server "$tmp/echo_server.epoll.log" env TASKRING_BACKEND=epoll "$echo_server" --port 0
    ese_pid=$server_pid ese_port=$server_port
    start_server "$tmp/echo_epoll.e.log" "$echo_epoll" --port 0
    eee_pid=$server_pid eee_port=$server_port
    for size in "${ECHO_SIZES[@]}"; do
        say " size $size B"
        timeout 60 "${client_pin[@]}" "$loadgen" --port "$ese_port" --connections "$CONNS" \
            --size "$size" --seconds 1 >/dev/null # warm-up
        timeout 60 "${client_pin[@]}" "$loadgen" --port "$eee_port" --connections "$CONNS" \
            --size "$size" --seconds 1 >/dev/null
        es_rate=() ee_rate=() pairs=() es_cpu=() ee_cpu=() es_p99=() ee_p99=()
        for ((rep = 1; rep <= REPS; rep++)); do
            loadgen_once "$ese_port" echo_server_epoll "$ese_pid" "$CONNS" "$size" "$DURATION" \
                --warmup 1
            es_rate+=("$(field msgs_per_s "$lg_line")") es_cpu+=("$lg_per_op")
            es_p99+=("$(field p99_us "$lg_line")")
            loadgen_once "$eee_port" echo_epoll "$eee_pid" "$CONNS" "$size" "$DURATION" --warmup 1
            ee_rate+=("$(field msgs_per_s "$lg_line")") ee_cpu+=("$lg_per_op")
            ee_p99+=("$(field p99_us "$lg_line")")
            pairs+=("$(ratio "${es_rate[-1]}" "${ee_rate[-1]}")")
        done
        echo_med[ese_rate_$size]=$(median "${es_rate[@]}")
        echo_med[ese_cpu_$size]=$(median "${es_cpu[@]}")
        echo_med[ese_p99_$size]=$(median "${es_p99[@]}")
        echo_med[eee_rate_$size]=$(median "${ee_rate[@]}")
        echo_med[eee_cpu_$size]=$(median "${ee_cpu[@]}")
        echo_med[eee_p99_$size]=$(median "${ee_p99[@]}")
        echo_med[paire_$size]=$(median "${pairs[@]}")
        say "  medians: echo_server (epoll) ${echo_med[ese_rate_$size]} msg/s | echo_epoll" \
            "${echo_med[eee_rate_$size]} msg/s | per-rep ratios ${pairs[*]} (median" \
            "${echo_med[paire_$size]})"
    done
    stop_server "$ese_pid" "echo_server (epoll)"
    stop_server "$eee_pid" echo_epoll
fi

# ---- summary ---------------------------------------------------------------------------------
verdict() { # OK-CONDITION(awk expr on a, b) A B
    awk -v a="$2" -v b="$3" "BEGIN {exit !($1)}" && echo "met" || echo "**missed**"
}
mib() { awk -v k="$1" 'BEGIN {printf "%.1f MiB", k / 1024}'; }
http_ratio=$(ratio "$h_rps" "$n_rps")
step "summary (medians of $REPS; server on CPU $SERVER_CPU, client on CPU $CLIENT_CPU; $(uname -r))"
cat <<EOF

| measurement | taskring | baseline | ratio | per-rep ratio | target | |
|---|---:|---:|---:|---:|---|---|
| HTTP requests/s (wrk -t1 -c$CONNS, $BODY B body) | $h_rps | nginx $n_rps | $http_ratio | $http_pair | >= 1.2x | $(verdict 'a / b >= 1.2' "$h_rps" "$n_rps") |
| HTTP p50 latency | ${h_p50} us | ${n_p50} us | $(ratio "$h_p50" "$n_p50") | | | |
| HTTP p99 latency | ${h_p99} us | ${n_p99} us | $(ratio "$h_p99" "$n_p99") | | <= nginx | $(verdict 'a <= b' "$h_p99" "$n_p99") |
| HTTP server CPU per request | ${h_cpu} us | ${n_cpu} us | $(ratio "$h_cpu" "$n_cpu") | | | |
EOF
for size in "${ECHO_SIZES[@]}"; do
    a=${echo_med[es_rate_$size]} b=${echo_med[ee_rate_$size]}
    printf '| echo %s B messages/s (%s conns) | %s | epoll %s | %s | %s | >= 1.1x | %s |\n' \
        "$size" "$CONNS" "$a" "$b" "$(ratio "$a" "$b")" "${echo_med[pair_$size]}" \
        "$(verdict 'a / b >= 1.1' "$a" "$b")"
    printf '| echo %s B p50 / p99 latency | %s / %s us | %s / %s us | | | | |\n' "$size" \
        "${echo_med[es_p50_$size]}" "${echo_med[es_p99_$size]}" "${echo_med[ee_p50_$size]}" \
        "${echo_med[ee_p99_$size]}"
    printf '| echo %s B server CPU per message | %s us | %s us | %s | | | |\n' "$size" \
        "${echo_med[es_cpu_$size]}" "${echo_med[ee_cpu_$size]}" \
        "$(ratio "${echo_med[es_cpu_$size]}" "${echo_med[ee_cpu_$size]}")"
done
cat <<EOF
| $BIG_CONNS connections: served | $es_big_served / $BIG_CONNS | epoll $ee_big_served / $BIG_CONNS | | | all | $(verdict 'a == b' "$es_big_served" "$BIG_CONNS") |
| $BIG_CONNS connections: messages/s (64 B) | $es_big_rate | epoll $ee_big_rate | $(ratio "$es_big_rate" "$ee_big_rate") | | | |
| $BIG_CONNS connections: server peak RSS | $(mib "$es_big_rss") | epoll $(mib "$ee_big_rss") | | | reported | |
| server RSS before / after the $BIG_CONNS | $(mib "$es_big_idle") / $(mib "$es_big_after") | epoll $(mib "$ee_big_idle") / $(mib "$ee_big_after") | | | | |

connect phase for $BIG_CONNS connections (median): ${es_big_connect}s; the noisiest run kept:
others used ${noisiest}% of a core (tolerance ${NOISE_PCT}%).
EOF

if ((LOOPS >= 2)); then
    cat <<EOF

$LOOPS loops, nothing pinned: the client competes with the server for the $(nproc) cores (medians of $REPS)

| measurement | taskring --loops $LOOPS | baseline | ratio | per-rep ratio |
|---|---:|---:|---:|---:|
| HTTP requests/s (wrk -t1 -c$CONNS, $BODY B body) | $h2_rps | nginx $LOOPS workers $n2_rps | $(ratio "$h2_rps" "$n2_rps") | $http2_pair |
| HTTP p50 / p99 latency | ${h2_p50} / ${h2_p99} us | ${n2_p50} / ${n2_p99} us | | |
| HTTP server CPU per request | ${h2_cpu} us | ${n2_cpu} us | $(ratio "$h2_cpu" "$n2_cpu") | |
EOF
    for size in "${ECHO_SIZES[@]}"; do
        a=${echo_med[es2_rate_$size]} b=${echo_med[ee2_rate_$size]}
        printf '| echo %s B messages/s (%s conns) | %s | epoll (1 thread) %s | %s | %s |\n' \
            "$size" "$CONNS" "$a" "$b" "$(ratio "$a" "$b")" "${echo_med[pair2_$size]}"
        printf '| echo %s B p50 / p99 latency | %s / %s us | %s / %s us | | |\n' "$size" \
            "${echo_med[es2_p50_$size]}" "${echo_med[es2_p99_$size]}" \
            "${echo_med[ee2_p50_$size]}" "${echo_med[ee2_p99_$size]}"
        printf '| echo %s B server CPU per message | %s us | %s us | %s | |\n' "$size" \
            "${echo_med[es2_cpu_$size]}" "${echo_med[ee2_cpu_$size]}" \
            "$(ratio "${echo_med[es2_cpu_$size]}" "${echo_med[ee2_cpu_$size]}")"
    done
fi

if ((EPOLL == 1)); then
    cat <<EOF

The epoll backend (TASKRING_BACKEND=epoll), pinned as above, the three HTTP servers alternating in each rep (medians of $REPS)

| measurement | epoll backend | io_uring backend | nginx / echo_epoll | epoll / baseline | per-rep ratio | target | |
|---|---:|---:|---:|---:|---:|---|---|
| HTTP server CPU per request | ${he_cpu} us | ${hu_cpu} us | nginx ${ne_cpu} us | $(ratio "$he_cpu" "$ne_cpu") | $cpu_pair_e | <= 1.1x nginx | $(verdict 'a / b <= 1.1' "$he_cpu" "$ne_cpu") |
| HTTP requests/s (wrk -t1 -c$CONNS, $BODY B body) | $he_rps | $hu_rps | nginx $ne_rps | $(ratio "$he_rps" "$ne_rps") | | | |
| HTTP p99 latency | ${he_p99} us | ${hu_p99} us | nginx ${ne_p99} us | $(ratio "$he_p99" "$ne_p99") | | | |
EOF
    for size in "${ECHO_SIZES[@]}"; do
        a=${echo_med[ese_rate_$size]} b=${echo_med[eee_rate_$size]}
        printf '| echo %s B messages/s (%s conns) | %s | | echo_epoll %s | %s | %s | >= 0.95x | %s |\n' \
            "$size" "$CONNS" "$a" "$b" "$(ratio "$a" "$b")" "${echo_med[paire_$size]}" \
            "$(verdict 'a / b >= 0.95' "$a" "$b")"
        printf '| echo %s B server CPU per message | %s us | | %s us | %s | | | |\n' "$size" \
            "${echo_med[ese_cpu_$size]}" "${echo_med[eee_cpu_$size]}" \
            "$(ratio "${echo_med[ese_cpu_$size]}" "${echo_med[eee_cpu_$size]}")"
    done
fi

say "run.sh: done in $(elapsed) (minutes:seconds)"
if ((problems > 0)); then
    say "run.sh: $problems problem(s), see above"
    exit 1
fi
