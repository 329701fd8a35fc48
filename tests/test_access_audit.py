"""The audit chain: every kind of tampering is found at the right row; many writers, one chain.

Every test runs on SQLite and on PostgreSQL: the same store code over each backend.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.access.audit import GENESIS, SqlAuditLog, row_hash
from tests.support.access import AccessDB, Raw, Spec, make_access, open_spec
from tests.support.backends import BACKENDS
from tests.support.cli import json_lines, sohoa

CODE = "000.00.13.H38-261120-0001"


@pytest.fixture(params=BACKENDS)
def acc(request, tmp_path: Path) -> Iterator[AccessDB]:
    db = make_access(request.param, tmp_path, request)
    yield db
    db.close()


@pytest.fixture
def log(acc: AccessDB) -> SqlAuditLog:
    audit = acc.audit()
    audit.append("lan", "login", client="10.0.0.5")
    audit.append("lan", "search", details={"q": "giấy phép", "hits": 3})
    audit.append("lan", "dossier_view", CODE)
    audit.append("lan", "pdf_open", f"{CODE}/{CODE}.1.pdf", details={"page": 2})
    audit.append("binh", "retry", "doc-123", details={"dossier_code": CODE})
    return audit


@pytest.fixture
def conn(acc: AccessDB, log: SqlAuditLog) -> Iterator[Raw]:
    """What an attacker with write access to the database has: triggers dropped."""
    with acc.raw() as raw:
        raw.disarm_audit()
        yield raw


def _rows(conn: Raw) -> list[dict]:
    return conn.execute("SELECT * FROM audit_log ORDER BY id")


def _insert(conn: Raw, row: dict) -> None:
    cols = ",".join(row)
    conn.execute(
        f"INSERT INTO audit_log ({cols}) VALUES ({','.join('?' * len(row))})", list(row.values())
    )


def _forge_hash(row: dict) -> str:
    return row_hash(
        row["id"],
        row["at"],
        row["actor"],
        row["action"],
        row["object"],
        row["dossier"],
        row["client"],
        row["details"],
        row["prev_hash"],
    )


def test_an_intact_chain_verifies_and_queries_filter(log: SqlAuditLog):
    check = log.verify()
    assert check.ok and check.checked == 5 and check.first_broken_id is None
    ok, broken = check
    assert ok and broken is None
    assert log.head() == (5, check.head_hash)
    rows = log.query()
    assert rows[0].prev_hash == GENESIS and rows[1].prev_hash == rows[0].hash
    assert [r.action for r in log.query(user="binh")] == ["retry"]
    assert [r.action for r in log.query(dossier=CODE)] == ["dossier_view", "pdf_open", "retry"]
    assert [r.action for r in log.query(action="search")] == ["search"]
    assert rows[1].details == {"q": "giấy phép", "hits": 3}
    assert log.query(since="2999-01-01") == []
    assert len(log.query(since=rows[0].at)) == 5


def test_secrets_in_details_are_redacted(acc: AccessDB, log: SqlAuditLog):
    row = log.append(
        "lan", "login_failed", details={"password": "hunter2-secret", "nested": {"token": "t0k"}}
    )
    stored = log.query(action="login_failed")[0]
    assert (
        row.details
        == stored.details
        == {"password": "[redacted]", "nested": {"token": "[redacted]"}}
    )
    assert "hunter2" not in acc.dump() and "t0k" not in acc.dump()


def test_the_program_cannot_update_or_delete_rows(acc: AccessDB, log: SqlAuditLog):
    with acc.raw() as raw:
        with pytest.raises(acc.refused, match="append-only"):
            raw.execute("UPDATE audit_log SET actor = 'x' WHERE id = 2")
        with pytest.raises(acc.refused, match="append-only"):
            raw.execute("DELETE FROM audit_log WHERE id = 2")
    assert log.verify().ok and len(log.query()) == 5


def test_an_edited_row_is_found(log: SqlAuditLog, conn: Raw):
    conn.execute("UPDATE audit_log SET actor = 'someone-else' WHERE id = 3")
    check = log.verify()
    assert not check.ok and check.first_broken_id == 3 and "contents" in str(check.reason)


def test_an_edited_row_with_a_recomputed_hash_breaks_the_next_link(log: SqlAuditLog, conn: Raw):
    row = _rows(conn)[2]
    row["details"] = '{"note":"nothing to see"}'
    conn.execute(
        "UPDATE audit_log SET details = ?, hash = ? WHERE id = 3",
        (row["details"], _forge_hash(row)),
    )
    check = log.verify()
    assert (check.ok, check.first_broken_id) == (False, 4) and "link" in str(check.reason)


def test_a_deleted_row_is_found(log: SqlAuditLog, conn: Raw):
    conn.execute("DELETE FROM audit_log WHERE id = 3")
    check = log.verify()
    assert (check.ok, check.first_broken_id) == (False, 4) and "missing" in str(check.reason)


def test_deleting_the_newest_rows_is_found(log: SqlAuditLog, conn: Raw):
    conn.execute("DELETE FROM audit_log WHERE id >= 4")
    check = log.verify()
    assert (check.ok, check.first_broken_id) == (False, 4) and "removed" in str(check.reason)


def test_a_row_inserted_in_the_middle_is_found(log: SqlAuditLog, conn: Raw):
    rows = _rows(conn)
    conn.execute("DELETE FROM audit_log WHERE id >= 4")
    forged = dict(rows[2], id=4, actor="lan", action="search", object=None, dossier=None)
    forged["prev_hash"] = rows[2]["hash"]
    forged["hash"] = _forge_hash(forged)  # the forger links it perfectly to row 3
    _insert(conn, forged)
    for old in rows[3:]:
        _insert(conn, dict(old, id=old["id"] + 1))
    check = log.verify()
    assert (check.ok, check.first_broken_id) == (False, 5)


def test_a_row_inserted_with_copied_hashes_is_found_at_itself(log: SqlAuditLog, conn: Raw):
    rows = _rows(conn)
    conn.execute("DELETE FROM audit_log WHERE id >= 3")
    _insert(conn, dict(rows[1], id=3, actor="mallory"))
    for old in rows[2:]:
        _insert(conn, dict(old, id=old["id"] + 1))
    check = log.verify()
    assert (check.ok, check.first_broken_id) == (False, 3)


def test_reordered_rows_are_found(log: SqlAuditLog, conn: Raw):
    rows = _rows(conn)
    conn.execute("DELETE FROM audit_log WHERE id IN (2, 3)")
    _insert(conn, dict(rows[2], id=2))
    _insert(conn, dict(rows[1], id=3))
    check = log.verify()
    assert (check.ok, check.first_broken_id) == (False, 2)


def test_a_rewritten_tail_is_found_against_an_anchor(log: SqlAuditLog, conn: Raw):
    anchor = log.head()
    assert anchor and log.verify(anchor=anchor).ok
    rows = _rows(conn)
    conn.execute("DELETE FROM audit_log WHERE id >= 4")
    prev = rows[2]["hash"]
    for old in rows[3:]:  # a thorough forger recomputes every hash after the change
        new = dict(old, actor="nobody", prev_hash=prev)
        new["hash"] = _forge_hash(new)
        _insert(conn, new)
        prev = new["hash"]
    assert log.verify().ok  # the chain alone cannot tell ...
    check = log.verify(anchor=anchor)
    assert (check.ok, check.first_broken_id) == (False, 5)  # ... the anchor can


def test_postgres_itself_refuses_to_change_or_remove_audit_rows(request, tmp_path: Path):
    """On PostgreSQL the guard is in the database: any client, not just sohoa, is refused."""
    import psycopg

    acc = make_access("postgres", tmp_path, request)
    try:
        acc.audit().append("lan", "search")
        acc.audit().append("lan", "pdf_open", f"{CODE}/{CODE}.1.pdf")
        with acc.raw() as raw:
            for sql in (
                "UPDATE audit_log SET actor = 'x' WHERE id = 1",
                "UPDATE audit_log SET details = '{}'",
                "DELETE FROM audit_log WHERE id = 2",
                "DELETE FROM audit_log",
                "TRUNCATE audit_log",
                "UPDATE audit_chain SET last_id = 1",  # winding the head back to hide a cut
                "DELETE FROM audit_chain",
                "TRUNCATE audit_chain",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    raw.execute(sql)
            assert raw.execute("SELECT last_id FROM audit_chain") == [{"last_id": 2}]
        assert [r.id for r in acc.audit().query()] == [1, 2] and acc.audit().verify().ok
    finally:
        acc.close()


def _append_many(spec: Spec, who: str, n: int) -> None:
    acc = open_spec(spec)
    audit = acc.audit()
    for i in range(n):
        audit.append(who, "search", details={"i": i})
    acc.close()


@pytest.mark.parametrize("kind", BACKENDS)
def test_appends_from_several_processes_keep_one_chain(request, tmp_path: Path, kind: str):
    acc = make_access(kind, tmp_path, request, path=tmp_path / "home" / "ledger.sqlite3")
    acc.audit().append("setup", "start")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(acc.spec, f"w{i}", 40)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    log = acc.audit()
    check = log.verify()
    assert check.ok and check.checked == 161
    rows = log.query(limit=10_000)
    assert [r.id for r in rows] == list(range(1, 162))
    assert {r.actor for r in rows} == {"setup", "w0", "w1", "w2", "w3"}
    # One line, no forks: every row links to the one before it, and no two share a parent.
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert len({r.prev_hash for r in rows}) == len(rows)
    for i in range(4):  # each writer's rows kept their order
        assert [r.details["i"] for r in rows if r.actor == f"w{i}"] == list(range(40))
    env = {"SOHOA_HOME": str(tmp_path / "home"), **acc.env}
    verified = sohoa(env, "--json", "audit", "verify", timeout=120)
    assert verified.returncode == 0, verified.stderr
    (result,) = json_lines(verified.stdout)
    assert result["ok"] and result["checked"] == 161 and result["head_id"] == 161
    acc.close()
