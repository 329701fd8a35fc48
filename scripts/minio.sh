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
# Something answers MinIO's health check on the endpoint (ours or anybody's).
answering() { curl -fsS -o /dev/null --max-time 2 "http://$SOHOA_MINIO_ENDPOINT/minio/health/live" 2>/dev/null; }
# The server answering takes this folder's root key: a signed ListBuckets (the key goes to
# curl on stdin, never on a command line other accounts can read).
takes_our_key() {
  printf 'user = "%s:%s"\n' "$SOHOA_MINIO_ACCESS_KEY" "$SOHOA_MINIO_SECRET_KEY" |
    curl -fsS -o /dev/null --max-time 5 --config - --aws-sigv4 "aws:amz:us-east-1:s3" \
      "http://$SOHOA_MINIO_ENDPOINT/" 2>/dev/null
}
# The listening socket belongs to process $1 (when ss is there to ask).
listens() {
  command -v ss >/dev/null || return 0
  ss -Hltnp "sport = :${SOHOA_MINIO_ENDPOINT##*:}" 2>/dev/null | grep -q "pid=$1,"
}
exited() {
  echo "MinIO exited (see $HOME_DIR/minio.log):" >&2
  tail -n 5 "$HOME_DIR/minio.log" >&2
  rm -f "$PID_FILE"
  exit 1
}

case "${1:-}" in
  start)
    if running; then echo "MinIO already running (pid $(cat "$PID_FILE"))" >&2; exit 0; fi
    if answering; then
      # Another server holds the port: ours would exit with "port already in use" while the
      # health check below reached the other one, and every later step would be refused.
      echo "another server already answers on $SOHOA_MINIO_ENDPOINT: stop it, or give this" \
        "folder another port (SOHOA_MINIO_ENDPOINT in $ENV_FILE)" >&2
      exit 1
    fi
    MINIO_ROOT_USER="$SOHOA_MINIO_ACCESS_KEY" MINIO_ROOT_PASSWORD="$SOHOA_MINIO_SECRET_KEY" \
    MINIO_BROWSER=off MINIO_UPDATE=off \
      nohup .cache/minio/minio server "$HOME_DIR/minio-data" --address "$SOHOA_MINIO_ENDPOINT" --quiet \
      > "$HOME_DIR/minio.log" 2>&1 &
    pid=$!
    echo "$pid" > "$PID_FILE"
    for _ in $(seq 1 150); do
      kill -0 "$pid" 2>/dev/null || exited
      if answering; then
        # Ready, and the one answering is the server just started: alive, holding the
        # port, and taking this folder's key.
        kill -0 "$pid" 2>/dev/null || exited
        if ! listens "$pid" || ! takes_our_key; then
          echo "a server answers on $SOHOA_MINIO_ENDPOINT but it is not the MinIO just" \
            "started (pid $pid): another process took the port" >&2
          kill "$pid" 2>/dev/null || true
          rm -f "$PID_FILE"
          exit 1
        fi
        echo "MinIO listening on $SOHOA_MINIO_ENDPOINT (pid $pid, data in $HOME_DIR/minio-data)" >&2
        exit 0
      fi
      sleep 0.2
    done
    echo "MinIO did not become ready; see $HOME_DIR/minio.log" >&2; exit 1 ;;
  stop)
    if running; then
      pid="$(cat "$PID_FILE")"
      kill "$pid"
      for _ in $(seq 1 75); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$PID_FILE" ;;
  env) cat "$ENV_FILE" ;;
  *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac
