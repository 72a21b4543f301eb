#!/usr/bin/env bash
# Restart the broker while a bridge streams each way: both reconnect, nothing is lost, first
# arrivals keep their order per producer, and the duplicates are no more than the bridges
# counted as possible ones (republished out, redelivered in).
. "$(dirname "$0")/lib.sh"
PRODUCERS=4
N=25000
TOTAL=$((PRODUCERS * N))

shmq_out=$(qname out)
amqp_out=$(qname out)
shmq_in=$(qname in)
amqp_in=$(qname in)
"$SHMQ" create "$shmq_out" --capacity "$TOTAL" > /dev/null
# The in bridge fills this queue and then waits for room: it is in the middle of its stream,
# with deliveries prefetched and unacknowledged, when the broker goes away.
"$SHMQ" create "$shmq_in" --capacity 30000 > /dev/null
amqp_queue "$amqp_out"
amqp_queue "$amqp_in"

section "$TOTAL messages waiting on each side"
produce "$shmq_out" "$PRODUCERS" "$N"
timeout $((120 * SCALE)) "$PEER" publish "$URL" "$amqp_in" "$PRODUCERS" "$N"

section "both bridges streaming"
start out.log "$SHMQ" bridge out "$shmq_out" --count "$TOTAL" --backoff-max 1s
out_pid=$LAST_PID
start in.log "$SHMQ" bridge in "$shmq_in" --from "$amqp_in" --idle 3s --backoff-max 1s
in_pid=$LAST_PID
until_true 60 "the in bridge filling its queue" sh -c "[ \$('$SHMQ' stat '$shmq_in' | awk '\$1 == \"depth\" { print \$2 }') -ge 30000 ]"
at_broker=$(timeout 10 "$PEER" count "$URL" "$amqp_out")
[[ $at_broker -lt $TOTAL ]] || fail "the out bridge finished before the restart"

section "restarting the broker ($at_broker messages out so far)"
timeout $((120 * SCALE)) "$BROKER" restart

section "draining the in queue while the bridges finish"
: > "$WORK/in.lines"
while alive "$in_pid"; do
    "$SHMQ" drain "$shmq_in" >> "$WORK/in.lines"
    sleep 0.2
done
finish "$in_pid" 120
[[ $RC -eq 0 ]] || fail "bridge in exited $RC"
"$SHMQ" drain "$shmq_in" >> "$WORK/in.lines"
finish "$out_pid" 120
[[ $RC -eq 0 ]] || fail "bridge out exited $RC"
cat "$WORK/out.log" "$WORK/in.log"

section "checks"
for log in out.log in.log; do
    [[ $(counter connections $log) -ge 2 ]] || fail "$log: the bridge did not reconnect"
done
republished=$(counter republished out.log)
timeout $((60 * SCALE)) "$PEER" consume "$URL" "$amqp_out" 1000 > "$WORK/out.lines"
check_lines "$WORK/out.lines" "$PRODUCERS" "$N" "$republished" 0
redelivered=$(counter redelivered in.log)
check_lines "$WORK/in.lines" "$PRODUCERS" "$N" "$redelivered" 0
[[ $(timeout 30 "$PEER" count "$URL" "$amqp_in") == 0 ]] || fail "in: the AMQP queue is not empty"
echo "PASS"
