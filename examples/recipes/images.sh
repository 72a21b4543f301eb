#!/usr/bin/env bash
# Recipe: downsample a directory of images with ImageMagick, through a queue of paths.
#
#   images.sh [SHMQ] [COUNT]
#
# Makes COUNT (default 40) PNG images of 320x240 with ImageMagick, pushes their paths into a
# queue, and lets `shmq work -j 2 --batch 8` workers resize each batch to half size. Then it
# checks that every image has its copy, and that each copy is 160x120 and a valid PNG.
set -euo pipefail
SHMQ=${1:-shmq}
COUNT=${2:-40}
work=$(mktemp -d)
q="${SHMQ_RECIPE_PREFIX:-recipe}-images-$$"
trap '"$SHMQ" rm -f "$q" 2> /dev/null || true; rm -rf "$work"' EXIT
mkdir "$work/in" "$work/out"

for ((i = 0; i < COUNT; i++)); do
    convert -size 320x240 "gradient:rgb($((i * 6 % 256)),0,0)-rgb(0,0,$((255 - i * 6 % 256)))" \
        "$work/in/image-$i.png"
done

"$SHMQ" create "$q" --capacity 1024
find "$work/in" -name '*.png' -print0 | "$SHMQ" push "$q" -0
# Each command gets up to 8 paths, NUL-terminated (-0): any file name is safe.
OUT="$work/out" "$SHMQ" work "$q" -j 2 --batch 8 -0 --drain -- sh -c '
    xargs -0 -I{} sh -c '\''convert "$1" -resize 50% "$OUT/$(basename "$1")"'\'' _ {}'

made=$(find "$work/out" -name '*.png' | wc -l)
[[ $made == "$COUNT" ]] || { echo "expected $COUNT images, made $made" >&2; exit 1; }
for f in "$work/in"/*.png; do
    size=$(identify -format '%w %h %m' "$work/out/$(basename "$f")")
    [[ $size == "160 120 PNG" ]] || { echo "$(basename "$f"): $size, expected 160 120 PNG" >&2; exit 1; }
done
echo "ok: $COUNT images downsampled to 160x120 by shmq work --batch"
