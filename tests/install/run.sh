#!/usr/bin/env bash
# Install a taskring build tree into a temporary prefix and use it the way another project
# would: through find_package(taskring) and through pkg-config, shared and static.
#
#   tests/install/run.sh [BUILD_DIR]     (default: build/release)
#
# Exits non-zero on any failure. Set KEEP=1 to keep the temporary directory.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build/release}" && pwd)
cc=${CC:-cc}

die() { echo "install test: FAILED: $*" >&2; exit 1; }
step() { echo "== install test: $*"; }

[[ -f "$build/CMakeCache.txt" ]] || die "$build is not a configured build tree"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/taskring-install.XXXXXX")
if [[ "${KEEP:-0}" == 1 ]]; then
    echo "keeping $tmp"
else
    trap 'rm -rf "$tmp"' EXIT
fi
prefix=$tmp/prefix

# ---- install -------------------------------------------------------------------------------
step "cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; die "cmake --install"; }

pc=$(find "$prefix" -name taskring.pc -path '*/pkgconfig/*' | head -n1)
[[ -n "$pc" ]] || die "no taskring.pc installed"
pkgdir=$(dirname "$pc")
libdir=$(dirname "$pkgdir")
for f in "$prefix/include/taskring.h" "$libdir/libtaskring.a" "$libdir/libtaskring.so" \
         "$libdir/libtaskring.so.0" "$libdir/cmake/taskring/taskring-config.cmake" \
         "$libdir/cmake/taskring/taskring-config-version.cmake" \
         "$libdir/cmake/taskring/taskring-targets.cmake"; do
    [[ -e "$f" ]] || die "missing ${f#"$prefix"/}"
done
# The installed package must not point into the build machine's trees.
if grep -rlE "$build|$root/|/usr/lib/[^ ]*/lib(uring|boost_context)" "$libdir/cmake/taskring" "$pc"; then
    die "installed package files mention build-tree or absolute library paths (see above)"
fi
# taskring-ps and its man page are installed; it runs (usage on --help).
[[ -x "$prefix/bin/taskring-ps" ]] || die "missing bin/taskring-ps"
[[ -f "$prefix/share/man/man1/taskring-ps.1" ]] || die "missing share/man/man1/taskring-ps.1"
# (Output captured, then searched: under pipefail, `cmd | grep -q` fails when grep exits at
# the first match and cmd dies of SIGPIPE writing the rest.)
help=$("$prefix/bin/taskring-ps" --help) || die "taskring-ps --help exited non-zero"
grep -q "usage: taskring-ps" <<<"$help" || die "taskring-ps --help"
# The shared library must export the API.
exported=$(nm -D --defined-only "$libdir/libtaskring.so")
if ! grep -qw tr_run <<<"$exported"; then
    die "libtaskring.so does not export tr_run (symbol visibility?)"
fi

ok=0
run_consumer() { # LABEL BINARY [env...]
    local label=$1 bin=$2 out
    shift 2
    out=$(env "$@" "$bin" "$label") || { echo "$out"; die "$label: consumer exited non-zero"; }
    echo "$out"
    [[ "$out" == *"install consumer $label: OK"* ]] || die "$label: no success line"
    ok=$((ok + 1))
}
needs_shared_lib() {
    local dyn
    dyn=$(readelf -d "$1") && grep -q 'NEEDED.*libtaskring\.so' <<<"$dyn"
}

# ---- find_package(taskring) ------------------------------------------------------------------
step "CMake consumer (find_package, CMAKE_PREFIX_PATH=$prefix)"
cmake -S "$here" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER="$cc" >"$tmp/cmake-configure.log" 2>&1 \
    || { cat "$tmp/cmake-configure.log"; die "consumer configure"; }
cmake --build "$tmp/cmake-build" -j2 >"$tmp/cmake-build.log" 2>&1 \
    || { cat "$tmp/cmake-build.log"; die "consumer build"; }
needs_shared_lib "$tmp/cmake-build/consumer_shared" || die "consumer_shared does not link libtaskring.so"
# Task code runs on small guarded stacks: the package builds consumers with stack-clash probes.
grep -rqs -- -fstack-clash-protection "$tmp/cmake-build/CMakeFiles" \
    || die "find_package consumers are not built with -fstack-clash-protection"
! needs_shared_lib "$tmp/cmake-build/consumer_static" || die "consumer_static links libtaskring.so"
run_consumer cmake-shared "$tmp/cmake-build/consumer_shared" # found through its RPATH
run_consumer cmake-static "$tmp/cmake-build/consumer_static"

