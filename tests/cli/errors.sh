#!/usr/bin/env bash
# Every kind of bad input gets a clear message on stderr and its documented exit code, and
# nothing is lost: usage errors, missing queues, oversized and malformed records in a stream,
# full and empty queues, permissions, closed pipes, signals.
source "$(dirname "$0")/lib.sh"

missing=$(qname missing)
q=$(qname q)
"$SHMQ" create "$q" --slot-size 16 --capacity 64

section "usage errors: exit 2, the message names what was wrong"
expect_exit 2 "$SHMQ"
grep -q "^usage: shmq VERB" "$WORK/err" || fail "no usage on stderr"
expect_exit 2 "$SHMQ" frobnicate
expect_stderr "shmq: unknown verb 'frobnicate' (see 'shmq --help')"
expect_exit 2 "$SHMQ" --frobnicate
expect_stderr "shmq: unknown option '--frobnicate' (see 'shmq --help')"
expect_exit 2 "$SHMQ" pop "$q" --frobnicate
expect_stderr "shmq pop: unknown option '--frobnicate' (see 'shmq pop --help')"
expect_exit 2 "$SHMQ" pop "$q" -x
expect_stderr "shmq pop: unknown option '-x' (see 'shmq pop --help')"
expect_exit 2 "$SHMQ" pop "$q" -n
expect_stderr "shmq pop: -n needs a value (COUNT) (see 'shmq pop --help')"
expect_exit 2 "$SHMQ" create "$q" --lifo=yes
expect_stderr "shmq create: --lifo takes no value (see 'shmq create --help')"
expect_exit 2 "$SHMQ" pop "$q" --raw -0
expect_stderr "shmq pop: --raw and --null cannot be used together (see 'shmq pop --help')"
expect_exit 2 "$SHMQ" pop
expect_stderr "shmq pop: missing operand: usage is 'shmq pop [options] NAME' (see 'shmq pop --help')"
expect_exit 2 "$SHMQ" stat "$q" "$q"
expect_stderr "shmq stat: too many operands: usage is 'shmq stat [options] NAME' (see 'shmq stat --help')"
expect_exit 2 "$SHMQ" create 'no/slashes'
expect_stderr "shmq create: 'no/slashes' is not a queue name: use 1 to 200 of A-Z a-z 0-9 . _ -, not starting with a dot"
expect_exit 2 "$SHMQ" pop .hidden

section "bad durations, sizes, modes and counts"
expect_exit 2 "$SHMQ" pop "$q" --wait=5x
expect_stderr "shmq pop: invalid value '5x' for --wait: expected a duration with a unit (e.g. 250ms, 2s, 1m, 1m30s) or 'forever' (see 'shmq pop --help')"
for bad in 10 -1s 1.s 2 m s 1ms2 "" 1d; do
    expect_exit 2 "$SHMQ" push "$q" --timeout "$bad" x
    grep -qF "invalid value '$bad' for --timeout" "$WORK/err" || fail "--timeout '$bad': $(cat "$WORK/err")"
done
expect_exit 2 "$SHMQ" pop "$q" --wait=9999999999h
grep -q "is too large" "$WORK/err" || fail "huge duration: $(cat "$WORK/err")"
expect_exit 2 "$SHMQ" create "$missing" --slot-size 12Q
grep -qF "invalid value '12Q' for --slot-size" "$WORK/err" || fail "$(cat "$WORK/err")"
expect_exit 2 "$SHMQ" create "$missing" --slot-size 65M
expect_stderr "shmq create: --slot-size must be between 1 and 67108864 (got 68157440) (see 'shmq create --help')"
expect_exit 2 "$SHMQ" create "$missing" --mode 0999
expect_exit 2 "$SHMQ" create "$missing" --mode 1777
expect_exit 2 "$SHMQ" create "$missing" --mode 0
expect_exit 2 "$SHMQ" create "$missing" --capacity 0
expect_exit 2 "$SHMQ" pop "$q" -n abc
expect_exit 2 "$SHMQ" push "$q" --type "$(printf 't%.0s' {1..256})" x
expect_stderr "shmq push: --type is longer than 255 bytes"
expect_exit 2 "$SHMQ" push "$q" --raw message
[[ ! -e /dev/shm/shmq.$missing ]] || fail "a refused create left a segment"

