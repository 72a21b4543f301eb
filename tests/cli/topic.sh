#!/usr/bin/env bash
# Topics from the shell: topic create, pub, sub (patterns, groups, durable groups, overwrite
# losses, signals), and what ls, stat, watch, repair and rm show of them.
source "$(dirname "$0")/lib.sh"

# group_field TOPIC GROUP COLUMN: a column (1 = name) of a group's row in stat's piped output.
group_field() {
    "$SHMQ" stat "$1" 2> /dev/null | awk -F'\t' -v g="$2" -v c="$3" '$1 == "group" && $2 == g { print $(c + 1) }'
}

lines_in() {
    [[ -f $1 ]] && wc -l < "$1" || echo 0
}

# start_sub OUT ARGS...: a subscriber of topic $t in the background (its pid in $sub), writing
# to OUT, once it has joined: what is published next is its.
start_sub() {
    local out=$1
    shift
    "$SHMQ" sub "$t" "$@" > "$out" &
    sub=$!
    wait_until 20 '[[ $(field "$t" members) == 1 ]]'
}

section "topic create: sizes, policy; bad values are usage errors"
t=$(qname t)
expect_exit 0 "$SHMQ" topic create "$t" --capacity 16 --slot-size 128
expect_eq "kind and policy" "$(printf 'kind\ttopic\npolicy\tblock\ncapacity\t16\nslot_size\t128')" \
    "$("$SHMQ" stat "$t" | grep -E '^(kind|policy|capacity|slot_size)\s')"
expect_exit 8 "$SHMQ" topic create "$t"
expect_stderr "shmq topic: '$t' already exists"
expect_exit 2 "$SHMQ" topic create "$(qname bad)" --capacity 1000
expect_stderr "shmq topic: --capacity must be a power of two for a topic (got 1000)"
expect_exit 2 "$SHMQ" topic create "$(qname bad)" --policy drop
expect_stderr "shmq topic: invalid value 'drop' for --policy: expected 'block' or 'overwrite' (see 'shmq topic --help')"
expect_exit 2 "$SHMQ" topic delete "$(qname bad)"
expect_stderr "shmq topic: unknown action 'delete': usage is 'shmq topic [options] create NAME' (see 'shmq topic --help')"
[[ ! -e /dev/shm/shmq.$(qname bad) ]] || fail "a refused create left a segment"

section "queues and topics are told apart"
q=$(qname q)
"$SHMQ" create "$q"
expect_exit 2 "$SHMQ" push "$t" x
expect_stderr "shmq push: '$t' is a topic, not a queue: publish with 'shmq pub', read with 'shmq sub'"
expect_exit 2 "$SHMQ" pub "$q" s x
expect_stderr "shmq pub: '$q' is a queue, not a topic"
expect_exit 2 "$SHMQ" sub "$q"
expect_exit 3 "$SHMQ" sub "$(qname missing)"
expect_stderr "shmq sub: topic '$(qname missing)' does not exist"
expect_exit 2 "$SHMQ" pub "$t" 'bad subject' x
expect_exit 2 "$SHMQ" pub "$t" 'a*.b' x
expect_exit 2 "$SHMQ" sub "$t" 'a.b*'
expect_exit 2 "$SHMQ" sub "$t" --durable
expect_stderr "shmq sub: --durable needs --group: a group of one ends with its member"

section "pub and sub: subjects matched by a pattern, each message written as it comes"
"$SHMQ" sub "$t" 'orders.*.new' -n 3 > "$WORK/sub" 2> "$WORK/sub-err" &
sub=$!
wait_until 20 '[[ $(field "$t" members) == 1 ]]'
"$SHMQ" pub "$t" orders.eu.new first
"$SHMQ" pub "$t" orders.eu.old skipped
"$SHMQ" pub "$t" orders.new also-skipped
printf 'from stdin\nand more\n' | "$SHMQ" pub "$t" orders.us.new
wait "$sub"
expect_eq "received" "$(printf 'orders.eu.new\tfirst\norders.us.new\tfrom stdin\norders.us.new\tand more')" \
    "$(cat "$WORK/sub")"
expect_eq "published" 5 "$(field "$t" published)"
expect_eq "the private group left with its member" 0 "$(field "$t" groups)"

