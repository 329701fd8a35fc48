"""The ledger and index backends as test parameters: every backend test runs on each of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

BACKENDS = ("sqlite", "postgres")


def pg_database(request: pytest.FixtureRequest) -> str:
    """A fresh database on the session's PostgreSQL server; its URL."""
    return request.getfixturevalue("postgres_server").new_database()


def make_ledger(kind: str, tmp_path: Path, request: pytest.FixtureRequest, url: str | None = None):
    if kind == "sqlite":
        from pipeline.storage.ledger import SqliteLedger

        return SqliteLedger(tmp_path / "ledger.sqlite3")
    from pipeline.storage.postgres.db import Database
    from pipeline.storage.postgres.ledger import PostgresLedger

    return PostgresLedger(Database(url or pg_database(request), name="test-ledger"))


def make_index(kind: str, tmp_path: Path, request: pytest.FixtureRequest, url: str | None = None):
    if kind == "sqlite":
        from pipeline.storage.index import SqliteIndex

        tmp_path.mkdir(parents=True, exist_ok=True)
        return SqliteIndex(tmp_path / "index.sqlite3")
    from pipeline.storage.postgres.db import Database
    from pipeline.storage.postgres.index import PostgresIndex

    return PostgresIndex(Database(url or pg_database(request), name="test-index"))


def backend_env(kind: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Environment variables that select ``kind`` for a whole sohoa process."""
    return {} if kind == "sqlite" else {"SOHOA_DATABASE_URL": pg_database(request)}
