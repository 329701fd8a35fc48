#!/bin/sh
# Redis for compose.yaml: its users from the ACL file `sohoa broker setup` wrote (the default
# user off, the workers' user), the queue kept in an append-only file, run as user redis.
set -eu
acl=/run/sohoa-servers/redis/users.acl
wait-for-secret "$acl"
exec setpriv --reuid=redis --regid=redis --init-groups -- \
  redis-server --bind 0.0.0.0 --port 6379 --dir /data --aclfile "$acl" \
  --appendonly yes --appendfsync everysec --protected-mode no "$@"