section "missing queue: exit 3 from every verb that names one"
# (watch waits for a queue that does not exist yet: tests/cli/output.sh)
for verb in stat push pop drain peek purge export import; do
    expect_exit 3 "$SHMQ" "$verb" "$missing" < /dev/null
    if [[ $verb == import ]]; then
        expect_stderr "shmq import: queue '$missing' does not exist, and the input does not describe one (no header line, as 'shmq export' writes): create it first with 'shmq create'"
    else
        expect_stderr "shmq $verb: queue '$missing' does not exist"
    fi
done
expect_exit 3 "$SHMQ" rm "$missing"
expect_stderr "shmq rm: queue '$missing' does not exist"
expect_exit 0 "$SHMQ" rm -f "$missing"

section "create: an existing queue is exit 8"
expect_exit 8 "$SHMQ" create "$q"
expect_stderr "shmq create: queue '$q' already exists"

section "oversized line in a stream: not pushed, the lines before it stay and are counted"
printf 'one\ntwo\nthree\nthis line is too long\nfive\n' > "$WORK/lines"
expect_exit 7 "$SHMQ" push "$q" < "$WORK/lines"
expect_stderr "shmq push: line 4 is longer than 16 bytes, the queue's slot size; the 3 messages before it were pushed and stay in '$q'"
expect_eq "what was pushed" $'one\ntwo\nthree' "$("$SHMQ" drain "$q")"

section "oversized -0 and --raw records name the record"
printf 'a\0bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\0c\0' > "$WORK/nul"
expect_exit 7 "$SHMQ" push -0 "$q" < "$WORK/nul"
expect_stderr "shmq push: record 2 is longer than 16 bytes, the queue's slot size; the 1 message before it was pushed and stays in '$q'"
printf '\x01\x00\x00\x00a\x11\x00\x00\x0012345678901234567' > "$WORK/raw"
expect_exit 7 "$SHMQ" push --raw "$q" < "$WORK/raw"
expect_stderr "shmq push: record 2: length 17 is larger than 16 bytes, the queue's slot size; the 1 message before it was pushed and stays in '$q'"
expect_eq "what was pushed" $'a\na' "$("$SHMQ" drain "$q")"

section "malformed records: a truncated --raw record, bad JSON lines"
printf '\x02\x00\x00\x00ab\x05\x00\x00\x00abc' > "$WORK/raw"
expect_exit 7 "$SHMQ" push --raw "$q" < "$WORK/raw"
expect_stderr "shmq push: record 2: truncated: 3 of 5 bytes; the 1 message before it was pushed and stays in '$q'"
printf '\x02\x00' > "$WORK/raw"
expect_exit 7 "$SHMQ" push --raw "$q" < "$WORK/raw"
expect_stderr "shmq push: record 1: truncated length prefix (2 of 4 bytes); nothing was pushed"
printf '%s\n' '{"data":"ok"}' '{"data":"ok" "type":"x"}' > "$WORK/bad.jsonl"
expect_exit 7 "$SHMQ" import "$q" "$WORK/bad.jsonl"
expect_stderr "shmq import: line 2: column 14: expected ',' or '}'; the 1 message before it was pushed and stays in '$q'"
for line in '[1]' '{"data_b64":"a"}' '{"type":"x"}' '{"data":"x","data_b64":"eA=="}' '{"data":1}' \
    '{"data":"x","timestamp_ns":1.5}' '{"data":"x"} trailing' '{"data":"\x01"}' '{"data":"\ud800"}' \
    '{"data":"x","type":"a\u0000b"}' '{"data":"x","deliveries":-1}' "{\"data\":\"$(printf 'x%.0s' {1..17})\"}"; do
    printf '%s\n' "$line" > "$WORK/bad.jsonl"
    expect_exit 7 "$SHMQ" push --jsonl "$q" < "$WORK/bad.jsonl"
    grep -q "^shmq push: line 1: .*; nothing was pushed$" "$WORK/err" || fail "jsonl '$line': $(cat "$WORK/err")"
