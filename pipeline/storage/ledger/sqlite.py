"""The ledger in one SQLite file (WAL), for a single machine: the SQLite side of the seam.

The rules are :class:`~pipeline.storage.ledger.rules.SqlLedger`'s; this module gives
them a transaction, the schema and SQLite's spellings. Every write is one ``BEGIN
IMMEDIATE`` transaction, so writers from several processes (watcher, CLI, page
workers' parents) serialise up front instead of failing at commit, and a file locked
by another process is waited for (``database.retry_seconds``). Each thread gets its
own connection: sqlite3 connections must not be shared across threads mid-transaction.
The schema is upgraded in place when an older sohoa made the file: new ``Document``
fields become columns, new tables and indexes are created.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pipeline.errors import DatabaseUnavailable
from pipeline.private import private_file
from pipeline.storage.ledger.records import document_columns
from pipeline.storage.ledger.rules import SqlLedger
from pipeline.storage.ledger.sql import Dialect, LedgerTx, UniqueConflict
from pipeline.storage.ledger.states import LIVE_STATES
from pipeline.storage.sqlite_util import ThreadConnections, immediate

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    station TEXT,
    origin TEXT,
    created_at TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL REFERENCES batches(id),
    seq INTEGER NOT NULL,
    station TEXT,
    folder_name TEXT,
    source_name TEXT NOT NULL,
    source_path TEXT,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    media_type TEXT,
    raw_key TEXT,
    dossier_hint TEXT,
    dossier_code TEXT,
    dossier_source TEXT,
    ordinal INTEGER,
    state TEXT NOT NULL,
    stage TEXT,
    reason TEXT,
    pages INTEGER,
    pdf_key TEXT,
    metadata_key TEXT,
    text_key TEXT,
    mean_confidence REAL,
    duplicate_of TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    review TEXT,
    source_name_bytes BLOB,
    owner TEXT,
    lease_until TEXT,
    parent_id TEXT,
    segment INTEGER,
    first_page INTEGER,
    last_page INTEGER,
    segment_info TEXT,
    signature TEXT
);
CREATE INDEX IF NOT EXISTS documents_sha ON documents(sha256);
CREATE INDEX IF NOT EXISTS documents_state ON documents(state);
CREATE INDEX IF NOT EXISTS documents_batch ON documents(batch_id);
CREATE UNIQUE INDEX IF NOT EXISTS documents_ordinal
    ON documents(dossier_code, ordinal) WHERE ordinal IS NOT NULL;
CREATE TABLE IF NOT EXISTS ordinals (
    dossier_code TEXT PRIMARY KEY,
    last INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id TEXT,
    batch_id TEXT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    stage TEXT,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS events_document ON events(document_id);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_key TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    dossier_code TEXT,
    document_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_cursors (
    webhook TEXT PRIMARY KEY,
    last_event_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_deliveries (
    webhook TEXT NOT NULL,
    event_id INTEGER NOT NULL REFERENCES outbox(id),
    dossier_key TEXT NOT NULL,
    document_id TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    holder TEXT,
    lease_until REAL,
    last_status INTEGER,
    last_error TEXT,
    delivered_at TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (webhook, event_id)
);
CREATE INDEX IF NOT EXISTS outbox_deliveries_due
    ON outbox_deliveries(webhook, event_id) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS outbox_deliveries_open_dossier
    ON outbox_deliveries(webhook, dossier_key, event_id) WHERE state <> 'delivered';
CREATE INDEX IF NOT EXISTS outbox_deliveries_open_document
    ON outbox_deliveries(webhook, document_id, event_id) WHERE state <> 'delivered';
CREATE INDEX IF NOT EXISTS outbox_deliveries_state ON outbox_deliveries(state, event_id);
CREATE TABLE IF NOT EXISTS outbox_replays (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id INTEGER NOT NULL,
    webhook TEXT,
    actor TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    applied_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_replays_open ON outbox_replays(id) WHERE applied_at IS NULL;
"""
_SQLITE_TYPES = {str: "TEXT", int: "INTEGER", float: "REAL", bytes: "BLOB", bool: "INTEGER"}