# ---- pkg-config ------------------------------------------------------------------------------
export PKG_CONFIG_PATH="$pkgdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
step "pkg-config consumer (PKG_CONFIG_PATH=$pkgdir)"
pkg-config --exists --print-errors taskring || die "pkg-config cannot resolve taskring"
[[ "$(pkg-config --modversion taskring)" == "$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")" ]] \
    || die "pkg-config version differs from the project's"
echo "   cflags: $(pkg-config --cflags taskring)"
[[ " $(pkg-config --cflags taskring) " == *" -fstack-clash-protection "* ]] \
    || die "pkg-config --cflags lacks -fstack-clash-protection"
echo "   libs: $(pkg-config --libs taskring)"
echo "   static libs: $(pkg-config --static --libs taskring)"

# The installed header stands alone: first in a translation unit, strict C17 with POSIX
# (sigset_t), and C++17.
printf '#include <taskring.h>\nint main(void) { return tr_task_count() != 0; }\n' >"$tmp/header_only.c"
# shellcheck disable=SC2046 # word splitting of pkg-config output is intended
"$cc" -std=c17 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wpedantic -Werror -fsyntax-only \
    $(pkg-config --cflags taskring) "$tmp/header_only.c" || die "taskring.h alone, -std=c17"
if command -v "${CXX:-c++}" >/dev/null; then
    cp "$tmp/header_only.c" "$tmp/header_only.cpp"
    # shellcheck disable=SC2046
    "${CXX:-c++}" -std=c++17 -Wall -Wextra -Wpedantic -Werror -fsyntax-only \
        $(pkg-config --cflags taskring) "$tmp/header_only.cpp" || die "taskring.h alone, -std=c++17"
fi
echo "   taskring.h compiles alone as C17 (POSIX) and C++17"

# shellcheck disable=SC2046
"$cc" -o "$tmp/pc_shared" "$here/main.c" $(pkg-config --cflags --libs taskring) \
    || die "pkg-config shared build"
needs_shared_lib "$tmp/pc_shared" || die "pc_shared does not link libtaskring.so"
run_consumer pkg-config-shared "$tmp/pc_shared" LD_LIBRARY_PATH="$libdir"

# Static: the same flags with --static, and the archive instead of the .so.
static_libs=$(pkg-config --static --libs taskring)
static_libs=${static_libs/-ltaskring/-l:libtaskring.a}
# shellcheck disable=SC2046,SC2086
"$cc" -o "$tmp/pc_static" "$here/main.c" $(pkg-config --static --cflags taskring) $static_libs \
    || die "pkg-config static build"
! needs_shared_lib "$tmp/pc_static" || die "pc_static links libtaskring.so"
run_consumer pkg-config-static "$tmp/pc_static"

# The example servers, built as a user's server would be (their own project, find_package),
# then started, spoken to over loopback, and stopped with SIGTERM: they must exit 0.
step "example servers (examples/servers, find_package, CMAKE_PREFIX_PATH=$prefix)"
cmake -S "$root/examples/servers" -B "$tmp/servers" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc" >"$tmp/servers-configure.log" 2>&1 \
    || { cat "$tmp/servers-configure.log"; die "servers configure"; }
cmake --build "$tmp/servers" -j2 >"$tmp/servers-build.log" 2>&1 \
    || { cat "$tmp/servers-build.log"; die "servers build"; }

# SERVER REQUEST EXPECT: start it on an ephemeral port, send REQUEST, expect EXPECT back.
smoke_server() {
    local name=$1 request=$2 expect=$3 out="$tmp/$1.out" pid port reply i
    "$tmp/servers/$name" --port 0 >"$out" 2>&1 &
    pid=$!
    for i in $(seq 100); do
        port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out")
        [[ -n $port ]] && break
        sleep 0.05
    done
    [[ -n $port ]] || { kill "$pid" 2>/dev/null; cat "$out"; die "$name: no 'listening on' line"; }
    exec 3<>"/dev/tcp/127.0.0.1/$port" || { kill "$pid"; die "$name: cannot connect"; }
    printf '%b' "$request" >&3
    reply=$(timeout 5 head -c "${#expect}" <&3)
    exec 3<&-
    [[ "$reply" == "$expect" ]] || { kill "$pid"; die "$name: sent '$request', got '$reply'"; }
    kill -TERM "$pid"
    for i in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    wait "$pid" || { cat "$out"; die "$name: did not exit 0 after SIGTERM"; }
    echo "   $name: answered on port $port, exited 0 on SIGTERM"
}
smoke_server echo_server 'hello taskring\n' 'hello taskring'
smoke_server http_server 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' 'HTTP/1.1 200 OK'

echo "install test: OK ($ok consumers: cmake shared+static, pkg-config shared+static; example servers)"
