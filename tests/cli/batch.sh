#!/usr/bin/env bash
# shmq work --batch, --batch-wait, --output and the framings: each command run gets up to N
# messages on stdin, all acknowledged on exit 0 and nacked otherwise; concurrent outputs never
# mix; --output pushes each output record with the correlation id of its input.
source "$(dirname "$0")/lib.sh"

section "usage errors first: framing without --batch/--output, --reply with --batch, a missing output queue"
q=$(qname q)
"$SHMQ" create "$q" --capacity 8192 --slot-size 4K
expect_exit 2 "$SHMQ" work "$q" -0 -- cat
expect_stderr "shmq work: -0, --raw and --jsonl frame the messages of --batch and the records of --output: give one of those (see 'shmq work --help')"
expect_exit 2 "$SHMQ" work "$q" --batch 5 --reply -- cat
expect_stderr "shmq work: --reply answers one message with one command's output: it cannot be used with --batch or --output (see 'shmq work --help')"
expect_exit 2 "$SHMQ" work "$q" --batch 0 -- cat
expect_exit 2 "$SHMQ" work "$q" --batch 5 --batch-wait forever -- cat
expect_exit 3 "$SHMQ" work "$q" --output "$(qname absent)" -- cat
expect_stderr "shmq work: queue '$(qname absent)' does not exist"

section "--batch 100 -j 4: 1000 messages, runs of at most 100, every line whole, all acknowledged"
seq 1 1000 | "$SHMQ" push "$q"
expect_exit 0 "$SHMQ" work "$q" -j 4 --batch 100 --drain -- \
    awk -v n="$WORK/runs" '{ printf "%s:%s\n", $1, sprintf("%0500d", $1) } END { print ENVIRON["SHMQ_BATCH"] " " NR >> n }'
expect_eq "lines" 1000 "$(wc -l < "$WORK/out")"
expect_eq "every line whole" 1000 "$(grep -cE '^([0-9]+):0*\1$' "$WORK/out")"
expect_eq "every message once" "$(seq 1 1000)" "$(cut -d: -f1 "$WORK/out" | sort -n)"
awk '$1 != $2 || $1 > 100 { bad = 1 } END { exit bad }' "$WORK/runs" || fail "runs: $(cat "$WORK/runs")"
expect_eq "runs add up" 1000 "$(awk '{ s += $1 } END { print s }' "$WORK/runs")"
grep -q '^shmq work: 1000 done, 0 failed, 0 retried, 0 timed out in ' "$WORK/err" || fail "summary: $(cat "$WORK/err")"
expect_eq "acked" 1000 "$(field "$q" acked)"

section "framings: -0 keeps newlines inside messages, --jsonl carries the metadata"
"$SHMQ" push "$q" $'a\nb' 'c'
expect_exit 0 "$SHMQ" work "$q" -0 --batch 10 --drain -- sh -c 'tr "\0\n" "|~"'
expect_eq "-0" 'a~b|c|' "$(cat "$WORK/out")"
"$SHMQ" push "$q" --type t1 --correlation-id c1 one
expect_exit 0 "$SHMQ" work "$q" --jsonl --batch 10 --drain -- cat
"$PY" -c 'import base64, json, sys
r = json.loads(open(sys.argv[1]).read())
assert r["type"] == "t1" and r["correlation_id"] == "c1" and base64.b64decode(r["data_b64"]) == b"one", r' "$WORK/out"

section "--batch-wait: a run waits for its batch to fill"
: > "$WORK/runs"
"$SHMQ" work "$q" --batch 6 --batch-wait 2s -- sh -c 'echo "$SHMQ_BATCH" >> "$0"; cat > /dev/null' "$WORK/runs" \
    > /dev/null 2>&1 &
pool=$!
"$SHMQ" push "$q" 1 2 3
sleep 0.4
"$SHMQ" push "$q" 4 5 6
for ((i = 0; i < 100; i++)); do
    [[ -s $WORK/runs ]] && break
    sleep 0.05
