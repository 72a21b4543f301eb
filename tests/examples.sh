#!/usr/bin/env bash
# Runs the examples as a user would: a producer and a consumer process move messages through
# a FIFO and the consumer checks their order; the worker claims, retries once and acks.
# usage: examples.sh BUILD_DIR
set -euo pipefail
bin="$1/examples"
q="test-examples-$$"
trap 'rm -f /dev/shm/shmq.$q' EXIT

# producer and consumer side by side, 200000 messages of 64 bytes
"$bin/shmq-producer" "$q" 200000 64 > producer.out &
producer=$!
"$bin/shmq-consumer" "$q" 200000 --remove > consumer.out
wait "$producer"
grep -q "received 200000 messages .* 0 out of order" consumer.out || { cat consumer.out; exit 1; }
grep -q "pushed 200000, popped 200000" consumer.out || { cat consumer.out; exit 1; }
grep -q "sent 200000 messages" producer.out || { cat producer.out; exit 1; }
[ ! -e "/dev/shm/shmq.$q" ] || { echo "consumer --remove left the queue"; exit 1; }

# the worker: 1000 tasks, each "fail..." one is retried once and then done
"$bin/shmq-producer" "$q" 1000 64 > /dev/null
"$bin/shmq-worker" "$q" 300 > worker.out
grep -q "worker: 1000 tasks done, 0 retried" worker.out || { cat worker.out; exit 1; }
echo "1 passed, 0 failed"
