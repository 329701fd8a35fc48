#!/usr/bin/env bash
# Fetch the EU DSS validator's libraries, compile sohoa's small validator program against
# them, and print the command that runs it.
#
# DSS (eu.europa.ec.joinup.sd-dss, the European Commission's Digital Signature Service) is
# the independent check of the PAdES level sohoa records (DESIGN §12). It is published to
# Maven Central as libraries only, so Maven copies the ones scripts/dss/pom.xml names into
# .cache/dss/lib (override with DSS_DIR) and javac compiles scripts/dss/SohoaDss.java into
# .cache/dss/classes-<hash of the source>. When both are there, nothing touches the network.
#
# Usage: scripts/get-dss.sh          -> prints e.g. "java -cp /…/classes-…:/…/lib-…/dss-pades-6.3.jar:… SohoaDss"
#        $(scripts/get-dss.sh) --trust roots.pem [--online] signed.pdf...
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/scripts/dss"
dest="${DSS_DIR:-$root/.cache/dss}"
stamp="$(cat "$src/pom.xml" "$src/SohoaDss.java" | sha256sum | cut -c1-12)"
lib="$dest/lib-$(sha256sum < "$src/pom.xml" | cut -c1-12)"
classes="$dest/classes-$stamp"

command -v java >/dev/null || { echo "get-dss: java not found" >&2; exit 1; }
if [ ! -d "$lib" ]; then
    command -v mvn >/dev/null || { echo "get-dss: mvn not found" >&2; exit 1; }
    mkdir -p "$dest"
    tmp="$(mktemp -d "$dest/.fetch.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    # --strict-checksums: refuse a jar whose checksum does not match Maven Central's.
    mvn -B -q -Dstyle.color=never --strict-checksums -f "$src/pom.xml" \
        org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp/lib" >&2
    mv "$tmp/lib" "$lib"
fi
if [ ! -f "$classes/SohoaDss.class" ]; then
    command -v javac >/dev/null || { echo "get-dss: javac not found (a JDK is needed)" >&2; exit 1; }
    mkdir -p "$dest"
    tmp="$(mktemp -d "$dest/.build.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    javac -encoding UTF-8 -nowarn -cp "$lib/*" -d "$tmp" "$src/SohoaDss.java" >&2
    rm -rf "$classes"
    mv "$tmp" "$classes"
fi

# the jars named one by one: a "lib/*" class path would be expanded by the caller's shell
cp="$classes"
for jar in "$lib"/*.jar; do cp="$cp:$jar"; done
echo "java -cp $cp SohoaDss"
