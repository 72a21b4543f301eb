#!/usr/bin/env bash
# Run shmq's benchmark suite against every baseline and write the report.
#
#   tools/bench.sh                  install what is missing, build Release, run every case
#                                   (5 repetitions, JSON out), write bench/results/REPORT.md
#   tools/bench.sh --quick          every case once, very briefly (CI): exits non-zero if any
#                                   case reports an error or leaves a segment behind
#   options: --report PATH          where the markdown report goes (plots beside it)
#            --build DIR            build folder (default: build-bench)
#            --repetitions N        (default 5)   --min-time S (default 0.2)
#            --filter REGEX         only the matching cases
#            --no-install           do not install packages
#
# Baselines come from Debian's packages; DPDK's headers come from `apt-get download
# libdpdk-dev` extracted into the build folder (the package itself is never installed).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$ROOT/build-bench"
REPORT="$ROOT/bench/results/REPORT.md"
QUICK=0
INSTALL=1
REPS=5
MIN_TIME=0.2
FILTER=""

while [ $# -gt 0 ]; do
    case "$1" in
    --quick) QUICK=1 ;;
    --report) REPORT=$2; shift ;;
    --build) BUILD=$2; shift ;;
    --repetitions) REPS=$2; shift ;;
    --min-time) MIN_TIME=$2; shift ;;
    --filter) FILTER=$2; shift ;;
    --no-install) INSTALL=0 ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
case "$REPORT" in /*) ;; *) REPORT="$PWD/$REPORT" ;; esac
case "$BUILD" in /*) ;; *) BUILD="$PWD/$BUILD" ;; esac

log() { echo "bench.sh: $*" >&2; }

# Root, directly or through sudo without a password; otherwise nothing that needs it.
SUDO=""
CAN_ROOT=1
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo"
    else
        CAN_ROOT=0
    fi
fi

# ---- packages: check first, update and install only what is missing ----
PACKAGES=(cmake g++ pkg-config liburcu-dev libbenchmark-dev libjemalloc-dev libhwloc-dev
    libck-dev librte-ring23 libzmq3-dev libboost-dev gnuplot-nox)
APT_UPDATED=0
apt_update_once() {
    if [ "$APT_UPDATED" = 0 ] && [ "$CAN_ROOT" = 1 ]; then
        $SUDO apt-get update -q >&2 || log "apt-get update failed"
        APT_UPDATED=1
    fi
}
if [ "$INSTALL" = 1 ]; then
    missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$CAN_ROOT" = 1 ]; then
            log "installing ${missing[*]}"
            apt_update_once
            $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" \
                </dev/null >&2 || log "some packages could not be installed: their cases are skipped"
        else
            log "not root: cannot install ${missing[*]} (their cases are skipped)"
        fi
    fi
fi

# ---- DPDK headers, extracted from the libdpdk-dev package into the build folder ----
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
DPDK_ROOT="$BUILD/dpdk"
if [ ! -f "$DPDK_ROOT/usr/include/dpdk/rte_ring.h" ] && [ "$INSTALL" = 1 ] &&
    dpkg -s librte-ring23 >/dev/null 2>&1; then
    mkdir -p "$BUILD/dpdk-download" "$DPDK_ROOT"
    get_deb() { (cd "$BUILD/dpdk-download" && apt-get download -q libdpdk-dev >&2); }
    if get_deb || { apt_update_once; get_deb; }; then
        deb=$(ls -t "$BUILD"/dpdk-download/libdpdk-dev_*.deb | head -n1)
        dpkg-deb --fsys-tarfile "$deb" |
            tar -x -C "$DPDK_ROOT" ./usr/include/dpdk "./usr/include/$MULTIARCH/dpdk" ||
            log "could not extract the DPDK headers: rte_ring cases skipped"
        rm -f "$deb"
    else
        log "could not download libdpdk-dev: rte_ring cases skipped"
    fi
fi

# ---- POSIX mq: room for as many messages and bytes as the other queues get ----
MQ_RESTORE=()
if [ "$CAN_ROOT" = 1 ]; then
    for kv in msg_max=1024 msgsize_max=65536; do
        k=${kv%=*} v=${kv#*=}
        old=$(cat /proc/sys/fs/mqueue/$k 2>/dev/null || echo "")
        if [ -n "$old" ] && [ "$old" -lt "$v" ] &&
            $SUDO sysctl -q -w "fs.mqueue.$k=$v" >/dev/null 2>&1; then
            MQ_RESTORE+=("fs.mqueue.$k=$old")
        fi
    done
fi
restore() {
    for kv in "${MQ_RESTORE[@]+"${MQ_RESTORE[@]}"}"; do
        $SUDO sysctl -q -w "$kv" >/dev/null 2>&1 || true
    done
}
trap restore EXIT
log "POSIX mq: msg_max=$(cat /proc/sys/fs/mqueue/msg_max) msgsize_max=$(cat /proc/sys/fs/mqueue/msgsize_max)"

# ---- build (Release) ----
# -Wno-error: the library builds with -Werror; GCC 12 at -O3 warns in src/registry.c (a real
# if unlikely maybe-uninitialized), and a warning must not stop the benchmarks from building.
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSHMQ_BUILD_BENCH=ON \
    -DSHMQ_BENCH_DPDK_ROOT="$DPDK_ROOT" \
    -DCMAKE_C_FLAGS="-Wno-error" >&2
cmake --build "$BUILD" -j"$(nproc)" --target shmq_bench >&2
BIN="$BUILD/bench/shmq_bench"

# ---- run ----
mkdir -p "$(dirname "$REPORT")"
JSON="$(dirname "$REPORT")/bench.json"
ARGS=(--benchmark_out="$JSON" --benchmark_out_format=json)
[ -n "$FILTER" ] && ARGS+=(--benchmark_filter="$FILTER")
if [ "$QUICK" = 1 ]; then
    ARGS+=(--benchmark_min_time=0.01)
    CMD="tools/bench.sh --quick"
else
    # google-benchmark 1.7.1 takes the minimum time in seconds, without a unit.
    # Repetitions interleaved at random across the cases: on a shared, noisy machine a
    # burst of noise then spoils one repetition of several cases, not every repetition of
    # one case, and the median stays clean.
    ARGS+=(--benchmark_min_time="$MIN_TIME" --benchmark_repetitions="$REPS"
        --benchmark_enable_random_interleaving=true --benchmark_display_aggregates_only=true)
    CMD="tools/bench.sh"
fi
[ -n "$FILTER" ] && CMD="$CMD --filter '$FILTER'"
log "running $BIN ${ARGS[*]}"
rc=0
start=$(date +%s)
"$BIN" "${ARGS[@]}" &
pid=$!
wait "$pid" || rc=$?
log "suite finished in $(($(date +%s) - start)) s (exit $rc)"

# Nothing may be left behind: no segment, no mq, no socket of this run (names carry its pid).
left=$(ls /dev/shm /dev/mqueue /tmp 2>/dev/null | grep -E "^(shmq\.)?bench-$pid-" || true)
if [ -n "$left" ]; then
    log "left behind after the run:"
    echo "$left" >&2
    [ "$rc" = 0 ] && rc=1
fi

# ---- report ----
if [ -s "$JSON" ]; then
    /usr/bin/python3 "$ROOT/tools/bench_report.py" --json "$JSON" --out "$REPORT" \
        --command "$CMD" || { [ "$rc" = 0 ] && rc=1; }
    log "report: $REPORT"
fi
exit "$rc"
