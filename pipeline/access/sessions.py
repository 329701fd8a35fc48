"""Web sessions kept on the server, so logout, a password change or a disabled account
ends them at once (a self-contained signed cookie would stay valid until it expired).

The cookie carries only a random session id (signed by the web layer); the table
holds its SHA-256, so a copy of the database gives no usable session. Each
session has an idle expiry (no request for ``idle_seconds``) and an absolute one
(``max_seconds`` after login, however busy), and its own CSRF token.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pipeline.access.db import AccessBackend, SqliteAccess, Tx

# Refreshing last_seen on every request would make every page view a write.
_TOUCH_EVERY = 30.0


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Session:
    user_name: str
    csrf_token: str
    created_at: float
    last_seen: float
    client: str | None


class SessionStore(Protocol):
    def create(self, user_name: str, client: str | None) -> tuple[str, Session]: ...
    def get(self, sid: str) -> Session | None: ...
    def delete(self, sid: str) -> None: ...
    def delete_user(self, user_name: str) -> None: ...


class SqlSessionStore:
    """Sessions in the access tables of any :class:`~pipeline.access.db.AccessBackend`."""

    def __init__(
        self,
        backend: AccessBackend,
        idle_seconds: float = 1800.0,
        max_seconds: float = 36000.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds
        self.clock = clock

    def create(self, user_name: str, client: str | None) -> tuple[str, Session]:
        """A brand-new session id (never one the browser offered: no fixation)."""
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        session = Session(user_name, secrets.token_urlsafe(32), now, now, client)

        def insert(tx: Tx) -> None:
            tx.execute(
                "DELETE FROM web_sessions WHERE last_seen < ? OR created_at < ?",
                (now - self.idle_seconds, now - self.max_seconds),
            )
            tx.execute(
                "INSERT INTO web_sessions"
                " (sid_hash, user_name, csrf_token, created_at, last_seen, client)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sid_hash) DO NOTHING",
                (_digest(sid), user_name, session.csrf_token, now, now, client),
            )

        self.backend.write(insert)
        return sid, session

    def get(self, sid: str) -> Session | None:
        """The live session for ``sid``, or None (unknown, idle too long, or too old)."""
        if not sid or len(sid) > 128:
            return None
        now = self.clock()
        key = _digest(sid)

        def look(tx: Tx) -> Session | None:
            row = tx.execute("SELECT * FROM web_sessions WHERE sid_hash = ?", (key,)).fetchone()
            if row is None:
                return None
            expired = (
                now - row["last_seen"] > self.idle_seconds
                or now - row["created_at"] > self.max_seconds
            )
            if expired:
                tx.execute("DELETE FROM web_sessions WHERE sid_hash = ?", (key,))
                return None
            last_seen = row["last_seen"]
            if now - last_seen > _TOUCH_EVERY:
                tx.execute("UPDATE web_sessions SET last_seen = ? WHERE sid_hash = ?", (now, key))
                last_seen = now
            return Session(
                row["user_name"], row["csrf_token"], row["created_at"], last_seen, row["client"]
            )

        # A read (no write lock on SQLite): the rare expiry or touch is one statement.
        return self.backend.read(look)

    def delete(self, sid: str) -> None:
        self.backend.write(
            lambda tx: tx.execute("DELETE FROM web_sessions WHERE sid_hash = ?", (_digest(sid),))
        )

    def delete_user(self, user_name: str) -> None:
        self.backend.write(
            lambda tx: tx.execute("DELETE FROM web_sessions WHERE user_name = ?", (user_name,))
        )


class SqliteSessionStore(SqlSessionStore):
    """Sessions in the ledger's SQLite file (the embedded default)."""

    def __init__(
        self,
        path: Path,
        idle_seconds: float = 1800.0,
        max_seconds: float = 36000.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        super().__init__(SqliteAccess(path), idle_seconds, max_seconds, clock)
