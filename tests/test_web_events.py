"""The operator's web pages for issue 21: events for the one-stop system (dead and waiting
deliveries, replay) and the assign form's place in the dossier."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from pipeline.access.audit import SqliteAuditLog
from pipeline.storage.ledger import SqliteLedger
from tests.support.web import World, build_world, csrf, fast_users, logged_in, serve
from workers.web.app import create_app

pytestmark = pytest.mark.integration
CODE = "000.00.13.H38-261201-0042"


@pytest.fixture
def world(minio_server, sohoa_env) -> World:
    world = build_world(minio_server, sohoa_env)
    # The world's ledger announced its failed, waiting and archived documents; a dispatcher
    # gave up on the first (a one-stop system that answered 500 every time).
    ledger = SqliteLedger(world.worker.ledger_path)
    outbox = ledger.outbox
    outbox.fan_out("igate")
    (first, *_) = outbox.claim("igate", "test:1", 60, 1)
    outbox.settle(first, "test:1", delivered=False, status=500, error="HTTP 500", retry_in=None)
    ledger.close()
    return world


@pytest.fixture
def server(world: World) -> Iterator[str]:
    with serve(create_app(world.web, users=fast_users(world.web))) as url:
        yield url


@pytest.fixture
def op(server) -> Iterator[httpx.Client]:
    c = logged_in(server, "op")
    yield c
    c.close()


def test_operators_see_dead_and_waiting_events_and_replay_them(world, server, op):
    page = op.get("/events")
    assert page.status_code == 200
    assert "gửi không được 1" in page.text and 'action="/events/1/replay"' in page.text
    assert "HTTP 500" in page.text and "document.failed" in page.text
    assert "chờ sự kiện" not in page.text  # the others are other documents: not held back
    dead_only = op.get("/events", params={"dead": "1"})
    assert dead_only.text.count('action="/events/') == 1
    # a records user may not; a stranger is sent to the login page; a form needs its token
    lan = logged_in(server, "lan")
    assert lan.get("/events").status_code == 403
    assert lan.post("/events/1/replay", data={"csrf_token": csrf(lan)}).status_code == 403
    lan.close()
    with httpx.Client(base_url=server, follow_redirects=False) as stranger:
        assert stranger.get("/events").status_code in (302, 303)
    assert op.post("/events/1/replay", data={"webhook": "igate"}).status_code == 403
    ledger = SqliteLedger(world.web.ledger_path)
    assert not [d for d in ledger.outbox.deliveries() if d.replay_requested]
    r = op.post("/events/1/replay", data={"csrf_token": csrf(op), "webhook": "igate"})
    assert r.status_code == 303 and r.headers["location"] == "/events?done=replay"
    assert "Đã yêu cầu gửi lại" in op.get(r.headers["location"]).text
    (asked,) = [d for d in ledger.outbox.deliveries() if d.replay_requested]
    assert (asked.event.id, asked.webhook, asked.state) == (1, "igate", "dead")
    assert op.post("/events/999/replay", data={"csrf_token": csrf(op)}).status_code == 404
    bad = op.post("/events/1/replay", data={"csrf_token": csrf(op), "webhook": "ô/../x"})
    assert bad.status_code == 400
    rows = SqliteAuditLog(world.web.ledger_path).query(user="op")
    replays = [r for r in rows if r.action == "events_replay"]
    assert [(r.object, r.details.get("webhook")) for r in replays] == [("1", "igate")]
    assert "events_view" in {r.action for r in rows}
    # the worker's dispatcher carries the request out
    ledger.outbox.apply_replays()
    (again,) = [d for d in ledger.outbox.deliveries() if d.event.id == 1]
    assert (again.state, again.attempts, again.replay_requested) == ("pending", 0, False)
    ledger.close()


def test_the_assign_form_gives_the_place_in_the_dossier(world, op):
    doc_page = op.get(f"/documents/{world.needs_code_id}")
    assert 'name="component"' in doc_page.text and 'value="result"' in doc_page.text
    bad = op.post(
        f"/documents/{world.needs_code_id}/assign",
        data={"csrf_token": csrf(op), "dossier": CODE, "component": "TP 1", "kind": "result"},
    )
    assert bad.status_code == 400 and "thành phần hồ sơ" in bad.text
    ledger = SqliteLedger(world.web.ledger_path)
    assert ledger.get_document(world.needs_code_id).state == "needs_dossier"
    r = op.post(
        f"/documents/{world.needs_code_id}/assign",
        data={
            "csrf_token": csrf(op),
            "dossier": CODE,
            "component": "KQ_01",
            "kind": "result",
            "procedure": "1.000555",
        },
    )
    assert r.status_code == 303
    doc = ledger.get_document(world.needs_code_id)
    assert (doc.state, doc.dossier_hint) == ("stored_raw", CODE)
    assert (doc.component_code, doc.kind, doc.procedure_code, doc.place_source) == (
        "KQ_01",
        "result",
        "1.000555",
        "assigned",
    )
    row = next(
        r for r in SqliteAuditLog(world.web.ledger_path).query(user="op") if r.action == "assign"
    )
    assert row.details["component_code"] == "KQ_01" and row.details["kind"] == "result"
    ledger.close()


def test_the_dossier_table_shows_each_documents_place(world, op):
    from pipeline.storage.index import SqliteIndex
    from tests.test_search_minio import archive_meta

    code = "000.00.13.H38-261201-0043"
    index = SqliteIndex(world.web.index_path)
    for n, place in ((1, {"component_code": "TP_01", "kind": "submitted"}), (2, {})):
        meta = {**archive_meta(code, n, "motcua-01", "Đơn", 1), **place}
        index.index_document(meta, ["Đơn đề nghị cấp phép"])
    index.close()
    page = op.get(f"/dossier/{code}")
    assert page.status_code == 200 and '<th scope="col">Thành phần hồ sơ</th>' in page.text
    assert "TP_01 (nộp)" in page.text
    assert page.text.count("<td>—</td>") >= 1  # the document whose place nobody gave
