"""The access stores a process opens from its configuration (one place, like open_ledger).

Users, sessions and the audit log live in the ledger's database. Today that is the
SQLite file under ``SOHOA_HOME``; with ``SOHOA_DATABASE_URL`` pointing at PostgreSQL
the office deployment supplies the same interfaces there.
"""

from __future__ import annotations

from argon2 import PasswordHasher

from pipeline.access.audit import AuditLog, SqliteAuditLog
from pipeline.access.sessions import SessionStore, SqliteSessionStore
from pipeline.access.users import SqliteUserStore, UserStore
from pipeline.config import Config
from pipeline.errors import ConfigError


def _sqlite_only(cfg: Config, what: str) -> None:
    url = cfg.database.url
    if url and url.startswith(("postgresql:", "postgres:")):
        raise ConfigError(
            f"a PostgreSQL {what} (SOHOA_DATABASE_URL) is not available in this build"
        )


def open_audit(cfg: Config) -> AuditLog:
    _sqlite_only(cfg, "audit log")
    return SqliteAuditLog(cfg.ledger_path)


def open_users(cfg: Config, hasher: PasswordHasher | None = None) -> UserStore:
    _sqlite_only(cfg, "user store")
    return SqliteUserStore.from_config(cfg, hasher)


def open_sessions(cfg: Config) -> SessionStore:
    _sqlite_only(cfg, "session store")
    return SqliteSessionStore(
        cfg.ledger_path,
        idle_seconds=cfg.web.session_idle_minutes * 60,
        max_seconds=cfg.web.session_max_hours * 3600,
    )