done
expect_eq "depth after the malformed input" 2 "$(depth "$q")"
"$SHMQ" purge -q "$q"

section "a message that fits alone but not with its metadata"
# With metadata a message needs its payload rounded up to 8, plus 19, plus the strings:
# 41 bytes alone fit in 64; with the type "order" they need 48 + 19 + 5.
meta=$(qname meta)
"$SHMQ" create "$meta" --slot-size 64
long=$(printf "x%.0s" {1..41})
expect_exit 7 "$SHMQ" push "$meta" --type order ok "$long"
expect_stderr "shmq push: message 2 (41 bytes plus metadata) does not fit in a slot of 64 bytes; the 1 message before it was pushed and stays in '$meta'"
expect_eq "the first message stayed, with its type" '{"deliveries":1,"type":"order","data_b64":"b2s="}' \
    "$("$SHMQ" pop "$meta" --jsonl | sed 's/"id":[0-9]*,//')"
expect_exit 0 "$SHMQ" push "$meta" "$long"
long=$(printf "x%.0s" {1..65})
expect_exit 7 "$SHMQ" push "$meta" "$long"
expect_stderr "shmq push: message 1 (65 bytes) does not fit in a slot of 64 bytes; nothing was pushed"

section "a full queue on a terminal: after a second push says why it waits, and names --timeout"
if script -qec true /dev/null > /dev/null 2>&1; then
    full=$(qname full)
    "$SHMQ" create "$full" --capacity 2
    status=0
    script -qec "seq 1 5 | '$SHMQ' push '$full' --timeout 1500ms" /dev/null > "$WORK/tty" 2>&1 || status=$?
    expect_eq "exit status through script" 6 "$status"
    grep -q "shmq push: queue '$full' is full (2 messages): waiting for a consumer to make room (--timeout DURATION gives up instead; Ctrl-C stops, keeping what was pushed)" "$WORK/tty" ||
        fail "no note on the terminal: $(cat "$WORK/tty")"
    expect_exit 6 "$SHMQ" push "$full" --timeout 1500ms x
    expect_stderr "shmq push: queue '$full' stayed full for 1500ms at message 1; nothing was pushed"
else
    echo "script(1) cannot make a terminal here: skipped"
fi

section "full: --timeout bounds the wait, exit 6 with the count"
small=$(qname small)
"$SHMQ" create "$small" --capacity 4
expect_exit 6 "$SHMQ" push "$small" --timeout 100ms < <(seq 1 10)
expect_stderr "shmq push: queue '$small' stayed full for 100ms at line 5; the 4 messages before it were pushed and stay in '$small'"
expect_exit 6 "$SHMQ" push "$small" --timeout 0 more
expect_stderr "shmq push: queue '$small' is full at message 1 (--timeout 0: no wait); nothing was pushed"
expect_eq "queue content" $'1\n2\n3\n4' "$("$SHMQ" drain "$small")"

section "import into a full LIFO queue: pushed last line first, the count names the lines after it"
stack=$(qname stack)
"$SHMQ" create "$stack" --lifo --capacity 2
printf '%s\n' '{"data":"1"}' '{"data":"2"}' '{"data":"3"}' > "$WORK/three.jsonl"
expect_exit 6 "$SHMQ" import "$stack" --timeout 0 "$WORK/three.jsonl"
expect_stderr "shmq import: queue '$stack' is full at line 1 (--timeout 0: no wait); the 2 messages after it were pushed and stay in '$stack'"
expect_eq "the stack delivers the lines in file order" $'2\n3' "$("$SHMQ" drain "$stack")"

