#!/bin/sh
# Block until the file `sohoa office init` (compose's setup service) writes for this server
# exists: the server's own secret comes from there, never from compose.yaml or .env.
set -eu
while [ ! -s "$1" ]; do
  echo "waiting for $1: run the setup service (docker compose run --rm setup)" >&2
  sleep 2
done
