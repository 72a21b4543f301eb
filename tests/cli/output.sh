#!/usr/bin/env bash
# ls, stat and watch: tables with headers on a terminal, tab-separated without headers when
# piped, JSON that parses with --json; --help, --version; the installed man page and completion.
source "$(dirname "$0")/lib.sh"

me=$(id -un)
q=$(qname q)
lifo=$(qname lifo)
"$SHMQ" create "$q" --capacity 16 --slot-size 64 --mode 0640
"$SHMQ" create "$lifo" --lifo --capacity 8 --single-consumer
"$SHMQ" push "$q" a b c
bytes=$("$SHMQ" stat "$q" | awk -F'\t' '$1 == "segment_bytes" { print $2 }')
lifo_bytes=$("$SHMQ" stat "$lifo" | awk -F'\t' '$1 == "segment_bytes" { print $2 }')
[[ $bytes =~ ^[0-9]+$ && $bytes -gt 0 ]] || fail "segment_bytes '$bytes'"

section "ls piped: tab-separated rows in the documented column order, no header"
"$SHMQ" ls > "$WORK/ls"
grep -q 'NAME' "$WORK/ls" && fail "piped ls has a header"
# Sorted by name: "lifo" before "q".
expect_eq "ls rows" "$(printf '%s\tlifo\t0\t8\t256\t%s\t0\t0\t0600\t%s\t0\t0\t0\t0\t0\t0\n%s\tfifo\t3\t16\t64\t%s\t0\t0\t0640\t%s\t0\t0\t0\t0\t0\t0' \
    "$lifo" "$lifo_bytes" "$me" "$q" "$bytes" "$me")" "$(grep -F "$PREFIX" "$WORK/ls")"

section "ls --json parses and holds the same values"
"$SHMQ" ls --json > "$WORK/ls.json"
"$PY" -m json.tool "$WORK/ls.json" > /dev/null || fail "ls --json is not JSON"
"$PY" - "$WORK/ls.json" "$q" "$bytes" "$me" <<'PY'
import json, sys
rows = {r["name"]: r for r in json.load(open(sys.argv[1]))}
r = rows[sys.argv[2]]
want = {"name": sys.argv[2], "kind": "fifo", "depth": 3, "capacity": 16, "slot_size": 64,
        "bytes": int(sys.argv[3]), "producers": 0, "consumers": 0, "mode": "0640",
        "owner": sys.argv[4], "in_flight": 0, "dead": 0, "redelivered": 0, "expired": 0,
        "dead_lettered": 0, "dropped": 0}
assert r == want, (r, want)
PY

section "ls on a terminal: a header, then aligned rows"
# (stderr aside: other programs' segments in /dev/shm may draw warnings)
script -qec "$(printf '%q ' "$SHMQ" ls) 2>/dev/null" /dev/null | tr -d '\r' > "$WORK/ls-tty"
head -1 "$WORK/ls-tty" | grep -Eq '^NAME +KIND +DEPTH +CAPACITY +SLOT SIZE +BYTES +PRODUCERS +CONSUMERS +MODE +OWNER +IN FLIGHT +DEAD +REDELIVERED +EXPIRED +DEAD LETTERED +DROPPED$' ||
    fail "terminal header: $(head -1 "$WORK/ls-tty")"
grep -Eq "^$q +fifo +3 +16 +64 +$bytes +0 +0 +0640 +$me( +0){6}\$" "$WORK/ls-tty" ||
    fail "terminal row: $(cat "$WORK/ls-tty")"

section "stat piped: key<TAB>value lines, participants labelled; no header"
"$SHMQ" stat "$q" > "$WORK/stat"
expect_eq "stat keys" "name kind flags capacity slot_size max_participants mode owner creator_pid created ttl max_deliveries dead_letter numa_requested numa_located numa_strict depth in_flight pushed popped acked nacked redelivered expired dead_lettered dropped recovered full empty waits wakeups participants dead producers consumers segment_bytes" \
    "$(cut -f1 "$WORK/stat" | tr '\n' ' ' | sed 's/ $//')"
expect_eq "stat values" "$(printf 'name\t%s\nkind\tfifo\nflags\tnone\ncapacity\t16\nslot_size\t64\nmode\t0640\nttl\tnone\nmax_deliveries\tnone\ndead_letter\tnone\nnuma_requested\tnone\nnuma_strict\tno\ndepth\t3\npushed\t3\npopped\t0\ndead\t0' "$q")" \
    "$(grep -E '^(name|kind|flags|capacity|slot_size|mode|ttl|max_deliveries|dead_letter|numa_requested|numa_strict|depth|pushed|popped|dead)\s' "$WORK/stat")"
