#!/usr/bin/env bash
# Recipe: a request-reply service from the shell. A pool of two workers answers on a queue
# with the output of a command; clients call it with `shmq call` and get their own answer.
#
#   request-reply.sh [SHMQ] [CALLS]
set -euo pipefail
SHMQ=${1:-shmq}
CALLS=${2:-50}
q="${SHMQ_RECIPE_PREFIX:-recipe}-rpc-$$"
pool=
trap '[[ -n $pool ]] && kill "$pool" 2> /dev/null; wait 2> /dev/null; "$SHMQ" rm -f "$q" 2> /dev/null || true' EXIT

"$SHMQ" create "$q"
# The service: word count of the request, and the worker that answered.
"$SHMQ" work "$q" -j 2 --reply -q -- sh -c 'printf "%s words\n" "$(wc -w)"' 2> /dev/null &
pool=$!

# Clients, four at a time; each checks its own answer.
fails=0
clients=()
for ((i = 1; i <= CALLS; i++)); do
    (
        n=$((i % 9 + 1))
        reply=$("$SHMQ" call "$q" "$(seq 1 "$n" | tr '\n' ' ')" --timeout 10s)
        [[ $reply == "$n words" ]] || { echo "call $i: '$reply'" >&2; exit 1; }
    ) &
    clients+=($!)
    if ((${#clients[@]} == 4 || i == CALLS)); then
        for c in "${clients[@]}"; do wait "$c" || fails=$((fails + 1)); done
        clients=()
    fi
done
kill -TERM "$pool"
wait "$pool" || true
pool=
((fails == 0)) || { echo "$fails calls failed" >&2; exit 1; }
echo "ok: $CALLS calls answered by a shell service"
