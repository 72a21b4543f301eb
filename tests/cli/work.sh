#!/usr/bin/env bash
# shmq work: a command per message, settled by its exit status; retries and dead letters,
# timeouts, replies through shmq call, signals, concurrency, workers killed with SIGKILL.
# Every message is accounted for: what was done, plus what is left, is what was pushed.
source "$(dirname "$0")/lib.sh"

lines_in() {
    [[ -f $1 ]] && wc -l < "$1" || echo 0
}

# summary_of FILE: the summary line of a work run's stderr.
summary_of() {
    grep '^shmq work: [0-9]* done' "$1" || fail "no summary in: $(cat "$1")"
}

section "exit 0 acknowledges: the queue is drained, each payload reached stdin as it is"
q=$(qname q)
"$SHMQ" create "$q"
seq 1 10 | "$SHMQ" push "$q"
"$SHMQ" push "$q" "two words" ""
expect_exit 0 "$SHMQ" work "$q" --drain -- sh -c 'printf "[%s]\n" "$(cat)"'
expect_eq "commands' output" "$(seq -f '[%g]' 1 10; echo '[two words]'; echo '[]')" "$(cat "$WORK/out")"
summary_of "$WORK/err" | grep -q '^shmq work: 12 done, 0 failed, 0 retried, 0 timed out in ' ||
    fail "summary: $(cat "$WORK/err")"
expect_eq "counters" "$(printf 'depth\t0\nin_flight\t0\npushed\t12\nacked\t12\nnacked\t0')" \
    "$("$SHMQ" stat "$q" | grep -E '^(depth|in_flight|pushed|acked|nacked)\s')"
expect_exit 0 "$SHMQ" work "$q" --drain -- true
summary_of "$WORK/err" | grep -q '^shmq work: 0 done' || fail "empty queue: $(cat "$WORK/err")"

section "the metadata is in the environment, and only what the message has"
"$SHMQ" push "$q" --type order --correlation-id c-7 --reply-to "$(qname nobody)" --timestamp full
"$SHMQ" push "$q" bare
SHMQ_TYPE=inherited expect_exit 0 "$SHMQ" work "$q" --drain -- sh -c \
    'echo "$(cat)|$SHMQ_QUEUE|$SHMQ_WORKER|$SHMQ_DELIVERIES|${SHMQ_TYPE-unset}|${SHMQ_CORRELATION_ID-unset}|${SHMQ_REPLY_TO-unset}|${SHMQ_TIMESTAMP_NS:+stamped}|${SHMQ_ID:+id}"'
expect_eq "environment" "$(printf 'full|%s|0|1|order|c-7|%s|stamped|id\nbare|%s|0|1|unset|unset|unset||id' "$q" "$(qname nobody)" "$q")" \
    "$(cat "$WORK/out")"

section "failure: exactly --max-deliveries attempts, then the message is in the dead-letter queue"
tasks=$(qname tasks)
dead=$(qname tasks-dead)
"$SHMQ" create "$tasks" --max-deliveries 3 --dead-letter "$dead"
"$SHMQ" push "$tasks" "the payload"
expect_exit 1 "$SHMQ" work "$tasks" --drain -- sh -c 'echo "$SHMQ_DELIVERIES $(cat)" >> "$0"; exit 3' "$WORK/attempts"
expect_eq "attempts" $'1 the payload\n2 the payload\n3 the payload' "$(cat "$WORK/attempts")"
expect_eq "per-message lines and summary" "shmq work: message ID (delivery 1 of 3): the command exited with status 3; it will be delivered again
shmq work: message ID (delivery 2 of 3): the command exited with status 3; it will be delivered again
shmq work: message ID (delivery 3 of 3): the command exited with status 3; that was its last delivery: it goes to '$dead'
shmq work: 0 done, 3 failed, 2 retried, 0 timed out, 1 past max deliveries in" \
    "$(sed -E 's/message [0-9]+ /message ID /; s/ in [0-9.]+s .*/ in/' "$WORK/err")"
expect_eq "dead letter" "the payload" "$("$SHMQ" drain "$dead")"
expect_eq "the queue" "$(printf 'depth\t0\nin_flight\t0\nredelivered\t2\ndead_lettered\t1')" \
    "$("$SHMQ" stat "$tasks" | grep -E '^(depth|in_flight|redelivered|dead_lettered)\s')"

