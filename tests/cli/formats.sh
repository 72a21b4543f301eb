#!/usr/bin/env bash
# The four framings and the export format: byte-exact round trips of binary payloads with
# NULs, newlines inside -0 messages, metadata kept through export and import.
source "$(dirname "$0")/lib.sh"

q=$(qname q)
"$SHMQ" create "$q" --capacity 5000 --slot-size 2K

section "-0: messages that contain newlines"
printf 'one\nline two\0\0three\n\n\0last' > "$WORK/nul-in"
"$SHMQ" push -0 "$q" < "$WORK/nul-in"
expect_eq "depth" 4 "$(depth "$q")"
"$SHMQ" pop "$q" -0 -n 4 > "$WORK/nul-out"
printf 'one\nline two\0\0three\n\n\0last\0' > "$WORK/nul-expected"
expect_same_file "-0 round trip" "$WORK/nul-expected" "$WORK/nul-out"

# Random payloads of 0..2048 bytes, each with at least one NUL, as a --raw stream.
"$PY" - "$WORK/raw-in" <<'PY'
import os, random, struct, sys
random.seed(20240501)
with open(sys.argv[1], "wb") as f:
    for i in range(3000):
        n = random.choice([0, 1, 7, 8, 9, 2048]) if i < 12 else random.randint(0, 2048)
        b = bytearray(os.urandom(n))
        if n:
            b[random.randrange(n)] = 0
        f.write(struct.pack("<I", n) + bytes(b))
PY

section "--raw: random binary payloads with NULs come back byte for byte"
"$SHMQ" push --raw "$q" < "$WORK/raw-in"
expect_eq "depth" 3000 "$(depth "$q")"
"$SHMQ" pop --raw -n 3000 "$q" > "$WORK/raw-out"
expect_same_file "--raw round trip" "$WORK/raw-in" "$WORK/raw-out"

section "export then import: byte-exact payloads, metadata kept"
"$SHMQ" push --raw "$q" < "$WORK/raw-in"
"$SHMQ" export "$q" "$WORK/export1.jsonl"
expect_eq "export drains" 0 "$(depth "$q")"
expect_eq "a header line, then one line per message" 3001 "$(wc -l < "$WORK/export1.jsonl")"
copy=$(qname copy)
"$SHMQ" create "$copy" --capacity 5000 --slot-size 2K
"$SHMQ" import "$copy" "$WORK/export1.jsonl"
"$SHMQ" pop --raw -n 3000 "$copy" > "$WORK/raw-out"
expect_same_file "export/import round trip" "$WORK/raw-in" "$WORK/raw-out"

section "metadata: every field survives push --jsonl, export, import, export"
# type, correlation id and reply-to of every length 0..255, a non-UTF-8 type (as type_b64),
# timestamps, and messages without metadata, mixed.
"$PY" - "$WORK/meta-in.jsonl" <<'PY'
import base64, json, random, sys
random.seed(7)
lines = []
for i in range(400):
    payload = bytes(random.randrange(256) for _ in range(random.randint(0, 600)))
    m = {"data_b64": base64.b64encode(payload).decode()}
    if i % 4:
        m["type"] = "t" * (i % 256)
        m["correlation_id"] = "c-%d-é✓" % i
        m["reply_to"] = "replies.%d" % i
        m["timestamp_ns"] = 1700000000000000000 + i
    if i % 7 == 3:
        m.pop("type", None)
        m["type_b64"] = base64.b64encode(b"\xff\xfe not utf-8 " + bytes([i % 256 or 1])).decode()
    lines.append(json.dumps(m, ensure_ascii=(i % 2 == 0)))
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY
"$SHMQ" push --jsonl "$q" < "$WORK/meta-in.jsonl"
"$SHMQ" export "$q" > "$WORK/meta-export1.jsonl"
"$SHMQ" import "$copy" < "$WORK/meta-export1.jsonl"
"$SHMQ" export "$copy" > "$WORK/meta-export2.jsonl"
"$PY" - "$WORK/meta-in.jsonl" "$WORK/meta-export1.jsonl" "$WORK/meta-export2.jsonl" <<'PY'
import base64, json, sys
def load(path):
    lines = [json.loads(l) for l in open(path, encoding="utf-8")]
    # An export starts with the description of its queue.
    if lines and "shmq_export" in lines[0]:
        return lines[1:]
    return lines
def meta(m, key):
    if key in m:
        return m[key].encode() if isinstance(m[key], str) else m[key]
    if key + "_b64" in m:
        return base64.b64decode(m[key + "_b64"])
    return None
