#!/usr/bin/env bash
# The public headers as a user meets them (include/shmq.h and include/shmq/*.h):
#   1. each compiles on its own, included first (and twice: the guard), in a C11 and in a C++17
#      translation unit, with -Wall -Wextra -Wpedantic -Werror, and declares what it is for;
#   2. shmq.h includes every sub-header, every exported function is declared exactly once and
#      its comment states its contract (threads, ordering, blocking/progress, errors), and no
#      public include guard is reused by a header of src/ or tools/;
#   3. the frozen ABI check (test_header_abi.c, generated from the 0.1.0 header) passes against
#      these headers and FAILS against copies broken on purpose: a moved field, a retyped
#      function, a removed function, a changed constant.
# usage: headers.sh SOURCE_DIR C_COMPILER CXX_COMPILER
set -euo pipefail
src="$1"
cc="$2"
cxx="$3"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
fail() {
    echo "FAIL: $*" >&2
    failed=$((failed + 1))
}
ok() { passed=$((passed + 1)); }

cflags=(-std=c11 -Wall -Wextra -Wpedantic -Werror -Wstrict-prototypes -Wmissing-prototypes
    -Wundef -Wshadow -fsyntax-only)
# No -Wshadow in C++: g++ says the function shmq_stat "hides the constructor" of struct
# shmq_stat, the stat(2) pattern the 0.1.0 API has and keeps.
cxxflags=(-std=c++17 -Wall -Wextra -Wpedantic -Werror -Wundef -fsyntax-only)

# What each header must declare by itself (a symbol it exists for).
declare -A owns=(
    [shmq.h]="shmq_push shmq_publish shmq_wait_any shmq_call shmq_pin_cpu shmq_strerror"
    [shmq/common.h]="SHMQ_FOREVER SHMQ_OPEN_OBSERVE SHMQ_NAME_MAX SHMQ_EXPORT"
    [shmq/queue.h]="shmq_create shmq_push shmq_claim shmq_stat shmq_repair shmq_strerror shmq_version"
    [shmq/topic.h]="shmq_topic_create shmq_publish shmq_subscribe shmq_next shmq_topic_stat"
    [shmq/wait.h]="shmq_wait_any SHMQ_WAIT_ANY_MAX"
    [shmq/rpc.h]="shmq_call shmq_reply"
    [shmq/placement.h]="shmq_pin_near shmq_pin_cpu SHMQ_NUMA_LOCAL SHMQ_NUMA_STRICT"
)