done
kill -TERM "$pool"
wait "$pool" || true
expect_eq "one run of six" 6 "$(cat "$WORK/runs")"

section "a failing command nacks the whole batch: with --max-deliveries 1 all go to the dead-letter queue"
t=$(qname tasks)
dead=$(qname tasks-dead)
"$SHMQ" create "$t" --max-deliveries 1 --dead-letter "$dead"
seq 1 30 | "$SHMQ" push "$t"
expect_exit 1 "$SHMQ" work "$t" --batch 10 --drain -- sh -c 'cat > /dev/null; exit 4'
expect_eq "dead-lettered" "$(seq 1 30)" "$("$SHMQ" drain "$dead")"
grep -qE "^shmq work: batch of 10 messages \(ids [0-9]+ to [0-9]+\) \(delivery 1 of 1\): the command exited with status 4; that was their last delivery: they go to '$dead'\$" "$WORK/err" ||
    fail "per-batch line: $(cat "$WORK/err")"
grep -q '^shmq work: 0 done, 30 failed, 0 retried, 0 timed out, 30 past max deliveries in ' "$WORK/err" ||
    fail "summary: $(cat "$WORK/err")"
expect_eq "no output of a failed batch reaches stdout" "" "$(cat "$WORK/out")"

section "--output: each output record goes to the queue with its input's correlation id"
o=$(qname out)
"$SHMQ" create "$o" --capacity 8192
for i in 1 2 3; do "$SHMQ" push "$q" --correlation-id "id-$i" "m$i"; done
expect_exit 0 "$SHMQ" work "$q" --batch 3 --drain --output "$o" -- tr a-z A-Z
expect_eq "stdout" "" "$(cat "$WORK/out")"
"$SHMQ" drain "$o" --jsonl > "$WORK/o.jsonl"
expect_eq "records and correlation ids" $'M1 id-1\nM2 id-2\nM3 id-3' "$("$PY" -c 'import base64, json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    print(base64.b64decode(r["data_b64"]).decode(), r.get("correlation_id"))' "$WORK/o.jsonl")"
"$SHMQ" push "$q" --correlation-id solo "x y"
expect_exit 0 "$SHMQ" work "$q" --drain --output "$o" -- tr ' ' '\n'
expect_eq "without --batch every record gets the message's id" $'x solo\ny solo' "$("$SHMQ" drain "$o" --jsonl |
    "$PY" -c 'import base64, json, sys
for l in sys.stdin:
    r = json.loads(l)
    print(base64.b64decode(r["data_b64"]).decode(), r.get("correlation_id"))')"

section "--output: a record too large for the output queue fails the job (nack), says why"
small=$(qname small)
"$SHMQ" create "$small" --slot-size 64
once=$(qname once)
"$SHMQ" create "$once" --max-deliveries 1
"$SHMQ" push "$once" big
expect_exit 1 "$SHMQ" work "$once" --drain --output "$small" -- sh -c 'head -c 500 /dev/zero | tr "\0" x; echo'
grep -qE "^shmq work: message [0-9]+ \(delivery 1 of 1\): its output cannot go to '$small': line 1 is longer than 64 bytes; that was its last delivery: it is dropped\$" "$WORK/err" ||
    fail "why: $(cat "$WORK/err")"
expect_eq "nothing pushed" 0 "$(field "$small" depth)"
expect_eq "the message failed" 1 "$(field "$once" dropped)"

section "--reply: a message without reply-to is acknowledged, its output dropped, and it says so"
"$SHMQ" push "$q" lonely
expect_exit 0 "$SHMQ" work "$q" --drain --reply -- cat
grep -q "has no reply-to: it is acknowledged and its output dropped" "$WORK/err" || fail "$(cat "$WORK/err")"
grep -q "1 reply not sent" "$WORK/err" || fail "summary: $(cat "$WORK/err")"