source, first, second = (load(p) for p in sys.argv[1:])
assert len(source) == len(first) == len(second) == 400, (len(source), len(first), len(second))
for i, (s, a, b) in enumerate(zip(source, first, second)):
    for key in ("data", "type", "correlation_id", "reply_to"):
        want = base64.b64decode(s["data_b64"]) if key == "data" else meta(s, key)
        for name, m in (("export", a), ("re-export", b)):
            got = base64.b64decode(m["data_b64"]) if key == "data" else meta(m, key)
            assert got == want, (i, name, key, want, got)
    for name, m in (("export", a), ("re-export", b)):
        assert m.get("timestamp_ns") == s.get("timestamp_ns"), (i, name, m, s)
        assert m["deliveries"] == 1 and isinstance(m["id"], int), (i, name, m)
        # A non-UTF-8 type is written as type_b64, and only then.
        assert ("type_b64" in m) == (i % 7 == 3), (i, name, sorted(m))
ids = [m["id"] for m in first]
assert len(set(ids)) == len(ids), "ids are unique"
PY

section "--csv: RFC 4180 records, quoted newlines and quotes kept, a header skipped, errors named"
csvq=$(qname csv)
"$SHMQ" create "$csvq" --slot-size 128
printf 'id,name,note\r\n1,plain,x\r\n2,"multi\nline","say ""hi"""\n3,,\n"4","a,b",\n' > "$WORK/in.csv"
expect_exit 0 "$SHMQ" push "$csvq" --csv --csv-header < "$WORK/in.csv"
expect_eq "four records, not five lines" 4 "$(depth "$csvq")"
expect_eq "one payload per record" '["1,plain,x", "2,\"multi\nline\",\"say \"\"hi\"\"\"", "3,,", "\"4\",\"a,b\","]' \
    "$("$SHMQ" peek "$csvq" -n 10 --jsonl | "$PY" -c 'import base64, json, sys
print(json.dumps([base64.b64decode(json.loads(l)["data_b64"]).decode() for l in sys.stdin]))')"
"$SHMQ" drain "$csvq" --csv > "$WORK/out.csv"
expect_eq "drain --csv gives the records back, LF-terminated" "$(tail -n +2 "$WORK/in.csv" | tr -d '\r')" "$(cat "$WORK/out.csv")"
"$PY" -c 'import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
assert rows == [["1", "plain", "x"], ["2", "multi\nline", "say \"hi\""], ["3", "", ""], ["4", "a,b", ""]], rows' "$WORK/out.csv"
"$SHMQ" push "$csvq" 'not "one" record' $'two\nlines'
expect_eq "a payload that is not one record is written as one quoted field" \
    "$(printf '"not ""one"" record"\n"two\nlines"')" "$("$SHMQ" pop "$csvq" -n 2 --csv)"
for bad in 'a"b,c' '"open' '"x"y' $'a\rb'; do
    printf '%s\n' "$bad" > "$WORK/bad.csv"
    expect_exit 7 "$SHMQ" push "$csvq" --csv < "$WORK/bad.csv"
    grep -q "^shmq push: record 1: byte [0-9]*: .*; nothing was pushed\$" "$WORK/err" || fail "csv '$bad': $(cat "$WORK/err")"
done
expect_stderr "shmq push: record 1: byte 2: a carriage return inside a field; nothing was pushed"
expect_exit 2 "$SHMQ" push "$csvq" --csv-header < /dev/null
expect_stderr "shmq push: --csv-header needs --csv"
expect_eq "nothing pushed by the bad ones" 0 "$(depth "$csvq")"

section "export --csv: the payloads as CSV records, no header; with --keep the queue stays"
ecsv=$(qname ecsv)
"$SHMQ" create "$ecsv"
printf '1,"a\nb"\n2,plain\n' | "$SHMQ" push "$ecsv" --csv
expect_exit 0 "$SHMQ" export --csv --keep "$ecsv" "$WORK/e.csv"
expect_eq "csv export" "$(printf '1,"a\nb"\n2,plain')" "$(cat "$WORK/e.csv")"
expect_eq "kept" 2 "$(depth "$ecsv")"
expect_exit 0 "$SHMQ" export --csv "$ecsv"
expect_eq "to stdout, drained" "$(printf '1,"a\nb"\n2,plain')|0" "$(cat "$WORK/out")|$(depth "$ecsv")"

section "push --type-field and pub --subject-field take a value from each JSON record"
fq=$(qname fields)
"$SHMQ" create "$fq"
printf '%s\n' '{"event":{"kind":"created"},"id":1}' '{"event":{"kind":7},"id":2}' '{"id":3}' \
    '{"items":[{"k":"a"},{"k":"b"}]}' | "$SHMQ" push "$fq" --type-field event.kind --type fallback
expect_eq "types: a string, a number as written, the fallback" $'created\n7\nfallback\nfallback' \
    "$("$SHMQ" drain "$fq" --jsonl | "$PY" -c 'import json, sys
for l in sys.stdin:
    print(json.loads(l).get("type"))')"
printf '%s\n' '{"items":[{"k":"a"},{"k":"b"}]}' | "$SHMQ" push "$fq" --type-field items.1.k
expect_eq "an array index" b "$("$SHMQ" pop "$fq" --jsonl | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["type"])')"
for bad in '{"event":{"kind":{"x":1}}}' '{"event":{"kind":[1]}}' 'not json' '{"event":{"kind":"a\u0000b"}}'; do
    printf '%s\n' '{"event":{"kind":"ok"}}' "$bad" > "$WORK/fields"
    expect_exit 7 "$SHMQ" push "$fq" --type-field event.kind < "$WORK/fields"
    grep -q "^shmq push: line 2: --type-field: .*; the 1 message before it was pushed and stays in '$fq'\$" "$WORK/err" ||
        fail "'$bad': $(cat "$WORK/err")"
    "$SHMQ" purge -q "$fq"
