#!/usr/bin/env bash
# THE test command: every build and test stage of taskring, then one summary line
# "N passed, N failed, N skipped" counting tests: each ctest test of every stage, and each
# stage without ctest (setup, install, format) as one; a stage that fails before its tests
# can run counts as one failed test. Skipped tests (ctest's SKIP_RETURN_CODE 77 or
# SKIP_REGULAR_EXPRESSION: the test cannot run here) are listed by name. Exits non-zero if any
# stage failed.
#
#   tools/test.sh              all stages
#   tools/test.sh STAGE...     only these (setup always runs first): debug valgrind asan tsan
#                              install format
#
# Stages (2 parallel jobs each; logs in build/test-logs/STAGE.log):
#   setup     tools/setup.sh: packages, Release build in build/release
#   debug     Debug build, -Werror (preset debug, build/debug); ctest: all but valgrind tests
#   valgrind  ctest -L valgrind in build/debug
#   asan      ASan+UBSan build (preset asan, build/asan, no benchmarks); ctest -LE valgrind
#   tsan      TSan build with clang (preset tsan, build/tsan, no benchmarks); ctest -LE valgrind
#             (runs under `setarch -R` when the kernel's ASLR layout breaks TSan)
#   install   tests/install/run.sh on build/release: find_package and pkg-config consumers
#   format    clang-format --dry-run --Werror on runtime/ include/ tests/ examples/ bench/
# Every I/O, loops and example-server test has an epoll twin (NAME_epoll, label "epoll",
# TASKRING_BACKEND=epoll; NAME_valgrind_epoll in the valgrind stage) and every tests/io
# program a NAME_seccomp twin (io_uring refused, auto's fallback): each stage runs both
# backends.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

