#!/usr/bin/env bash
# tools/fuzz.sh [SECONDS | --runs N] — build the libFuzzer targets with clang and run each for a
# bounded time (default 20 s each) or a bounded number of executions; exits non-zero when a
# target finds a crash, a hang or a leak.
#
#   tools/fuzz.sh                  # 20 s per target (tools/check.sh: SHMQ_FUZZ_SECONDS, 30)
#   tools/fuzz.sh 900              # a long run by hand: 15 minutes per target
#   tools/fuzz.sh --runs 10000000  # 10 million executions per target (outside CI: hours for
#                                  # fuzz_segment_live, which runs some hundreds a second)
#
# The targets: fuzz_segment (segment images checked in memory), fuzz_segment_live (the same
# inputs as real shm objects, through the public API), fuzz_cli_parsers, fuzz_pattern,
# fuzz_serve_route (see fuzz/README.md).
#
# The build lives in build/fuzz. Each target starts from its seed corpus in fuzz/corpus/<target>
# (fuzz_segment_live from fuzz_segment's; read-only: new inputs go to
# build/fuzz/corpus-run/<target>, which later runs reuse), and a finding is written to
# build/fuzz/findings/<target>/ (crash-*, timeout-*, leak-*); reproduce it with
# build/fuzz/fuzz/<target> FILE. Each run's log, with libFuzzer's final statistics (executions,
# executions per second), is build/fuzz/<target>.log.
#
# Environment: SHMQ_FUZZ_JOBS for build parallelism; SHMQ_FUZZ_TARGETS to run a subset
# ("fuzz_segment fuzz_cli_parsers").
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib/common.sh

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

# How long each target runs: -max_total_time=SECONDS, or -runs=N with --runs.
limit=(-max_total_time=20)
limit_words="20 s"
case "${1:-}" in
-h | --help)
    usage
    exit 0
    ;;
--runs)
    runs="${2:-}"
    case "$runs" in
    '' | *[!0-9]* | 0)
        echo "$0: --runs needs a positive number of executions" >&2
        exit 2
        ;;
    esac
    [ $# -eq 2 ] || { echo "usage: $0 [SECONDS | --runs N]" >&2; exit 2; }
    limit=(-runs="$runs")
    limit_words="$runs executions"
    ;;
'') ;;
*[!0-9]* | 0)
    echo "usage: $0 [SECONDS | --runs N]  (--help says more)" >&2
    exit 2
    ;;
*)
    [ $# -eq 1 ] || { echo "usage: $0 [SECONDS | --runs N]" >&2; exit 2; }
    limit=(-max_total_time="$1")
    limit_words="$1 s"
    ;;
esac
jobs="${SHMQ_FUZZ_JOBS:-$(nproc)}"
build=build/fuzz

shmq_install_packages "${SHMQ_BUILD_PACKAGES[@]}" clang libclang-rt-14-dev

shmq_say "fuzz build (clang, libFuzzer + ASan + UBSan) in $build"
mkdir -p "$build"
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSHMQ_BUILD_FUZZ=ON -DSHMQ_BUILD_TESTS=OFF \
    -DSHMQ_BUILD_BENCH=OFF -DSHMQ_BUILD_EXAMPLES=OFF > "$build.configure.log" 2>&1 ||
    { cat "$build.configure.log"; exit 1; }
if [ ! -d "$build/fuzz" ]; then
    echo "the top-level CMakeLists.txt does not include fuzz/ (option SHMQ_BUILD_FUZZ)" >&2
    exit 1
fi

# The targets this tree defines (fuzz_pattern: once the library has the topics' subject
# matcher); SHMQ_FUZZ_TARGETS picks some of them.
available=()
for t in ${SHMQ_FUZZ_TARGETS:-fuzz_segment fuzz_segment_live fuzz_cli_parsers fuzz_pattern fuzz_serve_route}; do
    if [ -d "$build/fuzz/CMakeFiles/$t.dir" ]; then
        available+=("$t")
    elif [ -n "${SHMQ_FUZZ_TARGETS:-}" ]; then
        echo "no fuzz target $t in this tree" >&2
        exit 2
    fi
done
cmake --build "$build" -j "$jobs" --target "${available[@]}" > "$build.build.log" 2>&1 ||
    { tail -50 "$build.build.log"; exit 1; }

# Leaks are findings; a fault is reported with its stack and ends the run.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1:symbolize=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

failed=()
for t in "${available[@]}"; do
    run="$build/corpus-run/$t"
    findings="$build/findings/$t"
    mkdir -p "$run" "$findings"
    seeds="fuzz/corpus/$t"
    [ "$t" = fuzz_segment_live ] && seeds=fuzz/corpus/fuzz_segment # the same inputs
    shmq_say "$t for $limit_words"
    # -timeout: one input running longer than this is a hang. -rss_limit_mb: a runaway
    # allocation is a finding too. The seed directory comes second, so it is only read.
    if "$build/fuzz/$t" "${limit[@]}" -timeout=25 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$findings/" "$run" "$seeds" \
        > "$build/$t.log" 2>&1; then
        grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added)|cov: ' \
            "$build/$t.log" | tail -4
    else
        tail -60 "$build/$t.log"
        failed+=("$t")
    fi
done
# What a crashed run left in /dev/shm: its objects are named after its pid (fuzz-<pid>,
# fuzz-<pid>-dl); those of a run still going on elsewhere stay.
for f in /dev/shm/shmq.fuzz-*; do
    [ -e "$f" ] || continue
    pid="${f#/dev/shm/shmq.fuzz-}"
    pid="${pid%%-*}"
    case "$pid" in '' | *[!0-9]*) continue ;; esac
    kill -0 "$pid" 2>/dev/null || rm -f "$f"
done

if [ ${#failed[@]} -ne 0 ]; then
    echo "fuzzing found problems in: ${failed[*]} (inputs in $build/findings/)" >&2
    exit 1
fi
shmq_say "fuzzing: no findings"