expect_eq "single-consumer flag" "$(printf 'flags\tsingle-consumer')" "$("$SHMQ" stat "$lifo" | grep '^flags')"

section "stat shows a live participant with its role and counters"
seq 1 3 | "$SHMQ" push "$q"
# A consumer that waits keeps its handle (and its participant entry) open meanwhile.
"$SHMQ" pop "$q" -n 1000 --wait=2s > /dev/null &
consumer=$!
sleep 0.5
"$SHMQ" stat "$q" > "$WORK/stat-live"
grep -qP "^participant\t\d+\t$consumer\talive\tconsumer\t0\t6\t6\t0\t" "$WORK/stat-live" ||
    fail "participant row: $(grep ^participant "$WORK/stat-live" || echo none)"
expect_eq "live consumers" "$(printf 'consumers\t1')" "$(grep '^consumers' "$WORK/stat-live")"
"$SHMQ" stat "$q" --json > "$WORK/stat.json"
"$PY" -m json.tool "$WORK/stat.json" > /dev/null || fail "stat --json is not JSON"
"$PY" - "$WORK/stat.json" "$consumer" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["depth"] == 0 and s["popped"] == 6 and s["consumers"] == 1, s
p = [p for p in s["participant_list"] if p["pid"] == int(sys.argv[2])]
assert len(p) == 1 and p[0]["alive"] is True and p[0]["roles"] == "consumer", p
PY
"$SHMQ" ls --json | "$PY" -c "
import json, sys
r = [r for r in json.load(sys.stdin) if r['name'] == '$q'][0]
assert r['consumers'] == 1, r"
wait

section "stat on a terminal: aligned fields"
script -qec "$(printf '%q ' "$SHMQ" stat "$q") 2>/dev/null" /dev/null | tr -d '\r' > "$WORK/stat-tty"
grep -Eq '^slot_size +64$' "$WORK/stat-tty" || fail "terminal stat: $(cat "$WORK/stat-tty")"

section "watch piped: one line per queue and update, time first, rates empty at first"
"$SHMQ" watch "$q" --count 2 --interval 100ms > "$WORK/watch"
expect_eq "lines" 2 "$(wc -l < "$WORK/watch")"
awk -F'\t' -v q="$q" 'NR == 1 && !($2 == q && $3 == 0 && $4 == 16 && $5 == "-" && $6 == "-" && $10 == "-" && NF == 15) { exit 1 }
    NR == 2 && !($5 == 0 && $6 == 0 && $10 == 0 && $11 == 0) { exit 1 }' "$WORK/watch" || fail "watch lines: $(cat "$WORK/watch")"
grep -q DEPTH "$WORK/watch" && fail "piped watch has a header"

section "watch on a terminal fits \$COLUMNS, dropping columns by priority; a name not yet created has an empty row"
if script -qec true /dev/null > /dev/null 2>&1; then
    later=$(qname later)
    for cols in 60 100 250; do
        COLUMNS=$cols script -qec "'$SHMQ' watch -n 2 -i 50ms '$q' '$later'" /dev/null |
            sed 's/\x1b\[[0-9;]*[A-Za-z]//g; s/\r$//' > "$WORK/screen"
        awk -v c="$cols" 'length($0) > c { print "too wide (" length($0) " > " c "): " $0; bad = 1 } END { exit bad }' "$WORK/screen" ||
            fail "watch at $cols columns: $(cat "$WORK/screen")"
        grep -q '^NAME *DEPTH' "$WORK/screen" || fail "no header at $cols columns: $(cat "$WORK/screen")"
        grep -qE "^$later +- " "$WORK/screen" || fail "no row for the missing queue: $(cat "$WORK/screen")"
        expect_eq "headers at $cols columns" 2 "$(grep -c '^NAME' "$WORK/screen")"
    done
    grep -q 'DROPPED' "$WORK/screen" || fail "250 columns show everything: $(cat "$WORK/screen")"
    COLUMNS=60 script -qec "'$SHMQ' watch -n 1 '$q'" /dev/null | sed 's/\x1b\[[0-9;]*[A-Za-z]//g' > "$WORK/screen"
    grep -q 'DROPPED\|EXPIRED\|CAPACITY' "$WORK/screen" && fail "60 columns keep low-priority columns: $(cat "$WORK/screen")"
    grep -q 'FILL' "$WORK/screen" || fail "60 columns lost the bar: $(cat "$WORK/screen")"
