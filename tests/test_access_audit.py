"""The audit chain: every kind of tampering is found at the right row; many writers, one chain."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from pipeline.access.audit import GENESIS, SqliteAuditLog, row_hash

CODE = "000.00.13.H38-261120-0001"


@pytest.fixture
def log(tmp_path: Path) -> SqliteAuditLog:
    audit = SqliteAuditLog(tmp_path / "ledger.sqlite3")
    audit.append("lan", "login", client="10.0.0.5")
    audit.append("lan", "search", details={"q": "giấy phép", "hits": 3})
    audit.append("lan", "dossier_view", CODE)
    audit.append("lan", "pdf_open", f"{CODE}/{CODE}.1.pdf", details={"page": 2})
    audit.append("binh", "retry", "doc-123", details={"dossier_code": CODE})
    return audit


def _raw(log: SqliteAuditLog) -> sqlite3.Connection:
    """What an attacker with write access to the file has: triggers dropped."""
    conn = sqlite3.connect(log.path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("DROP TRIGGER audit_log_no_delete")
    return conn


def _rows(conn: sqlite3.Connection) -> list[dict]:
    return [dict(r) for r in conn.execute("SELECT * FROM audit_log ORDER BY id")]


def _insert(conn: sqlite3.Connection, row: dict) -> None:
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


def test_an_intact_chain_verifies_and_queries_filter(log: SqliteAuditLog):
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


def test_secrets_in_details_are_redacted(log: SqliteAuditLog):
    row = log.append(
        "lan", "login_failed", details={"password": "hunter2-secret", "nested": {"token": "t0k"}}
    )
    stored = log.query(action="login_failed")[0]
    assert (
        row.details
        == stored.details
        == {"password": "[redacted]", "nested": {"token": "[redacted]"}}
    )
    assert "hunter2" not in Path(log.path).read_bytes().decode("utf-8", "replace")


def test_the_program_cannot_update_or_delete_rows(log: SqliteAuditLog):
    with sqlite3.connect(log.path) as conn:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE audit_log SET actor = 'x' WHERE id = 2")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM audit_log WHERE id = 2")


def test_an_edited_row_is_found(log: SqliteAuditLog):
    _raw(log).execute("UPDATE audit_log SET actor = 'someone-else' WHERE id = 3")
    check = log.verify()
    assert not check.ok and check.first_broken_id == 3 and "contents" in str(check.reason)


def test_an_edited_row_with_a_recomputed_hash_breaks_the_next_link(log: SqliteAuditLog):
    conn = _raw(log)
    row = _rows(conn)[2]
    row["details"] = '{"note":"nothing to see"}'
    conn.execute(
        "UPDATE audit_log SET details = ?, hash = ? WHERE id = 3",
        (row["details"], _forge_hash(row)),
    )
    check = log.verify()
    assert (check.ok, check.first_broken_id) == (False, 4) and "link" in str(check.reason)


def test_a_deleted_row_is_found(log: SqliteAuditLog):
    _raw(log).execute("DELETE FROM audit_log WHERE id = 3")
    check = log.verify()
    assert (check.ok, check.first_broken_id) == (False, 4) and "missing" in str(check.reason)


def test_deleting_the_newest_rows_is_found(log: SqliteAuditLog):
    _raw(log).execute("DELETE FROM audit_log WHERE id >= 4")
    check = log.verify()
    assert (check.ok, check.first_broken_id) == (False, 4) and "removed" in str(check.reason)


def test_a_row_inserted_in_the_middle_is_found(log: SqliteAuditLog):
    conn = _raw(log)
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


def test_a_row_inserted_with_copied_hashes_is_found_at_itself(log: SqliteAuditLog):
    conn = _raw(log)
    rows = _rows(conn)
    conn.execute("DELETE FROM audit_log WHERE id >= 3")
    _insert(conn, dict(rows[1], id=3, actor="mallory"))
    for old in rows[2:]:
        _insert(conn, dict(old, id=old["id"] + 1))
    check = log.verify()
    assert (check.ok, check.first_broken_id) == (False, 3)


def test_reordered_rows_are_found(log: SqliteAuditLog):
    conn = _raw(log)
    rows = _rows(conn)
    conn.execute("DELETE FROM audit_log WHERE id IN (2, 3)")
    _insert(conn, dict(rows[2], id=2))
    _insert(conn, dict(rows[1], id=3))
    check = log.verify()
    assert (check.ok, check.first_broken_id) == (False, 2)


def test_a_rewritten_tail_is_found_against_an_anchor(log: SqliteAuditLog):
    anchor = log.head()
    assert anchor and log.verify(anchor=anchor).ok
    conn = _raw(log)
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


def _append_many(path: str, who: str, n: int) -> None:
    audit = SqliteAuditLog(Path(path))
    for i in range(n):
        audit.append(who, "search", details={"i": i})


def test_appends_from_several_processes_keep_one_chain(tmp_path: Path):
    path = tmp_path / "ledger.sqlite3"
    SqliteAuditLog(path).append("setup", "start")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_many, args=(str(path), f"w{i}", 40)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    log = SqliteAuditLog(path)
    check = log.verify()
    assert check.ok and check.checked == 161
    assert [r.id for r in log.query(limit=10_000)] == list(range(1, 162))
    assert {r.actor for r in log.query(limit=10_000)} == {"setup", "w0", "w1", "w2", "w3"}
