"""The access stores a process opens from its configuration (one place, like open_ledger).

Users, sessions and the audit log live in the ledger's database: the SQLite file
under ``SOHOA_HOME`` by default, or, with ``SOHOA_DATABASE_URL`` pointing at
PostgreSQL, that database, shared by every machine of an office (the web on one,
operators' terminals on others: one set of logins, one audit chain). Both run the
same store code over :class:`~pipeline.access.db.AccessBackend`.

A process opens one PostgreSQL pool for its access stores, however many it
opens (the web app holds three; ``cli_audit`` opens the log per row).
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any

from argon2 import PasswordHasher

from pipeline.access.audit import AuditLog, SqlAuditLog, SqliteAuditLog
from pipeline.access.db import AccessBackend
from pipeline.access.sessions import SessionStore, SqliteSessionStore, SqlSessionStore
from pipeline.access.users import LoginPolicy, SqliteUserStore, SqlUserStore, UserStore
from pipeline.config import Config

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


def open_audit(cfg: Config) -> AuditLog:
    pg = _postgres(cfg)
    return SqlAuditLog(pg) if pg else SqliteAuditLog(cfg.ledger_path)


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