section "--retry-delay: a failed message comes back only after the delay"
"$SHMQ" push "$tasks" later
"$SHMQ" work "$tasks" --retry-delay 400ms -q -- sh -c 'date +%s.%N >> "$0"; exit 1' "$WORK/times" \
    2> "$WORK/err" &
worker=$!
wait_until 20 '(($(lines_in "$WORK/times") >= 2))'
kill -TERM "$worker"
status=0
wait "$worker" || status=$?
expect_eq "status after SIGTERM" 143 "$status"
"$PY" - "$WORK/times" <<'PY'
import sys
t = [float(l) for l in open(sys.argv[1])]
assert t[1] - t[0] >= 0.39, t
PY
summary_of "$WORK/err" > /dev/null
grep -q "message" <(grep -v '^shmq work: [0-9]* done' "$WORK/err") && fail "-q printed: $(cat "$WORK/err")"
"$SHMQ" purge -q "$tasks"
"$SHMQ" purge -q "$dead"

section "--timeout: a stuck command is killed with everything it started, and its message given back"
slow=$(qname slow)
"$SHMQ" create "$slow" --max-deliveries 2 --dead-letter "$(qname slow-dead)"
"$SHMQ" push "$slow" stuck
# A duration no other run uses: other checkouts may run this test at the same time.
stuck="31.$$"
start=$(date +%s%N)
expect_exit 1 "$SHMQ" work "$slow" --drain --timeout 300ms --grace 200ms -- \
    sh -c "trap '' TERM; sleep $stuck & wait; wait"
elapsed=$((($(date +%s%N) - start) / 1000000))
((elapsed < 10000)) || fail "two timeouts took ${elapsed} ms"
summary_of "$WORK/err" | grep -q '^shmq work: 0 done, 0 failed, 1 retried, 2 timed out, 1 past max deliveries in ' ||
    fail "summary: $(cat "$WORK/err")"
grep -q 'delivery 1 of 2): the command timed out; it will be delivered again$' "$WORK/err" ||
    fail "timeout line: $(cat "$WORK/err")"
expect_eq "the message went back twice, then to the dead letters" "$(printf 'nacked\t2\ndead_lettered\t1')" \
    "$("$SHMQ" stat "$slow" | grep -E '^(nacked|dead_lettered)\s')"
expect_eq "dead letter" stuck "$("$SHMQ" drain "$(qname slow-dead)")"
sleep 0.2
! pgrep -f "sleep $stuck" > /dev/null || fail "a command's child survived its timeout"

section "--reply: a worker running tr answers shmq call"
rpc=$(qname rpc)
"$SHMQ" create "$rpc"
"$SHMQ" work "$rpc" --reply -j 2 -- tr a-z A-Z 2> "$WORK/server-err" &
server=$!
expect_exit 0 "$SHMQ" call "$rpc" hello
expect_eq "reply" HELLO "$(cat "$WORK/out")"
echo "from stdin" | "$SHMQ" call "$rpc" > "$WORK/out"
expect_eq "reply" "FROM STDIN" "$(cat "$WORK/out")"
kill -TERM "$server"
status=0
wait "$server" || status=$?
expect_eq "server status after SIGTERM" 143 "$status"
summary_of "$WORK/server-err" | grep -q '^shmq work: 2 done, 0 failed' || fail "$(cat "$WORK/server-err")"
# line: one trailing newline is dropped; raw: the output as it is.
"$SHMQ" work "$rpc" --reply -- echo answer 2> /dev/null &
server=$!
"$SHMQ" call "$rpc" x > "$WORK/reply"
printf 'answer\n' > "$WORK/expected"
expect_same_file "--reply=line drops the command's final newline" "$WORK/expected" "$WORK/reply"
kill -TERM "$server"
wait "$server" || true
"$SHMQ" work "$rpc" --reply=raw -- echo answer 2> /dev/null &
server=$!
"$SHMQ" call "$rpc" x > "$WORK/reply"
printf 'answer\n\n' > "$WORK/expected"
expect_same_file "--reply=raw keeps it" "$WORK/expected" "$WORK/reply"
kill -TERM "$server"
wait "$server" || true
# A reply may be larger than the request queue's slots (the reply queue's are 64 KiB at least).
small=$(qname small-rpc)
"$SHMQ" create "$small" --slot-size 64
"$SHMQ" work "$small" --reply -- sh -c 'head -c 5000 /dev/zero | tr "\0" y' 2> /dev/null &
server=$!
expect_eq "a 5000-byte reply" 5000 "$("$SHMQ" call "$small" x | tr -d '\n' | wc -c)"
kill -TERM "$server"
wait "$server" || true

