"""Operator and administrator pages (issue 15 items 2–3): batches, retry, assign, the review
queue, users; what the web queues, a worker with the worker key carries out."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from minio import Minio

from pipeline.access.audit import SqliteAuditLog
from pipeline.storage.ledger import SqliteLedger
from tests.support.cli import json_lines, sohoa
from tests.support.watch import CODE, quick_env, tiny_page
from tests.support.web import (
    CHROMIUM,
    CHROMIUM_ARGS,
    FLAGGED_CODE,
    PASSWORDS,
    World,
    build_world,
    csrf,
    fast_users,
    logged_in,
    login,
    role_cfg,
    role_env,
    serve,
)
from workers.web.app import create_app

pytestmark = pytest.mark.integration


@pytest.fixture
def world(minio_server, sohoa_env) -> World:
    return build_world(minio_server, sohoa_env)


@pytest.fixture
def server(world: World) -> Iterator[str]:
    with serve(create_app(world.web, users=fast_users(world.web))) as url:
        yield url


@pytest.fixture
def op(server) -> Iterator[httpx.Client]:
    c = logged_in(server, "op")
    yield c
    c.close()


def test_batches_show_states_and_reasons(world, op):
    page = op.get("/batches")
    assert page.status_code == 200
    assert world.batch_id in page.text and "lỗi" in page.text and "cần mã hồ sơ" in page.text
    assert "OcrError: tesseract died" in page.text
    link = f'href="/batches/{world.batch_id}"'
    assert op.get("/batches", params={"status": "failed"}).text.count(link) == 1
    assert link not in op.get("/batches", params={"status": "duplicate"}).text
    detail = op.get(f"/batches/{world.batch_id}")
    assert f'action="/documents/{world.failed_id}/retry"' in detail.text
    assert f'action="/documents/{world.needs_code_id}/assign"' in detail.text
    assert f'action="/documents/{world.flagged_id}/retry"' not in detail.text  # indexed


def test_retry_and_assign_are_queued_for_a_worker_by_the_operator(world, op):
    r = op.post(f"/documents/{world.failed_id}/retry", data={"csrf_token": csrf(op)})
    assert (
        r.status_code == 303 and r.headers["location"] == f"/documents/{world.failed_id}?done=retry"
    )
    assert "Đã xếp lịch chạy lại" in op.get(r.headers["location"]).text
    ledger = SqliteLedger(world.web.ledger_path)
    doc = ledger.get_document(world.failed_id)
    assert doc.state == "stored_raw" and doc.owner is None
    assert ledger.events(document_id=doc.id)[-1]["actor"] == "web:op"
    again = op.post(f"/documents/{world.failed_id}/retry", data={"csrf_token": csrf(op)})
    assert again.status_code == 303  # still waiting: freed for a worker, nothing new
    bad = op.post(
        f"/documents/{world.needs_code_id}/assign",
        data={"csrf_token": csrf(op), "dossier": "not a code"},
    )
    assert (
        bad.status_code == 400 and ledger.get_document(world.needs_code_id).state == "needs_dossier"
    )
    r = op.post(
        f"/documents/{world.needs_code_id}/assign",
        data={"csrf_token": csrf(op), "dossier": " 000.00.13.h38-261201-0042 "},
    )
    assert r.status_code == 303
    doc = ledger.get_document(world.needs_code_id)
    assert doc.state == "stored_raw" and doc.dossier_hint == "000.00.13.H38-261201-0042"
    r = op.post(f"/batches/{world.batch_id}/retry", data={"csrf_token": csrf(op)})
    assert r.status_code == 303 and ledger.get_document(world.xss_name_id).state == "stored_raw"
    indexed = op.post(
        f"/documents/{world.flagged_id}/assign", data={"csrf_token": csrf(op), "dossier": CODE}
    )
    assert indexed.status_code == 400  # an archived document keeps its code
    rows = SqliteAuditLog(world.web.ledger_path).query(user="op")
    assert [r.action for r in rows if r.action in ("retry", "assign")] == [
        "retry",
        "retry",
        "assign",
        "retry",
    ]
    assign_row = next(r for r in rows if r.action == "assign")
    assert assign_row.dossier == "000.00.13.H38-261201-0042"


def test_review_queue_shows_the_flagged_page_beside_its_text(world, op):
    queue = op.get("/review")
    assert f'href="/review/{world.flagged_id}"' in queue.text
    page = op.get(f"/review/{world.flagged_id}")
    assert page.status_code == 200
    assert f'src="/review/{world.flagged_id}/page/2"' in page.text
    assert "TRANG HAI MO NHOE" in page.text and "Trang một đọc tốt" not in page.text
    image = op.get(f"/review/{world.flagged_id}/page/2")
    assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
    assert image.content[:2] == b"\xff\xd8"
    assert op.get(f"/review/{world.flagged_id}/page/3").status_code == 404
    r = op.post(f"/review/{world.flagged_id}/accept", data={"csrf_token": csrf(op)})
    assert r.status_code == 303 and r.headers["location"] == "/review?done=accept"
    assert SqliteLedger(world.web.ledger_path).get_document(world.flagged_id).review is None
    assert world.flagged_id not in op.get("/review").text
    assert op.get(f"/review/{world.flagged_id}").status_code == 404
    rows = SqliteAuditLog(world.web.ledger_path).query(user="op")
    review = [r for r in rows if r.action.startswith("review_") and r.action != "review_queue_view"]
    assert [r.action for r in review][-3:] == ["review_view", "review_image", "review_accept"]
    assert {r.dossier for r in review[-3:]} == {FLAGGED_CODE}


def test_rerun_is_queued_with_the_code_it_had(world, op):
    r = op.post(f"/review/{world.flagged_id}/rerun", data={"csrf_token": csrf(op)})
    assert r.status_code == 303
    doc = SqliteLedger(world.web.ledger_path).get_document(world.flagged_id)
    assert doc.state == "stored_raw" and doc.pdf_key and doc.owner is None
    assert "re-run requested by web:op" in doc.reason


def test_administrator_manages_users_in_the_web(world, server):
    ad = logged_in(server, "ad")
    token = csrf(ad)
    r = ad.post(
        "/users",
        data={
            "csrf_token": token,
            "name": "Hoa",
            "role": "operator",
            "password": "mat-khau-cua-hoa",
            "password2": "mat-khau-cua-hoa",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/users?done=add"
    with httpx.Client(base_url=server, follow_redirects=False, timeout=30) as hoa:
        assert login(hoa, "hoa", "mat-khau-cua-hoa").status_code == 303
        assert hoa.get("/batches").status_code == 200
        assert ad.post("/users/hoa/disable", data={"csrf_token": token}).status_code == 303
        assert hoa.get("/batches").status_code == 303  # her session ended at once
    mismatch = ad.post(
        "/users",
        data={
            "csrf_token": token,
            "name": "x1",
            "role": "records",
            "password": "a" * 12,
            "password2": "b" * 12,
        },
    )
    assert mismatch.status_code == 400 and "không giống" in mismatch.text
    assert ad.post("/users/ad/disable", data={"csrf_token": token}).status_code == 400
    assert (
        ad.post("/users/ad/role", data={"csrf_token": token, "role": "records"}).status_code == 400
    )
    assert ad.post("/users/nobody/disable", data={"csrf_token": token}).status_code == 404
    listing = ad.get("/users").text
    assert "mat-khau-cua-hoa" not in listing and "đã khóa" in listing
    actions = [r.action for r in SqliteAuditLog(world.web.ledger_path).query(user="ad")]
    assert "user_add" in actions and "user_disable" in actions
    ad.close()


def test_operator_pages_in_a_browser(world, server):
    sync_api = pytest.importorskip("playwright.sync_api")
    shots = os.environ.get("SOHOA_WEB_SCREENSHOTS")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(server + "/batches")
        page.get_by_label("Tên đăng nhập").fill("op")
        page.get_by_label("Mật khẩu").fill(PASSWORDS["op"])
        page.get_by_role("button", name="Đăng nhập").click()
        page.wait_for_url(server + "/batches")
        page.get_by_role("link", name=world.batch_id).click()
        page.wait_for_url(f"**/batches/{world.batch_id}")
        if shots:
            page.screenshot(path=f"{shots}/operator-batch.png", full_page=True)
        row = page.get_by_role("row").filter(has_text="don.png")
        row.get_by_label("Mã hồ sơ").fill(CODE)
        row.get_by_role("button", name="Gán mã").click()
        page.wait_for_url(f"**/documents/{world.needs_code_id}?done=assign")
        assert "Đã gán mã hồ sơ" in page.content()
        page.goto(server + f"/review/{world.flagged_id}")
        image = page.get_by_role("img", name="Ảnh quét trang 2")
        image.wait_for()
        assert image.evaluate("img => img.complete && img.naturalWidth > 0")
        if shots:
            page.screenshot(path=f"{shots}/operator-review.png", full_page=True)
        page.get_by_role("button", name="Chấp nhận kết quả").click()
        page.wait_for_url("**/review?done=accept")
        browser.close()
    assert (
        SqliteLedger(world.web.ledger_path).get_document(world.needs_code_id).dossier_hint == CODE
    )


def test_a_worker_carries_out_what_the_operator_queued(minio_server, sohoa_env, tmp_path):
    """No code in the file: the operator assigns one in the web (web key), a worker's watch
    (worker key) archives it; then a re-run writes a new version of the same keys."""
    from tests.support.web import setup_roles

    keys = setup_roles(minio_server, sohoa_env)
    worker_env = quick_env(role_env(sohoa_env, keys, "worker"), tmp_path)
    page = tmp_path / "own" / "don-de-nghi.png"
    tiny_page(page, 11)
    first = sohoa(worker_env, "--json", "process", str(page))
    (row,) = json_lines(first.stdout)
    assert row["status"] == "needs_dossier", first.stderr
    web = role_cfg(sohoa_env, keys, "web")
    with serve(create_app(web, users=fast_users(web))) as url:
        op = logged_in(url, "op")
        r = op.post(
            f"/documents/{row['document_id']}/assign",
            data={"csrf_token": csrf(op), "dossier": CODE},
        )
        assert r.status_code == 303
        worked = sohoa(worker_env, "--json", "watch", "--once")
        assert worked.returncode == 0, worked.stderr
        ledger = SqliteLedger(web.ledger_path)
        doc = ledger.get_document(row["document_id"])
        assert doc.state == "indexed" and doc.pdf_key == f"{CODE}/{CODE}.1.pdf"
        assert doc.dossier_source == "assigned"
        actors = [e["actor"] for e in ledger.events(document_id=doc.id)]
        assert "web:op" in actors and actors[-1] == "worker"
        assert op.get("/search", params={"q": CODE}).text.count('li class="hit"') == 1

        ledger.update_fields(doc.id, review="low OCR quality: page 1 (test)")
        r = op.post(f"/review/{doc.id}/rerun", data={"csrf_token": csrf(op)})
        assert r.status_code == 303
        again = sohoa(worker_env, "--json", "watch", "--once")
        assert again.returncode == 0, again.stderr
        doc = ledger.get_document(doc.id)
        assert doc.state == "indexed" and doc.pdf_key == f"{CODE}/{CODE}.1.pdf"
        assert doc.review is None  # a clean page: no longer flagged
        op.close()
    operator = keys["operator"]
    reader = Minio(minio_server.endpoint, operator.access_key, operator.secret_key, secure=False)
    versions = [
        o
        for o in reader.list_objects(
            sohoa_env["SOHOA_BUCKET_ARCHIVE"], prefix=f"{CODE}/", include_version=True
        )
        if o.object_name == f"{CODE}/{CODE}.1.json"
    ]
    assert len(versions) == 2  # the first archive copy is kept beside the re-run's