section "sub --jsonl and -0: metadata, sequence numbers, NUL-framed records"
"$SHMQ" sub "$t" --jsonl -n 2 > "$WORK/sub.jsonl" &
sub=$!
wait_until 20 '[[ $(field "$t" members) == 1 ]]'
"$SHMQ" pub "$t" a.b --type price --timestamp "one two"
printf '%s\n' '{"data":"with meta","correlation_id":"c-1"}' | "$SHMQ" pub "$t" a.c --jsonl
wait "$sub"
while read -r line; do
    printf '%s' "$line" | "$PY" -m json.tool > /dev/null || fail "not JSON: $line"
done < "$WORK/sub.jsonl"
"$PY" - "$WORK/sub.jsonl" <<'PY'
import base64, json, sys
a, b = [json.loads(l) for l in open(sys.argv[1])]
assert a["subject"] == "a.b" and a["type"] == "price" and a["timestamp_ns"] > 0, a
assert base64.b64decode(a["data_b64"]) == b"one two" and a["seq"] == 5, a
assert b["subject"] == "a.c" and b["correlation_id"] == "c-1" and b["seq"] == 6, b
assert base64.b64decode(b["data_b64"]) == b"with meta" and "lost" not in b, b
PY
"$SHMQ" sub "$t" -0 -n 1 > "$WORK/sub.nul" &
sub=$!
wait_until 20 '[[ $(field "$t" members) == 1 ]]'
"$SHMQ" pub "$t" x.y "$(printf 'two\nlines')"
wait "$sub"
printf 'x.y\ttwo\nlines\0' > "$WORK/expected"
expect_same_file "-0 record" "$WORK/expected" "$WORK/sub.nul"

section "sub --raw, --csv and --jsonl write as pop does (the consumers' writers)"
start_sub "$WORK/sub.raw" --raw -n 1
"$SHMQ" pub "$t" x.y "$(printf 'two\nlines')"
wait "$sub"
printf '\x0d\x00\x00\x00x.y\ttwo\nlines' > "$WORK/expected"
expect_same_file "--raw record: length, subject, tab, payload" "$WORK/expected" "$WORK/sub.raw"
start_sub "$WORK/sub.csv" --csv -n 2
"$SHMQ" pub "$t" c.one 'p,q'
"$SHMQ" pub "$t" c.two 'say "hi"'
wait "$sub"
printf 'c.one\tp,q\n"c.two\tsay ""hi"""\n' > "$WORK/expected"
expect_same_file "--csv: a record as it is, else one quoted field" "$WORK/expected" "$WORK/sub.csv"
start_sub "$WORK/sub.jsonl" --jsonl -n 1
printf '%s\n' '{"data":"v","type_b64":"/w==","reply_to":"r"}' | "$SHMQ" pub "$t" m.b --jsonl
wait "$sub"
expect_eq "metadata that is not UTF-8 keeps its bytes (type_b64), as export does" \
    '"subject":"m.b","type_b64":"/w==","reply_to":"r","data_b64":"dg=="}' \
    "$(sed 's/^{"seq":[0-9]*,//' "$WORK/sub.jsonl")"

section "a group splits the stream between its members: none lost, none twice"
"$SHMQ" sub "$t" --group split > "$WORK/member1" 2> /dev/null &
m1=$!
"$SHMQ" sub "$t" --group split > "$WORK/member2" 2> /dev/null &
m2=$!
wait_until 20 '[[ $(group_field "$t" split 4) == 2 ]]'
seq 1 300 | "$SHMQ" pub "$t" work.item
wait_until 20 '[[ $(group_field "$t" split 7) == 300 ]]'
kill -TERM "$m1" "$m2"
for pid in "$m1" "$m2"; do
    status=0
    wait "$pid" || status=$?
    expect_eq "member status after SIGTERM" 143 "$status"
done
cat "$WORK/member1" "$WORK/member2" | cut -f2 | sort -n > "$WORK/all"
seq 1 300 > "$WORK/expected"
expect_same_file "every message once" "$WORK/expected" "$WORK/all"

