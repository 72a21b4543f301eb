#!/usr/bin/env bash
# Lines in, lines out: FIFO keeps the order, LIFO reverses it; counts, waits, drain, peek, purge.
source "$(dirname "$0")/lib.sh"

section "FIFO: seq 1 100000 | push, pop -n 100000 gives the same sequence"
fifo=$(qname fifo)
"$SHMQ" create "$fifo" --capacity 100000
seq 1 100000 > "$WORK/seq"
"$SHMQ" push "$fifo" < "$WORK/seq"
expect_eq "depth after push" 100000 "$(depth "$fifo")"
"$SHMQ" pop "$fifo" -n 100000 > "$WORK/popped"
expect_same_file "FIFO order" "$WORK/seq" "$WORK/popped"
expect_eq "depth after pop" 0 "$(depth "$fifo")"

section "LIFO: the same sequence comes out reversed"
lifo=$(qname lifo)
"$SHMQ" create "$lifo" --lifo --capacity 100000
"$SHMQ" push "$lifo" < "$WORK/seq"
"$SHMQ" pop "$lifo" -n 100000 > "$WORK/popped"
seq 100000 -1 1 > "$WORK/reversed"
expect_same_file "LIFO order" "$WORK/reversed" "$WORK/popped"

section "single-producer single-consumer ring: order kept across batches"
spsc=$(qname spsc)
"$SHMQ" create "$spsc" --single-producer --single-consumer --capacity 1000
seq 1 1000 | "$SHMQ" push "$spsc"
"$SHMQ" drain "$spsc" > "$WORK/popped"
expect_same_file "SPSC order" <(seq 1 1000) "$WORK/popped"

section "messages from arguments; pop takes one by default; pop -n takes at most what is there"
args=$(qname args)
"$SHMQ" create "$args"
"$SHMQ" push "$args" "first message" "" "third" -- "-dash"
expect_eq "pop" "first message" "$("$SHMQ" pop "$args")"
expect_eq "pop -n 10" $'\nthird\n-dash' "$("$SHMQ" pop "$args" -n 10)"
expect_exit 5 "$SHMQ" pop "$args"
expect_stderr "shmq pop: queue '$args' is empty"

section "a last line without a newline is a message; an empty input is none"
printf 'a\nb' | "$SHMQ" push "$args"
: | "$SHMQ" push "$args"
expect_eq "unterminated last line" $'a\nb' "$("$SHMQ" drain "$args")"

section "pop --wait: gets what arrives while waiting, times out when nothing comes"
( sleep 0.3; "$SHMQ" push "$args" late ) &
expect_exit 0 "$SHMQ" pop "$args" --wait=5s
expect_eq "waited message" "late" "$(cat "$WORK/out")"
wait
expect_exit 5 "$SHMQ" pop "$args" --wait=200ms
expect_stderr "shmq pop: no message in '$args' within 200ms"
"$SHMQ" push "$args" one two
expect_exit 0 "$SHMQ" pop "$args" -n 5 --wait=200ms
expect_eq "partial count after the wait" $'one\ntwo' "$(cat "$WORK/out")"

section "peek shows without taking; purge drops and counts"
"$SHMQ" push "$args" p1 p2 p3
expect_eq "peek -n 2" $'p1\np2' "$("$SHMQ" peek "$args" -n 2)"
expect_eq "peek default" $'p1\np2\np3' "$("$SHMQ" peek "$args")"
expect_eq "depth after peek" 3 "$(depth "$args")"
expect_eq "purge count" 3 "$("$SHMQ" purge "$args")"
expect_eq "depth after purge" 0 "$(depth "$args")"
expect_eq "peek of an empty queue" "" "$("$SHMQ" peek "$args")"

section "drain of an empty queue succeeds with no output"
expect_exit 0 "$SHMQ" drain "$args"
expect_eq "drain output" "" "$(cat "$WORK/out")"

section "push waits for room by default: a slow consumer lets a stream through a small queue"
small=$(qname small)
"$SHMQ" create "$small" --capacity 4
( seq 1 50 | "$SHMQ" push "$small" ) &
producer=$!
"$SHMQ" pop "$small" -n 50 --wait=20s > "$WORK/popped"
wait "$producer"
expect_same_file "stream through a small queue" <(seq 1 50) "$WORK/popped"

section "push from a pipe: each record goes in as it comes (batches never wait for the next); SIGINT keeps them"
trickle=$(qname trickle)
"$SHMQ" create "$trickle"
mkfifo "$WORK/pipe"
( seq 1 5; sleep 4; echo 6; exec sleep 30 ) > "$WORK/pipe" &
writer=$!
"$SHMQ" push "$trickle" < "$WORK/pipe" 2> "$WORK/push-err" &
pusher=$!
wait_until 3 '[[ $(depth "$trickle") == 5 ]]'
wait_until 10 '[[ $(depth "$trickle") == 6 ]]'
kill -INT "$pusher"
status=0
wait "$pusher" || status=$?
expect_eq "push's status after SIGINT" 130 "$status"
expect_eq "stderr" "shmq push: interrupted at line 7; the 6 messages before it were pushed and stay in '$trickle'" "$(cat "$WORK/push-err")"
kill "$writer" 2> /dev/null || true
wait "$writer" 2> /dev/null || true
expect_same_file "what came through the pipe" <(seq 1 6) <("$SHMQ" drain "$trickle")

section "a large stream through the batches: every record once, in order (FIFO, SPSC), reversed (LIFO)"
for kind in fifo lifo spsc; do
    big=$(qname "big-$kind")
    case $kind in
        fifo) "$SHMQ" create "$big" --capacity 10000 ;;
        lifo) "$SHMQ" create "$big" --capacity 10000 --lifo ;;
        spsc) "$SHMQ" create "$big" --capacity 10000 --single-producer --single-consumer ;;
    esac
    seq 1 10000 | tr '\n' '\0' | "$SHMQ" push "$big" -0
    expect_eq "$kind depth" 10000 "$(depth "$big")"
    if [[ $kind == lifo ]]; then seq 10000 -1 1 > "$WORK/expected"; else seq 1 10000 > "$WORK/expected"; fi
    "$SHMQ" drain "$big" > "$WORK/big"
    expect_same_file "$kind" "$WORK/expected" "$WORK/big"
    "$SHMQ" rm "$big"
done

section "empty records are messages too (lines, -0, --raw), alone in a batch or among others"
empty=$(qname empty)
"$SHMQ" create "$empty"
printf '\n\n\n' | "$SHMQ" push "$empty"
printf '\0\0' | "$SHMQ" push "$empty" -0
printf '\0\0\0\0\1\0\0\0x\0\0\0\0' | "$SHMQ" push "$empty" --raw
expect_eq "depth" 8 "$(depth "$empty")"
printf '\n\n\n\n\n\nx\n\n' > "$WORK/expected"
"$SHMQ" drain "$empty" > "$WORK/empty"
expect_same_file "what comes out" "$WORK/expected" "$WORK/empty"
"$SHMQ" rm "$empty"

section "rm removes; the queue is gone"
"$SHMQ" rm "$fifo" "$lifo" "$spsc" "$args" "$small" "$trickle"
expect_eq "no segments left" "" "$(ls /dev/shm | grep -F "shmq.$PREFIX" || true)"
echo PASS