section "SIGTERM: no new message, the running ones finish; done + left = pushed"
many=$(qname many)
"$SHMQ" create "$many"
seq 1 60 | "$SHMQ" push "$many"
"$SHMQ" work "$many" -j 3 -- sh -c 'sleep 0.1; echo "$(cat)" >> "$0"' "$WORK/done" 2> "$WORK/err" &
worker=$!
wait_until 20 '(($(lines_in "$WORK/done") >= 6))'
kill -TERM "$worker"
status=0
wait "$worker" || status=$?
expect_eq "status" 143 "$status"
done_count=$(lines_in "$WORK/done")
left=$(field "$many" depth)
expect_eq "done + left" 60 $((done_count + left))
expect_eq "in flight" 0 "$(field "$many" in_flight)"
expect_eq "nothing twice" "$done_count" "$(sort -u "$WORK/done" | wc -l)"
summary_of "$WORK/err" | grep -q "^shmq work: $done_count done, 0 failed, 0 retried, 0 timed out in " ||
    fail "summary: $(cat "$WORK/err")"
((left > 0)) || fail "the stop came too late to test anything"

section "a second signal stops the running commands and gives their messages back"
"$SHMQ" work "$many" -j 2 -- sh -c 'echo started >> "$0"; exec sleep 32.5' "$WORK/started" \
    2> "$WORK/err" &
worker=$!
wait_until 20 '(($(lines_in "$WORK/started") >= 2))'
kill -INT "$worker"
sleep 0.3
kill -INT "$worker"
status=0
wait "$worker" || status=$?
expect_eq "status after Ctrl-C twice" 130 "$status"
expect_eq "nothing lost" "$left" "$(field "$many" depth)"
expect_eq "in flight" 0 "$(field "$many" in_flight)"
summary_of "$WORK/err" | grep -q '^shmq work: 0 done, 0 failed, 0 retried, 0 timed out, 2 stopped and given back in ' ||
    fail "summary: $(cat "$WORK/err")"
! pgrep -f 'sleep 32.5' > /dev/null || fail "a stopped command survived"
"$SHMQ" purge -q "$many"

section "-j 3 runs three commands at once, one per worker"
three=$(qname three)
"$SHMQ" create "$three"
"$SHMQ" push "$three" a b c
# Each command waits until all three have started: they finish only if they run together.
expect_exit 0 "$SHMQ" work "$three" -j 3 --drain -- sh -c '
    touch "$0/running.$SHMQ_WORKER"
    for i in $(seq 200); do
        [ "$(ls "$0" | grep -c "^running\.")" = 3 ] && exit 0
        sleep 0.05
    done
    exit 1' "$WORK"
summary_of "$WORK/err" | grep -q '^shmq work: 3 done, 0 failed' || fail "summary: $(cat "$WORK/err")"
expect_eq "workers" "running.0 running.1 running.2" "$(cd "$WORK" && echo running.*)"

section "a worker killed with SIGKILL is replaced, and its message delivered again"
lost=$(qname lost)
"$SHMQ" create "$lost"
"$SHMQ" push "$lost" precious
# The first delivery blocks; the command records its worker's pid ($PPID) and its delivery.
cmd='echo "$SHMQ_DELIVERIES $PPID $(cat)" >> "$0"; [ "$SHMQ_DELIVERIES" -gt 1 ] || exec sleep 33.5'
"$SHMQ" work "$lost" -- sh -c "$cmd" "$WORK/deliveries" 2> "$WORK/err" &
pool=$!
wait_until 20 '(($(lines_in "$WORK/deliveries") >= 1))'
read -r _ victim _ < "$WORK/deliveries"
kill -9 "$victim"
wait_until 20 '(($(lines_in "$WORK/deliveries") >= 2))'
kill -TERM "$pool"
wait "$pool" || true
expect_eq "deliveries" "2 precious" "$(sed -n 2p "$WORK/deliveries" | cut -d' ' -f1,3)"
grep -q "^shmq work: worker 0 (pid $victim) was killed by signal 9 (Killed); the message it held goes back to the queue; starting another\$" "$WORK/err" ||
    fail "no word of the killed worker: $(cat "$WORK/err")"