def _added_columns() -> list[tuple[str, str]]:
    """Every ``Document`` field as a column, so ledgers made by older versions gain new ones."""
    return [(name, _SQLITE_TYPES[kind]) for name, kind, _ in document_columns()]


# Created after the columns exist. One live document per SHA-256 among the rows that
# stand for a file (the further documents of a split stack share their source's bytes);
# one row per segment of a stack.
_LIVE_SHA_INDEX = f"""
CREATE UNIQUE INDEX IF NOT EXISTS documents_live_sha2
    ON documents(sha256) WHERE parent_id IS NULL
    AND state IN ({", ".join(f"'{s}'" for s in LIVE_STATES)})
"""
_SEGMENT_INDEX = """
CREATE UNIQUE INDEX IF NOT EXISTS documents_segment
    ON documents(parent_id, segment) WHERE parent_id IS NOT NULL
"""


DIALECT = Dialect(
    name="sqlite",
    for_update="",
    skip_locked="",
    same="IS",
    bytewise="",  # SQLite compares text byte by byte (BINARY) unless told otherwise
    like="LIKE",  # case-insensitive for ASCII
    greatest="max",
)
# RETURNING (update_fields) came with SQLite 3.35.
_MIN_SQLITE = (3, 35, 0)


class _Tx:
    """:class:`~pipeline.storage.ledger.sql.LedgerTx` on one sqlite3 connection."""

    attempt = 0  # SQLite never repeats a transaction
    dialect = DIALECT

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, tuple(args))

    def clock(self) -> float:
        return time.time()  # one machine: its clock is the only one

    def lock(self, key: str) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` lets one writer in at a time."""


class SqliteLedger(SqlLedger):
    """The ``Ledger`` interface over one SQLite file."""

    def __init__(self, path: Path, wait_seconds: float = 0.0) -> None:
        if sqlite3.sqlite_version_info < _MIN_SQLITE:
            raise DatabaseUnavailable(
                f"SQLite {sqlite3.sqlite_version} is too old for the ledger (3.35 or newer)"
            )
        self.path = Path(path)
        self.wait_seconds = wait_seconds  # a file locked by another process is waited for
        self.created = not self.path.exists()
        self.backend = self
        self.dialect = DIALECT
        self._conns = ThreadConnections(self._open)
        # One transaction, so a process opening the ledger at the same moment never
        # sees half a schema.
        with immediate(self._conns.get(), self.wait_seconds) as conn:
            _create_schema(conn)

    def _open(self) -> sqlite3.Connection:
        try:
            private_file(self.path)  # 0600 whatever the umask
            conn = sqlite3.connect(
                str(self.path), timeout=30, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseUnavailable(f"cannot open the ledger {self.path}: {exc}") from None
        return conn

    def close(self) -> None:
        self._conns.close()

    # -- the seam --------------------------------------------------------------------------
    def read(self, fn: Callable[[LedgerTx], T]) -> T:
        return fn(_Tx(self._conns.get()))

    def write(self, fn: Callable[[LedgerTx], T]) -> T:
        try:
            with immediate(self._conns.get(), self.wait_seconds) as conn:
                return fn(_Tx(conn))
        except sqlite3.IntegrityError as exc:
            text = str(exc)
            if not text.startswith("UNIQUE constraint failed"):
                raise
            raise UniqueConflict(text, live_sha="documents.sha256" in text) from exc


def _create_schema(conn: sqlite3.Connection) -> None:
    """The tables, brought up to this version in place (inside the caller's transaction)."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    have = {row["name"] for row in conn.execute("PRAGMA table_info(documents)")}
    for column, kind in _added_columns():
        if column not in have:
            conn.execute(f"ALTER TABLE documents ADD COLUMN {column} {kind}")
    conn.execute("DROP INDEX IF EXISTS documents_live_sha")  # before split stacks
    conn.execute(_LIVE_SHA_INDEX)
    conn.execute(_SEGMENT_INDEX)
    # after the columns, which an older ledger only has once altered
    conn.execute(
        "CREATE INDEX IF NOT EXISTS documents_signature ON documents(signature)"
        " WHERE signature IS NOT NULL"
    )
