#!/usr/bin/env bash
# Fetch the veraPDF command-line validator and print the command that runs it.
#
# veraPDF publishes its CLI to Maven Central as org.verapdf.apps:cli, a single
# self-contained jar (Main-Class org.verapdf.apps.GreenfieldCliWrapper), so
# Maven fetches it and Java 17 runs it. The jar is kept in .cache/verapdf/ of
# the work tree (override with VERAPDF_DIR); when it is already there, nothing
# touches the network. Tests find it there (or through SOHOA_VERAPDF).
#
# Usage: scripts/get-verapdf.sh            -> prints e.g. "java -jar /…/verapdf-cli-1.30.2.jar"
#        $(scripts/get-verapdf.sh) --flavour 2b file.pdf
set -euo pipefail

version="${VERAPDF_VERSION:-1.30.2}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${VERAPDF_DIR:-$root/.cache/verapdf}"
jar="$dest/verapdf-cli-$version.jar"

if [ ! -s "$jar" ]; then
    command -v mvn >/dev/null || { echo "get-verapdf: mvn not found" >&2; exit 1; }
    command -v java >/dev/null || { echo "get-verapdf: java not found" >&2; exit 1; }
    mkdir -p "$dest"
    tmp="$(mktemp -d "$dest/.fetch.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    # --strict-checksums: refuse a jar whose SHA-1 does not match Maven Central's.
    mvn -B -q -Dstyle.color=never --strict-checksums \
        org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy \
        -Dartifact="org.verapdf.apps:cli:$version:jar" \
        -DoutputDirectory="$tmp" >&2
    java -jar "$tmp/cli-$version.jar" --version >/dev/null
    mv "$tmp/cli-$version.jar" "$jar"
fi

echo "java -jar $jar"
