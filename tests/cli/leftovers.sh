#!/bin/sh
# The last CLI test: no test left a segment behind. Test segments are named
# clitest-SCRIPT-PID-..., PID being the test script's: a segment whose script still runs
# belongs to a run in progress (another build's tests on the same machine), not a leftover.
status=0
for f in /dev/shm/shmq.clitest-*; do
    [ -e "$f" ] || continue
    pid=$(printf '%s\n' "${f#/dev/shm/shmq.clitest-}" | sed -n 's/^[a-z_]*-\([0-9][0-9]*\)-.*/\1/p')
    if [ -n "$pid" ] && kill -0 "$pid" 2> /dev/null; then
        continue
    fi
    echo "left behind: ${f#/dev/shm/}"
    status=1
done
exit $status
