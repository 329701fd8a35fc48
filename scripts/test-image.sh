#!/usr/bin/env bash
# Build the sohoa image on this machine and smoke-test it: `sohoa --version`, then one page
# archived against a MinIO on loopback. No Docker engine here: a Debian 12 base made with
# debootstrap, imported into podman's store, built with buildah (chroot isolation, host
# network), run with `buildah run` (podman run cannot start containers on this kind of machine).
#   bash scripts/test-image.sh            # about 5 minutes the first time, then ~2 with the cache
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[test-image] %s\n' "$*" >&2; }
T0=$(date +%s)

SOHOA_SETUP_TEST=0 bash scripts/setup.sh >/dev/null 2>&1 || true  # MinIO binary and .venv
BASE="$(bash scripts/base-image.sh)"
log "buildah bud (FROM $BASE)"
certs=()
[ -f /etc/ssl/certs/ca-certificates.crt ] && certs=(-v /etc/ssl/certs:/host-certs:ro
  --build-arg PIP_CERT=/host-certs/ca-certificates.crt)
buildah bud --isolation chroot --network host --layers -q "${certs[@]}" \
  --build-arg BASE="$BASE" -t localhost/sohoa:test . >/dev/null
log "image built: $(podman image inspect localhost/sohoa:test --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}')"

work="$(mktemp -d)"
ctr=""
minio_pid=""
cleanup() {
  [ -n "$ctr" ] && buildah rm "$ctr" >/dev/null 2>&1 || true
  [ -n "$minio_pid" ] && kill "$minio_pid" 2>/dev/null && wait "$minio_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ctr="$(buildah from localhost/sohoa:test)"
echo "sohoa --version in the image: $(buildah run --isolation chroot "$ctr" -- /opt/venv/bin/sohoa --version)"

port="$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
key="smoke$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')"; secret="$(head -c16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
mkdir -p "$work/minio" "$work/in"
MINIO_ROOT_USER="$key" MINIO_ROOT_PASSWORD="$secret" MINIO_BROWSER=off \
  .cache/minio/minio server "$work/minio" --address "127.0.0.1:$port" --quiet >/dev/null 2>&1 &
minio_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/minio/health/live" && break; sleep 0.2; done
.venv/bin/python -c "
from pathlib import Path
from tests.support.files import small_page
small_page(3, Path('$work/in/trang-1.png'))"
chmod -R a+rwX "$work/in"
out="$(buildah run --isolation chroot --network host -v "$work/in:/data" \
  --env SOHOA_MINIO_ENDPOINT="127.0.0.1:$port" --env SOHOA_MINIO_ACCESS_KEY="$key" \
  --env SOHOA_MINIO_SECRET_KEY="$secret" --env SOHOA_HOME=/tmp/sohoa "$ctr" -- \
  /opt/venv/bin/sohoa --json process /data/trang-1.png --dossier 000.00.13.H38-261201-0001)"
echo "one page through the image: $out"
echo "$out" | grep -q '"status": "indexed"' || { log "FAILED: the page was not archived"; exit 1; }
echo "archive objects: $(MINIO_ENDPOINT=x .venv/bin/python -c "
from minio import Minio
m = Minio('127.0.0.1:$port', '$key', '$secret', secure=False)
print(sorted(o.object_name for o in m.list_objects('archive', recursive=True)))")"
log "ok in $(( $(date +%s) - T0 )) s"
