# Helpers for the tests of `shmq bridge` against a real broker; sourced by each test script.
# usage: SCRIPT.sh PATH_TO_SHMQ PATH_TO_AMQP_PEER PATH_TO_AMQP_TEST_BROKER_SH
#
# The broker runs on 127.0.0.1:5672 (ctest's fixture starts it with tools/amqp_test_broker.sh).
# Every shm queue and AMQP queue a test makes is named "$PREFIX<something>"
# (test-amqp-<script>-<pid>-...); the EXIT trap kills the processes the test started (by pid),
# deletes its AMQP queues and removes its shm queues, whether the test passed or not.
# Every wait is bounded; a failure prints what was expected and what came, then exits 1.
set -euo pipefail

SHMQ=${1:?usage: $0 SHMQ AMQP_PEER BROKER_SCRIPT [TOPIC_PEER]}
PEER=${2:?usage: $0 SHMQ AMQP_PEER BROKER_SCRIPT}
BROKER=${3:?usage: $0 SHMQ AMQP_PEER BROKER_SCRIPT}
URL=amqp://guest:guest@127.0.0.1:5672/%2f
PREFIX="test-amqp-$(basename "$0" .sh)-$$-"
WORK=$(mktemp -d)
SCALE=${SHMQ_TEST_TIMEOUT_MULTIPLIER:-1} # stretches every bound on slow or instrumented builds
STARTED=()                               # pids of the background processes we started
AMQP_QUEUES=()                           # AMQP queues to delete at the end
AMQP_EXCHANGES=()                        # AMQP exchanges to delete at the end

cleanup() {
    local rc=$? pid f
    for pid in "${STARTED[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ ${#AMQP_QUEUES[@]} -gt 0 ]]; then
        timeout 30 "$PEER" delete "$URL" "${AMQP_QUEUES[@]}" 2>/dev/null || true
    fi
    if [[ ${#AMQP_EXCHANGES[@]} -gt 0 ]]; then
        timeout 30 "$PEER" delete-exchange "$URL" "${AMQP_EXCHANGES[@]}" 2>/dev/null || true
    fi
    for f in /dev/shm/shmq."$PREFIX"*; do
        [[ -e $f ]] || continue
        "$SHMQ" rm -f "${f#/dev/shm/shmq.}" 2>/dev/null || rm -f "$f"
    done
    if [[ $rc -ne 0 ]]; then
        for f in "$WORK"/*.log; do
            [[ -e $f ]] || continue
            echo "--- $(basename "$f") (last lines)" >&2
            tail -n 15 "$f" >&2
        done
    fi
    [[ -n ${KEEP_WORK:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

section() {
    echo "--- $*"
}

# A queue name private to this run (shm and AMQP alike).
qname() {
    echo "${PREFIX}$1"
}

# amqp_queue NAME: declare a durable AMQP queue, deleted at the end.
amqp_queue() {
    AMQP_QUEUES+=("$1")
    timeout 30 "$PEER" declare "$URL" "$1"
}

# start LOG COMMAND...: run in the background, output to $WORK/LOG; the pid is in $LAST_PID.
start() {
    local log=$1
    shift
    "$@" > "$WORK/$log" 2>&1 &
    LAST_PID=$!
    STARTED+=("$LAST_PID")
}

alive() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ $state != Z* ]]
}

# finish PID SECONDS: wait for a background process to end, at most SECONDS (times $SCALE);
# its exit code is in $RC. Past the deadline it is killed and the test fails.
finish() {
    local pid=$1 limit=$(($2 * SCALE * 10)) i
    for ((i = 0; i < limit; i++)); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        fail "pid $pid still running after $(($2 * SCALE)) s"
    fi
    RC=0
    wait "$pid" || RC=$?
}

# until_true SECONDS WHAT COMMAND...: poll COMMAND every 0.1 s until it succeeds.
until_true() {
    local limit=$(($1 * SCALE * 10)) what=$2 i
    shift 2
    for ((i = 0; i < limit; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    fail "$what: not within $(($1 * SCALE)) s"
}

# counter NAME LOG: a counter of a bridge's summary ("  republished  12  ...").
counter() {
    awk -v k="$1" '$1 == k { print $2; found = 1 } END { if (!found) print "?" }' "$WORK/$2"
}

# rate LOG: the first summary line's "N msg/s".
rate() {
    grep -o '[0-9]* msg/s' "$WORK/$1" | head -1
}

# depth QUEUE: messages ready in a shm queue.
depth() {
    "$SHMQ" stat "$1" | awk '$1 == "depth" { print $2 }'
}

# produce QUEUE PRODUCERS N: PRODUCERS concurrent `shmq push` of "p<k> <seq>", seq 1..N.
produce() {
    local q=$1 producers=$2 n=$3 k pids=()
    for ((k = 1; k <= producers; k++)); do
        seq 1 "$n" | sed "s/^/p$k /" | "$SHMQ" push "$q" &
        pids+=($!)
    done
    for k in "${pids[@]}"; do
        wait "$k" || fail "shmq push into $q failed"
    done
}

# check_lines FILE PRODUCERS N MAX_DUP MAX_REORDER: every message there, within the limits.
check_lines() {
    "$PEER" check "$2" "$3" "$4" "$5" < "$1" || fail "check of $1"
}