else
    echo "script(1) cannot make a terminal here: skipped"
fi

section "watch --json: one JSON object per update"
"$SHMQ" watch "$q" "$lifo" --json -n 2 -i 50ms > "$WORK/watch.jsonl"
expect_eq "json lines" 2 "$(wc -l < "$WORK/watch.jsonl")"
while read -r line; do
    printf '%s' "$line" | "$PY" -m json.tool > /dev/null || fail "watch --json line: $line"
done < "$WORK/watch.jsonl"
"$PY" - "$WORK/watch.jsonl" "$q" "$lifo" <<'PY'
import json, sys
ticks = [json.loads(l) for l in open(sys.argv[1])]
assert [q["name"] for q in ticks[1]["queues"]] == sys.argv[2:4], ticks
assert ticks[0]["queues"][0]["push_per_s"] is None and ticks[1]["queues"][0]["push_per_s"] == 0
PY

section "watch on a terminal: a title and a table with a depth bar"
"$SHMQ" push "$q" x y z w
COLUMNS=250 script -qec "$(printf '%q ' "$SHMQ" watch "$q" -n 1) 2>/dev/null" /dev/null | tr -d '\r' > "$WORK/watch-tty"
grep -q '^NAME .* FILL .* RETRY PER S .* DEAD .* DEAD LETTERED  DROPPED$' "$WORK/watch-tty" || fail "watch header: $(cat "$WORK/watch-tty")"
grep -Fq "[#####...............]" "$WORK/watch-tty" || fail "watch bar: $(cat "$WORK/watch-tty")"

section "ls, watch and stat show the same numbers: one status, one row per queue, topic, group"
same=$(qname same)
"$SHMQ" create "$same" --capacity 8
"$SHMQ" push "$same" a b c
samet=$(qname samet)
"$SHMQ" topic create "$samet" --capacity 8
"$SHMQ" sub "$samet" --group g --durable -n 1 > /dev/null &
sub=$!
wait_until 20 '[[ $(field "$samet" members) == 1 ]]'
"$SHMQ" pub "$samet" s one two three
wait "$sub"
"$SHMQ" ls > "$WORK/ls"
"$SHMQ" watch "$same" "$samet" -n 1 > "$WORK/watch"
# depth capacity producers consumers in_flight dead redelivered expired dead_lettered dropped
ls_row() { awk -F'\t' -v n="$1" '$1 == n { print $3, $4, $7, $8, $11, $12, $13, $14, $15, $16 }' "$WORK/ls"; }
watch_row() { awk -F'\t' -v n="$1" '$2 == n { print $3, $4, $8, $9, $7, $11, $12, $13, $14, $15 }' "$WORK/watch"; }
expect_eq "queue: ls" "3 8 0 0 0 0 0 0 0 0" "$(ls_row "$same")"
expect_eq "queue: watch as ls" "$(ls_row "$same")" "$(watch_row "$same")"
expect_eq "queue: stat as ls" "$(ls_row "$same")" "$(for k in depth capacity producers consumers in_flight dead redelivered expired dead_lettered dropped; do field "$same" $k; done | xargs)"
expect_eq "topic: ls (largest lag, members; what a topic has not is -)" "2 8 - 0 - 0 - - - 0" "$(ls_row "$samet")"
expect_eq "topic: watch as ls" "$(ls_row "$samet")" "$(watch_row "$samet")"
expect_eq "topic: stat's max_lag" 2 "$(field "$samet" max_lag)"
expect_eq "group: watch" "2 8 - 0 - - - - - 0" "$(watch_row "$samet/g")"
"$SHMQ" rm "$same" "$samet"

section "--help, VERB --help, help VERB, --version"
"$SHMQ" --help > "$WORK/help"
for code in 0 1 2 3 4 5 6 7 8; do
    grep -Eq "^  $code  " "$WORK/help" || fail "exit code $code is not documented in --help"