done
expect_exit 2 "$SHMQ" push "$fq" --type-field a x
expect_stderr "shmq push: --type-field reads the records of standard input, not arguments"

t=$(qname ftopic)
"$SHMQ" topic create "$t"
"$SHMQ" sub "$t" '#' --count 3 > "$WORK/sub" &
sub=$!
for _ in $(seq 100); do
    [[ $("$SHMQ" stat "$t" 2> /dev/null | grep -c '^group') -ge 1 ]] && break
    sleep 0.05
done
printf '%s\n' '{"region":"eu","v":1}' '{"region":"us.east","v":2}' '{"v":3}' |
    "$SHMQ" pub "$t" orders.other --subject-field region
wait "$sub"
expect_eq "subjects from the field, else SUBJECT" "$(printf 'eu\t{"region":"eu","v":1}\nus.east\t{"region":"us.east","v":2}\norders.other\t{"v":3}')" "$(cat "$WORK/sub")"
printf '%s\n' '{"region":"not a subject"}' > "$WORK/fields"
expect_exit 7 "$SHMQ" pub "$t" x --subject-field region < "$WORK/fields"
expect_stderr "shmq pub: line 1: --subject-field: 'not a subject' is not a subject; nothing was published"

section "export writes exactly the documented keys"
"$SHMQ" push "$q" --type order --correlation-id c-1 --reply-to replies hello
expect_eq "export line" '{"id":ID,"deliveries":1,"type":"order","correlation_id":"c-1","reply_to":"replies","data_b64":"aGVsbG8="}' \
    "$("$SHMQ" export "$q" | tail -n +2 | sed 's/"id":[0-9]*/"id":ID/')"
"$SHMQ" push "$q" plain
expect_eq "export line without metadata" '{"id":ID,"deliveries":1,"data_b64":"cGxhaW4="}' \
    "$("$SHMQ" export "$q" | tail -n +2 | sed 's/"id":[0-9]*/"id":ID/')"

section "--timestamp stamps messages with the current time"
before=$(date +%s%N)
"$SHMQ" push "$q" --timestamp stamped
after=$(date +%s%N)
stamp=$("$SHMQ" pop "$q" --jsonl | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["timestamp_ns"])')
((before <= stamp && stamp <= after)) || fail "timestamp $stamp not within [$before, $after]"

section "pop --jsonl and peek --jsonl carry metadata; peek shows deliveries 0 (not delivered yet)"
"$SHMQ" push "$q" --type greeting hi
expect_eq "peek --jsonl" '{"id":ID,"deliveries":0,"type":"greeting","data_b64":"aGk="}' \
    "$("$SHMQ" peek "$q" --jsonl | sed 's/"id":[0-9]*/"id":ID/')"
expect_eq "pop --jsonl" '{"id":ID,"deliveries":1,"type":"greeting","data_b64":"aGk="}' \
    "$("$SHMQ" pop "$q" --jsonl | sed 's/"id":[0-9]*/"id":ID/')"

section "import accepts hand-written lines: text payloads, blank lines, unknown keys, null metadata"
printf '%s\n' '{"data":"text payload \u00e9 \ud83d\ude00","future_key":{"a":[1,2,{"b":null}]}}' '' \
    '  {"data": "", "type": null}  ' > "$WORK/hand.jsonl"
"$SHMQ" import "$q" "$WORK/hand.jsonl"
"$SHMQ" drain "$q" > "$WORK/hand-out"
expect_same_file "text payloads" <(printf 'text payload \xc3\xa9 \xf0\x9f\x98\x80\n\n') "$WORK/hand-out"

section "LIFO: export then import gives back the same delivery order"
stack=$(qname stack)
"$SHMQ" create "$stack" --lifo
"$SHMQ" push "$stack" bottom middle top
"$SHMQ" export "$stack" > "$WORK/stack.jsonl"
"$SHMQ" import "$stack" < "$WORK/stack.jsonl"
expect_eq "LIFO order after the round trip" $'top\nmiddle\nbottom' "$("$SHMQ" drain "$stack")"

section "export to a file that cannot be written: nothing is lost"
"$SHMQ" push "$q" keep1 keep2
expect_exit 1 "$SHMQ" export "$q" /nonexistent-dir/x.jsonl
expect_eq "queue intact" 2 "$(depth "$q")"

section "a progress bar appears only on a terminal: none when stderr is a file"
seq 1 3000 | "$SHMQ" push "$q"
"$SHMQ" export "$q" > /dev/null 2> "$WORK/progress"
expect_eq "no progress output" "" "$(cat "$WORK/progress")"
echo PASS
