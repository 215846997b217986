#!/usr/bin/env bash
# Install what taskring needs on Debian 12 (if missing), then configure and build the
# Release tree build/release (CMake preset "release").
#
#   tools/setup.sh            install missing packages (as root), build Release
#   tools/setup.sh --no-build only check/install packages
#   tools/setup.sh --with-go  also try golang-go, for the benchmark's Go peer (optional: a
#                             failed install is a warning; tools/bench.sh asks for it, CI's
#                             tools/test.sh does not)
#
# Quick and idempotent when everything is present: dpkg-query checks, then an incremental
# build. Exit status: 0 ok, 1 build failed, 2 packages missing and not installable.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

build=1 with_go=0
for arg in "$@"; do
    case $arg in
    --no-build) build=0 ;;
    --with-go) with_go=1 ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup.sh: unknown argument $arg" >&2; exit 2 ;;
    esac
done

# Needed to build and test (clang: the TSan build; clang-format: the format check).
required=(build-essential cmake pkg-config liburing-dev libboost-context-dev libcmocka-dev
          libbenchmark-dev valgrind clang clang-format)
# Nice to have: gnuplot-nox for plots (tools/plot_all_tasks.sh), python3 for helper scripts.
optional=(gnuplot-nox python3)
# The Go peer of the benchmark (bench/peers/chan_pingpong.go) needs a go command: only on
# request, and not when one is already on PATH (a Go installed some other way will do).
if ((with_go)) && ! command -v go >/dev/null; then
    optional+=(golang-go)
fi

installed() { [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" == "ii"* ]]; }
missing_of() {
    local p
    for p in "$@"; do installed "$p" || echo "$p"; done
}

if ! command -v dpkg-query >/dev/null; then
    echo "setup.sh: dpkg-query not found: this script expects Debian 12 (bookworm)" >&2
    exit 2
fi

mapfile -t miss_req < <(missing_of "${required[@]}")
mapfile -t miss_opt < <(missing_of "${optional[@]}")
apt_install=(apt-get install -y --no-install-recommends)

if ((${#miss_req[@]} + ${#miss_opt[@]} > 0)); then
    want=("${miss_req[@]}" "${miss_opt[@]}")
    echo "setup.sh: missing packages: ${want[*]}"
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup.sh: not root; install them with:" >&2
        echo "  sudo env DEBIAN_FRONTEND=noninteractive ${apt_install[*]} ${want[*]}" >&2
        ((${#miss_req[@]} == 0)) || exit 2
        echo "setup.sh: (only optional packages are missing: continuing)" >&2
    else
        export DEBIAN_FRONTEND=noninteractive
        if ! "${apt_install[@]}" "${want[@]}"; then
            echo "setup.sh: install failed; running apt-get update and retrying"
            apt-get update
            if ! "${apt_install[@]}" "${want[@]}"; then
                ((${#miss_req[@]} > 0)) && { "${apt_install[@]}" "${miss_req[@]}" || true; }
            fi
        fi
        mapfile -t miss_req < <(missing_of "${required[@]}")
        mapfile -t miss_opt < <(missing_of "${optional[@]}")
        if ((${#miss_req[@]} > 0)); then
            echo "setup.sh: could not install: ${miss_req[*]}" >&2
            exit 2
        fi
        ((${#miss_opt[@]} == 0)) || echo "setup.sh: warning: optional packages not installed: ${miss_opt[*]}" >&2
    fi
fi
echo "setup.sh: packages ok"

((build)) || exit 0

echo "setup.sh: building Release in build/release"
cmake --preset release >/dev/null || exit 1 # errors and warnings still reach stderr
cmake --build --preset release || exit 1
echo "setup.sh: build/release is up to date"
