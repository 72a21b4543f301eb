#!/usr/bin/env bash
# shmq call: one request out, its reply printed; timeouts, bad input, signals; the reply queue
# it makes is gone afterwards in every case. The server here is the tool itself: pop the
# request with its metadata, push the answer to its reply-to with its correlation id.
source "$(dirname "$0")/lib.sh"

q=$(qname q)
"$SHMQ" create "$q" --slot-size 128

# no_reply_queues: no reply queue of a process that has ended, and that was not there when the
# test began (other programs may be running calls meanwhile).
ls /dev/shm | grep '^shmq\.shmq-reply\.' > "$WORK/reply-queues-before" || true
no_reply_queues() {
    local f pid
    for f in /dev/shm/shmq.shmq-reply.*; do
        [[ -e $f ]] || continue
        grep -qxF "${f#/dev/shm/}" "$WORK/reply-queues-before" && continue
        pid=${f#/dev/shm/shmq.shmq-reply.}
        pid=${pid%%.*}
        kill -0 "$pid" 2> /dev/null || fail "reply queue left behind: $f"
    done
}

# serve ANSWER_COMMAND: answer the next request of $q with the output of the command fed the
# request's payload.
serve() {
    local line reply_to cid
    line=$("$SHMQ" pop "$q" --wait=5s --jsonl)
    read -r reply_to cid < <("$PY" -c '
import base64, json, sys
m = json.loads(sys.argv[1])
open(sys.argv[2], "wb").write(base64.b64decode(m["data_b64"]))
print(m["reply_to"], m["correlation_id"])' "$line" "$WORK/payload")
    "$SHMQ" push "$reply_to" --correlation-id "$cid" "$("$@" < "$WORK/payload")"
}

section "a request from the argument; the reply is printed as a line"
"$SHMQ" call "$q" hello > "$WORK/reply" &
caller=$!
serve tr a-z A-Z
wait "$caller"
expect_eq "reply" HELLO "$(cat "$WORK/reply")"
expect_eq "the reply ends with a newline" 6 "$(wc -c < "$WORK/reply")"

section "a request from standard input: one line; -0 frames the reply with a NUL"
echo "from stdin" | "$SHMQ" call "$q" > "$WORK/reply" &
caller=$!
serve rev
wait "$caller"
expect_eq "reply" "nidts morf" "$(cat "$WORK/reply")"
printf 'two\nlines' | "$SHMQ" call -0 "$q" > "$WORK/reply" &
caller=$!
serve tr '\n' ' '
wait "$caller"
printf 'two lines\0' > "$WORK/expected"
expect_same_file "NUL-framed reply" "$WORK/expected" "$WORK/reply"

section "no reply within --timeout: exit 5, the request stays queued"
expect_exit 5 "$SHMQ" call "$q" --timeout 200ms unanswered
expect_stderr "shmq call: no reply from '$q' within 200ms (the request may still be waiting in the queue)"
"$SHMQ" pop "$q" --jsonl > "$WORK/request"
"$PY" - "$WORK/request" <<'PY'
import base64, json, sys
m = json.load(open(sys.argv[1]))
assert base64.b64decode(m["data_b64"]) == b"unanswered", m
assert m["reply_to"].startswith("shmq-reply.") and m["correlation_id"], m
PY
no_reply_queues

section "bad input: exit 7 for no message, more than one, or one too large; 2 for usage"
expect_exit 7 "$SHMQ" call "$q" < /dev/null
expect_stderr "shmq call: standard input holds no message: give one as an argument or on stdin"
expect_exit 7 "$SHMQ" call "$q" < <(printf 'a\nb\n')
expect_stderr "shmq call: standard input holds more than one line: call sends one message (-0 or --raw frame a message that has newlines)"
expect_exit 7 "$SHMQ" call "$q" "$(printf 'x%.0s' {1..120})"
expect_stderr "shmq call: the message (120 bytes plus a correlation id and the reply queue's name) does not fit in a slot of 128 bytes"
expect_exit 7 "$SHMQ" call "$q" < <(printf 'x%.0s' {1..200})
expect_stderr "shmq call: line 1 is longer than 128 bytes, the queue's slot size"
expect_exit 2 "$SHMQ" call "$q" --raw message
expect_exit 3 "$SHMQ" call "$(qname missing)" x
expect_stderr "shmq call: queue '$(qname missing)' does not exist"
expect_eq "depth" 0 "$(depth "$q")"

section "Ctrl-C while waiting: exit 130, and the reply queue is removed"
"$SHMQ" call "$q" --timeout forever waiting 2> "$WORK/err" &
caller=$!
for _ in $(seq 100); do
    [[ -e /dev/shm/shmq.shmq-reply.$caller.$caller ]] && break
    sleep 0.05
done
[[ -e /dev/shm/shmq.shmq-reply.$caller.$caller ]] || fail "no reply queue while waiting"
kill -INT "$caller"
status=0
wait "$caller" || status=$?
expect_eq "call status after SIGINT" 130 "$status"
[[ ! -e /dev/shm/shmq.shmq-reply.$caller.$caller ]] || fail "the reply queue was left behind"
"$SHMQ" purge -q "$q"
no_reply_queues

section "a Celery result sets the exit status: FAILURE 1 (with the exception's type), SUCCESS 0"
failure='{"status": "FAILURE", "result": {"exc_type": "ZeroDivisionError", "exc_message": ["division by zero"], "exc_module": "builtins"}, "traceback": "Traceback ...", "children": [], "date_done": "2026-01-01T00:00:00", "task_id": "c0ffee"}'
success='{"status": "SUCCESS", "result": 42, "traceback": null, "children": [], "date_done": "2026-01-01T00:00:00", "task_id": "c0ffee"}'
lookalike='{"status": "FAILURE", "note": "no task_id: not a Celery result"}'
"$SHMQ" create "$(qname big)" --slot-size 1K
q=$(qname big)
for case in failure success lookalike; do
    "$SHMQ" call "$q" x > "$WORK/reply" 2> "$WORK/err" &
    caller=$!
    serve printf '%s' "${!case}"
    status=0
    wait "$caller" || status=$?
    expect_eq "the reply is printed ($case)" "${!case}" "$(cat "$WORK/reply")"
    case $case in
        failure)
            expect_eq "status ($case)" 1 "$status"
            expect_stderr "shmq call: the task did not succeed: Celery status FAILURE, ZeroDivisionError"
            ;;
        *)
            expect_eq "status ($case)" 0 "$status"
            expect_quiet
            ;;
    esac
done
no_reply_queues
echo PASS
