"""The web page in Vietnamese for a records clerk (issue 24, Build 3): reasons, steps and
actors in Vietnamese, times in the office's clock, one badge wording, a styled 403 page
with the navigation, tables that wrap long keys, dates typed dd/mm/yyyy, an "exact only"
checkbox. Pages are checked as text and, in headless Chromium, for their layout.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.storage.ledger import SqliteLedger
from tests.support.web import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORDS,
    World,
    build_world,
    fast_users,
    logged_in,
    serve,
)
from workers.web.app import create_app

pytestmark = pytest.mark.integration
LONG_KEY = "raw/sha256/" + "9f" * 32
_UTC_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
SHOTS = Path(os.environ.get("SOHOA_SCREENSHOTS", "/tmp/sohoa-screens"))


@pytest.fixture
def world(minio_server, sohoa_env) -> World:
    return build_world(minio_server, sohoa_env)


@pytest.fixture
def long_doc(world: World) -> str:
    """A document whose history holds a raw key far wider than a table cell."""
    ledger = SqliteLedger(world.worker.ledger_path)
    doc = ledger.add_document(
        world.batch_id,
        actor="watcher",
        source_name="ho-so-dang-ky-thuong-tru-ong-pham-van-anh-ban-quet-lan-hai.pdf",
        source_path="/inbox/x.pdf",
        sha256="9f" * 32,
        size=5,
        station="motcua-01",
        folder_name=None,
        dossier_hint=None,
    )
    ledger.transition(
        doc.id,
        "stored_raw",
        actor="watcher",
        stage="ingest",
        reason=f"raw copy verified at sohoa-raw/{LONG_KEY}",
        raw_key=LONG_KEY,
    )
    ledger.transition(
        doc.id, "processing", actor="worker", stage="start", reason="processing started"
    )
    ledger.transition(
        doc.id,
        "failed",
        actor="worker",
        stage="pages",
        reason="time budget of 1 s used up with 0 of 3 pages done (run.max_document_seconds);"
        " the finished pages are kept: sohoa retry resumes",
    )
    ledger.close()
    return doc.id


@pytest.fixture
def server(world: World) -> Iterator[str]:
    with serve(create_app(world.web, users=fast_users(world.web))) as url:
        yield url


def test_document_history_reads_in_vietnamese(world, long_doc, server) -> None:
    op = logged_in(server, "op")
    page = op.get(f"/documents/{long_doc}").text
    for english in ("processing started", "time budget", "ingest", ">start<", ">pages<"):
        assert english not in page
    assert "bắt đầu xử lý" in page and "hết thời gian cho phép (1 giây)" in page
    assert "tiếp nhận" in page and "đọc trang" in page and "máy xử lý" in page
    assert not _UTC_ISO.search(page), "no UTC ISO times for people"
    assert re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d", page)
    batches = op.get("/batches").text
    assert "lỗi ngoài dự kiến (OcrError: tesseract died)" in batches
    assert not _UTC_ISO.search(batches)
    op.close()


def test_forbidden_page_is_the_sites_own(world, server) -> None:
    clerk = logged_in(server, "lan")  # a records clerk
    refused = clerk.get("/batches")
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert 'class="error-page"' in refused.text and "Không có quyền truy cập" in refused.text
    assert 'aria-label="Chức năng"' in refused.text and "Đăng xuất" in refused.text
    missing = clerk.get("/no-such-page")
    assert missing.status_code == 404 and 'class="error-page"' in missing.text
    clerk.close()


def test_dates_are_typed_day_first_and_exact_is_a_checkbox(world, server) -> None:
    op = logged_in(server, "op")
    form = op.get("/").text
    assert 'type="date"' not in form and 'placeholder="dd/mm/yyyy"' in form
    assert 'name="exact"' in form and "Chỉ khớp đúng dấu" in form
    ok = op.get("/search", params={"q": "giay phep", "from": "01/01/2020", "to": "31/12/2030"})
    assert ok.status_code == 200
    wrong = op.get("/search", params={"q": "giay phep", "from": "12/31/2026"})
    assert wrong.status_code == 400 and "dd/mm/yyyy" in wrong.text
    folded = op.get("/search", params={"q": "giay phep"}).text
    exact = op.get("/search", params={"q": "giay phep", "exact": "1"}).text
    assert "khớp không dấu" in folded and "khớp không dấu" not in exact
    assert "Valid" not in folded and "Not signed" not in folded  # one badge wording
    op.close()


def test_pages_fit_the_window_in_chromium(world, long_doc, server) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1024, "height": 900})
        page.goto(server + f"/documents/{long_doc}")
        page.get_by_label("Tên đăng nhập").fill("op")
        page.get_by_label("Mật khẩu").fill(PASSWORDS["op"])
        page.get_by_role("button", name="Đăng nhập").click()
        page.wait_for_url(server + f"/documents/{long_doc}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1024, f"the history runs {width - 1024}px past the window"
        page.screenshot(path=str(SHOTS / "document.png"), full_page=True)
        page.goto(server + "/search?q=giay+phep")
        # each hit's number sits beside the top of its thumbnail, not under it
        gaps = page.evaluate(
            """() => [...document.querySelectorAll('ol.hits > li')].map(li => {
                const n = li.querySelector('.n').getBoundingClientRect();
                const t = li.querySelector('.thumb').getBoundingClientRect();
                return [t.left - n.right, Math.abs(t.top - n.top)]; })"""
        )
        assert gaps and all(side >= 0 and top < 20 for side, top in gaps), gaps
        page.screenshot(path=str(SHOTS / "results.png"), full_page=True)
        page.goto(server + "/users")
        assert page.locator(".error-page").count() == 1
        page.screenshot(path=str(SHOTS / "forbidden.png"))
        browser.close()
