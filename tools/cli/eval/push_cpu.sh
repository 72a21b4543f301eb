#!/usr/bin/env bash
# tools/cli/eval/push_cpu.sh SHMQ [RUNS]: the CPU time (perf's task-clock, ms) `shmq push` takes
# for 1 000 000 lines into a FIFO queue, and `shmq drain` to take them out again, RUNS times (5).
# CPU time rather than wall time: the machine this was measured on is shared and noisy.
#   tools/cli/eval/push_cpu.sh build/rel-gcc/tools/shmq 5
set -euo pipefail
shmq=$1
runs=${2:-5}
q=clitest-eval-push-$$
work=$(mktemp -d)
trap '"$shmq" rm -f "$q" 2> /dev/null || true; rm -rf "$work"' EXIT
seq 1 1000000 > "$work/lines"
"$shmq" create "$q" --capacity 1048576 --slot-size 64
echo "push_ms drain_ms"
for _ in $(seq 1 "$runs"); do
    push=$(perf stat -x, -e task-clock "$shmq" push "$q" < "$work/lines" 2>&1 > /dev/null | cut -d, -f1)
    drain=$(perf stat -x, -e task-clock "$shmq" drain "$q" 2>&1 > /dev/null | grep task-clock | cut -d, -f1)
    echo "$push $drain"
done
