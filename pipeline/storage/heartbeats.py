"""Which processes that run documents are alive, and the last page each finished.

An operator's retry or assign (web or CLI) is only recorded in the ledger; a worker
carries it out. Whether one will is what this answers: every process that takes queued
documents (``sohoa worker``'s pick-up, a processing ``sohoa watch``) renews its row each
time it looks for work (every ``run.pickup_seconds``), and the process running a
document notes each page as it comes back. A row not renewed within
``run.lease_seconds`` (the patience a document's own lease gets) is a process that is
gone. Rows a week old are removed by the processes that write them.

One table, ``worker_heartbeats``, in the ledger's database: the SQLite file under
``SOHOA_HOME``, or PostgreSQL (component ``heartbeats``, created by ``sohoa database
setup``; the worker role writes it, the web and operator roles read it). Nothing here
holds a secret or a citizen's data: process names, times, document ids, page numbers.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.config import Config
from pipeline.errors import DatabaseUnavailable
from pipeline.storage.ledger.records import now

COMPONENT = "heartbeats"
TABLE = "worker_heartbeats"
KEEP_DAYS = 7

_COLUMNS = (
    "name TEXT PRIMARY KEY, host TEXT NOT NULL, kind TEXT NOT NULL, pid INTEGER NOT NULL,"
    " started_at TEXT NOT NULL, seen_at TEXT NOT NULL, last_document TEXT,"
    " last_page INTEGER, last_page_at TEXT"
)
_UPSERT = (
    f"INSERT INTO {TABLE} (name, host, kind, pid, started_at, seen_at)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET seen_at = excluded.seen_at"
)
_PAGE = f"UPDATE {TABLE} SET last_document = ?, last_page = ?, last_page_at = ? WHERE name = ?"
_LIVE = (
    f"SELECT name, host, kind, pid, started_at, seen_at, last_document, last_page,"
    f" last_page_at FROM {TABLE} WHERE seen_at >= ? ORDER BY host, name"
)
_PRUNE = f"DELETE FROM {TABLE} WHERE seen_at < ?"
_LEAVE = f"DELETE FROM {TABLE} WHERE name = ?"


@dataclass(frozen=True)
class Beat:
    """One process that runs documents, as last heard of."""

    name: str  # worker@<host>:<pid> or watch@<host>:<pid>
    host: str
    kind: str  # worker (``sohoa worker``) or watch (a processing ``sohoa watch``)
    pid: int
    started_at: str
    seen_at: str
    last_document: str | None
    last_page: int | None  # 1-based
    last_page_at: str | None


def _ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat(timespec="seconds")


def _migrations() -> Any:
    from pipeline.storage.postgres.migrations import Migration

    return (
        Migration(
            1,
            "worker_heartbeats: the processes that run documents, and their last page",
            lambda: [f"CREATE TABLE {TABLE} ({_COLUMNS})"],
        ),
    )


def migrate_postgres(db: Any) -> None:
    """The table on PostgreSQL, by a role that may migrate (``sohoa database setup``)."""
    from pipeline.storage.postgres.migrations import migrate

    migrate(db, COMPONENT, _migrations())


class Heartbeats:
    """The table, on the ledger's database (see the module docstring)."""

    def __init__(self, cfg: Config) -> None:
        url = cfg.database.url
        self._db: Any = None
        self._path = cfg.ledger_path
        if url and url.startswith(("postgresql:", "postgres:")):
            from pipeline.storage.postgres.db import Database

            self._db = Database.from_config(cfg, "heartbeats")
            try:
                migrate_postgres(self._db)
            except Exception:
                self._db.close()
                raise
        else:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._sqlite(lambda c: c.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({_COLUMNS})"))

    def _sqlite(self, fn: Any) -> Any:
        from pipeline.private import private_file

        try:
            private_file(self._path)
            conn = sqlite3.connect(str(self._path), timeout=30, isolation_level=None)
        except (sqlite3.Error, OSError) as exc:
            where = f"cannot open the ledger database {self._path}"
            raise DatabaseUnavailable(f"{where}: {exc}") from exc
        try:
            return fn(conn)
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"ledger database {self._path}: {exc}") from exc
        finally:
            conn.close()

    def _run(self, sql: str, args: tuple[Any, ...], rows: bool = False) -> Any:
        if self._db is None:
            return self._sqlite(
                lambda c: c.execute(sql, args).fetchall() if rows else c.execute(sql, args)
            )
        pg = sql.replace("?", "%s")
        return self._db.run(
            lambda conn, attempt: (
                conn.execute(pg, args).fetchall() if rows else conn.execute(pg, args)
            )
        )

    def beat(self, name: str, kind: str, started_at: str) -> None:
        self._run(_UPSERT, (name, socket.gethostname(), kind, os.getpid(), started_at, now()))

    def page(self, name: str, document_id: str, page: int) -> None:
        self._run(_PAGE, (document_id, page, now(), name))

    def live(self, within_seconds: float) -> list[Beat]:
        found = self._run(_LIVE, (_ago(within_seconds),), rows=True)
        return [Beat(**row) if isinstance(row, dict) else Beat(*row) for row in found]

    def leave(self, name: str) -> None:
        self._run(_LEAVE, (name,))

    def prune(self, days: float = KEEP_DAYS) -> None:
        self._run(_PRUNE, (_ago(days * 86400),))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


