#!/usr/bin/env bash
# The main job on the embedded default: install, start a local MinIO, watch var/inbox,
# drop the samples in, wait until they are archived, show what was archived and a search.
# MinIO keeps running afterwards so you can try the CLI; stop it with scripts/minio.sh stop.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export SOHOA_HOME="${SOHOA_HOME:-$PWD/var}"
bash scripts/minio.sh start
# shellcheck disable=SC1091
. "$SOHOA_HOME/minio.env"
sohoa() { .venv/bin/sohoa "$@"; }

mkdir -p "$SOHOA_HOME/inbox"
cp -r samples/inbox/. "$SOHOA_HOME/inbox/"
echo "== watching $SOHOA_HOME/inbox until the samples are archived" >&2
sohoa watch --once || true
echo; echo "== batches" >&2
sohoa batches
echo; echo "== archived documents" >&2
sohoa --json batches | .venv/bin/python -c '
import json, sys
for line in sys.stdin:
    b = json.loads(line)
    print(b["batch_id"], b["station"], b["status"], b["states"])'
echo; echo "== search: giay phep xay dung" >&2
sohoa search "giay phep xay dung" --limit 5 || true
echo; echo "== search by dossier code prefix: 000.00.13.H38-2611*" >&2
sohoa search "000.00.13.H38-2611*" --limit 5 || true
echo
echo "MinIO is still running. To use the CLI:  . $SOHOA_HOME/minio.env && .venv/bin/sohoa --help" >&2
echo "Stop it with: bash scripts/minio.sh stop" >&2
