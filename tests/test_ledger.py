"""The ledger's rules, on every backend (SQLite and PostgreSQL run the same tests)."""

import pytest

from pipeline.errors import DuplicateContent, NotFound, TransitionError
from pipeline.storage.ledger import batch_rows, mark_duplicate
from pipeline.storage.ledger import states as st
from tests.support.backends import BACKENDS, make_ledger


@pytest.fixture(params=BACKENDS)
def led(request, tmp_path):
    ledger = make_ledger(request.param, tmp_path, request)
    yield ledger
    ledger.close()


def _doc(led, sha="a" * 64, name="x.pdf"):
    batch = led.create_batch("motcua-01", "test", "watcher")
    return led.add_document(
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


def test_happy_path_writes_one_event_per_transition(led):
    doc = _doc(led)
    for state in (st.STORED_RAW, st.PROCESSING, st.ARCHIVED, st.INDEXED):
        doc = led.transition(doc.id, state, actor="worker", stage="t")
    history = led.events(document_id=doc.id)
    assert [(e["from_state"], e["to_state"]) for e in history] == [
        (None, "received"),
        ("received", "stored_raw"),
        ("stored_raw", "processing"),
        ("processing", "archived"),
        ("archived", "indexed"),
    ]
    assert all(e["actor"] and e["at"] for e in history)


def test_forbidden_transitions_raise_and_change_nothing(led):
    doc = _doc(led)
    with pytest.raises(TransitionError):
        led.transition(doc.id, st.ARCHIVED, actor="worker")
    assert led.get_document(doc.id).state == st.RECEIVED
    assert len(led.events(document_id=doc.id)) == 1


def test_ordinals_are_allocated_once_and_in_order(led):
    a, b = _doc(led, "a" * 64), _doc(led, "b" * 64)
    code = "000.00.13.H38-261127-0001"
    assert led.allocate_ordinal(a.id, code) == 1
    assert led.allocate_ordinal(a.id, code) == 1  # a re-run keeps its number
    assert led.allocate_ordinal(b.id, code) == 2
    c = _doc(led, "c" * 64)
    assert led.allocate_ordinal(c.id, code, floor=7) == 8  # archive already holds 7


def test_only_one_live_document_per_sha256(led):
    a, b = _doc(led, "f" * 64, "a.pdf"), _doc(led, "f" * 64, "b.pdf")
    led.transition(a.id, st.STORED_RAW, actor="w")
    with pytest.raises(DuplicateContent):
        led.transition(b.id, st.STORED_RAW, actor="w")
    assert led.get_document(b.id).state == st.RECEIVED
    dup = mark_duplicate(led, b.id, led.live_twin(b), actor="w")
    assert dup.state == st.DUPLICATE and dup.duplicate_of == a.id
    assert a.id in dup.reason


def test_failed_document_can_be_retried_only_if_no_twin_took_over(led):
    a, b = _doc(led, "e" * 64, "a.pdf"), _doc(led, "e" * 64, "b.pdf")
    led.transition(a.id, st.STORED_RAW, actor="w")
    led.transition(a.id, st.PROCESSING, actor="w")
    led.transition(a.id, st.FAILED, actor="w", reason="boom")
    led.transition(b.id, st.STORED_RAW, actor="w")  # a re-drop takes over
    with pytest.raises(DuplicateContent):
        led.transition(a.id, st.PROCESSING, actor="cli:x")


def test_resolve_id_by_prefix(led):
    doc = _doc(led)
    assert led.resolve_id(doc.id[:6]) == ("document", doc.id)
    assert led.resolve_id(doc.batch_id) == ("batch", doc.batch_id)
    with pytest.raises(NotFound):
        led.resolve_id("zzz")
    with pytest.raises(NotFound):
        led.resolve_id("%")


def test_batch_status_is_the_worst_document(led):
    doc = _doc(led)
    led.transition(doc.id, st.STORED_RAW, actor="w")
    led.transition(doc.id, st.REJECTED, actor="w", reason="empty file (0 bytes)")
    (row,) = batch_rows(led)
    assert row["status"] == "rejected" and "empty file" in row["reasons"][0]


def test_batch_rows_carry_reasons_and_review_notes(led):
    doc = _doc(led)
    led.transition(doc.id, st.STORED_RAW, actor="w")
    led.transition(doc.id, st.PROCESSING, actor="w")
    led.transition(doc.id, st.ARCHIVED, actor="w", review="low OCR quality: page 1")
    (row,) = batch_rows(led)
    assert row["status"] == "done" and row["reasons"] == []
    assert row["review"] == ["x.pdf: low OCR quality: page 1"]


def test_restore_is_idempotent_and_raises_the_ordinal_floor(led):
    doc = _doc(led, "d" * 64)
    led.transition(doc.id, st.STORED_RAW, actor="w")
    code = "000.00.13.H38-261127-0002"
    batch = led.get_batch(doc.batch_id)
    rebuilt = type(doc)(
        **{
            **doc.__dict__,
            "id": "drestored001",
            "sha256": "9" * 64,
            "dossier_code": code,
            "ordinal": 5,
            "state": st.INDEXED,
        }
    )
    assert led.restore(batch, rebuilt, "rebuild", "from the archive") is True
    assert led.restore(batch, rebuilt, "rebuild", "from the archive") is False
    assert led.get_document("drestored001").ordinal == 5
    assert led.allocate_ordinal(doc.id, code) == 6
    assert led.events(document_id="drestored001")[-1]["stage"] == "rebuild"


def test_update_fields_attempts_and_lookups(led):
    doc = _doc(led, "c" * 64, "ả.pdf")
    led.update_fields(doc.id, media_type="application/pdf", pages=3, source_name_bytes=b"\xff.pdf")
    got = led.get_document(doc.id)
    assert (got.media_type, got.pages, got.source_name_bytes) == ("application/pdf", 3, b"\xff.pdf")
    assert led.attempts(doc.id, "ingest") == 1 and led.attempts(doc.id, "pages") == 0
    assert [d.id for d in led.find_documents(sha256="c" * 64)] == [doc.id]
    assert led.find_documents(states=[st.FAILED]) == []
    assert led.find_documents(station="motcua-01", source_path="/in/ả.pdf")[0].id == doc.id
    assert not led.is_empty() and led.list_batches()[0]["id"] == doc.batch_id
    with pytest.raises(NotFound):
        led.get_document("nope")
    with pytest.raises(TransitionError):
        led.update_fields(doc.id, state=st.FAILED)


def test_expect_guards_a_race(led):
    doc = _doc(led)
    led.transition(doc.id, st.STORED_RAW, actor="w")
    led.transition(doc.id, st.PROCESSING, actor="a", expect=(st.STORED_RAW,), owner="a:1:1")
    with pytest.raises(TransitionError):
        led.transition(doc.id, st.PROCESSING, actor="b", expect=(st.STORED_RAW,), owner="b:1:1")
    assert led.get_document(doc.id).owner == "a:1:1"


def test_a_split_is_recorded_once_and_its_documents_share_the_bytes(led):
    from pipeline.storage.ledger.records import SegmentRow

    doc = _doc(led, sha="c" * 64, name="stack.pdf")
    doc = led.transition(doc.id, st.STORED_RAW, actor="w", stage="t")
    segments = [
        SegmentRow(1, 1, 2, '{"start": "file"}'),
        SegmentRow(2, 3, 5, '{"start": "cover"}'),
        SegmentRow(3, 6, 6, '{"start": "receipt"}'),
    ]
    family = led.record_split(doc.id, segments, actor="w")
    assert [(d.segment, d.first_page, d.last_page) for d in family] == [
        (1, 1, 2),
        (2, 3, 5),
        (3, 6, 6),
    ]
    assert family[0].id == doc.id and {d.parent_id for d in family[1:]} == {doc.id}
    assert [d.state for d in family[1:]] == [st.STORED_RAW, st.STORED_RAW]
    assert {d.sha256 for d in family} == {"c" * 64}  # one live source row, not duplicates
    assert led.live_twin(family[1]).id == doc.id
    # Recorded once: a second call (a re-run after a crash) changes nothing.
    again = led.record_split(doc.id, segments[:2], actor="w")
    assert [d.id for d in again] == [d.id for d in family]
    assert [d.id for d in led.find_documents(parent_id=doc.id)] == [d.id for d in family[1:]]
    with pytest.raises(TransitionError):
        led.record_split(family[1].id, segments, actor="w")
    # The same bytes dropped again are still a duplicate of the stack's source row.
    twin = _doc(led, sha="c" * 64, name="again.pdf")
    with pytest.raises(DuplicateContent):
        led.transition(twin.id, st.STORED_RAW, actor="w", stage="t")


def test_a_stack_comes_back_whole_when_the_ledger_is_rebuilt(led):
    """The further documents of a stack share their source's bytes: restoring them (ledger
    rebuild) must not take them for a second live copy of those bytes."""
    doc = _doc(led, "b" * 64, "stack.pdf")
    batch = led.get_batch(doc.batch_id)
    code = "000.00.13.H38-261127-0003"
    head = type(doc)(
        **{**doc.__dict__, "id": "dhead0000001", "state": st.ARCHIVED, "sha256": "7" * 64}
    )
    child = type(doc)(
        **{
            **head.__dict__,
            "id": "dchild000002",
            "parent_id": head.id,
            "segment": 2,
            "dossier_code": code,
            "ordinal": 2,
        }
    )
    assert led.restore(batch, head, "rebuild", "from the archive") is True
    assert led.restore(batch, child, "rebuild", "from the archive") is True
    assert [d.id for d in led.family(head.id)] == [head.id, child.id]
    # A second file with those bytes is still refused as a live twin of the head.
    twin = type(doc)(**{**head.__dict__, "id": "dtwin0000003"})
    assert led.restore(batch, twin, "rebuild", "from the archive") is False
