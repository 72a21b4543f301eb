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
# Subscribers first, each stopping after its COUNT (or after 2 minutes: a recipe never hangs).
timeout 120 "$SHMQ" sub "$t" 'orders.#' --group sum --count "$COUNT" | awk -F'\t' '{ s += $2 } END { print s }' > "$work/sum" &
a=$!
timeout 120 "$SHMQ" sub "$t" 'orders.eu.*' --group eu --count $((COUNT / 2)) | cut -f2 > "$work/eu" &
b=$!
timeout 120 "$SHMQ" sub "$t" 'orders.#' --group regions --count "$COUNT" | cut -d. -f2 | sort | uniq -c |
    awk '{ print $2, $1 }' > "$work/regions" &
c=$!
# A group starts at the end of the ring: publish only once all three exist.
groups=0
for ((i = 0; i < 1200 && groups < 3; i++)); do
    groups=$("$SHMQ" stat "$t" | grep -c '^group' || true)
    ((groups >= 3)) || sleep 0.05
done
((groups >= 3)) || { echo "the subscribers did not start within 60 s" >&2; exit 1; }

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
