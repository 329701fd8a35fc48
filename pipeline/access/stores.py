"""The access stores a process opens from its configuration (one place, like open_ledger).

Users, sessions and the audit log live in the ledger's database: the SQLite file
under ``SOHOA_HOME`` by default, or, with ``SOHOA_DATABASE_URL`` pointing at
PostgreSQL, that database, shared by every machine of an office (the web on one,
operators' terminals on others: one set of logins, one audit chain). Both run the
same store code over :class:`~pipeline.access.db.AccessBackend`.

A process opens one PostgreSQL pool for its access stores, however many it
opens (the web app holds three; ``cli_audit`` opens the log per row), and one
:class:`~pipeline.access.anchoring.Anchorer`, so the audit log it appends to is
anchored in the archive bucket at most once per ``audit.anchor_seconds`` with
this process's own MinIO key (none without a key, or with the station's).
"""

from __future__ import annotations

import atexit
import os
import socket
import threading
from typing import Any

from argon2 import PasswordHasher
from minio import Minio

from pipeline.access.anchoring import Anchorer
from pipeline.access.anchors import AnchorStore, chain_id
from pipeline.access.audit import AuditLog, SqlAuditLog, SqliteAuditLog
from pipeline.access.db import AccessBackend, SqliteAccess
from pipeline.access.sessions import SessionStore, SqliteSessionStore, SqlSessionStore
from pipeline.access.users import LoginPolicy, SqliteUserStore, SqlUserStore, UserStore
from pipeline.config import Config, storage_role
from pipeline.storage.connect import http_client

_pools: dict[tuple[Any, ...], Any] = {}
_pools_lock = threading.Lock()


def _postgres(cfg: Config) -> AccessBackend | None:
    """The shared PostgreSQL backend when the configuration names one, else None."""
    url = cfg.database.url
    if not (url and url.startswith(("postgresql:", "postgres:"))):
        return None
    db = cfg.database
    # Per process: a pool must not cross a fork.
    key = (os.getpid(), url, db.pool_size, db.connect_timeout, db.retry_seconds)
    with _pools_lock:
        backend = _pools.get(key)
        if backend is None:
            from pipeline.storage.postgres.access import PostgresAccess

            backend = _pools[key] = PostgresAccess.from_config(cfg)
            atexit.register(backend.close)
        return backend


def access_backend(cfg: Config) -> AccessBackend:
    """The access tables of this configuration: the office's PostgreSQL, else the SQLite file
    (the API's clients, rate and uploads are stores over it, pipeline/access/clients.py)."""
    return _postgres(cfg) or SqliteAccess(cfg.ledger_path)


def open_audit(cfg: Config) -> AuditLog:
    pg = _postgres(cfg)
    anchorer = _anchorer(cfg)
    if pg:
        return SqlAuditLog(pg, anchorer=anchorer)
    return SqliteAuditLog(cfg.ledger_path, anchorer=anchorer)


def chain_identity(cfg: Config) -> str:
    """Where this process's audit chain lives, as its configuration names it (never read
    from the database, which is what the anchors guard against): ``audit.chain``, else
    the PostgreSQL server and database, else this machine and its SQLite file."""
    if cfg.audit.chain:
        return f"name:{cfg.audit.chain}"
    url = cfg.database.url
    if url and url.startswith(("postgresql:", "postgres:")):
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(url)
        host = str(parts.get("host") or "localhost")
        return f"postgresql://{host}:{parts.get('port') or 5432}/{parts.get('dbname') or ''}"
    return f"sqlite://{socket.gethostname()}{cfg.ledger_path.resolve()}"


def open_anchor_store(cfg: Config) -> AnchorStore | None:
    """This chain's anchors through this process's MinIO key; None without a key."""
    if not (cfg.minio.access_key and cfg.minio.secret_key):
        return None
    client = Minio(
        cfg.minio.endpoint,
        access_key=cfg.minio.access_key,
        secret_key=cfg.minio.secret_key,
        secure=cfg.minio.secure,
        region=cfg.minio.region,
        # An append waits for its anchor: never long, whatever MinIO does.
        http_client=http_client(cfg.minio, read_timeout=15.0),
    )
    return AnchorStore(
        client, cfg.buckets.archive, chain_id(chain_identity(cfg)), cfg.minio.endpoint
    )


_anchorers: dict[tuple[Any, ...], Anchorer] = {}


def _anchorer(cfg: Config) -> Anchorer | None:
    """The process's one anchor writer for this chain and key (None: nothing to write with)."""
    role = storage_role(cfg)
    if role == "station" or not (cfg.minio.access_key and cfg.minio.secret_key):
        return None
    identity = chain_identity(cfg)
    key = (
        os.getpid(),
        cfg.minio.endpoint,
        cfg.minio.access_key,
        cfg.buckets.archive,
        identity,
        cfg.audit.anchor_seconds,
    )
    with _pools_lock:
        anchorer = _anchorers.get(key)
        if anchorer is None:
            store = open_anchor_store(cfg)
            assert store is not None
            anchorer = _anchorers[key] = Anchorer(
                store, cfg.audit.anchor_seconds, role=role, identity=identity
            )
        return anchorer


def open_users(cfg: Config, hasher: PasswordHasher | None = None) -> UserStore:
    pg = _postgres(cfg)
    if pg:
        return SqlUserStore(pg, LoginPolicy.from_config(cfg), hasher)
    return SqliteUserStore.from_config(cfg, hasher)


def open_sessions(cfg: Config) -> SessionStore:
    idle, most = cfg.web.session_idle_minutes * 60, cfg.web.session_max_hours * 3600
    pg = _postgres(cfg)
    if pg:
        return SqlSessionStore(pg, idle_seconds=idle, max_seconds=most)
    return SqliteSessionStore(cfg.ledger_path, idle_seconds=idle, max_seconds=most)
