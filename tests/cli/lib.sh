# Helpers for the tests of the shmq tool; sourced by each test script.
# usage: SCRIPT.sh PATH_TO_INSTALLED_SHMQ
#
# Every queue a test makes is named "$PREFIX<something>" (clitest-<script>-<pid>-...), and the
# EXIT trap removes every segment with that prefix, whether the test passed or not. A failed
# assertion prints what was expected and what came, then exits non-zero.
set -euo pipefail

SHMQ=${1:?usage: $0 PATH_TO_INSTALLED_SHMQ}
PY=/usr/bin/python3
PREFIX="clitest-$(basename "$0" .sh)-$$-"
WORK=$(mktemp -d)

cleanup() {
    local f pids
    # Background processes of a test that failed: they must not outlive it (nor keep its
    # output open, which would hold ctest up).
    pids=$(jobs -p)
    if [[ -n $pids ]]; then
        kill $pids 2> /dev/null || true
        wait 2> /dev/null || true
    fi
    for f in /dev/shm/shmq."$PREFIX"*; do
        [[ -e $f ]] || continue
        "$SHMQ" rm -f "${f#/dev/shm/shmq.}" 2>/dev/null || rm -f "$f"
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# A queue name private to this test run.
qname() {
    echo "${PREFIX}$1"
}

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

section() {
    echo "--- $*"
}

# expect_eq WHAT EXPECTED ACTUAL
expect_eq() {
    if [[ "$2" != "$3" ]]; then
        echo "FAIL: $1" >&2
        echo "  expected: $(printf '%q' "$2")" >&2
        echo "  actual:   $(printf '%q' "$3")" >&2
        exit 1
    fi
}

# expect_same_file WHAT EXPECTED_FILE ACTUAL_FILE: byte for byte.
expect_same_file() {
    if ! cmp -s "$2" "$3"; then
        echo "FAIL: $1: $2 and $3 differ" >&2
        cmp "$2" "$3" >&2 || true
        diff <(od -c "$2" | head -20) <(od -c "$3" | head -20) >&2 || true
        exit 1
    fi
}

# expect_exit CODE COMMAND...: run it (stdout to $WORK/out, stderr to $WORK/err) and check
# its exit code.
expect_exit() {
    local want=$1 got=0
    shift
    "$@" >"$WORK/out" 2>"$WORK/err" || got=$?
    if [[ $got != "$want" ]]; then
        echo "FAIL: '$*' exited $got, expected $want" >&2
        echo "  stdout: $(head -c 500 "$WORK/out")" >&2
        echo "  stderr: $(head -c 500 "$WORK/err")" >&2
        exit 1
    fi
}

# expect_stderr TEXT: the last expect_exit printed exactly this on stderr (one line).
expect_stderr() {
    expect_eq "stderr" "$1" "$(cat "$WORK/err")"
}

# expect_quiet: the last expect_exit printed nothing on stderr.
expect_quiet() {
    expect_eq "stderr is empty" "" "$(cat "$WORK/err")"
}

# field NAME KEY: one value of `shmq stat NAME`'s piped output (empty if NAME cannot be read).
field() {
    "$SHMQ" stat "$1" 2> /dev/null | awk -F'\t' -v k="$2" '$1 == k { print $2 }'
}

# wait_until SECONDS 'CONDITION': poll until the condition (evaluated each time) holds; fail
# after SECONDS.
wait_until() {
    local i
    for ((i = 0; i < $1 * 20; i++)); do
        eval "$2" && return 0
        sleep 0.05
    done
    fail "waited ${1}s for: $2"
}

# depth NAME: messages ready in the queue, from stat's piped output.
depth() {
    "$SHMQ" stat "$1" | awk -F'\t' '$1 == "depth" { print $2 }'
}
