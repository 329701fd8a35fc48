#!/usr/bin/env bash
# Fetch the Vietnamese Tesseract models shipped in the npm package @tesseract.js-data/vie
# and lay them out as complete tessdata dirs that `ocr.tessdata_dir` can point at.
#
# Debian's vie.traineddata is the small "fast" LSTM (Lfx192). The npm package carries:
#   4.0.0_best_int/  the "best" LSTM (Lfx512) converted to integer weights -> best_int/
#   4.0.0/           the tessdata 4.0.0 model: legacy engine + LSTM       -> legacy/
# Each dir also gets Debian's osd and eng models, pdf.ttf and the configs/ folders by
# symlink, because a --tessdata-dir replaces Tesseract's own dir entirely (pytesseract's
# "tsv" output and OSD look there too).
#
# The tarball is pinned by version and by the registry's SHA-512 integrity; when the
# models are already unpacked, nothing touches the network.
#
# Usage: scripts/get-models.sh        -> prints the best_int tessdata dir
#        ocr: {tessdata_dir: <that dir>} in a config file selects it
set -euo pipefail

version="${VIE_MODELS_VERSION:-1.0.0}"
integrity="sha512-hFxBtxSiCw6+64uxf0psrlLvcYA5kQimYhTSx1RwjbD5jSxe1bWg3EmipAozkzELQIFAMkJC5vu+ONGRem7YLA=="
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${SOHOA_TESSDATA_CACHE:-$root/.cache/tessdata}"
debian="${DEBIAN_TESSDATA:-/usr/share/tesseract-ocr/5/tessdata}"

# folder in the package -> dir under $dest
declare -A layout=([4.0.0_best_int]=best_int [4.0.0]=legacy)

missing=0
for dir in "${layout[@]}"; do
    [ -s "$dest/$dir/vie.traineddata" ] || missing=1
done

if [ "$missing" = 1 ]; then
    command -v npm >/dev/null || { echo "get-models: npm not found" >&2; exit 1; }
    mkdir -p "$dest"
    tmp="$(mktemp -d "$dest/.fetch.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    tgz="$(cd "$tmp" && npm pack --silent "@tesseract.js-data/vie@$version" | tail -n 1)"
    got="sha512-$(openssl dgst -sha512 -binary "$tmp/$tgz" | base64 -w 0)"
    if [ "$got" != "$integrity" ] && [ -z "${VIE_MODELS_VERSION:-}" ]; then
        echo "get-models: integrity mismatch for $tgz: $got" >&2
        exit 1
    fi
    tar -xzf "$tmp/$tgz" -C "$tmp"
    for folder in "${!layout[@]}"; do
        out="$dest/${layout[$folder]}"
        mkdir -p "$out"
        gunzip -c "$tmp/package/$folder/vie.traineddata.gz" >"$out/.vie.part"
        mv "$out/.vie.part" "$out/vie.traineddata"
    done
fi

for dir in "${layout[@]}"; do
    out="$dest/$dir"
    for name in osd.traineddata eng.traineddata pdf.ttf configs tessconfigs; do
        if [ -e "$debian/$name" ] && [ ! -e "$out/$name" ]; then
            ln -sfn "$debian/$name" "$out/$name"
        fi
    done
    tesseract --tessdata-dir "$out" --list-langs 2>/dev/null | grep -qx vie \
        || { echo "get-models: tesseract cannot load $out/vie.traineddata" >&2; exit 1; }
done

echo "$dest/best_int"
