#!/bin/sh
# PostgreSQL 15 for compose.yaml. The first start makes the cluster (UTF-8), then the owner's
# role and the office's database exactly as README "Office deployment" does by hand
# (`createuser --createrole --pwprompt`, `createdb --owner --encoding UTF8 --template
# template0`), with the owner's password the setup service made for this server alone.
# The superuser `postgres` logs in only over the local socket, as that account.
set -eu
secret=/run/sohoa-servers/postgres/owner.env
wait-for-secret "$secret"
set -a
# shellcheck disable=SC1090
. "$secret"
set +a
BIN=/usr/lib/postgresql/15/bin
PGDATA=/var/lib/postgresql/data
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }
mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  as_postgres "$BIN/initdb" -D "$PGDATA" -U postgres --auth-local=peer \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  as_postgres "$BIN/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=''" -w -s start
  printf '%s\n%s\n' "$SOHOA_DB_OWNER_PASSWORD" "$SOHOA_DB_OWNER_PASSWORD" |
    as_postgres createuser --createrole --pwprompt "$SOHOA_DB_OWNER"
  as_postgres createdb --owner "$SOHOA_DB_OWNER" --encoding UTF8 --template template0 \
    "$SOHOA_DB_NAME"
  as_postgres "$BIN/pg_ctl" -D "$PGDATA" -m fast -w -s stop
  echo "postgres: made the cluster, role $SOHOA_DB_OWNER and database $SOHOA_DB_NAME" >&2
fi
unset SOHOA_DB_OWNER_PASSWORD
exec setpriv --reuid=postgres --regid=postgres --init-groups -- \
  "$BIN/postgres" -D "$PGDATA" -c listen_addresses='*' "$@"
