"""Where the access tables live, behind one small seam the stores share.

The user store, the session store and the audit log are written once, against
:class:`AccessBackend`: ``read(fn)`` and ``write(fn)`` run ``fn(tx)`` in one
go, and :class:`Tx` is all ``fn`` may touch — ``execute`` with ``?``
placeholders and rows read by column name, ``lock`` for a read-modify-write
that must not interleave, and the audit chain's high-water mark. Two backends
provide it: :class:`SqliteAccess` here (the ledger's SQLite file, the default)
and ``PostgresAccess`` in :mod:`pipeline.storage.postgres.access` (an office's
shared PostgreSQL, ``SOHOA_DATABASE_URL``), where ``fn`` may run more than
once after a broken connection, so it checks ``tx.attempt``.

On SQLite each call opens its own connection: SQLite connections are cheap, and
a fresh one per operation is safe from any thread or process (the web app runs
handlers in a thread pool; several workers append to the audit log at once).
Writes use ``BEGIN IMMEDIATE`` so concurrent writers queue instead of failing;
that lock already serializes every writer, so ``lock`` has nothing to add.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pipeline.errors import DatabaseUnavailable
from pipeline.private import private_file
from pipeline.storage.sqlite_util import immediate

T = TypeVar("T")

SCHEMA_COMPONENT = "access"
# 2: login_throttle.attempts (every attempt in the window, refused ones too)
# 3: api_clients, api_rate, api_uploads (systems that use /api/v1, issue 21)
SCHEMA_VERSION = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS access_schema (
    component TEXT PRIMARY KEY,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL CHECK (role IN ('records', 'operator', 'admin')),
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_login_at TEXT
);
CREATE TABLE IF NOT EXISTS login_throttle (
    key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    window_start REAL NOT NULL,
    locked_until REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS web_sessions (
    sid_hash TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_seen REAL NOT NULL,
    client TEXT
);
CREATE INDEX IF NOT EXISTS web_sessions_user ON web_sessions(user_name);
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT,
    dossier TEXT,
    client TEXT,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_actor ON audit_log(actor, at);
CREATE INDEX IF NOT EXISTS audit_log_dossier ON audit_log(dossier, at);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END;
CREATE TABLE IF NOT EXISTS api_clients (
    name TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    token_hint TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS api_rate (
    client TEXT PRIMARY KEY,
    tat REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS api_uploads (
    document_id TEXT PRIMARY KEY,
    client TEXT NOT NULL,
    idempotency_key TEXT,
    batch_id TEXT NOT NULL,
    dossier_code TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    request TEXT NOT NULL,
    created_at TEXT NOT NULL,
    handed_over_at TEXT,
    UNIQUE (client, idempotency_key)
);
CREATE INDEX IF NOT EXISTS api_uploads_dossier ON api_uploads(dossier_code);
"""

_ready: set[str] = set()
_ready_lock = threading.Lock()


def iso_utc(ts: float) -> str:
    """A clock reading as the access tables store times: ISO 8601 in UTC, to the second."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _open(path: Path) -> sqlite3.Connection:
    try:
        private_file(path)  # 0600 whatever the umask
        conn = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        return conn
    except (sqlite3.Error, OSError) as exc:
        raise DatabaseUnavailable(f"cannot open the ledger database {path}: {exc}") from exc


def _ensure_schema(conn: sqlite3.Connection, path: Path) -> None:
    key = str(path.resolve())
    with _ready_lock:
        if key in _ready:
            return
        conn.executescript(SCHEMA)
        with immediate(conn):
            row = conn.execute(
                "SELECT version FROM access_schema WHERE component = ?", (SCHEMA_COMPONENT,)
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO access_schema (component, version) VALUES (?, ?)",
                    (SCHEMA_COMPONENT, SCHEMA_VERSION),
                )
            elif row["version"] > SCHEMA_VERSION:
                raise DatabaseUnavailable(
                    f"{path}: access tables are at schema version {row['version']}, newer than"
                    f" this program ({SCHEMA_VERSION}); upgrade sohoa"
                )
            elif row["version"] < SCHEMA_VERSION:
                _upgrade(conn, row["version"])
        _ready.add(key)


def _upgrade(conn: sqlite3.Connection, version: int) -> None:
    """Bring tables made by an older sohoa up to :data:`SCHEMA_VERSION` (inside the caller's
    write transaction, so two processes opening the file at once upgrade it once)."""
    if version < 2:
        columns = {r["name"] for r in conn.execute("PRAGMA table_info(login_throttle)")}
        if "attempts" not in columns:
            conn.execute(
                "ALTER TABLE login_throttle ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0"
            )
    # 3: the API's tables are in SCHEMA (CREATE TABLE IF NOT EXISTS), made before this runs.
    conn.execute(
        "UPDATE access_schema SET version = ? WHERE component = ?",
        (SCHEMA_VERSION, SCHEMA_COMPONENT),
    )


@contextmanager
def connection(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection with the access tables in place; closed on exit."""
    conn = _open(path)
    try:
        _ensure_schema(conn, path)
        yield conn
    finally:
        conn.close()


@contextmanager
def write(path: Path) -> Iterator[sqlite3.Connection]:
    """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error."""
    with connection(path) as conn, immediate(conn):
        yield conn


# ------------------------------------------------------------------------------ the seam


class Rows(Protocol):
    """What ``Tx.execute`` returns: a DB-API cursor whose rows are read by column name."""

    rowcount: int

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Tx(Protocol):
    """One transaction (or, for SQLite reads, one connection) as the stores see it."""

    attempt: int  # 0 on the first try; more after a broken connection was retried

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Rows: ...
    def stream(self, sql: str, args: Sequence[Any] = ()) -> Iterable[Any]: ...
    def lock(self, key: str) -> None: ...
    def audit_high_water(self, *, lock: bool) -> int: ...
    def audit_advance(self, row_id: int) -> None: ...


class AccessBackend(Protocol):
    def read(self, fn: Callable[[Tx], T]) -> T: ...
    def write(self, fn: Callable[[Tx], T]) -> T: ...


class _SqliteTx:
    attempt = 0

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, tuple(args))

    stream = execute  # an SQLite cursor already steps through the rows

    def lock(self, key: str) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` lets one writer in at a time."""

    def audit_high_water(self, *, lock: bool) -> int:
        """The highest audit id ever given out (AUTOINCREMENT's counter outlives deletions)."""
        seq = self.conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'audit_log'"
        ).fetchone()
        return int(seq["seq"]) if seq else 0

    def audit_advance(self, row_id: int) -> None:
        """Nothing to do: inserting an id moves ``sqlite_sequence`` along with it."""


class SqliteAccess:
    """The access tables in the ledger's SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self, fn: Callable[[Tx], T]) -> T:
        with connection(self.path) as conn:
            return fn(_SqliteTx(conn))

    def write(self, fn: Callable[[Tx], T]) -> T:
        with write(self.path) as conn:
            return fn(_SqliteTx(conn))
