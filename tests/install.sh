#!/usr/bin/env bash
# Installs the build into a temporary prefix and builds a tiny program against the installed
# package both ways a user would: pkg-config (shmq.pc) and CMake (find_package(shmq)).
# usage: install.sh BUILD_DIR [EXTRA_FLAGS]   (EXTRA_FLAGS: the sanitizer flags of the build)
set -euo pipefail
build="$1"
extra="${2:-}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
test -f "$work/prefix/include/shmq.h"
# shmq.h is an umbrella: every part of include/shmq/ must be installed beside it.
for part in "$(dirname "$0")"/../include/shmq/*.h; do
    test -f "$work/prefix/include/shmq/$(basename "$part")"
done
libdir=$(ls -d "$work"/prefix/lib* | head -1)
test -f "$libdir/pkgconfig/shmq.pc"
test -f "$libdir/cmake/shmq/shmqConfig.cmake"

cat > "$work/tiny.c" <<'C'
#include <shmq.h>
#include <stdio.h>
#include <unistd.h>
int main(void)
{
    char name[64];
    snprintf(name, sizeof name, "test-install-%d", (int)getpid());
    shmq_t *q;
    if (shmq_create(name, NULL, &q) != 0)
        return 1;
    char out[8];
    int ok = shmq_push(q, "hi", 2, 0) == 0 && shmq_pop(q, out, sizeof out, 0) == 2;
    shmq_close(q);
    shmq_unlink(name);
    printf("%s %s\n", ok ? "ok" : "FAILED", shmq_version());
    return ok ? 0 : 1;
}
C

# 1. pkg-config
PKG_CONFIG_PATH="$libdir/pkgconfig" cc $extra "$work/tiny.c" -o "$work/tiny-pc" \
    $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs shmq) -Wl,-rpath,"$libdir"
"$work/tiny-pc" | grep -q '^ok '
# Each installed part alone, with nothing but the package's flags (its own includes resolve).
for part in "$work"/prefix/include/shmq/*.h; do
    echo "#include <shmq/$(basename "$part")>" | cc -std=c11 -fsyntax-only -x c - \
        $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags shmq)
done

# 2. CMake package
mkdir -p "$work/cm"
cat > "$work/cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.25)
project(tiny C)
find_package(shmq 0.1 REQUIRED)
add_executable(tiny ../tiny.c)
target_link_libraries(tiny PRIVATE shmq::shmq)
add_executable(tiny_static ../tiny.c)
target_link_libraries(tiny_static PRIVATE shmq::shmq_static)
CM
cmake -S "$work/cm" -B "$work/cm/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
    -DCMAKE_C_FLAGS="$extra" -DCMAKE_EXE_LINKER_FLAGS="$extra" > "$work/cm.log"
cmake --build "$work/cm/build" > "$work/cm-build.log"
"$work/cm/build/tiny" | grep -q '^ok '
"$work/cm/build/tiny_static" | grep -q '^ok '
echo "1 passed, 0 failed"
