#!/usr/bin/env bash
# 100 000 messages each way through `shmq bridge`, from 4 producers, against a real broker:
# every message arrives exactly once, in order per producer.
. "$(dirname "$0")/lib.sh"
PRODUCERS=4
N=25000 # per producer
TOTAL=$((PRODUCERS * N))

section "out: shm queue -> bridge -> AMQP queue, $TOTAL messages, producers running meanwhile"
shmq_out=$(qname out)
amqp_out=$(qname out)
"$SHMQ" create "$shmq_out" --capacity 20000 > /dev/null
amqp_queue "$amqp_out"
start out.log "$SHMQ" bridge out "$shmq_out" --count "$TOTAL"
bridge=$LAST_PID
produce "$shmq_out" "$PRODUCERS" "$N"
finish "$bridge" 120
[[ $RC -eq 0 ]] || fail "bridge out exited $RC"
cat "$WORK/out.log"
for c in republished redelivered returned given-back; do
    [[ $(counter "$c" out.log) == 0 ]] || fail "out: $c is $(counter "$c" out.log), expected 0"
done
[[ $(depth "$shmq_out") == 0 ]] || fail "out: the shm queue is not empty"
timeout $((60 * SCALE)) "$PEER" consume "$URL" "$amqp_out" 1000 > "$WORK/out.lines"
check_lines "$WORK/out.lines" "$PRODUCERS" "$N" 0 0

section "in: AMQP queue -> bridge -> shm queue, $TOTAL messages, producers running meanwhile"
shmq_in=$(qname in)
amqp_in=$(qname in)
"$SHMQ" create "$shmq_in" --capacity $((TOTAL + 1000)) > /dev/null
amqp_queue "$amqp_in"
start in.log "$SHMQ" bridge in "$shmq_in" --from "$amqp_in" --count "$TOTAL"
bridge=$LAST_PID
timeout $((120 * SCALE)) "$PEER" publish "$URL" "$amqp_in" "$PRODUCERS" "$N"
finish "$bridge" 120
[[ $RC -eq 0 ]] || fail "bridge in exited $RC"
cat "$WORK/in.log"
[[ $(counter redelivered in.log) == 0 ]] || fail "in: redelivered is not 0"
"$SHMQ" drain "$shmq_in" > "$WORK/in.lines"
check_lines "$WORK/in.lines" "$PRODUCERS" "$N" 0 0
[[ $(timeout 30 "$PEER" count "$URL" "$amqp_in") == 0 ]] || fail "in: the AMQP queue is not empty"

echo "rates: out $(rate out.log), in $(rate in.log)"
echo "PASS"