section "empty: pop finds nothing (exit 5), or its wait times out (exit 5)"
expect_exit 5 "$SHMQ" pop "$small"
expect_stderr "shmq pop: queue '$small' is empty"
expect_exit 5 "$SHMQ" pop "$small" --wait=150ms
expect_stderr "shmq pop: no message in '$small' within 150ms"

section "EPIPE: shmq drain q | head -1 exits 0 quietly, and the rest stays in the queue"
big=$(qname big)
"$SHMQ" create "$big" --capacity 200000 --slot-size 128
seq -f '%0100g' 1 200000 | "$SHMQ" push "$big"
set +o pipefail
first=$("$SHMQ" drain "$big" 2> "$WORK/err" | head -1; echo "status ${PIPESTATUS[0]}")
set -o pipefail
expect_eq "first line and drain's status" "$(printf '%0100d\nstatus 0' 1)" "$first"
expect_quiet
"$SHMQ" drain "$big" > "$WORK/rest"
"$PY" - "$WORK/rest" <<'PY'
import sys
rest = sorted(int(l) for l in open(sys.argv[1]))
# What reached the pipe is gone; every message not written is still there, none twice.
assert rest and rest[-1] == 200000 and rest == list(range(rest[0], 200001)), (len(rest), rest[:3])
assert rest[0] > 2, "only the pipe's buffer may be lost"
PY
seq 1 1000 | "$SHMQ" push "$big"
set +o pipefail
"$SHMQ" pop "$big" -n 1000 2> "$WORK/err" | head -c 1 > /dev/null
expect_eq "pop | head -c 1 status" 0 "${PIPESTATUS[0]}"
"$SHMQ" export "$big" 2>> "$WORK/err" | head -c 1 > /dev/null
expect_eq "export | head -c 1 status" 0 "${PIPESTATUS[0]}"
set -o pipefail
expect_quiet
"$SHMQ" purge -q "$big"

section "permission denied: exit 4"
private=$(qname private)
"$SHMQ" create "$private" --mode 0600
if [[ $(id -u) == 0 ]]; then
    # root ignores permission bits: ask as nobody, with a copy of the tool nobody can run.
    install -m 0755 "$SHMQ" "$WORK/shmq"
    chmod 0755 "$WORK"
    as_other=(setpriv --reuid=65534 --regid=65534 --clear-groups "$WORK/shmq")
else
    "$SHMQ" rm "$private"
    "$SHMQ" create "$private" --mode 0200   # not even its owner may read it
    as_other=("$SHMQ")
fi
for verb in stat pop peek; do
    expect_exit 4 "${as_other[@]}" "$verb" "$private"
    expect_stderr "shmq $verb: cannot open queue '$private': permission denied"
done
expect_exit 4 "${as_other[@]}" push "$private" x
expect_exit 0 "${as_other[@]}" ls
grep -qP "^$private(\t-){15}\$" "$WORK/out" || fail "ls row of an unreadable queue: $(grep "$private" "$WORK/out")"
grep -qx "shmq ls: queue '$private': permission denied" "$WORK/err" || fail "ls warning: $(cat "$WORK/err")"

section "signals: Ctrl-C ends a waiting pop (130), SIGTERM a push reading a pipe (143, count reported)"
"$SHMQ" pop "$q" --wait > /dev/null 2> "$WORK/err" &
pid=$!
sleep 0.3
kill -INT "$pid"
status=0
wait "$pid" || status=$?
expect_eq "pop status after SIGINT" 130 "$status"
mkfifo "$WORK/fifo"
( printf 'a\nb\n'; sleep 5 ) > "$WORK/fifo" &
writer=$!
"$SHMQ" push "$q" < "$WORK/fifo" 2> "$WORK/err" &
pid=$!
sleep 0.5
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
kill "$writer" 2> /dev/null || true
expect_eq "push status after SIGTERM" 143 "$status"
expect_stderr "shmq push: interrupted at line 3; the 2 messages before it were pushed and stay in '$q'"
expect_eq "pushed before the signal" $'a\nb' "$("$SHMQ" drain "$q")"
echo PASS
