#!/usr/bin/env bash
# Kill the bridge (SIGKILL) in the middle of a stream and start it again, both ways: nothing is
# lost, and the duplicates are no more than the restarted bridge counted as possible ones.
. "$(dirname "$0")/lib.sh"
PRODUCERS=4
N=25000
TOTAL=$((PRODUCERS * N))

# A message the killed bridge held is given back by the queue after the messages behind it
# (out), or sent again by the broker (in): it may arrive twice and, out, after later ones.

section "out: kill the bridge after 20000 messages reached the broker, restart it"
shmq_out=$(qname out)
amqp_out=$(qname out)
"$SHMQ" create "$shmq_out" --capacity "$TOTAL" > /dev/null
amqp_queue "$amqp_out"
produce "$shmq_out" "$PRODUCERS" "$N"
start out1.log "$SHMQ" bridge out "$shmq_out"
first=$LAST_PID
until_true 60 "20000 messages at the broker" \
    sh -c "[ \"\$(timeout 10 '$PEER' count '$URL' '$amqp_out')\" -ge 20000 ]"
kill -KILL "$first"
finish "$first" 10
[[ $RC -eq 137 ]] || fail "the first bridge exited $RC, not by SIGKILL"
start out2.log "$SHMQ" bridge out "$shmq_out" --idle 2s
finish "$LAST_PID" 120
[[ $RC -eq 0 ]] || fail "the second bridge exited $RC"
cat "$WORK/out2.log"
redelivered=$(counter redelivered out2.log)
[[ $redelivered -gt 0 ]] || fail "out: the second bridge saw no message the first one held"
[[ $(depth "$shmq_out") == 0 ]] || fail "out: the shm queue is not empty"
timeout $((60 * SCALE)) "$PEER" consume "$URL" "$amqp_out" 1000 > "$WORK/out.lines"
check_lines "$WORK/out.lines" "$PRODUCERS" "$N" "$redelivered" "$redelivered"

section "in: kill the bridge after 20000 messages reached the shm queue, restart it"
shmq_in=$(qname in)
amqp_in=$(qname in)
"$SHMQ" create "$shmq_in" --capacity $((TOTAL * 2)) > /dev/null
amqp_queue "$amqp_in"
timeout $((120 * SCALE)) "$PEER" publish "$URL" "$amqp_in" "$PRODUCERS" "$N"
# A small prefetch slows the bridge down enough to be killed in the middle.
start in1.log "$SHMQ" bridge in "$shmq_in" --from "$amqp_in" --prefetch 50
first=$LAST_PID
until_true 60 "20000 messages in the shm queue" sh -c "[ \$('$SHMQ' stat '$shmq_in' | awk '\$1 == \"depth\" { print \$2 }') -ge 20000 ]"
kill -KILL "$first"
finish "$first" 10
[[ $RC -eq 137 ]] || fail "the first bridge exited $RC, not by SIGKILL"
start in2.log "$SHMQ" bridge in "$shmq_in" --from "$amqp_in" --idle 2s
finish "$LAST_PID" 120
[[ $RC -eq 0 ]] || fail "the second bridge exited $RC"
cat "$WORK/in2.log"
redelivered=$(counter redelivered in2.log)
"$SHMQ" drain "$shmq_in" > "$WORK/in.lines"
check_lines "$WORK/in.lines" "$PRODUCERS" "$N" "$redelivered" 0
[[ $(timeout 30 "$PEER" count "$URL" "$amqp_in") == 0 ]] || fail "in: the AMQP queue is not empty"
echo "PASS"