! pgrep -f 'sleep 33.5' > /dev/null || fail "the killed worker's command survived it"
expect_eq "done" 0 "$(field "$lost" depth)"

section "repair after kill -9 of the whole pool: the claim comes back, SHMQ_DELIVERIES=2"
"$SHMQ" push "$lost" again
: > "$WORK/deliveries"
"$SHMQ" work "$lost" -- sh -c "$cmd" "$WORK/deliveries" 2> /dev/null &
pool=$!
wait_until 20 '(($(lines_in "$WORK/deliveries") >= 1))'
read -r _ victim _ < "$WORK/deliveries"
{
    kill -9 "$pool" "$victim"
    wait "$pool"
} 2> /dev/null || true
wait_until 20 '[[ $(field "$lost" dead) == 1 ]]'
expect_eq "in flight, held by the dead" 1 "$(field "$lost" in_flight)"
expect_exit 0 "$SHMQ" repair "$lost"
expect_eq "repaired" "$(printf 'dead_participants\t1\nrecovered\t1')" \
    "$(grep -E '^(dead_participants|recovered)\s' "$WORK/out")"
expect_exit 0 "$SHMQ" work "$lost" --drain -- sh -c "$cmd" "$WORK/deliveries"
expect_eq "the second delivery" "2 again" "$(sed -n 2p "$WORK/deliveries" | cut -d' ' -f1,3)"
! pgrep -f 'sleep 33.5' > /dev/null || fail "the killed worker's command survived it"

section "--cpus: a list pins worker i to its CPU; near pins to the queue's node"
expect_exit 0 "$SHMQ" work "$three" --drain --cpus 0-1 -- true
"$SHMQ" push "$three" x
expect_exit 0 "$SHMQ" work "$three" --drain --cpus 0 -- sh -c 'grep Cpus_allowed_list /proc/self/status'
expect_eq "affinity" "$(printf 'Cpus_allowed_list:\t0')" "$(cat "$WORK/out")"
"$SHMQ" push "$three" x
status=0
"$SHMQ" work "$three" --drain --cpus near -- true 2> "$WORK/err" || status=$?
if [[ $status != 0 ]]; then
    expect_eq "near status" 1 "$status"
    grep -q "^shmq work: cannot run near '$three' (drop --cpus near): " "$WORK/err" || fail "$(cat "$WORK/err")"
    "$SHMQ" purge -q "$three"
fi

section "usage and failures: exit codes 2, 3, 126, 127"
expect_exit 2 "$SHMQ" work "$q"
expect_stderr "shmq work: no command: usage is 'shmq work [options] NAME -- CMD [ARG...]' (see 'shmq work --help')"
expect_exit 2 "$SHMQ" work "$q" true
expect_stderr "shmq work: the command must follow '--': usage is 'shmq work [options] NAME -- CMD [ARG...]' (see 'shmq work --help')"
expect_exit 2 "$SHMQ" work "$q" -j 0 -- true
expect_exit 2 "$SHMQ" work "$q" --reply=json -- true
expect_stderr "shmq work: invalid value 'json' for --reply: expected 'line' or 'raw' (see 'shmq work --help')"
expect_exit 2 "$SHMQ" work "$q" --cpus 3-1 -- true
expect_exit 2 "$SHMQ" work "$q" --cpus 4095 -- true
expect_stderr "shmq work: CPU 4095 does not exist or is not allowed to this process (--cpus)"
expect_exit 3 "$SHMQ" work "$(qname missing)" -- true
expect_stderr "shmq work: queue '$(qname missing)' does not exist"
expect_exit 127 "$SHMQ" work "$q" -- no-such-command-here
expect_stderr "shmq work: cannot run 'no-such-command-here': command not found"
expect_exit 126 "$SHMQ" work "$q" -- "$WORK"
spsc=$(qname spsc)
"$SHMQ" create "$spsc" --single-consumer
expect_exit 2 "$SHMQ" work "$spsc" -j 2 -- true
expect_stderr "shmq work: '$spsc' takes one consumer at a time: use -j 1"
# Options after "--" belong to the command.
"$SHMQ" push "$q" x
expect_exit 0 "$SHMQ" work "$q" --drain -- echo --drain -j 2
expect_eq "the command's arguments" "--drain -j 2" "$(cat "$WORK/out")"
echo PASS
