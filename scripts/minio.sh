#!/usr/bin/env bash
# A local MinIO on loopback for the demo and for trying sohoa by hand.
#   scripts/minio.sh start   start it (data in var/minio-data, keys generated into var/minio.env)
#   scripts/minio.sh stop    stop it
#   scripts/minio.sh env     print the export lines for sohoa
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077   # the keys, the objects and the log are for this account alone
HOME_DIR="${SOHOA_HOME:-var}"
PORT="${SOHOA_MINIO_PORT:-9000}"
ENV_FILE="$HOME_DIR/minio.env"
PID_FILE="$HOME_DIR/minio.pid"
mkdir -p "$HOME_DIR"

if [ ! -f "$ENV_FILE" ]; then
  cat > "$ENV_FILE" <<EOT
export SOHOA_MINIO_ENDPOINT=127.0.0.1:${PORT}
export SOHOA_MINIO_ACCESS_KEY=sohoa-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
export SOHOA_MINIO_SECRET_KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export SOHOA_MINIO_SECURE=0
EOT
fi
# shellcheck disable=SC1090
. "$ENV_FILE"

running() { [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

case "${1:-}" in
  start)
    if running; then echo "MinIO already running (pid $(cat "$PID_FILE"))" >&2; exit 0; fi
    MINIO_ROOT_USER="$SOHOA_MINIO_ACCESS_KEY" MINIO_ROOT_PASSWORD="$SOHOA_MINIO_SECRET_KEY" \
    MINIO_BROWSER=off MINIO_UPDATE=off \
      nohup .cache/minio/minio server "$HOME_DIR/minio-data" --address "$SOHOA_MINIO_ENDPOINT" --quiet \
      > "$HOME_DIR/minio.log" 2>&1 &
    echo $! > "$PID_FILE"
    for _ in $(seq 1 150); do
      if curl -fsS "http://$SOHOA_MINIO_ENDPOINT/minio/health/live" >/dev/null 2>&1; then
        echo "MinIO listening on $SOHOA_MINIO_ENDPOINT (data in $HOME_DIR/minio-data)" >&2; exit 0
      fi
      running || { echo "MinIO exited; see $HOME_DIR/minio.log" >&2; exit 1; }
      sleep 0.2
    done
    echo "MinIO did not become ready; see $HOME_DIR/minio.log" >&2; exit 1 ;;
  stop)
    if running; then kill "$(cat "$PID_FILE")"; sleep 1; fi
    rm -f "$PID_FILE" ;;
  env) cat "$ENV_FILE" ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