section "SIGTERM ends a durable group's member cleanly: the next member goes on, nothing lost"
big=$(qname big)
"$SHMQ" topic create "$big" --capacity 256
"$SHMQ" sub "$big" --group keep --durable > "$WORK/first" 2> /dev/null &
first=$!
wait_until 20 '[[ $(group_field "$big" keep 4) == 1 ]]'
( for i in $(seq 1 150); do "$SHMQ" pub "$big" job "$i"; done ) &
publisher=$!
wait_until 30 '(($(lines_in "$WORK/first") >= 20))'
kill -TERM "$first"
status=0
wait "$first" || status=$?
expect_eq "first member's status" 143 "$status"
wait "$publisher"
expect_eq "the durable group stays, without members" 0 "$(group_field "$big" keep 4)"
status=0
"$SHMQ" sub "$big" --group keep --durable --timeout 500ms > "$WORK/second" 2> "$WORK/err" || status=$?
[[ $status == 0 || $status == 5 ]] || fail "second member: status $status: $(cat "$WORK/err")"
cat "$WORK/first" "$WORK/second" | cut -f2 | sort -n > "$WORK/all"
seq 1 150 > "$WORK/expected"
expect_same_file "every message once, across the two members" "$WORK/expected" "$WORK/all"

section "stat, ls, watch show topics with their groups, lag and losses; --json parses"
"$SHMQ" stat "$big" > "$WORK/stat"
grep -qP "^group\tkeep\t#\tdurable\t0\t150\t0\t150\t0\t0\tyes\t" "$WORK/stat" ||
    fail "group row: $(grep ^group "$WORK/stat")"
"$SHMQ" stat "$big" --json > "$WORK/stat.json"
"$PY" -m json.tool "$WORK/stat.json" > /dev/null || fail "stat --json is not JSON"
"$PY" - "$WORK/stat.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["kind"] == "topic" and s["published"] == 150 and s["groups"] == 1, s
g = [g for g in s["group_list"] if g["group"] == "keep"]
assert len(g) == 1 and g[0]["flags"] == "durable" and g[0]["lag"] == 0 and g[0]["gating"] is True, g
PY
expect_eq "ls row" "$(printf '%s\ttopic\t0\t16\t128' "$t")" \
    "$("$SHMQ" ls | awk -F'\t' -v t="$t" '$1 == t' | cut -f1-5)"
"$SHMQ" ls --json | "$PY" -c "
import json, sys
r = [r for r in json.load(sys.stdin) if r['name'] == '$t'][0]
assert r['kind'] == 'topic' and r['producers'] is None and r['in_flight'] is None, r"
"$SHMQ" watch "$big" -n 1 > "$WORK/watch"
expect_eq "watch rows" "$(printf '%s\n%s/keep' "$big" "$big")" "$(cut -f2 "$WORK/watch")"
"$SHMQ" watch "$big" -n 1 --json | "$PY" -m json.tool > /dev/null || fail "watch --json is not JSON"

section "overwrite: a slow group loses the oldest messages and is told how many"
ow=$(qname ow)
"$SHMQ" topic create "$ow" --policy overwrite --capacity 4
"$SHMQ" sub "$ow" --group slow --durable -n 1 > /dev/null &
sub=$!
wait_until 20 '[[ $(group_field "$ow" slow 4) == 1 ]]'
"$SHMQ" pub "$ow" s first
wait "$sub"
seq 1 20 | "$SHMQ" pub "$ow" s
expect_exit 0 "$SHMQ" sub "$ow" --group slow --durable --jsonl --timeout 300ms
"$PY" - "$WORK/out" <<'PY'
import base64, json, sys
got = [json.loads(l) for l in open(sys.argv[1])]
lost = sum(m.get("lost", 0) for m in got)
data = [int(base64.b64decode(m["data_b64"])) for m in got]
assert data == list(range(21 - len(got), 21)), data
assert lost + len(got) == 20 and lost >= 16, (lost, data)
PY
lost=$(group_field "$ow" slow 9)
expect_eq "stderr" "shmq sub: $lost messages of '$ow' were overwritten before this subscriber read them" "$(cat "$WORK/err")"
expect_eq "ls: the losses show as dropped" "$lost" "$("$SHMQ" ls | awk -F'\t' -v t="$ow" '$1 == t { print $16 }')"

