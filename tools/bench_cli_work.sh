#!/usr/bin/env bash
# tools/bench_cli_work.sh SHMQ [RUNS]: `shmq work` against `xargs -P`, for the README.
#
#   1. a 200 000-record awk transform: `seq | shmq push` then `shmq work -j 4 --batch 1000`
#      against `seq | xargs -P 4 -n 1000 awk` (xargs passes the records as arguments);
#   2. a process per message: `shmq work -j 4 -- true` against `xargs -P 4 -n 1 true`.
#
# Prints the median of RUNS (default 3) wall-clock times of each, the ratio (xargs time /
# shmq time: above 1 means shmq is faster) and shmq's records per second. Each run checks
# that every record came out once (shmq's output lines must also never be mixed, which
# xargs does not promise). A report, not a test: the machine may be shared and noisy.
set -euo pipefail
SHMQ=${1:?usage: $0 PATH_TO_SHMQ [RUNS]}
RUNS=${2:-3}
RECORDS=200000
PER_MESSAGE=2000
q="bench-cli-work-$$"
work=$(mktemp -d)
trap '"$SHMQ" rm -f "$q" 2> /dev/null || true; rm -rf "$work"' EXIT

now() { date +%s.%N; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

"$SHMQ" create "$q" --capacity 262144 --slot-size 64
transform='{ print $1 * 3 + 1 }'
seq 1 "$RECORDS" | awk "$transform" | sort > "$work/expected"

for ((r = 0; r < RUNS; r++)); do
    t0=$(now)
    seq 1 "$RECORDS" | "$SHMQ" push "$q"
    "$SHMQ" work "$q" -j 4 --batch 1000 --drain -- awk "$transform" > "$work/shmq.out" 2> /dev/null
    t1=$(now)
    sort "$work/shmq.out" | cmp -s - "$work/expected" || { echo "shmq: wrong output" >&2; exit 1; }
    echo "$t1 - $t0" | bc >> "$work/shmq.times"

    t0=$(now)
    seq 1 "$RECORDS" | xargs -P 4 -n 1000 awk 'BEGIN { for (i = 1; i < ARGC; i++) print ARGV[i] * 3 + 1 }' > "$work/xargs.out"
    t1=$(now)
    sort "$work/xargs.out" | cmp -s - "$work/expected" || echo "xargs: output differs (lines mixed)" >&2
    echo "$t1 - $t0" | bc >> "$work/xargs.times"
done
s=$(median < "$work/shmq.times")
x=$(median < "$work/xargs.times")
printf 'transform of %d records, median of %d: shmq push + work -j 4 --batch 1000: %.3f s (%.0f records/s); xargs -P 4 -n 1000: %.3f s; ratio xargs/shmq %.2fx\n' \
    "$RECORDS" "$RUNS" "$s" "$(echo "$RECORDS / $s" | bc -l)" "$x" "$(echo "$x / $s" | bc -l)"

: > "$work/shmq.times"
: > "$work/xargs.times"
for ((r = 0; r < RUNS; r++)); do
    seq 1 "$PER_MESSAGE" | "$SHMQ" push "$q"
    t0=$(now)
    "$SHMQ" work "$q" -j 4 --drain -- true 2> "$work/err"
    t1=$(now)
    grep -q "^shmq work: $PER_MESSAGE done" "$work/err" || { cat "$work/err" >&2; exit 1; }
    echo "$t1 - $t0" | bc >> "$work/shmq.times"
    t0=$(now)
    seq 1 "$PER_MESSAGE" | xargs -P 4 -n 1 true
    t1=$(now)
    echo "$t1 - $t0" | bc >> "$work/xargs.times"
done
s=$(median < "$work/shmq.times")
x=$(median < "$work/xargs.times")
printf 'a process per message, %d messages, median of %d: shmq work -j 4 -- true: %.3f s (%.0f/s); xargs -P 4 -n 1 true: %.3f s (%.0f/s); ratio xargs/shmq %.2fx\n' \
    "$PER_MESSAGE" "$RUNS" "$s" "$(echo "$PER_MESSAGE / $s" | bc -l)" "$x" "$(echo "$PER_MESSAGE / $x" | bc -l)" "$(echo "$x / $s" | bc -l)"
