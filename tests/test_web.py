"""The search web page served by uvicorn: its routes over HTTP, then in headless Chromium."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from pipeline.config import Config
from pipeline.storage.objects import connect
from tests.support import index as idx
from tests.support.minio import free_port
from tests.test_search_minio import CODE_A, CODE_B, DOCS, put_archive_document
from workers.web.app import create_app

CHROMIUM = "/usr/bin/chromium"
INJECTION = 'Ghi chú <script>alert("x")</script> <b>đậm</b> & "trích dẫn"'


@pytest.fixture
def indexed_cfg(cfg: Config) -> Config:
    """The test archive in MinIO (plus a page with HTML in its text), indexed."""
    store = connect(cfg)
    store.ensure_buckets()
    for code, n, station, type_name, pages in DOCS:
        put_archive_document(store, code, n, station, type_name, pages)
    put_archive_document(store, CODE_B, 2, "motcua-02", None, [INJECTION])
    idx.reindex(cfg.index_path, store)
    return cfg


@pytest.fixture
def server(indexed_cfg: Config) -> Iterator[str]:
    """The app under uvicorn on a free loopback port, in a thread."""
    port = free_port()
    config = uvicorn.Config(create_app(indexed_cfg), host="127.0.0.1", port=port, log_level="error")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, follow_redirects=False, timeout=10) as c:
        yield c


def test_home_page_has_labelled_form(client):
    resp = client.get("/")
    assert resp.status_code == 200
    assert 'lang="vi"' in resp.text
    assert '<label for="q">Từ khóa hoặc mã hồ sơ</label>' in resp.text
    assert "3 hồ sơ, 5 tài liệu, 6 trang" in resp.text
    assert "script-src" not in resp.headers["content-security-policy"]  # no scripts at all


def test_search_page_highlights_and_links_to_page(client):
    resp = client.get("/search", params={"q": "dong cam"})
    assert resp.status_code == 200
    assert "<mark>Đông Căm</mark>" in resp.text
    assert f'href="/pdf/{CODE_A}/{CODE_A}.1.pdf?page=2"' in resp.text
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
    assert hits[0]["pdf_url"] == f"/pdf/{CODE_A}/{CODE_A}.1.pdf?page=1"


def test_dossier_page(client):
    resp = client.get(f"/dossier/{CODE_A}")
    assert resp.status_code == 200
    assert "Ngày tiếp nhận: 20/11/2026" in resp.text
    assert "Chủ đầu tư: Phạm Văn Anh" in resp.text
    assert resp.text.count('class="pdf"') == 2
    assert client.get("/dossier/000.00.13.H38-990101-0001").status_code == 404


def test_pdf_route_redirects_only_for_indexed_pdfs(client, indexed_cfg):
    resp = client.get(f"/pdf/{CODE_A}/{CODE_A}.1.pdf", params={"page": 2})
    assert resp.status_code == 303
    location = resp.headers["location"]
    assert location.startswith(f"http://{indexed_cfg.minio.endpoint}/")
    assert location.endswith("#page=2") and "X-Amz-Signature" in location
    assert client.get(f"/pdf/{CODE_A}/{CODE_A}.1.json").status_code == 404
    assert client.get("/pdf/../raw/secret.pdf").status_code == 404


# ------------------------------------------------------------------ real browser


@pytest.fixture
def browser_page():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} missing: apt-get install -y chromium")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        yield page
        browser.close()


def test_search_in_browser_and_open_pdf(server, browser_page, tmp_path):
    page = browser_page
    page.goto(server + "/")
    page.get_by_label("Từ khóa hoặc mã hồ sơ").fill("giay phep xay dung")
    page.get_by_role("button", name="Tìm kiếm").click()
    page.wait_for_url("**/search?**")
    hits = page.locator("li.hit")
    assert hits.count() == 2
    first = hits.filter(has_text=f"Hồ sơ {CODE_A}")
    assert first.locator("mark").first.inner_text() == "GIẤY PHÉP XÂY DỰNG"
    assert "trang 1" in first.inner_text()
    shot = os.environ.get("SOHOA_WEB_SCREENSHOT")
    if shot:  # for a person to look at the rendering
        page.screenshot(path=shot, full_page=True)
    link = first.get_by_role("link", name="Mở PDF tại trang 1")
    href = link.get_attribute("href")
    resp = page.request.get(server + href)  # follows the redirect to the presigned URL
    assert resp.status == 200
    assert resp.headers["content-type"] == "application/pdf"
    assert resp.body().startswith(b"%PDF-")
    assert "X-Amz-Signature" in resp.url
