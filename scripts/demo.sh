#!/usr/bin/env bash
# The main job on the embedded default: install, start a local MinIO, set up the buckets and
# one key per role (the root key is used for that alone), watch var/inbox with the worker key,
# drop the samples in, wait until they are archived, then search with the web key.
# MinIO and a worker (`sohoa watch` with the worker key) keep running afterwards, so the CLI
# and the web page work and what an operator queues there is carried out:
#   bash scripts/demo.sh          # the demo
#   bash scripts/demo.sh stop     # stop the demo's worker and MinIO
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077   # var/ holds keys, the ledger and citizens' pages: this account's alone
export SOHOA_HOME="${SOHOA_HOME:-$PWD/var}"
ROLES="$SOHOA_HOME/roles"
WATCH_PID="$SOHOA_HOME/watch.pid"
watching() { [ -f "$WATCH_PID" ] && kill -0 "$(cat "$WATCH_PID")" 2>/dev/null; }

if [ "${1:-}" = stop ]; then
  if watching; then
    kill "$(cat "$WATCH_PID")"
    for _ in $(seq 1 150); do watching || break; sleep 0.2; done
    echo "stopped the demo's worker" >&2
  fi
  rm -f "$WATCH_PID"
  bash scripts/minio.sh stop
  exit 0
fi
bash scripts/setup.sh
bash scripts/minio.sh start

# Each command runs with one role's key, in a subshell, so no key outlives its command.
as_role() {
  local role="$1"; shift
  (
    unset SOHOA_MINIO_ACCESS_KEY SOHOA_MINIO_SECRET_KEY SOHOA_MINIO_ROLE
    # shellcheck disable=SC1090
    . "$ROLES/$role.env"
    exec .venv/bin/sohoa "$@"
  )
}

if [ ! -f "$ROLES/worker.env" ]; then
  echo "== storage setup: buckets with versioning and Object Lock, one key per role" >&2
  mkdir -p "$ROLES"
  chmod 700 "$ROLES"
  (
    # shellcheck disable=SC1091
    . "$SOHOA_HOME/minio.env"   # the root key, for this one command
    umask 077
    # --rotate all: the secrets are shown only once, and these files are where they go.
    .venv/bin/sohoa --json storage setup --rotate all | .venv/bin/python -c '
import json, sys, pathlib
folder = pathlib.Path(sys.argv[1])
endpoint = sys.argv[2]
for line in sys.stdin:
    key = json.loads(line)
    role, access, secret = key["role"], key["access_key"], key["secret_key"]
    (folder / (role + ".env")).write_text(
        f"export SOHOA_MINIO_ENDPOINT={endpoint}\n"
        f"export SOHOA_MINIO_ROLE={role}\n"
        f"export SOHOA_MINIO_ACCESS_KEY={access}\n"
        f"export SOHOA_MINIO_SECRET_KEY={secret}\n"
    )' "$ROLES" "$SOHOA_MINIO_ENDPOINT"
  )
fi

mkdir -p "$SOHOA_HOME/inbox"
if watching; then  # a run before left its worker: it takes the samples in
  echo "== the demo's worker (pid $(cat "$WATCH_PID")) takes the samples" >&2
  cp -r samples/inbox/. "$SOHOA_HOME/inbox/"
  for _ in $(seq 1 900); do
    [ -z "$(find "$SOHOA_HOME/inbox" -type f -print -quit)" ] && break
    sleep 1
  done
else
  cp -r samples/inbox/. "$SOHOA_HOME/inbox/"
  echo "== watching $SOHOA_HOME/inbox with the worker key until the samples are archived" >&2
  as_role worker watch --once || true
fi
echo; echo "== batches" >&2
as_role worker batches
echo; echo "== archived documents" >&2
as_role worker --json batches | .venv/bin/python -c '
import json, sys
for line in sys.stdin:
    b = json.loads(line)
    print(b["batch_id"], b["station"], b["status"], b["states"])'
echo; echo "== search with the web key: giay phep xay dung" >&2
as_role web search "giay phep xay dung" --limit 5 || true
echo; echo "== search by dossier code prefix: 000.00.13.H38-2611*" >&2
as_role web search "000.00.13.H38-2611*" --limit 5 || true

if ! as_role web users list | grep -q '^demo'; then
  umask 077
  .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(12))' > "$SOHOA_HOME/demo-password"
  as_role web users add demo --role admin < "$SOHOA_HOME/demo-password" >/dev/null
fi
echo; echo "== the audit log so far (searches above included)" >&2
as_role web audit --limit 5 || true
as_role operator audit verify   # the operator key may list the anchors it checks

# A worker keeps running: what an operator queues in the web page (Chạy lại, Gán mã) or
# with the operator key is carried out by it, and the batches page shows it as running.
if ! watching; then
  (
    unset SOHOA_MINIO_ACCESS_KEY SOHOA_MINIO_SECRET_KEY SOHOA_MINIO_ROLE
    # shellcheck disable=SC1091
    . "$ROLES/worker.env"
    exec nohup .venv/bin/sohoa watch
  ) > "$SOHOA_HOME/watch.log" 2>&1 &
  echo $! > "$WATCH_PID"
fi
echo
echo "MinIO and the demo's worker (sohoa watch, worker key, pid $(cat "$WATCH_PID"); log in" >&2
echo "$SOHOA_HOME/watch.log) are still running. The web page, with the web key:" >&2
echo "  . $ROLES/web.env && .venv/bin/sohoa serve     # http://127.0.0.1:8080, user demo," >&2
echo "  password in $SOHOA_HOME/demo-password" >&2
echo "Other commands: . $ROLES/worker.env && .venv/bin/sohoa --help" >&2
echo "Stop both with: bash scripts/demo.sh stop" >&2
