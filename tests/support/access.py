"""The access stores (users, sessions, audit) on each backend, and raw access to their tables.

The stores are the same code on SQLite and PostgreSQL; what differs is how a test
(standing in for someone with direct access to the database) reads and tampers with the
tables. :meth:`AccessDB.raw` gives an autocommit connection on either, taking ``?``
placeholders and returning rows as dicts.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline.access.audit import SqlAuditLog
from pipeline.access.db import AccessBackend, SqliteAccess
from pipeline.access.sessions import SqlSessionStore
from pipeline.access.users import LoginPolicy, SqlUserStore
from tests.support.backends import pg_database

Spec = tuple[str, str]  # (kind, ledger path or database URL): picklable, for child processes


class Raw:
    """A direct connection to the access tables, autocommit, ``?`` placeholders."""

    def __init__(self, kind: str, conn: Any) -> None:
        self.kind, self.conn = kind, conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        if self.kind == "postgres":
            sql = sql.replace("?", "%s")
        cur = self.conn.execute(sql, tuple(args))
        if cur.description is None:
            return []
        return [dict(r) for r in cur.fetchall()]

    def disarm_audit(self) -> None:
        """What an attacker who can alter the schema does first: drop the guard triggers."""
        on = " ON audit_log" if self.kind == "postgres" else ""
        self.execute(f"DROP TRIGGER audit_log_no_update{on}")
        self.execute(f"DROP TRIGGER audit_log_no_delete{on}")


@dataclass
class AccessDB:
    kind: str
    target: str  # the SQLite file, or the PostgreSQL URL
    backend: AccessBackend

    @property
    def spec(self) -> Spec:
        return (self.kind, self.target)

    @property
    def refused(self) -> type[Exception]:
        """What the database raises when a statement is refused."""
        if self.kind == "sqlite":
            return sqlite3.DatabaseError
        import psycopg

        return psycopg.Error

    @property
    def env(self) -> dict[str, str]:
        """What a sohoa process needs on top of ``SOHOA_HOME`` to use these tables."""
        return {"SOHOA_DATABASE_URL": self.target} if self.kind == "postgres" else {}

    def users(
        self,
        policy: LoginPolicy | None = None,
        hasher: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> SqlUserStore:
        return SqlUserStore(self.backend, policy, hasher, clock)

    def sessions(self, **kwargs: Any) -> SqlSessionStore:
        return SqlSessionStore(self.backend, **kwargs)

    def audit(self, clock: Callable[[], float] = time.time) -> SqlAuditLog:
        return SqlAuditLog(self.backend, clock)

    @contextmanager
    def raw(self) -> Iterator[Raw]:
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.target, isolation_level=None)
            conn.row_factory = sqlite3.Row
        else:
            import psycopg
            from psycopg.rows import dict_row

            conn = psycopg.connect(self.target, autocommit=True, row_factory=dict_row)
        try:
            yield Raw(self.kind, conn)
        finally:
            conn.close()

    def dump(self) -> str:
        """Everything the access tables hold, as text (what a copy of the database shows)."""
        if self.kind == "sqlite":
            return Path(self.target).read_bytes().decode("utf-8", "replace")
        with self.raw() as raw:
            return "\n".join(
                str(r["t"])
                for table in ("users", "login_throttle", "web_sessions", "audit_log")
                for r in raw.execute(f"SELECT {table}::text AS t FROM {table}")
            )

    def close(self) -> None:
        close = getattr(self.backend, "close", None)
        if close:
            close()


def open_spec(spec: Spec) -> AccessDB:
    kind, target = spec
    if kind == "sqlite":
        return AccessDB(kind, target, SqliteAccess(Path(target)))
    from pipeline.storage.postgres.access import PostgresAccess
    from pipeline.storage.postgres.db import Database

    return AccessDB(kind, target, PostgresAccess(Database(target, name="test-access")))


def make_access(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, path: Path | None = None
) -> AccessDB:
    """Fresh access tables on ``kind``: ``path`` (default tmp/ledger.sqlite3) or a new database."""
    if kind == "sqlite":
        return open_spec((kind, str(path or tmp_path / "ledger.sqlite3")))
    return open_spec((kind, pg_database(request)))
