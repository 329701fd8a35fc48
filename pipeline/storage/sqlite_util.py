"""What the SQLite backends share: one connection per thread, and IMMEDIATE transactions.

sqlite3 connections must not be shared by threads in the middle of a transaction,
and several processes (watcher, CLI, web) write the same files: writers take the
lock up front (``BEGIN IMMEDIATE``) instead of failing at commit.

A file locked longer than the connection's busy timeout (a backup, a long
``sqlite3`` session, another process stuck mid-transaction) is waited for up to
``wait_seconds`` more, then reported as :class:`DatabaseUnavailable`, an outage the
pipeline handles by resuming the document later: never a failed document.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pipeline.errors import DatabaseUnavailable


class ThreadConnections:
    """Opens a connection per thread on first use (with ``opener``); closes them all at once."""

    def __init__(self, opener: Callable[[], sqlite3.Connection]) -> None:
        self._opener = opener
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._opener()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


def is_locked(exc: BaseException) -> bool:
    """SQLite's "database is locked" / "busy": another connection holds the write lock."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _begin(conn: sqlite3.Connection, wait_seconds: float) -> None:
    """``BEGIN IMMEDIATE``, tried again while the file stays locked until ``wait_seconds``
    have passed in all (each attempt itself waits the connection's busy timeout)."""
    deadline = time.monotonic() + wait_seconds
    pause = 0.2
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if not is_locked(exc):
                raise
            if time.monotonic() + pause > deadline:
                raise DatabaseUnavailable(
                    f"the SQLite database stayed locked by another process beyond"
                    f" database.retry_seconds ({wait_seconds:g} s): {exc}"
                ) from None
        time.sleep(pause)
        pause = min(pause * 2, 2.0)


@contextmanager
def immediate(conn: sqlite3.Connection, wait_seconds: float = 0.0) -> Iterator[sqlite3.Connection]:
    """One write transaction, taken up front (waiting up to ``wait_seconds`` more for a
    lock another process holds); rolled back on any error."""
    _begin(conn, wait_seconds)
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
