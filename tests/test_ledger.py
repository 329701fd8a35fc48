import pytest

from pipeline.storage import ledger


@pytest.fixture
def conn(tmp_path):
    c = ledger.connect(tmp_path / "ledger.sqlite3")
    yield c
    c.close()


def _doc(conn, sha="a" * 64, name="x.pdf"):
    batch = ledger.create_batch(conn, "motcua-01", "test", "watcher")
    return ledger.add_document(
        conn,
        batch,
        actor="watcher",
        source_name=name,
        source_path=f"/in/{name}",
        sha256=sha,
        size=10,
        station="motcua-01",
        folder_name=None,
        dossier_hint=None,
    )


def test_happy_path_writes_one_event_per_transition(conn):
    doc = _doc(conn)
    for state in (ledger.STORED_RAW, ledger.PROCESSING, ledger.ARCHIVED, ledger.INDEXED):
        doc = ledger.transition(conn, doc.id, state, actor="worker", stage="t")
    history = ledger.events(conn, document_id=doc.id)
    assert [(e["from_state"], e["to_state"]) for e in history] == [
        (None, "received"),
        ("received", "stored_raw"),
        ("stored_raw", "processing"),
        ("processing", "archived"),
        ("archived", "indexed"),
    ]
    assert all(e["actor"] and e["at"] for e in history)


def test_forbidden_transitions_raise_and_change_nothing(conn):
    doc = _doc(conn)
    with pytest.raises(ledger.TransitionError):
        ledger.transition(conn, doc.id, ledger.ARCHIVED, actor="worker")
    assert ledger.get_document(conn, doc.id).state == ledger.RECEIVED
    assert len(ledger.events(conn, document_id=doc.id)) == 1


def test_ordinals_are_allocated_once_and_in_order(conn):
    a, b = _doc(conn, "a" * 64), _doc(conn, "b" * 64)
    code = "000.00.13.H38-261127-0001"
    assert ledger.allocate_ordinal(conn, a.id, code) == 1
    assert ledger.allocate_ordinal(conn, a.id, code) == 1  # a re-run keeps its number
    assert ledger.allocate_ordinal(conn, b.id, code) == 2
    c = _doc(conn, "c" * 64)
    assert ledger.allocate_ordinal(conn, c.id, code, floor=7) == 8  # archive already holds 7


def test_only_one_live_document_per_sha256(conn):
    a, b = _doc(conn, "f" * 64, "a.pdf"), _doc(conn, "f" * 64, "b.pdf")
    ledger.transition(conn, a.id, ledger.STORED_RAW, actor="w")
    with pytest.raises(ledger.sqlite3.IntegrityError):
        ledger.transition(conn, b.id, ledger.STORED_RAW, actor="w")
    assert ledger.get_document(conn, b.id).state == ledger.RECEIVED
    dup = ledger.mark_duplicate(conn, b.id, ledger.live_twin(conn, b), actor="w")
    assert dup.state == ledger.DUPLICATE and dup.duplicate_of == a.id
    assert a.id in dup.reason


def test_failed_document_can_be_retried_only_if_no_twin_took_over(conn):
    a, b = _doc(conn, "e" * 64, "a.pdf"), _doc(conn, "e" * 64, "b.pdf")
    ledger.transition(conn, a.id, ledger.STORED_RAW, actor="w")
    ledger.transition(conn, a.id, ledger.PROCESSING, actor="w")
    ledger.transition(conn, a.id, ledger.FAILED, actor="w", reason="boom")
    ledger.transition(conn, b.id, ledger.STORED_RAW, actor="w")  # a re-drop takes over
    with pytest.raises(ledger.sqlite3.IntegrityError):
        ledger.transition(conn, a.id, ledger.PROCESSING, actor="cli:x")


def test_resolve_id_by_prefix(conn):
    doc = _doc(conn)
    assert ledger.resolve_id(conn, doc.id[:6]) == ("document", doc.id)
    assert ledger.resolve_id(conn, doc.batch_id) == ("batch", doc.batch_id)
    with pytest.raises(ledger.NotFound):
        ledger.resolve_id(conn, "zzz")
    with pytest.raises(ledger.NotFound):
        ledger.resolve_id(conn, "%")


def test_batch_status_is_the_worst_document(conn):
    doc = _doc(conn)
    ledger.transition(conn, doc.id, ledger.STORED_RAW, actor="w")
    ledger.transition(conn, doc.id, ledger.REJECTED, actor="w", reason="empty file (0 bytes)")
    (row,) = ledger.batch_rows(conn)
    assert row["status"] == "rejected" and "empty file" in row["reasons"][0]


def test_batch_rows_carry_reasons_and_review_notes(conn):
    doc = _doc(conn)
    ledger.transition(conn, doc.id, ledger.STORED_RAW, actor="w")
    ledger.transition(conn, doc.id, ledger.PROCESSING, actor="w")
    ledger.transition(conn, doc.id, ledger.ARCHIVED, actor="w", review="low OCR quality: page 1")
    (row,) = ledger.batch_rows(conn)
    assert row["status"] == "done" and row["reasons"] == []
    assert row["review"] == ["x.pdf: low OCR quality: page 1"]
