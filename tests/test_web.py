"""The web app served by uvicorn with the web key, behind logins: over HTTP, then in Chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pipeline.access.audit import SqliteAuditLog
from pipeline.config import Config
from pipeline.storage.objects import connect
from tests.support import index as idx
from tests.support.web import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PASSWORDS,
    fast_users,
    logged_in,
    role_cfg,
    serve,
    setup_roles,
)
from tests.test_search_minio import CODE_A, CODE_B, DOCS, put_archive_document, small_pdf
from workers.web.app import create_app

pytestmark = pytest.mark.integration
INJECTION = 'Ghi chú <script>alert("x")</script> <b>đậm</b> & "trích dẫn"'


@pytest.fixture
def web_cfg(minio_server, sohoa_env: dict[str, str]) -> Config:
    """Buckets and role keys from storage setup; the test archive written with the worker key,
    indexed; the configuration of a web process (web key)."""
    keys = setup_roles(minio_server, sohoa_env)
    worker = role_cfg(sohoa_env, keys, "worker")
    store = connect(worker)
    for code, n, station, type_name, pages in DOCS:
        put_archive_document(store, code, n, station, type_name, pages)
    put_archive_document(store, CODE_B, 2, "motcua-02", None, [INJECTION])
    idx.reindex(worker.index_path, store)
    return role_cfg(sohoa_env, keys, "web")


@pytest.fixture
def server(web_cfg: Config) -> Iterator[str]:
    with serve(create_app(web_cfg, users=fast_users(web_cfg))) as url:
        yield url


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    c = logged_in(server, "lan")
    yield c
    c.close()


def test_a_stranger_sees_the_login_page_and_no_data(server):
    with httpx.Client(base_url=server, follow_redirects=False, timeout=10) as anon:
        for path in ("/", "/search?q=pham", f"/dossier/{CODE_A}", f"/pdf/{CODE_A}/{CODE_A}.1.pdf"):
            resp = anon.get(path)
            assert resp.status_code == 303 and resp.headers["location"].startswith("/login?next=")
            assert "Phạm" not in resp.text and not resp.content.startswith(b"%PDF")
        assert anon.get("/health").text == "ok"


def test_home_page_has_labelled_form(client):
    resp = client.get("/")
    assert resp.status_code == 200
    assert 'lang="vi"' in resp.text
    assert '<label for="q">Từ khóa hoặc mã hồ sơ</label>' in resp.text
    assert "3 hồ sơ, 5 tài liệu, 6 trang" in resp.text
    assert "script-src" not in resp.headers["content-security-policy"]  # no scripts at all
    assert "lan (tra cứu)" in resp.text and 'action="/logout"' in resp.text
    assert 'href="/batches"' not in resp.text  # records staff see no operator links


def test_search_page_highlights_and_links_to_page(client):
    resp = client.get("/search", params={"q": "dong cam"})
    assert resp.status_code == 200
    assert "<mark>Đông Căm</mark>" in resp.text
    assert f'href="/pdf/{CODE_A}/{CODE_A}.1.pdf#page=2"' in resp.text
    assert "trang 2" in resp.text
    resp = client.get("/search", params={"q": "giay phep", "dossier": "000.00.20.*"})
    assert "1 kết quả" in resp.text


def test_document_text_cannot_inject_html(client):
    resp = client.get("/search", params={"q": "ghi chu script"})
    assert resp.status_code == 200
    assert "<script>" not in resp.text
    assert "&lt;" in resp.text and "<mark>script</mark>" in resp.text
    resp = client.get(f"/dossier/{CODE_B}")
    assert "<script>" not in resp.text and "&lt;b&gt;" in resp.text


def test_bad_query_is_explained(client):
    resp = client.get("/search", params={"q": "*"})
    assert resp.status_code == 400
    assert "Không thể tìm" in resp.text and "nothing to search" in resp.text
    api = client.get("/api/search", params={"q": "x" * 5000})
    assert api.status_code == 400 and "too long" in api.json()["error"]
    api = client.get("/api/search", params={"q": "giay", "limit": "nhiều"})
    assert api.status_code == 400 and "limit" in api.json()["error"]


def test_api_search_json(client):
    resp = client.get("/api/search", params={"q": "giấy phép xây dựng"})
    assert resp.status_code == 200
    hits = resp.json()["hits"]
    assert [h["match"] for h in hits] == ["exact", "folded"]
    assert hits[0]["dossier_code"] == CODE_A and hits[0]["page"] == 1
    assert hits[0]["pdf_url"] == f"/pdf/{CODE_A}/{CODE_A}.1.pdf#page=1"


def test_dossier_page(client):
    resp = client.get(f"/dossier/{CODE_A}")
    assert resp.status_code == 200
    assert "Ngày tiếp nhận: 20/11/2026" in resp.text
    assert "Chủ đầu tư: Phạm Văn Anh" in resp.text
    assert resp.text.count('class="pdf"') == 2
    assert client.get("/dossier/000.00.13.H38-990101-0001").status_code == 404


def test_pdf_is_streamed_by_the_app_with_ranges(client, web_cfg):
    key = f"{CODE_A}/{CODE_A}.1.pdf"
    whole = small_pdf(2)
    resp = client.get(f"/pdf/{key}")
    assert resp.status_code == 200 and resp.content == whole
    assert resp.headers["content-type"] == "application/pdf"
    assert resp.headers["content-disposition"] == f'inline; filename="{CODE_A}.1.pdf"'
    assert resp.headers["accept-ranges"] == "bytes"
    assert web_cfg.minio.endpoint not in str(resp.headers) and "X-Amz" not in str(resp.headers)
    part = client.get(f"/pdf/{key}", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == whole[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(whole)}"
    tail = client.get(f"/pdf/{key}", headers={"Range": "bytes=-7"})
    assert tail.status_code == 206 and tail.content == whole[-7:]
    beyond = client.get(f"/pdf/{key}", headers={"Range": f"bytes={len(whole)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(whole)}"
    stale = client.get(f"/pdf/{key}", headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert stale.status_code == 200 and stale.content == whole
    head = client.head(f"/pdf/{key}")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(whole))
    assert client.get(f"/pdf/{CODE_A}/{CODE_A}.1.json").status_code == 404
    assert client.get(f"/pdf/{CODE_A}/{CODE_A}.9.pdf").status_code == 404
    opened = SqliteAuditLog(web_cfg.ledger_path).query(action="pdf_open")
    # one row per session and file within web.read_audit_window_seconds, written by the
    # first request: the ranges a viewer fetches afterwards share it (test_web_audit.py)
    assert [(r.actor, r.object, r.dossier) for r in opened] == [("lan", key, CODE_A)]


# ------------------------------------------------------------------ real browser


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: apt-get install -y chromium")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def browser_login(page, server: str, name: str, next_path: str = "/") -> None:
    page.goto(server + next_path)
    page.wait_for_url("**/login?next=**")
    page.get_by_label("Tên đăng nhập").fill(name)
    page.get_by_label("Mật khẩu").fill(PASSWORDS[name])
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(server + next_path)


def test_log_in_search_and_open_pdf_in_browser(server, browser, tmp_path):
    page = browser.new_page()
    shots = os.environ.get("SOHOA_WEB_SCREENSHOTS")
    page.goto(server + "/")
    if shots:
        page.screenshot(path=f"{shots}/login.png", full_page=True)
    browser_login(page, server, "lan")
    page.get_by_label("Từ khóa hoặc mã hồ sơ").fill("giay phep xay dung")
    page.get_by_role("button", name="Tìm kiếm").click()
    page.wait_for_url("**/search?**")
    hits = page.locator("li.hit")
    assert hits.count() == 2
    first = hits.filter(has_text=f"Hồ sơ {CODE_A}")
    assert first.locator("mark").first.inner_text() == "GIẤY PHÉP XÂY DỰNG"
    assert "trang 1" in first.inner_text()
    if shots:  # for a person to look at the rendering
        page.screenshot(path=f"{shots}/results.png", full_page=True)
    href = first.get_by_role("link", name="Mở PDF tại trang 1").get_attribute("href")
    assert href == f"/pdf/{CODE_A}/{CODE_A}.1.pdf#page=1"
    resp = page.request.get(server + href.split("#")[0])  # with the browser's session cookie
    assert resp.status == 200 and resp.body().startswith(b"%PDF-")
    assert resp.url.startswith(server)  # streamed by the app, not a redirect to MinIO
    page.get_by_role("button", name="Đăng xuất").click()
    page.wait_for_url("**/login")
    assert page.request.get(server + href.split("#")[0], max_redirects=0).status == 303
