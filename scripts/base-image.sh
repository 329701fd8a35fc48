#!/usr/bin/env bash
# A Debian 12 base image in podman's store, made with debootstrap when missing (no registry
# needed: only the Debian mirror), for Dockerfile and configs/containers/*.Containerfile
# (their BASE argument). Prints its name.
#   bash scripts/base-image.sh        # about a minute the first time
set -euo pipefail
BASE="${SOHOA_BASE_IMAGE:-localhost/sohoa-bookworm-base}"
log() { printf '[base-image] %s\n' "$*" >&2; }
need=()
for pkg in debootstrap buildah podman; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! podman image exists "$BASE"; then
  root="$(mktemp -d)"
  trap 'rm -rf "$root"' EXIT
  log "debootstrap --variant=minbase bookworm into $BASE (about a minute)"
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >/dev/null
  # The certificate authorities this machine adds to its own trust store (a proxy's, an
  # office's): images built on it then reach what the machine reaches (pip over HTTPS).
  # The Dockerfile's ca-certificates package folds them into /etc/ssl/certs.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
  fi
  tar -C "$root" -c . | podman import - "$BASE" >/dev/null
fi
echo "$BASE"
