#!/usr/bin/env bash
# Topics through the bridge: shm topic -> amq.topic and amq.topic -> shm topic, 4 publishers
# of 25 000 messages each way, every message checked; subjects become routing keys and back
# (a binding or a pattern on one producer's subject gets exactly that producer's messages);
# both directions on one topic do not loop.
# usage: topics.sh SHMQ AMQP_PEER BROKER_SCRIPT TOPIC_PEER
. "$(dirname "$0")/lib.sh"
TOPIC_PEER=${4:?usage: $0 SHMQ AMQP_PEER BROKER_SCRIPT TOPIC_PEER}
PRODUCERS=4
N=25000
TOTAL=$((PRODUCERS * N))

# subscribe LINES LOG TOPIC PATTERN: a shm subscriber in the background, until 3 s idle.
subscribe() {
    "$TOPIC_PEER" subscribe "$3" "$4" 3000 > "$WORK/$1" 2> "$WORK/$2" &
    LAST_PID=$!
    STARTED+=("$LAST_PID")
    until_true 30 "subscriber $4" grep -q subscribed "$WORK/$2"
}

# only_p2 FILE: the lines are all p2's, and all of them.
only_p2() {
    [[ -z $(grep -v '^p2 ' "$1" | head -3) ]] || fail "$1 has other producers' messages"
    sed 's/^p2 /p1 /' "$1" > "$1.p1"
    check_lines "$1.p1" 1 "$N" 0 0
}

section "topic-out: shm topic -> amq.topic, subjects as routing keys"
t_out=$(qname out)
"$TOPIC_PEER" create "$t_out"
all=$(qname all)
p2=$(qname p2)
amqp_queue "$all"
amqp_queue "$p2"
timeout 30 "$PEER" bind "$URL" "$all" amq.topic "$t_out.#"
timeout 30 "$PEER" bind "$URL" "$p2" amq.topic "$t_out.p2"
start tout.log "$SHMQ" bridge topic-out "$t_out" --count "$TOTAL" -v
tout=$LAST_PID
until_true 30 "the topic-out bridge connected" grep -q connected "$WORK/tout.log"
timeout $((120 * SCALE)) "$TOPIC_PEER" publish "$t_out" "$t_out" "$PRODUCERS" "$N"
finish "$tout" 120
[[ $RC -eq 0 ]] || fail "bridge topic-out exited $RC"
cat "$WORK/tout.log"
for c in republished lost dropped; do
    [[ $(counter $c tout.log) == 0 ]] || fail "topic-out: $c is not 0"
done
timeout $((60 * SCALE)) "$PEER" consume "$URL" "$all" 1000 > "$WORK/out_all.lines"
check_lines "$WORK/out_all.lines" "$PRODUCERS" "$N" 0 0
timeout $((60 * SCALE)) "$PEER" consume "$URL" "$p2" 1000 > "$WORK/out_p2.lines"
only_p2 "$WORK/out_p2.lines"

section "topic-in: amq.topic -> shm topic, routing keys as subjects"
t_in=$(qname in)
"$TOPIC_PEER" create "$t_in"
subscribe in_all.lines sub_all.log "$t_in" "$t_in.#"
sub_all=$LAST_PID
subscribe in_p2.lines sub_p2.log "$t_in" "*.p2"
sub_p2=$LAST_PID
AMQP_QUEUES+=("$(qname tin)")
start tin.log "$SHMQ" bridge topic-in "$t_in" --from "$(qname tin)" --binding "$t_in.#" \
    --count "$TOTAL" -v
tin=$LAST_PID
until_true 30 "the topic-in bridge connected" grep -q connected "$WORK/tin.log"
timeout $((120 * SCALE)) "$PEER" publish "$URL" "amq.topic/$t_in" "$PRODUCERS" "$N"
finish "$tin" 120
[[ $RC -eq 0 ]] || fail "bridge topic-in exited $RC"
cat "$WORK/tin.log"
finish "$sub_all" 60
[[ $RC -eq 0 ]] || fail "subscriber $t_in.# failed: $(cat "$WORK/sub_all.log")"
finish "$sub_p2" 60
[[ $RC -eq 0 ]] || fail "subscriber *.p2 failed: $(cat "$WORK/sub_p2.log")"
check_lines "$WORK/in_all.lines" "$PRODUCERS" "$N" 0 0
only_p2 "$WORK/in_p2.lines"

section "topic-out and topic-in on one topic at once: no loop"
subscribe loop.lines sub_loop.log "$t_out" "#"
sub_loop=$LAST_PID
AMQP_QUEUES+=("$(qname loop)")
start loop_in.log "$SHMQ" bridge topic-in "$t_out" --from "$(qname loop)" --binding "$t_out.#" \
    --idle 3s -v
loop_in=$LAST_PID
until_true 30 "the loop topic-in bridge connected" grep -q connected "$WORK/loop_in.log"
start loop_out.log "$SHMQ" bridge topic-out "$t_out" --count 1000
loop_out=$LAST_PID
timeout $((60 * SCALE)) "$TOPIC_PEER" publish "$t_out" "$t_out" 1 1000
finish "$loop_out" 60
[[ $RC -eq 0 ]] || fail "the loop topic-out bridge exited $RC"
finish "$loop_in" 60
[[ $RC -eq 0 ]] || fail "the loop topic-in bridge exited $RC"
finish "$sub_loop" 60
cat "$WORK/loop_in.log"
[[ $(counter looped loop_in.log) == 1000 ]] || fail "topic-in did not skip its topic's 1000 messages"
check_lines "$WORK/loop.lines" 1 1000 0 0
"$TOPIC_PEER" rm "$t_out"
"$TOPIC_PEER" rm "$t_in"
echo "PASS"