done
for verb in create ls stat push pop drain peek purge rm export import watch repair call work topic pub sub; do
    grep -Eq "^  $verb " "$WORK/help" || fail "--help does not list $verb"
    expect_exit 0 "$SHMQ" "$verb" --help
    grep -q "^usage: shmq $verb " "$WORK/out" || fail "$verb --help: $(head -1 "$WORK/out")"
    grep -q -- "--help" "$WORK/out" || fail "$verb --help lists no options"
    expect_exit 0 "$SHMQ" help "$verb"
done
grep -q "best-effort snapshot" <("$SHMQ" peek --help) || fail "peek --help does not say it is a snapshot"
expect_eq "--version" "shmq 0.1.0 (libshmq 0.1.0)" "$("$SHMQ" --version)"

section "the man page and the bash completion are installed next to the tool"
prefix=$(cd "$(dirname "$SHMQ")/.." && pwd)
man=$(find "$prefix" -path '*/man1/shmq.1' | head -1)
[[ -n $man ]] || fail "no man page under $prefix"
if command -v man > /dev/null; then
    MANWIDTH=80 man -l "$man" 2>/dev/null | grep -q "EXIT STATUS" || fail "the man page does not render"
else
    grep -q '^\.SH EXIT STATUS' "$man" || fail "the man page has no EXIT STATUS section"
fi
completion=$(find "$prefix" -path '*/bash-completion/completions/shmq' | head -1)
[[ -n $completion ]] || fail "no bash completion under $prefix"
# Complete "shmq po" and "shmq pop --w" and a queue name, with the installed tool.
result=$(bash -c '
    source "$1"
    complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _shmq; echo "${COMPREPLY[*]}"; }
    complete_words "$2" po; complete_words "$2" pop --w; complete_words "$2" stat "$3"
' _ "$completion" "$SHMQ" "$PREFIX")
expect_eq "completions" "$(printf 'pop\n--wait\n%s %s' "$lifo" "$q")" "$result"
# Every verb of 'shmq --help' has its entry in the man page and is completed; so is each of
# work's and export's options.
verbs=$("$SHMQ" --help | sed -n '/^verbs:/,/^$/p' | awk 'NF > 1 { print $1 }')
[[ $(wc -w <<< "$verbs") -ge 19 ]] || fail "verbs: $verbs"
completed=$(bash -c 'source "$1"; COMP_WORDS=("$2" ""); COMP_CWORD=1; _shmq; echo "${COMPREPLY[*]}"' _ "$completion" "$SHMQ")
for verb in $verbs; do
    grep -qE "^\.(B|BI|BR) \"?$verb( |\"|\$)" "$man" || fail "verb '$verb' has no entry in the man page"
    grep -qw -- "$verb" <<< "$completed" || fail "verb '$verb' is not completed: $completed"
done
for option in --batch --batch-wait --output --keep; do
    grep -qF -- "${option//-/\\-}" "$man" || fail "the man page does not document $option"
done
# Section 3: every function of the installed header has a page (its group's, or one that
# points there), and the pages render.
header=$(find "$prefix" -name shmq.h | head -1)
[[ -n $header ]] || fail "no installed header under $prefix"
man3=$(dirname "$man")/../man3
# shmq.h is an umbrella: the functions are declared in the parts it includes (shmq/*.h).
parts=("$header" "$(dirname "$header")"/shmq/*.h)
[[ $(grep -ho '^SHMQ_EXPORT [^(]*(' "${parts[@]}" | wc -l) -gt 50 ]] ||
    fail "the installed headers declare too few functions: ${parts[*]}"
for fn in $(grep -ho '^SHMQ_EXPORT [^(]*(' "${parts[@]}" | grep -o 'shmq_[a-z_]*(' | tr -d '('); do
    [[ -f $man3/$fn.3 ]] || fail "no section-3 page for $fn"
done
if command -v man > /dev/null; then
    for page in "$man3"/*.3; do
        grep -q '^\.so ' "$page" && continue
        MANWIDTH=80 man --warnings -l "$page" 2>&1 > /dev/null | grep . && fail "$page renders with warnings"
    done
    MANWIDTH=80 man -M "$man3/.." 3 shmq_release 2>/dev/null | grep -q "first in line" ||
        fail "man shmq_release does not lead to the zero-copy page"
fi
expect_eq "bridge's directions" "out" "$(bash -c 'source "$1"; COMP_WORDS=("$2" bridge o); COMP_CWORD=2; _shmq; echo "${COMPREPLY[*]}"' _ "$completion" "$SHMQ")"
echo PASS
