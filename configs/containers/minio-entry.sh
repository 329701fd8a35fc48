#!/bin/sh
# MinIO for compose.yaml: its root key from the file the setup service made for it alone.
set -eu
secret=/run/sohoa-servers/minio/root.env
wait-for-secret "$secret"
set -a
# shellcheck disable=SC1090
. "$secret"
set +a
exec minio "$@"
