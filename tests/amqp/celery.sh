#!/usr/bin/env bash
# A stock Celery worker runs tasks pushed with `shmq push` through `shmq bridge --celery`:
# string and JSON arguments, a result back to `shmq call`, and a message that cannot be a
# task stopping the bridge without being lost.
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
python=/usr/bin/python3 # Debian's, with python3-celery: not the first python3 on PATH
"$python" -c 'import celery' 2> /dev/null || fail "$python has no celery (apt-get install python3-celery)"

cq=$(qname celery)        # the worker's queue (and exchange, as Celery names it)
replies=$(qname replies)  # the bridge's reply queue
AMQP_QUEUES+=("$cq" "$replies")
AMQP_EXCHANGES+=("$cq")
export SHMQ_TEST_CELERY_QUEUE=$cq
export SHMQ_TEST_CELERY_BROKER="amqp://guest:guest@127.0.0.1:5672//"
export SHMQ_TEST_CELERY_OUT=$WORK/effects
export PYTHONPATH=$here
: > "$SHMQ_TEST_CELERY_OUT"

section "string arguments: published before the worker exists, returned until it does"
strings=$(qname strings)
"$SHMQ" create "$strings" > /dev/null
"$SHMQ" push "$strings" "hello world" 'quote " and \ backslash' "ünïcödé ✓"
start strings.log "$SHMQ" bridge out "$strings" --celery celery_app.append -k "$cq" \
    --backoff-max 1s
strings_bridge=$LAST_PID
until_true 30 "the broker returning the unroutable task messages" \
    grep -q "returned messages" "$WORK/strings.log"

section "a stock worker: $python -m celery worker --pool=solo"
(cd "$WORK" && exec "$python" -m celery -A celery_app worker --pool=solo -Q "$cq" -c 1 \
    --without-heartbeat --without-gossip --without-mingle -l info) > "$WORK/worker.log" 2>&1 &
worker=$!
STARTED+=("$worker")
until_true 60 "the worker running the 3 tasks" \
    sh -c "[ \$(grep -c '^append ' '$SHMQ_TEST_CELERY_OUT') -ge 3 ]"
expected=$'append hello world\nappend quote " and \\ backslash\nappend ünïcödé ✓'
[[ $(grep '^append ' "$SHMQ_TEST_CELERY_OUT") == "$expected" ]] ||
    fail "effects: expected"$'\n'"$expected"$'\n'"got"$'\n'"$(cat "$SHMQ_TEST_CELERY_OUT")"

section "JSON arguments, and a result back to shmq call"
json=$(qname json)
"$SHMQ" create "$json" > /dev/null
start json.log "$SHMQ" bridge out "$json" --celery celery_app.add --celery-args json -k "$cq" \
    --reply-queue "$replies"
json_bridge=$LAST_PID
"$SHMQ" push "$json" '[2, 3]' '{"a": 10, "b": 20}'
until_true 30 "the worker running the JSON tasks" \
    sh -c "grep -q '^add 2 + 3 = 5\$' '$SHMQ_TEST_CELERY_OUT' && grep -q '^add 10 + 20 = 30\$' '$SHMQ_TEST_CELERY_OUT'"
reply=$(timeout $((60 * SCALE)) "$SHMQ" call "$json" '[20, 22]' --timeout $((30 * SCALE))s) ||
    fail "shmq call through the bridge: exit $?"
echo "reply: $reply"
[[ $reply == *'"status": "SUCCESS"'* && $reply == *'"result": 42'* ]] ||
    fail "the reply is not the task's result: $reply"

section "a message that cannot be a Celery argument stops the bridge and stays in the queue"
bad=$(qname bad)
"$SHMQ" create "$bad" > /dev/null
printf 'not utf-8: \xff\n' | "$SHMQ" push "$bad"
start bad.log "$SHMQ" bridge out "$bad" --celery celery_app.append -k "$cq"
finish "$LAST_PID" 30
[[ $RC -eq 7 ]] || fail "the bridge exited $RC, expected 7 (bad input)"
grep -q "not UTF-8" "$WORK/bad.log" || fail "no reason given: $(cat "$WORK/bad.log")"
[[ $(depth "$bad") == 1 ]] || fail "the message is not back in its queue"

section "SIGTERM: the bridges stop cleanly"
kill -TERM "$strings_bridge" "$json_bridge"
finish "$strings_bridge" 30
[[ $RC -eq 143 ]] || fail "the strings bridge exited $RC, expected 143 (SIGTERM)"
finish "$json_bridge" 30
[[ $RC -eq 143 ]] || fail "the json bridge exited $RC, expected 143 (SIGTERM)"
cat "$WORK/strings.log" "$WORK/json.log"
[[ $(counter returned strings.log) -ge 1 ]] || fail "no message was counted as returned"
[[ $(counter given-back strings.log) == 0 ]] || fail "messages given back"
[[ $(counter replies json.log) == 1 ]] || fail "the result was not counted as a reply"
kill -TERM "$worker"
finish "$worker" 30
echo "PASS"
