#!/usr/bin/env bash
# tools/check.sh — the whole test suite, as CI runs it on a fresh Debian 12 machine.
#
#   1. installs the Debian packages the build and the tests need (only those missing);
#   2. builds with ASan+UBSan, checks the layers of src/ (tools/layers.py: no cycle between
#      files, no call upwards, no file over 750 lines) and runs every test through ctest (the
#      AMQP bridge's against a RabbitMQ started on loopback by the tests themselves);
#   3. builds with TSan and runs the concurrency and crash (kill -9) tests;
#   4. builds the libFuzzer targets and runs each for a bounded time (SHMQ_FUZZ_SECONDS, 30);
#   5. builds Release with gcc (Debian's default compiler) and runs the unit tests and the
#      benchmark suite briefly, so both keep building and running;
#   6. installs the Python package (python/) into a venv and runs its pytest suite: the API,
#      kombu, real Celery workers over shmq://, the Flask example (also over amqp://);
#   7. fails if any test left a queue behind in /dev/shm.
# Exits non-zero on any failure. Idempotent: build trees live in build/check-*.
#
# Environment: SHMQ_STRESS_SCALE=10 for longer stress runs; SHMQ_TEST_TIMEOUT_MULTIPLIER to
# stretch test timeouts on a slow machine; SHMQ_CHECK_JOBS for build parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib/common.sh

jobs="${SHMQ_CHECK_JOBS:-$(nproc)}"
start=$(date +%s)

shmq_say "packages"
# The AMQP bridge's tests need a real broker and a stock Celery worker; shmq serve's tests
# need Prometheus (promtool and the server) and a headless Chromium (installed, like every
# package here, without its recommends); the recipes (examples/recipes/) run against a private
# MariaDB server and ImageMagick.
shmq_install_packages "${SHMQ_BUILD_PACKAGES[@]}" clang libclang-rt-14-dev python3 \
    librabbitmq-dev rabbitmq-server python3-celery prometheus chromium mariadb-server \
    mariadb-client imagemagick
# The Python package, its kombu transport and its tests (step 6).
shmq_install_packages python3-dev python3-setuptools python3-venv python3-pytest python3-celery \
    python3-kombu python3-flask

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
export CMOCKA_MESSAGE_OUTPUT=STDOUT

# configure DIR ARGS...: clang (the sanitizers' and the fuzzers' compiler) unless SHMQ_CC=gcc.
configure() {
    local dir="$1" cc=clang cxx=clang++
    shift
    if [ "${SHMQ_CC:-clang}" = gcc ]; then cc=gcc cxx=g++; fi
    cmake -S . -B "$dir" -DCMAKE_C_COMPILER=$cc -DCMAKE_CXX_COMPILER=$cxx "$@" > "$dir.configure.log" 2>&1 ||
        { cat "$dir.configure.log"; return 1; }
    cmake --build "$dir" -j "$jobs" > "$dir.build.log" 2>&1 || { tail -50 "$dir.build.log"; return 1; }
}

mkdir -p build
# Never leave the test broker running, whatever happens.
trap 'tools/amqp_test_broker.sh stop >/dev/null 2>&1 || true' EXIT
# Queues the tests make carry these prefixes; anything new with them at the end was left behind.
test_segments() {
    find /dev/shm -maxdepth 1 \( -name 'shmq.test-*' -o -name 'shmq.clitest-*' -o -name 'shmq.bench-*' \
        -o -name 'shmq.fuzz-*' -o -name 'shmq.shmq-reply.*' \) -printf '%f\n' 2>/dev/null | sort
}
test_segments > build/check.segments-before

shmq_say "ASan+UBSan build, every test"
configure build/check-asan -DSHMQ_WERROR=ON -DCMAKE_BUILD_TYPE=Debug -DSHMQ_SANITIZE=address,undefined \
    -DSHMQ_BUILD_BENCH=OFF -DSHMQ_WITH_AMQP=ON -DSHMQ_WITH_HTTP=ON
# The layers of src/ (docs/ARCHITECTURE.md): no cycle between files, no call upwards.
python3 tools/layers.py build/check-asan/CMakeFiles/shmq_objects.dir/src
(cd build/check-asan && ctest --output-on-failure --timeout 600)

shmq_say "TSan build, concurrency tests"
configure build/check-tsan -DSHMQ_WERROR=ON -DCMAKE_BUILD_TYPE=Debug -DSHMQ_SANITIZE=thread \
    -DSHMQ_BUILD_BENCH=OFF -DSHMQ_BUILD_TOOLS=OFF
(cd build/check-tsan && SHMQ_TEST_TIMEOUT_MULTIPLIER="${SHMQ_TEST_TIMEOUT_MULTIPLIER:-3}" \
    ctest --output-on-failure -L "concurrency|crash")

shmq_say "fuzzing: every libFuzzer target for a bounded time"
tools/fuzz.sh "${SHMQ_FUZZ_SECONDS:-30}"

if [ -f bench/CMakeLists.txt ]; then
    # gcc, Debian's default compiler, as users build: Release with the tests, warnings as errors.
    shmq_say "gcc Release build: unit tests, benchmarks briefly"
    SHMQ_CC=gcc configure build/check-release -DSHMQ_WERROR=ON -DCMAKE_BUILD_TYPE=Release \
        -DSHMQ_BUILD_TESTS=ON
    (cd build/check-release && ctest --output-on-failure -L "unit|bench")
fi

shmq_say "Python package in a venv: pytest (API, kombu, Celery workers, Flask)"
# Debian's interpreter (the first python3 on PATH may be another one), with Debian's packages.
rm -rf build/check-venv
/usr/bin/python3 -m venv --system-site-packages build/check-venv
PIP_DISABLE_PIP_VERSION_CHECK=1 build/check-venv/bin/pip install -q --no-build-isolation ./python
py_rc=0
(cd python/tests && SHMQ_TEST_AMQP=1 ../../build/check-venv/bin/python -m pytest -q \
    -p no:cacheprovider -W ignore::DeprecationWarning) || py_rc=$?
if [ "$py_rc" -eq 5 ]; then
    echo "pytest collected no tests in python/tests" >&2
    exit 1
fi
[ "$py_rc" -eq 0 ] || exit "$py_rc"

test_segments > build/check.segments-after
left=$(comm -13 build/check.segments-before build/check.segments-after)
if [ -n "$left" ]; then
    echo "tests left queues in /dev/shm:" >&2
    echo "$left" >&2
    exit 1
fi
shmq_say "all checks passed in $(( $(date +%s) - start )) s"