def live_workers(cfg: Config) -> list[Beat] | None:
    """The processes heard from within ``run.lease_seconds``; None when that cannot be told
    (the database is away, or its schema predates this table: ``sohoa database setup``)."""
    try:
        store = Heartbeats(cfg)
    except Exception:
        return None
    try:
        return [b for b in store.live(cfg.run.lease_seconds) if not _gone_here(b)]
    except Exception:
        return None
    finally:
        store.close()


def _gone_here(beat: Beat) -> bool:
    """A process of this very host that is no longer running (known at once, as a
    document's holder is: a killed demo watcher does not linger for a lease)."""
    if beat.host != socket.gethostname():
        return False
    try:
        os.kill(beat.pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # another account's process: alive
        return False
    return False


# ---------------------------------------------------------- this process's own row

_lock = threading.Lock()
_mine: dict[str, Any] = {}


def process_name(kind: str, pid: int | None = None) -> str:
    return f"{kind}@{socket.gethostname()}:{pid or os.getpid()}"


def register(cfg: Config, kind: str, name: str | None = None) -> None:
    """From now on this process's pages are noted under ``name`` (default: its own row).

    A Celery documents consumer notes under its ``sohoa worker``'s row.
    """
    with _lock:
        _mine.update(cfg=cfg, kind=kind, name=name or process_name(kind), store=None)
        _mine.setdefault("started", now())


def _store() -> Heartbeats | None:
    store = _mine.get("store")
    if store is None and "cfg" in _mine:
        store = _mine["store"] = Heartbeats(_mine["cfg"])
    return store


def alive(cfg: Config, kind: str) -> None:
    """This process is looking for work now: renew its row (and register it). A failure
    to write is not this process's failure: the next look tries again."""
    with _lock:
        if _mine.get("kind") != kind or _mine.get("cfg") is not cfg:
            _mine.update(cfg=cfg, kind=kind, name=process_name(kind), store=None)
            _mine.setdefault("started", now())
        try:
            store = _store()
            assert store is not None
            store.beat(_mine["name"], kind, _mine["started"])
            _mine["beating"] = True
            if time.monotonic() - _mine.get("pruned", -1e9) > 3600:
                _mine["pruned"] = time.monotonic()
                store.prune()
        except Exception:
            _mine["store"] = None


def leave() -> None:
    """This process stops looking for work: its row goes (a clean exit; a killed process
    lingers for ``run.lease_seconds``, or not at all on the web's own host)."""
    with _lock:
        name = _mine.get("name")
        if not name or not _mine.get("beating"):
            return
        try:
            store = _store()
            if store is not None:
                store.leave(name)
                store.close()
        except Exception:
            pass
        _mine.clear()


def note_page(document_id: str, index: int) -> None:
    """A page of ``document_id`` (0-based ``index``) came back; noted when registered."""
    with _lock:
        if "cfg" not in _mine:
            return
        try:
            store = _store()
            if store is not None:
                store.page(_mine["name"], document_id, index + 1)
        except Exception:
            _mine["store"] = None
