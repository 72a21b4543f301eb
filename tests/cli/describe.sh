#!/usr/bin/env bash
# Self-describing exports: the first line of an export describes the queue; import makes a
# missing queue from it (options override it), refuses a malformed description, and skips
# the descriptions of exports put end to end. Also --wait given as a separate argument.
source "$(dirname "$0")/lib.sh"

section "a malformed description is exit 7 and names what is wrong; nothing is created"
bad=$(qname bad)
for line in '{"shmq_export":2}' '{"shmq_export":1,"kind":"ring"}' '{"shmq_export":1,"capacity":0}' \
    '{"shmq_export":1,"flags":["fast"]}' '{"shmq_export":1,"mode":"999"}' '{"shmq_export":1,"capacity":5,"capacity":6}'; do
    printf '%s\n' "$line" > "$WORK/bad.jsonl"
    expect_exit 7 "$SHMQ" import "$bad" "$WORK/bad.jsonl"
    grep -q "^shmq import: $WORK/bad.jsonl: line 1: column [0-9]*: " "$WORK/err" || fail "why: $(cat "$WORK/err")"
    [[ ! -e /dev/shm/shmq.$bad ]] || fail "a refused import created the queue"
done
expect_stderr "shmq import: $WORK/bad.jsonl: line 1: column 41: \"capacity\" repeats a field given before"

section "the header line says everything about the queue, exactly"
q=$(qname src)
"$SHMQ" create "$q" --lifo --capacity 100 --slot-size 1K --max-deliveries 3 --dead-letter "$q.dead" \
    --ttl 10m --mode 640 --single-consumer
printf '%s\n' one two three | "$SHMQ" push "$q" --type t
expect_exit 0 "$SHMQ" export --keep "$q" "$WORK/src.jsonl"
expect_eq "header" "{\"shmq_export\":1,\"queue\":\"$q\",\"export\":\"keep\",\"kind\":\"lifo\",\"capacity\":100,\"slot_size\":1024,\"flags\":[\"single_consumer\"],\"max_participants\":128,\"ttl_ns\":600000000000,\"max_deliveries\":3,\"dead_letter\":\"$q.dead\",\"mode\":\"0640\",\"depth\":3}" \
    "$(head -1 "$WORK/src.jsonl")"

section "import makes the missing queue as described, and the messages come out in order"
copy=$(qname copy)
expect_exit 0 "$SHMQ" import "$copy" "$WORK/src.jsonl"
expect_quiet
stat_of() { "$SHMQ" stat "$1" | grep -E '^(kind|flags|capacity|slot_size|mode|ttl|max_deliveries|dead_letter|depth)\s'; }
expect_eq "the copy's settings" "$(stat_of "$q" | sed "s/\t$q.dead\$/\tDEAD/")" "$(stat_of "$copy" | sed "s/\t$q.dead\$/\tDEAD/")"
expect_eq "order" "$("$SHMQ" drain "$q")" "$("$SHMQ" drain "$copy")"

section "options override the description; an existing queue is used as it is"
other=$(qname other)
expect_exit 0 "$SHMQ" import "$other" --capacity 7 --slot-size 512 --max-deliveries 0 --dead-letter '' --ttl 0 --mode 600 "$WORK/src.jsonl"
expect_eq "overridden" "$(printf 'capacity\t7\nslot_size\t512\nmode\t0600\nttl\tnone\nmax_deliveries\tnone\ndead_letter\tnone')" \
    "$("$SHMQ" stat "$other" | grep -E '^(capacity|slot_size|mode|ttl|max_deliveries|dead_letter)\s')"
expect_exit 0 "$SHMQ" import "$other" "$WORK/src.jsonl"
expect_eq "capacity unchanged by a second import" 7 "$("$SHMQ" stat "$other" | awk -F'\t' '$1 == "capacity" { print $2 }')"
expect_eq "depth" 6 "$(depth "$other")"

section "exports put end to end import as one: later headers are skipped"
"$SHMQ" push "$q" a b
"$SHMQ" export "$q" "$WORK/one.jsonl"
"$SHMQ" push "$q" c
"$SHMQ" export "$q" "$WORK/two.jsonl"
cat "$WORK/one.jsonl" "$WORK/two.jsonl" | "$SHMQ" import "$(qname joined)"
expect_eq "joined (LIFO: in the order of the lines)" $'b\na\nc' "$("$SHMQ" drain "$(qname joined)")"

section "--wait 500ms and -w 500ms take the value from the next argument"
w=$(qname wait)
"$SHMQ" create "$w"
start=$(date +%s%N)
expect_exit 5 "$SHMQ" pop "$w" --wait 300ms
expect_stderr "shmq pop: no message in '$w' within 300ms"
expect_exit 5 "$SHMQ" pop -w 300ms "$w"
expect_stderr "shmq pop: no message in '$w' within 300ms"
elapsed=$((($(date +%s%N) - start) / 1000000))
((elapsed >= 600)) || fail "the two waits took ${elapsed}ms"
"$SHMQ" push "$w" x
expect_exit 0 "$SHMQ" pop --wait "$w"
expect_eq "--wait alone still means forever, before an operand" x "$(cat "$WORK/out")"
