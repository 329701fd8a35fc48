"""PostgreSQL going away: reported at once if never reached (exit 4), waited for if it restarts."""

from __future__ import annotations

import threading
import time

import pytest

from pipeline.errors import DatabaseUnavailable
from pipeline.storage.ledger import states as st
from pipeline.storage.postgres.db import Database
from pipeline.storage.postgres.index import PostgresIndex
from pipeline.storage.postgres.ledger import PostgresLedger
from tests.support import postgres as pgs
from tests.support.cli import sohoa
from tests.support.minio import free_port


def test_a_database_never_reached_is_exit_4_without_the_password(tmp_path):
    url = f"postgresql://sohoa:hunter2secret@127.0.0.1:{free_port()}/sohoa"
    t0 = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as err:
        PostgresLedger(Database(url, connect_timeout=2))
    assert time.monotonic() - t0 < 10
    assert "hunter2secret" not in str(err.value) and "127.0.0.1" in str(err.value)
    result = sohoa({"SOHOA_HOME": str(tmp_path), "SOHOA_DATABASE_URL": url}, "batches")
    assert result.returncode == 4, result.stderr
    assert "hunter2secret" not in result.stderr + result.stdout


def test_the_reason_given_is_the_failed_attempts_own(monkeypatch):
    """A database created between the failed attempt and the message must not turn
    "does not exist" into a timeout (CI once saw the events thread say both)."""
    import psycopg

    calls: list[str] = []

    def connect(url: str, **_: object) -> object:
        calls.append(url)
        if len(calls) == 1:
            raise psycopg.OperationalError('database "late" does not exist')
        raise AssertionError("the reason was asked for again")

    monkeypatch.setattr(psycopg, "connect", connect)
    url = f"postgresql://sohoa:hunter2secret@127.0.0.1:{free_port()}/late"
    with pytest.raises(DatabaseUnavailable) as err:
        Database(url, connect_timeout=2)
    assert 'database "late" does not exist' in str(err.value)
    assert "hunter2secret" not in str(err.value) and len(calls) == 1


def test_ledger_and_index_carry_on_across_a_database_restart():
    server = pgs.new_server()
    server.start()
    try:
        url = server.new_database()
        ledger = PostgresLedger(Database(url, retry_seconds=60, name="restart"))
        index = PostgresIndex(Database(url, retry_seconds=60, name="restart-index"))
        batch = ledger.create_batch("motcua-01", "before", "test")
        doc = ledger.add_document(
            batch,
            actor="t",
            source_name="a.pdf",
            source_path=None,
            sha256="a" * 64,
            size=1,
            station=None,
            folder_name=None,
            dossier_hint=None,
        )
        server.stop("fast")
        restarted = threading.Timer(3.0, server.start)
        restarted.start()
        try:
            # Issued while the server is down: each waits for it and then succeeds.
            ledger.transition(doc.id, st.STORED_RAW, actor="t")
            ledger.allocate_ordinal(doc.id, "000.00.13.H38-261127-0001")
            index.index_document(
                {"dossier_code": "000.00.13.H38-261127-0001", "doc_id": "x.1", "doc_ordinal": 1},
                ["giấy phép xây dựng"],
            )
        finally:
            restarted.join()
        assert ledger.get_document(doc.id).state == st.STORED_RAW
        assert [e["to_state"] for e in ledger.events(document_id=doc.id)] == [
            st.RECEIVED,
            st.STORED_RAW,
        ]  # the retried transaction was applied once
        assert index.counts() == (1, 1, 1)
        ledger.close()
        index.close()
    finally:
        server.remove()


def test_logins_sessions_and_audit_carry_on_across_a_database_restart():
    from argon2 import PasswordHasher

    from pipeline.access.audit import SqlAuditLog
    from pipeline.access.sessions import SqlSessionStore
    from pipeline.access.users import SqlUserStore
    from pipeline.storage.postgres.access import PostgresAccess

    server = pgs.new_server()
    server.start()
    try:
        access = PostgresAccess(Database(server.new_database(), retry_seconds=60, name="access"))
        users = SqlUserStore(
            access, hasher=PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        )
        sessions, audit = SqlSessionStore(access), SqlAuditLog(access)
        users.add("lan", "records", "mat-khau-rat-dai")
        audit.append("lan", "login")
        server.stop("fast")
        restarted = threading.Timer(3.0, server.start)
        restarted.start()
        try:
            # Issued while the server is down: each waits for it and then succeeds.
            assert users.authenticate("lan", "mat-khau-rat-dai", "10.0.0.5").ok
            sid, _ = sessions.create("lan", "10.0.0.5")
            audit.append("lan", "search", details={"q": "giấy phép"})
        finally:
            restarted.join()
        assert sessions.get(sid) is not None
        assert [r.action for r in audit.query()] == ["login", "search"]
        assert audit.verify().ok
        access.close()
    finally:
        server.remove()


def test_gives_up_after_retry_seconds():
    server = pgs.new_server()
    server.start()
    try:
        ledger = PostgresLedger(Database(server.new_database(), retry_seconds=2, name="gone"))
        server.stop("immediate")
        with pytest.raises(DatabaseUnavailable, match="retry_seconds"):
            ledger.create_batch(None, "x", "t")
        ledger.close()
    finally:
        server.remove()
