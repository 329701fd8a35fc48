"""Exactly-once numbering under real concurrency: many processes allocating at the same moment.

8 processes × 25 documents over 3 dossiers, all started together on one ledger:
every dossier must come out numbered 1..N with no gap and no number twice, on
SQLite (one file, serialised transactions) and on PostgreSQL (row lock per
dossier) alike. Also: a fresh PostgreSQL database migrated by 8 processes at once.
"""

from __future__ import annotations

import multiprocessing as mp
from collections import Counter
from pathlib import Path

import pytest

from pipeline.storage.postgres.ledger import MIGRATIONS
from tests.support.backends import BACKENDS

CODES = [f"000.00.13.H38-261127-000{i}" for i in (1, 2, 3)]
PROCESSES = 8
PER_PROCESS = 25


def _open(kind: str, where: str):
    if kind == "sqlite":
        from pipeline.storage.ledger import SqliteLedger

        return SqliteLedger(Path(where))
    from pipeline.storage.postgres.db import Database
    from pipeline.storage.postgres.ledger import PostgresLedger

    return PostgresLedger(Database(where, pool_size=2, name="alloc"))


def _allocate(kind: str, where: str, worker: int, start, out) -> None:
    ledger = _open(kind, where)
    batch = ledger.create_batch(f"station-{worker}", "concurrency test", "test")
    docs = [
        ledger.add_document(
            batch,
            actor="test",
            source_name=f"{worker}-{i}.pdf",
            source_path=None,
            sha256=f"{worker:02d}{i:062d}",
            size=1,
            station=f"station-{worker}",
            folder_name=None,
            dossier_hint=None,
        )
        for i in range(PER_PROCESS)
    ]
    start.wait()  # everyone allocates at once
    got = []
    for i, doc in enumerate(docs):
        code = CODES[(worker + i) % len(CODES)]
        got.append((code, ledger.allocate_ordinal(doc.id, code), doc.id))
    ledger.close()
    out.put(got)


@pytest.mark.parametrize("kind", BACKENDS)
def test_ordinals_are_gap_free_and_unique_across_processes(kind, tmp_path, request):
    where = (
        str(tmp_path / "ledger.sqlite3")
        if kind == "sqlite"
        else request.getfixturevalue("postgres_server").new_database()
    )
    _open(kind, where).close()  # schema in place; the race is about numbers
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [
        ctx.Process(target=_allocate, args=(kind, where, w, start, out)) for w in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    results = [item for _ in procs for item in out.get(timeout=120)]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert len(results) == PROCESSES * PER_PROCESS
    per_code: dict[str, list[int]] = {}
    for code, n, _ in results:
        per_code.setdefault(code, []).append(n)
    for code, numbers in per_code.items():
        assert sorted(numbers) == list(range(1, len(numbers) + 1)), code
        assert not [n for n, c in Counter(numbers).items() if c > 1]
    ledger = _open(kind, where)
    try:
        for code, n, doc_id in results:  # what each process was told is what the ledger holds
            doc = ledger.get_document(doc_id)
            assert (doc.dossier_code, doc.ordinal) == (code, n)
    finally:
        ledger.close()


def _migrate(url: str, start, out) -> None:
    start.wait()
    ledger = _open("postgres", url)
    out.put(ledger.created)
    ledger.close()


def test_schema_is_migrated_once_when_many_processes_start_together(postgres_server):
    url = postgres_server.new_database()
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [ctx.Process(target=_migrate, args=(url, start, out)) for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    created = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert created.count(True) == 1  # one process made the schema, the rest found it
    rows = postgres_server.psql(
        "SELECT component, version FROM schema_migrations ORDER BY 1, 2", url.rsplit("/", 1)[1]
    )
    assert rows.split() == [f"ledger|{m.version}" for m in MIGRATIONS]
