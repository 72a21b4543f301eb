#!/usr/bin/env bash
# tools/quickstart.sh — from a fresh Debian 12 machine to shmq moving messages.
#
# Installs the Debian packages it needs (only those missing; as root or through sudo),
# builds a Release tree in build/release, and runs the main job: the example producer and
# consumer processes move 10 million 64-byte messages through a FIFO queue, print messages
# per second and the queue's statistics, and remove the queue. Then it shows the shmq
# command-line tool on a queue fed from a pipeline. Idempotent.
#
# Environment: SHMQ_QUICKSTART_COUNT (default 10000000), SHMQ_QUICKSTART_SIZE (default 64).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/lib/common.sh

count="${SHMQ_QUICKSTART_COUNT:-10000000}"
size="${SHMQ_QUICKSTART_SIZE:-64}"

shmq_say "packages"
shmq_install_packages "${SHMQ_BUILD_PACKAGES[@]}"

shmq_say "building Release in build/release"
mkdir -p build
# The examples and the tool said explicitly: build/release may have been configured before
# without them (tools/serve_bench.py's instructions build the same tree).
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DSHMQ_BUILD_TESTS=OFF \
    -DSHMQ_BUILD_BENCH=OFF -DSHMQ_BUILD_EXAMPLES=ON -DSHMQ_BUILD_TOOLS=ON > build/release.configure.log 2>&1 || { cat build/release.configure.log; exit 1; }
cmake --build build/release -j "$(nproc)" > build/release.build.log 2>&1 || { tail -40 build/release.build.log; exit 1; }

bin=build/release/examples
q="quickstart-$$"
trap 'rm -f "/dev/shm/shmq.$q" "/dev/shm/shmq.$q-cli"' EXIT

shmq_say "main job: $count messages of $size bytes, producer and consumer processes"
"$bin/shmq-producer" "$q" "$count" "$size" &
producer=$!
"$bin/shmq-consumer" "$q" "$count" --remove
wait "$producer"

cli=build/release/tools/shmq
if [ -x "$cli" ]; then
    shmq_say "the shmq tool: a queue fed from a pipeline"
    "$cli" create "$q-cli" --capacity 100000 --slot-size 128
    seq 1 50000 | sed 's/^/job /' | "$cli" push "$q-cli"
    "$cli" ls
    "$cli" stat "$q-cli"
    echo "first three: $("$cli" pop "$q-cli" -n 3 | tr '\n' ' ')"
    echo "drained: $("$cli" drain "$q-cli" | wc -l) more"
    "$cli" rm "$q-cli"
fi
shmq_say "done"