section "block: a live member that does not read holds publishers back (exit 6 at --timeout)"
bl=$(qname block)
"$SHMQ" topic create "$bl" --capacity 2
"$SHMQ" sub "$bl" > /dev/null &
sleeper=$!
wait_until 20 '[[ $(field "$bl" members) == 1 ]]'
kill -STOP "$sleeper"
expect_exit 6 "$SHMQ" pub "$bl" s a b c d --timeout 200ms
grep -q "^shmq pub: topic '$bl' stayed full for 200ms at message 3 " "$WORK/err" || fail "$(cat "$WORK/err")"
section "pub shares push's producer: --timeout 0, the note on a terminal, sizes, bad input"
expect_exit 6 "$SHMQ" pub "$bl" s e --timeout 0
expect_stderr "shmq pub: topic '$bl' is full at message 1 (--timeout 0: no wait); nothing was published"
if script -qec true /dev/null > /dev/null 2>&1; then
    status=0
    script -qec "printf 'x\n' | '$SHMQ' pub '$bl' s --timeout 1500ms" /dev/null > "$WORK/tty" 2>&1 || status=$?
    expect_eq "exit status through script" 6 "$status"
    grep -q "shmq pub: topic '$bl' is full (a group with a live member is 2 messages behind): waiting for it to read (--timeout DURATION gives up instead; Ctrl-C stops, keeping what was published)" "$WORK/tty" ||
        fail "no note on the terminal: $(cat "$WORK/tty")"
else
    echo "script(1) cannot make a terminal here: skipped"
fi
kill -CONT "$sleeper"
kill -TERM "$sleeper"
wait "$sleeper" || true

small=$(qname small)
"$SHMQ" topic create "$small" --capacity 4 --slot-size 64
long=$(printf "x%.0s" {1..70})
expect_exit 7 "$SHMQ" pub "$small" s ok "$long"
expect_stderr "shmq pub: message 2 (70 bytes plus the subject) does not fit in a slot of 64 bytes; the 1 message before it was published"
expect_exit 7 "$SHMQ" pub "$small" s --type t "$long"
expect_stderr "shmq pub: message 1 (70 bytes plus the subject and metadata) does not fit in a slot of 64 bytes; nothing was published"
printf '%s\n' '{"data":"a"}' 'not json' | expect_exit 7 "$SHMQ" pub "$small" s --jsonl
grep -q "^shmq pub: line 2: .*; the 1 message before it was published\$" "$WORK/err" || fail "$(cat "$WORK/err")"
expect_exit 2 "$SHMQ" pub "$small" s --subject-field a x
expect_stderr "shmq pub: --subject-field reads the records of standard input, not arguments"
expect_exit 2 "$SHMQ" pub "$small" s --raw x
expect_stderr "shmq pub: -0, --raw, --jsonl and --csv frame standard input: they do not apply to messages given as arguments"
expect_eq "published" 2 "$(field "$small" published)"

section "repair releases the members of dead processes; rm removes topics"
"$SHMQ" sub "$bl" --group gone > /dev/null &
sub=$!
wait_until 20 '[[ $(field "$bl" members) == 1 ]]'
{
    kill -9 "$sub"
    wait "$sub"
} 2> /dev/null || true
# Its topic handle and its member entry.
wait_until 20 '[[ $(field "$bl" dead) == 2 ]]'
expect_exit 0 "$SHMQ" stat "$bl"
expect_stderr "shmq stat: 2 handles or members of '$bl' belong to processes that are gone: 'shmq repair $bl' releases them"
expect_exit 0 "$SHMQ" repair "$bl"
expect_eq "repair" "$(printf 'name\t%s\nreleased\t2' "$bl")" "$(cat "$WORK/out")"
expect_eq "after repair" "$(printf 'members\t0\ndead\t0')" "$("$SHMQ" stat "$bl" | grep -E '^(members|dead)\s')"
expect_exit 0 "$SHMQ" stat "$bl" --check
expect_eq "check" "$(printf 'check\tok')" "$(grep '^check' "$WORK/out")"
expect_exit 0 "$SHMQ" rm "$t" "$ow" "$bl" "$big" "$small"
expect_exit 3 "$SHMQ" stat "$t"
echo PASS
