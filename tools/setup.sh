#!/usr/bin/env bash
# Install what taskring needs on Debian 12 (if missing), then configure and build the
# Release tree build/release (CMake preset "release").
#
#   tools/setup.sh            install missing packages (as root), build Release
#   tools/setup.sh --no-build only check/install packages
#   tools/setup.sh --with-go  also try golang-go, for the benchmark's Go peer (optional: a
#                             failed install is a warning; tools/bench.sh asks for it, CI's
#                             tools/test.sh does not)
#   tools/setup.sh --with-io-bench
#                             also nginx, wrk, curl, time and procps, for bench/io/run.sh
#                             (required when asked: run.sh calls `--no-build --with-io-bench`)
#
# Quick and idempotent when everything is present: dpkg-query checks, then an incremental
# build. Exit status: 0 ok, 1 build failed, 2 packages missing and not installable.
#
# nginx: Debian's package starts a system nginx on port 80 when installed, and enables it at
# boot. bench/io/run.sh runs its own nginx (its own port and configuration) and wants no
# other one on the machine, so when this script installs nginx it keeps the service from
# starting (a policy-rc.d refusing nginx, only if the machine has no policy-rc.d of its own,
# removed again on exit), stops it if it started anyway, and disables it at boot. An nginx
# that was installed before is left exactly as it is.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

build=1 with_go=0 with_io_bench=0
for arg in "$@"; do
    case $arg in
    --no-build) build=0 ;;
    --with-go) with_go=1 ;;
    --with-io-bench) with_io_bench=1 ;;
    -h | --help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
# bench/io/run.sh: nginx (the package with /usr/sbin/nginx; nginx-light, -core, -full are
# module sets on top of it in Debian 12), wrk, curl, /usr/bin/time, and pgrep (procps).
if ((with_io_bench)); then
    required+=(nginx wrk curl time procps)
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

# A policy-rc.d (/usr/share/doc/init-system-helpers/README.policy-rc.d) that refuses every
# action on nginx's service and allows the rest, for the time of the install; only where
# there is none (a container's, say, which already refuses everything).
policy=/usr/sbin/policy-rc.d
policy_ours=0
keep_nginx_stopped() {
    [[ -e $policy ]] && return 0
    cat >"$policy" <<'POLICY'
#!/bin/sh
# Written by taskring's tools/setup.sh for the time of an apt-get install, and removed after
# it: no system nginx is started (bench/io/run.sh runs its own).
for arg in "$@"; do
    case $arg in nginx | nginx.service) exit 101 ;; esac
done
exit 0
POLICY
    chmod 755 "$policy"
    policy_ours=1
    trap remove_policy EXIT
    trap 'exit 130' INT TERM HUP
}
remove_policy() {
    if ((policy_ours)); then
        rm -f "$policy"
        policy_ours=0
    fi
}
# After installing nginx: not running, not started at boot.
disable_nginx_service() {
    remove_policy
    if [[ -d /run/systemd/system ]]; then # systemd is running
        systemctl stop nginx.service 2>/dev/null || true
    elif [[ -x /etc/init.d/nginx ]]; then
        /etc/init.d/nginx stop >/dev/null 2>&1 || true
    fi
    if command -v systemctl >/dev/null; then # works with or without a running systemd
        systemctl disable --quiet nginx.service 2>/dev/null || true
    elif command -v update-rc.d >/dev/null; then
        update-rc.d nginx disable >/dev/null 2>&1 || true
    fi
    echo "setup.sh: installed nginx; its system service is stopped and disabled" \
        "(bench/io/run.sh starts its own)"
}

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
        new_nginx=0
        if ((with_io_bench)) && ! installed nginx; then
            new_nginx=1
            keep_nginx_stopped
        fi
        if ! "${apt_install[@]}" "${want[@]}"; then
            echo "setup.sh: install failed; running apt-get update and retrying"
            apt-get update
            if ! "${apt_install[@]}" "${want[@]}"; then
                ((${#miss_req[@]} > 0)) && { "${apt_install[@]}" "${miss_req[@]}" || true; }
            fi
        fi
        if ((new_nginx)) && installed nginx; then
            disable_nginx_service
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
