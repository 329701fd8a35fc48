"""The seam between the ledger's rules and a database: what a backend must provide.

The rules (:class:`~pipeline.storage.ledger.rules.SqlLedger`) are written once, as
functions of a :class:`LedgerTx`: ``execute`` with ``?`` placeholders and rows read by
column name, ``attempt`` (PostgreSQL runs a write again after a broken connection; the
rules make a repeat harmless), ``clock`` (the database's own time, so machines whose
clocks drift agree on leases) and ``lock`` (a lock held to the end of the transaction).
A backend adds :meth:`LedgerBackend.read` / :meth:`~LedgerBackend.write`, its schema, and
the few spellings that differ (:class:`Dialect`), and turns a unique-index violation into
:class:`UniqueConflict`. Two do: SQLite (:mod:`.sqlite`) and PostgreSQL
(:mod:`pipeline.storage.postgres.ledger`); the access stores use the same pattern
(:mod:`pipeline.access.db`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Dialect:
    """The spellings that differ between the backends; everything else is common SQL."""

    name: str
    # Appended to a SELECT that reads a row it then changes: a row lock on PostgreSQL;
    # nothing on SQLite, where BEGIN IMMEDIATE already lets one writer in at a time.
    for_update: str
    # Rows some other transaction holds are passed over instead of waited for.
    skip_locked: str
    # Equality that holds for two NULLs.
    same: str
    # Text compared byte by byte, whatever the database's locale.
    bytewise: str
    # A prefix match that ignores ASCII case (ids typed by hand).
    like: str
    # The larger of two values.
    greatest: str


class Rows(Protocol):
    """A DB-API cursor whose rows are read by column name."""

    rowcount: int

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class LedgerTx(Protocol):
    """One transaction as the rules see it (for SQLite reads: one connection, no BEGIN)."""

    attempt: int  # 0 on the first try; more after a broken connection was retried
    dialect: Dialect

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Rows: ...
    def clock(self) -> float: ...  # the database's time, seconds since the epoch
    def lock(self, key: str) -> None: ...  # held until the transaction ends


class LedgerBackend(Protocol):
    dialect: Dialect

    def read(self, fn: Callable[[LedgerTx], T]) -> T: ...
    def write(self, fn: Callable[[LedgerTx], T]) -> T: ...


class UniqueConflict(RuntimeError):
    """A unique index refused a write. ``live_sha``: it was the one live document per
    SHA-256 (the rules make it :class:`~pipeline.errors.DuplicateContent`)."""

    def __init__(self, message: str, *, live_sha: bool) -> None:
        super().__init__(message)
        self.live_sha = live_sha


def marks(values: Sequence[Any]) -> str:
    """``?, ?, ?`` for an ``IN (…)`` list of ``values``."""
    return ", ".join("?" * len(values))
