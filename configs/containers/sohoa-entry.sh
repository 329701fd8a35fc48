#!/bin/sh
# sohoa in the image. With SOHOA_ROLE_FILE set (compose.yaml does, per service), that file's
# keys and URLs become this process's environment: `sohoa office init` (the setup service)
# wrote it, one per role, mode 0600, for this image's account. Without it, the environment
# is used as given (`docker run -e ...`).
set -eu
if [ -n "${SOHOA_ROLE_FILE:-}" ]; then
  if [ ! -r "$SOHOA_ROLE_FILE" ]; then
    echo "sohoa: no keys at $SOHOA_ROLE_FILE: run the setup service first" \
      "(docker compose run --rm setup)" >&2
    exit 2
  fi
  set -a
  # shellcheck disable=SC1090
  . "$SOHOA_ROLE_FILE"
  set +a
fi
exec sohoa "$@"