headers=(shmq.h)
for h in "$src"/include/shmq/*.h; do
    headers+=("shmq/$(basename "$h")")
done
for h in "${headers[@]}"; do
    [[ -n ${owns[$h]:-} ]] || fail "$h: new header without an entry in headers.sh (say what it owns)"
done

# 1. Each header alone, first, twice, in C and in C++.
for h in "${headers[@]}"; do
    # A function must be declared (taking its address needs a declaration), a macro defined.
    uses="" checks=""
    for name in ${owns[$h]:-}; do
        if [[ $name == shmq_* ]]; then
            uses+="(void)&$name; "
        else
            checks+="#ifndef $name
#error \"$h does not define $name\"
#endif
"
        fi
    done
    printf '#include <%s>\n#include <%s>\n%svoid header_use(void);\nvoid header_use(void) { %s}\n' \
        "$h" "$h" "$checks" "$uses" > "$work/tu.c"
    cp "$work/tu.c" "$work/tu.cc"
    if "$cc" "${cflags[@]}" -I "$src/include" "$work/tu.c" 2> "$work/err"; then ok; else
        fail "$h does not compile alone as C:"; cat "$work/err" >&2
    fi
    if "$cxx" "${cxxflags[@]}" -I "$src/include" "$work/tu.cc" 2> "$work/err"; then ok; else
        fail "$h does not compile alone as C++:"; cat "$work/err" >&2
    fi
done

# 2. The umbrella includes every part; each exported function is declared once.
for h in "${headers[@]}"; do
    [[ $h == shmq.h ]] && continue
    if grep -q "^#include \"$h\"" "$src/include/shmq.h"; then ok; else fail "shmq.h does not include $h"; fi
done
dups=$(cat "$src"/include/shmq.h "$src"/include/shmq/*.h | grep -o '^SHMQ_EXPORT [^(]*(' |
    grep -o 'shmq_[a-z_]*($' | sort | uniq -d)
if [[ -z $dups ]]; then ok; else fail "declared in two places: $dups"; fi

# No public include guard is also the guard of a header of the library or its tools (a header
# of src/ with the same guard would silently vanish from the translation units that see both).
for h in "${headers[@]}"; do
    guard=$(grep -m1 -o '^#ifndef [A-Z_]*_H$' "$src/include/$h" | cut -d' ' -f2)
    if [[ -z $guard ]]; then
        fail "$h has no include guard"
    elif clash=$(grep -rlx --include='*.h' "#ifndef $guard" "$src/src" "$src/tools" 2>/dev/null); then
        fail "$h's guard $guard is also used by: $clash"
    else
        ok
    fi
done

# Every exported function has a comment (its own, or the one it shares with the declarations
# next to it) that says who may call it concurrently, the ordering it gives, whether it blocks
# or its progress, and its errors: by words a reader can find (a comment may defer to another
# function's with "as shmq_x").
contract_gaps() { # contract_gaps HEADER...: one line per function whose comment misses something
    awk '
        /^\/\*/ { incomment = 1; text = "" }
        incomment { text = text " " $0 }
        incomment && /\*\// { incomment = 0; last = text }
        /^SHMQ_EXPORT/ {
            match($0, /shmq_[a-z_]+\(/); fn = substr($0, RSTART, RLENGTH - 1)
            if (last ~ /as shmq_[a-z_]+/) next
            miss = ""
            if (last !~ /[Tt]hread|per handle|Pure/) miss = miss " threads"
            if (last !~ /[Oo]rder|acquire|release|happen|Pure/) miss = miss " ordering"
            if (last !~ /lock-free|wait-free|[Bb]lock|waits|Pure/) miss = miss " blocking/progress"
            if (last !~ /-E[A-Z]+|never fails|never NULL|Pure/) miss = miss " errors"
            if (miss != "") print FILENAME ": " fn ":" miss
        }' "$@"
}
gaps=$(contract_gaps "$src"/include/shmq/*.h)
if [[ -z $gaps ]]; then ok; else fail "comments that do not state the contract:"; echo "$gaps" >&2; fi
# ... and that check can fail: a function whose comment says nothing of it.
printf '/* Does something. */\nSHMQ_EXPORT int shmq_undocumented(void);\n' > "$work/bare.h"
if [[ -n $(contract_gaps "$work/bare.h") ]]; then ok; else fail "the contract check passes a bare comment"; fi

# 3. The frozen ABI: passes here, fails on each broken copy.
abi() { # abi INCLUDE_DIR: 0 when test_header_abi.c compiles against it
    "$cc" -std=c11 -D_GNU_SOURCE -fsyntax-only -I "$1" "$src/tests/test_header_abi.c" 2> "$work/abi.err"
}
if abi "$src/include"; then ok; else fail "test_header_abi.c fails on the headers:"; cat "$work/abi.err" >&2; fi
# break FILE SED-EXPRESSION WHAT: a copy of include/ with one change must fail the ABI check.
break_copy() {
    rm -rf "$work/inc"
    cp -r "$src/include" "$work/inc"
    sed -i "$2" "$work/inc/$1"
    if cmp -s "$src/include/$1" "$work/inc/$1"; then
        fail "the mutation '$3' did not apply to $1 (update headers.sh)"
    elif abi "$work/inc"; then
        fail "test_header_abi.c does not notice $3"
    else
        ok
    fi
}
break_copy shmq/common.h 's/uint32_t deliveries;/uint64_t deliveries;/' "a field that grows"
break_copy shmq/queue.h 's/uint64_t released; /uint64_t released_; uint32_t pad; /' "a renamed field"
break_copy shmq/queue.h 's/int shmq_ack(shmq_t \*q, struct shmq_msg \*m)/int shmq_ack(shmq_t *q, const struct shmq_msg *m)/' "a retyped function"
break_copy shmq/topic.h '/^SHMQ_EXPORT int shmq_view_check/d' "a removed function"
break_copy shmq/common.h 's/#define SHMQ_META_STR_MAX 255/#define SHMQ_META_STR_MAX 256/' "a changed constant"
break_copy shmq/queue.h 's/enum shmq_kind { SHMQ_FIFO = 0, SHMQ_LIFO = 1 };/enum shmq_kind { SHMQ_FIFO = 0, SHMQ_LIFO = 2 };/' "a changed enumerator"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