all_stages=(debug valgrind asan tsan install format)
if (($# > 0)); then
    for s in "$@"; do
        [[ " ${all_stages[*]} " == *" $s "* ]] || { echo "test.sh: unknown stage '$s' (${all_stages[*]})" >&2; exit 2; }
    done
    stages=("$@")
else
    stages=("${all_stages[@]}")
fi

jobs=2
logdir=$root/build/test-logs
mkdir -p "$logdir"
# Sanitizer defaults; a test's own ENVIRONMENT property still overrides them.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-second_deadlock_stack=1}

ctest_common=(--output-on-failure --no-tests=error -j "$jobs")
not_valgrind='^(valgrind|install)$' # install runs as its own stage

configure_build() { # PRESET
    cmake --preset "$1" && cmake --build --preset "$1"
}

stage_debug() {
    configure_build debug
    ctest --test-dir build/debug "${ctest_common[@]}" --timeout 600 -LE "$not_valgrind"
}

stage_valgrind() {
    [[ -f build/debug/CMakeCache.txt ]] || configure_build debug
    cmake --build --preset debug # no-op after the debug stage
    ctest --test-dir build/debug "${ctest_common[@]}" --timeout 1200 -L '^valgrind$'
}

stage_asan() {
    configure_build asan
    ctest --test-dir build/asan "${ctest_common[@]}" --timeout 900 -LE "$not_valgrind"
}

# TSan maps its shadow at fixed addresses; with a large vm.mmap_rnd_bits a randomized
# mapping can land there ("FATAL: ThreadSanitizer: unexpected memory mapping"). Running with
# ASLR off (setarch -R, inherited by ctest's children) avoids it.
tsan_prefix=()
tsan_probe() {
    local dir=build/tsan/tsan-probe out
    mkdir -p "$dir"
    printf '%s\n' '#include <pthread.h>' 'static int x;' \
        'static void *f(void *a) { (void)a; __atomic_fetch_add(&x, 1, __ATOMIC_RELAXED); return 0; }' \
        'int main(void) { pthread_t t; pthread_create(&t, 0, f, 0); pthread_join(t, 0); return x != 1; }' \
        >"$dir/probe.c"
    clang -fsanitize=thread -O1 -g "$dir/probe.c" -o "$dir/probe" -pthread || return 1
    if out=$("$dir/probe" 2>&1); then
        echo "tsan: probe runs with ASLR on"
        return 0
    fi
    echo "$out" | head -n 5
    if setarch "$(uname -m)" -R "$dir/probe"; then
        echo "tsan: probe needs ASLR off: running tests under setarch $(uname -m) -R"
        tsan_prefix=(setarch "$(uname -m)" -R)
        return 0
    fi
    echo "tsan: the TSan probe fails even with ASLR off" >&2
    return 1
}

stage_tsan() {
    configure_build tsan
    tsan_probe
    local args=("${ctest_common[@]}" --timeout 1200 -LE "$not_valgrind")
    if "${tsan_prefix[@]}" ctest --test-dir build/tsan "${args[@]}"; then
        return 0
    fi
    if ((${#tsan_prefix[@]} == 0)) &&
        grep -qs 'unexpected memory mapping' build/tsan/Testing/Temporary/LastTest*.log; then
        echo "tsan: 'unexpected memory mapping' in test output: rerunning failed tests with ASLR off"
        setarch "$(uname -m)" -R ctest --test-dir build/tsan "${args[@]}" --rerun-failed
        return
    fi
    return 1
}

stage_install() {
    [[ -f build/release/CMakeCache.txt ]] || configure_build release
    cmake --build --preset release
    tests/install/run.sh build/release
}

stage_format() {
    local dirs=(runtime include tests examples bench) files=()
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        mapfile -t files < <(git ls-files -co --exclude-standard -- "${dirs[@]}" |
            grep -E '\.(c|h|cc|cpp|cxx|hh|hpp|hxx)$' | while read -r f; do [[ -f $f ]] && echo "$f"; done)
    else
        mapfile -t files < <(find "${dirs[@]}" -type f \( -name '*.[ch]' -o -name '*.cc' \
            -o -name '*.cpp' -o -name '*.cxx' -o -name '*.hh' -o -name '*.hpp' -o -name '*.hxx' \) | sort)
    fi
    ((${#files[@]} > 0)) || { echo "format: no C/C++ files found" >&2; return 1; }
    echo "format: checking ${#files[@]} files with $(clang-format --version)"
    clang-format --dry-run --Werror "${files[@]}"
}

# ---- driver ----------------------------------------------------------------------------------
names=() results=() secs=() details=()
tests_passed=0 tests_failed=0 tests_skipped=0 skipped_names=() failed_names=() failed_excerpts=()
record() { names+=("$1"); results+=("$2"); secs+=("$3"); details+=("$4"); }

# Count the ctest results in a stage's log; a stage without any counts as one test.
count_tests() { # NAME LOG RC
    local name=$1 log=$2 rc=$3 p f s line
    p=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed ' "$log")
    s=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*\*\*\*Skipped ' "$log")
    f=$(grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+: ' "$log" | grep -cvE ' Passed |\*\*\*Skipped ')
    if ((p + s + f == 0)); then
        if ((rc == 0)); then p=1; else f=1; fi
    elif ((rc != 0 && f == 0)); then
        f=1 # the tests passed but the stage did not (a build step after them, say)
    fi
    while IFS= read -r line; do
        skipped_names+=("$name: $line")
    done < <(grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*\*\*\*Skipped ' "$log" |
        sed -E 's/^.*Test +#[0-9]+: ([^ ]+) .*/\1/')
    # Failed tests by name, with the first lines ctest printed for each (--output-on-failure),
    # so that the summary at the end of a CI log says what failed and why.
    while IFS= read -r line; do
        failed_names+=("$name: $line")
    done < <(grep -E '^ *[0-9]+/[0-9]+ Test +#[0-9]+: ' "$log" | grep -vE ' Passed |\*\*\*Skipped ' |
        sed -E 's/^.*Test +#[0-9]+: ([^ ]+) [ .]*(.*)$/\1 (\2)/')
    if ((rc != 0)) && ! grep -qE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: ' "$log"; then
        failed_names+=("$name: (the stage itself: no ctest test failed)")
        failed_excerpts+=("--- $name: the last lines of its log"$'\n'"$(tail -n 15 "$log" | sed 's/^/    /')")
    elif ((f > 0)); then
        failed_excerpts+=("$(awk -v stage="$name" '
            /^ *[0-9]+\/[0-9]+ Test +#[0-9]+: / { keep = ($0 !~ / Passed |\*\*\*Skipped /); n = 0
                if (keep) print "--- " stage ": " $0; next }
            /^ *Start +[0-9]+: / { keep = 0; next }
            keep && n < 25 { print "    " $0; n++ }' "$log")")
    fi
    tests_passed=$((tests_passed + p)) tests_failed=$((tests_failed + f))
    tests_skipped=$((tests_skipped + s))
    stage_detail="$p passed, $f failed, $s skipped"
}

run_stage() { # NAME COMMAND...
    local name=$1 start rc
    shift
    echo
    echo "==================== test.sh: stage $name ===================="
    start=$(date +%s)
    ( set -e; "$@" ) 2>&1 | tee "$logdir/$name.log"
    rc=${PIPESTATUS[0]}
    local t=$(($(date +%s) - start))
    count_tests "$name" "$logdir/$name.log" "$rc"
    if ((rc == 0)); then
        echo "==================== test.sh: stage $name PASSED (${t}s; $stage_detail) ===================="
        record "$name" PASS "$t" "$stage_detail"
    else
        echo "==================== test.sh: stage $name FAILED, exit $rc (${t}s; $stage_detail; log: build/test-logs/$name.log) ===================="
        record "$name" FAIL "$t" "$stage_detail"
    fi
    return "$rc"
}

summary() {
    local i failed=0 total=0
    echo
    echo "==================== test.sh: summary ===================="
    for i in "${!names[@]}"; do
        printf '  %-9s %s %6ss   %s\n' "${names[$i]}" "${results[$i]}" "${secs[$i]}" "${details[$i]}"
        total=$((total + secs[i]))
        [[ ${results[$i]} == PASS ]] || failed=$((failed + 1))
    done
    printf '  %-9s %11ss\n' total "$total"
    if ((${#failed_excerpts[@]} > 0)); then
        echo "  what the failed tests printed (first lines; whole logs in build/test-logs/):"
        printf '%s\n' "${failed_excerpts[@]}"
    fi
    if ((${#failed_names[@]} > 0)); then
        echo "  failed:"
        printf '    %s\n' "${failed_names[@]}"
    fi
    if ((${#skipped_names[@]} > 0)); then
        echo "  skipped (cannot run here; each prints why in its log):"
        printf '    %s\n' "${skipped_names[@]}"
    fi
    echo "$tests_passed passed, $tests_failed failed, $tests_skipped skipped"
    ((failed == 0))
}

run_stage setup tools/setup.sh
setup_rc=$?
if ((setup_rc == 2)); then
    echo "test.sh: required packages are missing: nothing else can run" >&2
    summary
    exit 1
fi

for s in "${stages[@]}"; do
    run_stage "$s" "stage_$s"
done

summary
