#!/usr/bin/env bash
# Lossless interrupts: SIGINT of pop, drain, export and work mid-stream. Every message is
# either written or back in the queue with its delivery count unchanged (the next consumer
# sees deliveries 1), none dropped, none dead-lettered, none counted nacked or redelivered,
# and the order is kept: FIFO resumes with the first message not written, LIFO with the top.
# Also: Ctrl-C of a whole process group running `shmq work --batch` (the lossless form of
# `drain | CMD`) loses nothing.
source "$(dirname "$0")/lib.sh"

N=40000 # ~290 KB of lines: far more than a pipe holds, so the consumer blocks mid-stream

# A reader that takes 20000 bytes, says so, waits for the go file, then reads to the end. The
# consumer writes more than 20000 bytes before it blocks, and not on a message boundary.
cat > "$WORK/reader.py" <<'PY'
import os, sys, time
out, ready, go = sys.argv[1], sys.argv[2], sys.argv[3]
got = 0
with open(out, "wb") as f:
    while got < 20000:
        b = os.read(0, 20000 - got)
        if not b:
            break
        f.write(b)
        got += len(b)
    open(ready, "w").close()
    while not os.path.exists(go):
        time.sleep(0.02)
    while True:
        b = os.read(0, 65536)
        if not b:
            break
        f.write(b)
PY

# interrupt_consumer OUT VERB ARGS...: run `shmq VERB ARGS` into the slow reader, SIGINT it
# while it is blocked writing, and let the reader take what reached the pipe (into OUT).
interrupt_consumer() {
    local out=$1 status=0
    shift
    rm -f "$WORK/ready" "$WORK/go" "$WORK/pipe"
    mkfifo "$WORK/pipe"
    "$PY" "$WORK/reader.py" "$out" "$WORK/ready" "$WORK/go" < "$WORK/pipe" &
    local reader=$!
    "$SHMQ" "$@" > "$WORK/pipe" 2> "$WORK/err" &
    local consumer=$!
    wait_until 20 '[[ -e $WORK/ready ]]'
    sleep 0.3 # the consumer fills the pipe and blocks in write(2)
    kill -INT "$consumer"
    # The reader goes on: a consumer cut inside a message writes the rest of that message.
    touch "$WORK/go"
    wait "$consumer" || status=$?
    wait "$reader"
    expect_eq "$1 exit status after SIGINT" 130 "$status"
}

# check_queue Q EXPECTED_FILE [sorted]: Q holds exactly the expected messages, in order (or,
# with "sorted", in any order), each with deliveries 1, and its counters show no give-back as
# a delivery: nothing nacked, redelivered, dead-lettered or dropped; nothing in flight.
check_queue() {
    local q=$1 expected=$2 how=${3:-ordered}
    expect_eq "in flight" 0 "$(field "$q" in_flight)"
    for k in nacked redelivered dead_lettered dropped; do
        expect_eq "$k" 0 "$(field "$q" "$k")"
    done
    expect_eq "left in the queue" "$(wc -l < "$expected")" "$(field "$q" depth)"
    "$SHMQ" drain "$q" --jsonl > "$WORK/rest.jsonl"
    "$PY" - "$WORK/rest.jsonl" "$expected" "$how" <<'PY'
import base64, json, sys
rest = [json.loads(l) for l in open(sys.argv[1])]
want = open(sys.argv[2]).read().split("\n")[:-1]
got = [base64.b64decode(r["data_b64"]).decode() for r in rest]
if sys.argv[3] == "sorted":
    got, want = sorted(got), sorted(want)
if got != want:
    for i, (a, b) in enumerate(zip(got, want)):
        if a != b:
            sys.exit(f"FAIL: order: message {i} of the rest is {a!r}, expected {b!r}")
    sys.exit(f"FAIL: rest: {len(got)} messages, expected {len(want)}")
bad = [r for r in rest if r["deliveries"] != 1]
if bad:
    sys.exit(f"FAIL: {len(bad)} messages came back with a delivery count raised, e.g. {bad[0]}")
PY
}

for kind in fifo lifo; do
    for limit in none dlq; do
        for verb in drain pop export; do
            section "$verb of a $kind queue (limit: $limit), SIGINT mid-stream"
            q=$(qname "$verb-$kind-$limit")
            opts=(--"$kind" --capacity 65536)
            [[ $limit == dlq ]] && opts+=(--max-deliveries 1 --dead-letter "$(qname "$verb-$kind-dead")")
            "$SHMQ" create "$q" "${opts[@]}"
            seq 1 "$N" | "$SHMQ" push "$q"
            case $verb in
                drain) interrupt_consumer "$WORK/got" drain "$q" ;;
                pop) interrupt_consumer "$WORK/got" pop -n "$N" "$q" ;;
                export) interrupt_consumer "$WORK/got.jsonl" export "$q" ;;
            esac
            if [[ $verb == export ]]; then
                "$PY" -c 'import base64, json, sys
