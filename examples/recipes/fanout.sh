#!/usr/bin/env bash
# Recipe: fan-out. One producer publishes to a topic; three subscriber pipelines, each its
# own group, get every message and do different things with it.
#
#   fanout.sh [SHMQ] [COUNT]
#
# The pipelines: one sums the amounts, one keeps only the EU orders, one counts per region.
# Each must see all COUNT messages (default 1000).
set -euo pipefail
SHMQ=${1:-shmq}
COUNT=${2:-1000}
work=$(mktemp -d)
t="${SHMQ_RECIPE_PREFIX:-recipe}-fanout-$$"
trap '"$SHMQ" rm -f "$t" 2> /dev/null || true; rm -rf "$work"' EXIT

"$SHMQ" topic create "$t"
# Subscribers first (a new group starts at the end of the ring), each stopping after COUNT.
"$SHMQ" sub "$t" 'orders.#' --group sum --count "$COUNT" | awk -F'\t' '{ s += $2 } END { print s }' > "$work/sum" &
a=$!
"$SHMQ" sub "$t" 'orders.eu.*' --group eu --count $((COUNT / 2)) | cut -f2 > "$work/eu" &
b=$!
"$SHMQ" sub "$t" 'orders.#' --group regions --count "$COUNT" | cut -d. -f2 | sort | uniq -c |
    awk '{ print $2, $1 }' > "$work/regions" &
c=$!
# Publish only once all three groups exist: a group joining later starts at the end of the
# ring and would wait for ever for the messages before it. (A loaded machine may take seconds.)
groups=0
for ((i = 0; i < 1200; i++)); do
    groups=$("$SHMQ" stat "$t" | grep -c '^group' || true)
    [[ $groups -ge 3 ]] && break
    sleep 0.05
done
[[ $groups -ge 3 ]] || { echo "the subscribers did not join within 60 s ($groups of 3)" >&2; exit 1; }

# The producer: even amounts are EU orders, odd ones US.
seq 2 2 "$COUNT" | "$SHMQ" pub "$t" orders.eu.created
seq 1 2 "$COUNT" | "$SHMQ" pub "$t" orders.us.created
wait "$a" "$b" "$c"

sum=$(cat "$work/sum")
[[ $sum == $((COUNT * (COUNT + 1) / 2)) ]] || { echo "sum: $sum" >&2; exit 1; }
[[ $(cat "$work/eu") == "$(seq 2 2 "$COUNT")" ]] || { echo "eu: $(head -3 "$work/eu")..." >&2; exit 1; }
[[ $(cat "$work/regions") == "$(printf 'eu %d\nus %d' $((COUNT / 2)) $((COUNT - COUNT / 2)))" ]] ||
    { echo "regions: $(cat "$work/regions")" >&2; exit 1; }
echo "ok: one producer, three subscriber pipelines, each saw its $COUNT messages"
