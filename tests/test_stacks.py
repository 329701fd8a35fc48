"""A scanned stack through the whole pipeline: split, fields, archive, search, web (issue 13).

One stack of seven 150-dpi pages, processed once for the module with a crash after the
second document's archive upload (``SOHOA_CRASH_AT``), then resumed with ``sohoa retry``:

    1 receipt (QR: dossier A)      → A.1
    2 a công văn                   → A.2: opened by its own header (split.by_content),
                                     in the receipt's dossier
    3 cover sheet B, upside down and photocopied (not archived)
    4 its blank duplex back (not archived)
    5 a kế hoạch with a QR that is not a dossier code (recorded, not a separator)
    6 cover sheet C, skewed        (not archived)
    7 a quyết định                 → C.1

Real MinIO, real Tesseract, the archived PDFs read back with pdftotext, the web pages
in headless Chromium with screenshots.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from bench.fields.generated import render_labelled
from pipeline.config import Config
from pipeline.storage.ledger import SqliteLedger
from pipeline.storage.objects import connect
from tests.support import stacks
from tests.support.minio import free_port
from tests.support.web import CHROMIUM, CHROMIUM_ARGS, PASSWORDS, fast_users, logged_in
from tests.test_search_minio import run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CODE_B = "000.00.13.H38-261128-0002"
CODE_C = "000.00.13.H38-261128-0003"
SHOTS = Path(os.environ.get("SOHOA_SCREENSHOTS", "/tmp/sohoa-screens"))


def _sohoa(env: dict[str, str], *args: str, crash_at: str | None = None):
    full = {**os.environ, **env}
    full.pop("SOHOA_CRASH_AT", None)
    if crash_at:
        full["SOHOA_CRASH_AT"] = crash_at
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", "--json", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=900,
        start_new_session=True,  # a failpoint kills its process group, never pytest
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory, minio_server, request):
    """The stack processed with a crash mid-stack and a retry; (cfg, env, truths, rows)."""
    tmp = tmp_path_factory.mktemp("stack")
    env = dict(minio_server.env())
    env.update(
        SOHOA_HOME=str(tmp / "home"),
        SOHOA_INBOX=str(tmp / "inbox"),
        SOHOA_BUCKET_RAW="raw-stack",
        SOHOA_BUCKET_ARCHIVE="archive-stack",
        SOHOA_BUCKET_WORK="work-stack",
    )
    from pipeline.config import load_config

    cfg = load_config(env=env)
    receipt = render_labelled("giay_tiep_nhan", seed=11, dpi=150)
    letter = render_labelled("cong_van", seed=4, dpi=150, seal=False)
    plan = render_labelled("ke_hoach", seed=8, dpi=150, seal=False)
    decision = render_labelled("quyet_dinh", seed=9, dpi=150, seal=False)
    code_a = receipt.truth["params"]["dossier_code"]
    pages = [
        receipt.page.image,
        letter.page.image,
        stacks.cover_page(CODE_B, "Kế hoạch", "upside+photocopy"),
        stacks.blank_page(),
        stacks.with_qr(plan.page.image, "https://dichvucong.gov.vn/p/home/dvc-trang-chu.html"),
        stacks.cover_page(CODE_C, None, "skew"),
        decision.page.image,
    ]
    pdf = stacks.write_stack(pages, tmp / "stack.pdf")
    first = _sohoa(env, "process", str(pdf), crash_at="after_archive_upload:2")
    assert first.returncode < 0 or first.returncode == 137, first.stderr[-2000:]
    again = _sohoa(env, "retry", "--failed")
    assert again.returncode == 0, again.stderr[-2000:]
    truths = {
        "A": (code_a, [receipt]),
        "A2": (code_a, [letter]),
        "B": (CODE_B, [plan]),
        "C": (CODE_C, [decision]),
    }
    return cfg, env, truths, pdf


def _ledger_docs(cfg: Config):
    ledger = SqliteLedger(cfg.ledger_path)
    try:
        return ledger.find_documents()
    finally:
        ledger.close()


def test_the_stack_became_four_documents_once_each(stack):
    cfg, _env, truths, _pdf = stack
    docs = _ledger_docs(cfg)
    assert [d.state for d in docs] == ["indexed"] * 4, [(d.state, d.reason) for d in docs]
    by_doc = {(d.dossier_code, d.ordinal): d for d in docs}
    code_a = truths["A"][0]
    assert set(by_doc) == {(code_a, 1), (code_a, 2), (CODE_B, 1), (CODE_C, 1)}
    a, a2 = by_doc[(code_a, 1)], by_doc[(code_a, 2)]
    b, c = by_doc[(CODE_B, 1)], by_doc[(CODE_C, 1)]
    assert (a.parent_id, a.segment, a.first_page, a.last_page) == (None, 1, 1, 1)
    assert (a2.parent_id, a2.segment, a2.first_page, a2.last_page) == (a.id, 2, 2, 2)
    assert (b.parent_id, b.segment, b.first_page, b.last_page) == (a.id, 3, 5, 5)
    assert (c.parent_id, c.segment, c.first_page, c.last_page) == (a.id, 4, 7, 7)
    assert a.dossier_source == "qr" and a2.dossier_source == "qr"  # the receipt's code
    assert b.dossier_source == "cover"
    store = connect(cfg)
    pdfs = sorted(store.list_keys(store.archive_bucket, "", ".pdf"))
    want = [f"{code_a}/{code_a}.1.pdf", f"{code_a}/{code_a}.2.pdf"]
    assert pdfs == sorted(want + [f"{k}/{k}.1.pdf" for k in (CODE_B, CODE_C)])  # none twice
    marker = json.loads(
        store.get_bytes(store.archive_bucket, f"sources/sha256/{a.sha256}.json").decode()
    )
    assert sorted(e["segment"] for e in marker["documents"]) == [1, 2, 3, 4]
    assert {e["source_document_id"] for e in marker["documents"]} == {a.id}


def test_metadata_records_the_split_the_cover_and_the_ignored_qr(stack, tmp_path):
    cfg, _env, truths, _pdf = stack
    store = connect(cfg)
    meta_b = json.loads(store.get_bytes(store.archive_bucket, f"{CODE_B}/{CODE_B}.1.json"))
    split = meta_b["split"]
    assert split["started_by"] == "cover" and split["separator_page"] == 3
    assert split["cover_type"] == "Kế hoạch" and split["cover_archived"] is False
    assert [p["reason"] for p in split["skipped_pages"]] == [
        "cover sheet",
        "back of the cover sheet",
    ]
    assert [(p["page"], p["source_page"]) for p in meta_b["pages"]] == [(1, 5)]
    ignored = meta_b["codes"]["ignored"]
    assert [c["source_page"] for c in ignored] == [5] and "dichvucong" not in json.dumps(ignored)
    plan_truth = truths["B"][1][0].truth
    for name in ("type_name", "code_notation", "issued_date", "organ_name", "subject"):
        assert meta_b[name] in (plan_truth[name], None), (name, meta_b[name])
    assert meta_b["type_name"] == "KẾ HOẠCH"
    words = json.loads(store.get_bytes(store.archive_bucket, f"{CODE_B}/{CODE_B}.1.words.json"))
    assert words["pages"][0]["source_page"] == 5 and len(words["pages"][0]["words"]) > 50
    # The archived PDFs hold their own pages only: the receipt's just the receipt, the
    # letter after it is a document of its own in the receipt's dossier.
    code_a = truths["A"][0]
    texts = []
    for n in (1, 2):
        pdf_a = tmp_path / f"a{n}.pdf"
        store.download(store.archive_bucket, f"{code_a}/{code_a}.{n}.pdf", pdf_a)
        done = subprocess.run(["pdftotext", str(pdf_a), "-"], capture_output=True, text=True)
        texts.append(done.stdout)
    assert "TIẾP NHẬN" in texts[0] and "Kính gửi" not in texts[0] and texts[0].count("\f") == 1
    assert "Kính gửi" in texts[1] and "TIẾP NHẬN" not in texts[1] and "KẾ HOẠCH" not in texts[1]
    meta_a2 = json.loads(store.get_bytes(store.archive_bucket, f"{code_a}/{code_a}.2.json"))
    split = meta_a2["split"]
    assert (split["started_by"], split["code_from"]) == ("content", "receipt")
    assert split["opened_by"] in ("number", "letter")
    letter_truth = truths["A2"][1][0].truth
    assert meta_a2["type_name"] == "CÔNG VĂN"
    assert meta_a2["code_notation"] in (letter_truth["code_notation"], None)


def test_search_by_number_and_type_through_the_cli(stack):
    cfg, _env, truths, _pdf = stack
    store = connect(cfg)
    meta_c = json.loads(store.get_bytes(store.archive_bucket, f"{CODE_C}/{CODE_C}.1.json"))
    truth_c = truths["C"][1][0].truth
    assert meta_c["code_notation"] == truth_c["code_notation"]
    code, out, err = run_cli(["search", "--type", "ke hoach"], cfg)
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["dossier_code"] for r in rows] == [CODE_B] and rows[0]["type_name"] == "KẾ HOẠCH"
    notation = truth_c["code_notation"].lower().replace("đ", "d")  # typed without accents
    query = f"{meta_c['code_number']}/{notation}" if meta_c["code_number"] else f"/{notation}"
    code, out, err = run_cli(["search", "--number", query], cfg)
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["dossier_code"] for r in rows] == [CODE_C]
    assert rows[0]["number"].endswith(truth_c["code_notation"])
    code, out, err = run_cli(["search", "--number", "9999/KH-XYZ"], cfg)
    assert code == 0 and out.strip() == ""


@pytest.fixture(scope="module")
def web(stack):
    from workers.web.app import create_app

    cfg = stack[0]
    port = free_port()
    users = fast_users(cfg)  # the records officer "lan" logs in
    srv = uvicorn.Server(
        uvicorn.Config(create_app(cfg, users=users), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def test_web_search_by_number_and_type_shows_fields_and_boxes(stack, web):
    with httpx.Client(base_url=web, timeout=60) as stranger:
        assert stranger.get(f"/document/{CODE_B}.1/page/1.png").status_code == 303  # to /login
        assert stranger.get(f"/document/{CODE_B}.1/page/1").status_code == 303
    client = logged_in(web, "lan")
    try:
        resp = client.get("/search", params={"type": "ke hoach"})
        assert resp.status_code == 200 and "KẾ HOẠCH" in resp.text and CODE_B in resp.text
        resp = client.get("/search", params={"q": "kế hoạch", "dossier": CODE_B})
        assert 'class="box"' in resp.text  # the matched words boxed on the thumbnail
        img = client.get(f"/document/{CODE_B}.1/page/1.png", params={"w": "320"})
        assert img.status_code == 200 and img.content.startswith(b"\x89PNG")
        assert client.get(f"/document/{CODE_B}.1/page/2.png").status_code == 404
        assert client.get("/document/..%2F..%2Fetc/page/1.png").status_code == 404
        page = client.get(f"/document/{CODE_B}.1/page/1", params={"q": "kế hoạch"})
        assert page.status_code == 200 and "từ khớp" in page.text
        dossier = client.get(f"/dossier/{CODE_B}")
        assert "Chưa ký số" in dossier.text and "KẾ HOẠCH" in dossier.text
    finally:
        client.close()


def test_web_pages_in_chromium(stack, web):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    code_a = stack[2]["A"][0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        errors: list[str] = []
        page.on(
            "response",
            lambda r: (
                errors.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico")
                else None
            ),
        )
        page.on(
            "console", lambda m: errors.append(m.text) if "Content Security" in m.text else None
        )
        page.goto(f"{web}/login")
        page.get_by_label("Tên đăng nhập").fill("lan")
        page.get_by_label("Mật khẩu").fill(PASSWORDS["lan"])
        page.get_by_role("button", name="Đăng nhập").click()
        page.wait_for_url(f"{web}/")
        page.goto(
            f"{web}/search?q=k%E1%BA%BF+ho%E1%BA%A1ch&type=ke+hoach", wait_until="networkidle"
        )
        assert page.locator("li.hit").count() == 1
        assert page.locator("li.hit .sheet img").evaluate("i => i.naturalWidth") == 320
        assert page.locator("li.hit .box").count() >= 1
        page.screenshot(path=str(SHOTS / "results.png"), full_page=True)
        page.goto(f"{web}/dossier/{code_a}", wait_until="networkidle")
        sheets = page.locator("section .sheet img")  # the receipt's and the letter's page
        assert sheets.evaluate_all("s => s.map(i => i.naturalWidth)") == [320, 320]
        assert page.locator("table.documents tbody tr").count() == 2  # receipt, letter
        page.screenshot(path=str(SHOTS / "dossier.png"), full_page=True)
        page.goto(f"{web}/document/{CODE_B}.1/page/1?q=k%E1%BA%BF+ho%E1%BA%A1ch")
        assert page.locator(".pageview img").evaluate("i => i.naturalWidth") == 1100
        assert page.locator(".pageview .box").count() >= 1
        page.screenshot(path=str(SHOTS / "page.png"), full_page=False)
        browser.close()
    assert not errors, errors  # no CSP violations, no broken images


def test_the_same_stack_dropped_again_is_one_duplicate_naming_every_document(stack):
    cfg, env, _truths, pdf = stack
    again = _sohoa(env, "process", str(pdf))
    assert again.returncode == 0, again.stderr[-2000:]
    rows = [json.loads(line) for line in again.stdout.splitlines() if line.startswith("{")]
    assert [r["status"] for r in rows] == ["duplicate"]
    assert f"{CODE_B}/{CODE_B}.1.pdf" in rows[0]["error"]
    assert f"{CODE_C}/{CODE_C}.1.pdf" in rows[0]["error"]
    assert len([d for d in _ledger_docs(cfg) if d.state == "indexed"]) == 4