lines = open(sys.argv[1]).readlines()
assert json.loads(lines[0])["shmq_export"] == 1, lines[0]
for l in lines[1:]:
    r = json.loads(l)
    assert r["deliveries"] == 1, r
    print(base64.b64decode(r["data_b64"]).decode())' "$WORK/got.jsonl" > "$WORK/got"
            fi
            written=$(wc -l < "$WORK/got")
            # What was written is the head of the delivery order, whole lines only.
            if [[ $kind == fifo ]]; then
                seq 1 "$N" > "$WORK/order"
            else
                seq "$N" -1 1 > "$WORK/order"
            fi
            expect_eq "written: the first $written in order" "$(head -n "$written" "$WORK/order" | md5sum)" "$(md5sum < "$WORK/got")"
            ((written > 0 && written < N)) ||
                fail "the interrupt came at the wrong time: $written of $N written"
            tail -n +$((written + 1)) "$WORK/order" > "$WORK/expected"
            check_queue "$q" "$WORK/expected"
            [[ $limit == dlq ]] && [[ -e /dev/shm/shmq.$(qname "$verb-$kind-dead") ]] &&
                expect_eq "dead-lettered" 0 "$(field "$(qname "$verb-$kind-dead")" depth)"
            "$SHMQ" rm -f "$q" "$(qname "$verb-$kind-dead")" 2> /dev/null || true
        done
    done
done

section "export --keep: a copy in order, the queue as it was (counts unchanged)"
q=$(qname keep)
"$SHMQ" create "$q" --max-deliveries 1 --dead-letter "$(qname keep-dead)"
seq 1 500 | "$SHMQ" push "$q"
expect_exit 0 "$SHMQ" export --keep "$q" "$WORK/copy.jsonl"
expect_eq "lines: the header, then the messages" 501 "$(wc -l < "$WORK/copy.jsonl")"
expect_exit 0 "$SHMQ" export --keep "$q" "$WORK/copy2.jsonl"
expect_same_file "two copies" "$WORK/copy.jsonl" "$WORK/copy2.jsonl"
"$PY" -c 'import base64, json, sys
for l in open(sys.argv[1]).readlines()[1:]:
    r = json.loads(l)
    assert r["deliveries"] == 1, r
    print(base64.b64decode(r["data_b64"]).decode())' "$WORK/copy.jsonl" > "$WORK/copied"
seq 1 500 > "$WORK/expected"
expect_same_file "the copy, in order" "$WORK/expected" "$WORK/copied"
check_queue "$q" "$WORK/expected"
"$SHMQ" rm -f "$q"

section "work: a second SIGINT stops the commands and gives their messages back undelivered"
q=$(qname work)
"$SHMQ" create "$q" --capacity 8192 --max-deliveries 1 --dead-letter "$(qname work-dead)"
seq 1 20 | "$SHMQ" push "$q"
: > "$WORK/started"
"$SHMQ" work "$q" -j 2 -- sh -c 'echo started >> "$0"; exec sleep 31.5' "$WORK/started" 2> "$WORK/err" &
pool=$!
wait_until 20 '(($(wc -l < "$WORK/started" 2> /dev/null || echo 0) >= 2))'
kill -INT "$pool"
sleep 0.3
kill -INT "$pool"
status=0
wait "$pool" || status=$?
expect_eq "status" 130 "$status"
expect_eq "in flight" 0 "$(field "$q" in_flight)"
grep -q "2 stopped and given back" "$WORK/err" || fail "summary: $(cat "$WORK/err")"
seq 1 20 > "$WORK/expected"
# Two workers give back one message each: between them the order is theirs.
check_queue "$q" "$WORK/expected" sorted

section "work --batch: a second SIGINT gives the whole batch back, in order"
seq 1 300 | "$SHMQ" push "$q"
: > "$WORK/started"
"$SHMQ" work "$q" --batch 100 -- sh -c 'echo started >> "$0"; exec sleep 31.5' "$WORK/started" 2> "$WORK/err" &
pool=$!
wait_until 20 '(($(wc -l < "$WORK/started") >= 1))'
kill -INT "$pool"
sleep 0.3
kill -INT "$pool"
wait "$pool" || true
grep -q "100 stopped and given back" "$WORK/err" || fail "summary: $(cat "$WORK/err")"
seq 1 300 > "$WORK/expected"
check_queue "$q" "$WORK/expected"

section "Ctrl-C of the whole process group of 'shmq work --batch -- CMD': nothing lost, nothing twice"
seq 1 5000 | "$SHMQ" push "$q"
: > "$WORK/done"
# A pipeline in a process group of its own, as a shell runs one in the foreground: the
# command that consumes runs under work (the documented lossless form of 'drain | CMD').
setsid bash -c '"$0" work "$1" -j 2 --batch 50 -- sh -c "sleep 0.05; cat >> \"\$0\"" "$2" | cat > /dev/null' \
    "$SHMQ" "$q" "$WORK/done" 2> "$WORK/err" &
pool=$!
wait_until 20 '(($(wc -l < "$WORK/done") >= 200))'
kill -INT -- "-$pool" # what a terminal does: every process of the foreground group
wait "$pool" || true
done_count=$(wc -l < "$WORK/done")
left=$(field "$q" depth)
expect_eq "done + left" 5000 $((done_count + left))
expect_eq "nothing twice" "$done_count" "$(sort -u "$WORK/done" | wc -l)"
expect_eq "in flight" 0 "$(field "$q" in_flight)"
((left > 0)) || fail "the interrupt came too late to test anything"
"$SHMQ" rm -f "$q" "$(qname work-dead)"
