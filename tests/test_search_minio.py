"""Search against a real MinIO: reindex from archive objects, search, open the PDF link."""

from __future__ import annotations

import io
import json
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from pipeline.config import Config
from pipeline.storage.objects import MinioStore, connect
from tests.support import index as idx
from workers.cli import search as search_cmds
from workers.cli.main import build_parser, run_command
from workers.cli.output import Output

pytestmark = pytest.mark.integration

CODE_A = "000.00.13.H38-261120-0001"
CODE_B = "000.00.13.H38-261121-0007"
CODE_C = "000.00.20.H38-261203-0002"

DOCS = [
    (
        CODE_A,
        1,
        "motcua-01",
        "Đơn đề nghị",
        [
            "ĐƠN ĐỀ NGHỊ CẤP GIẤY PHÉP XÂY DỰNG\nKính gửi: Ủy ban nhân dân huyện Bảo Thắng",
            "Chủ đầu tư: Phạm Văn Anh\nĐịa chỉ: thôn Đông Căm, xã Phú Nhuận",
        ],
    ),
    (CODE_A, 2, "motcua-01", None, ["Bản vẽ mặt bằng công trình nhà ở riêng lẻ"]),
    (CODE_B, 1, "motcua-02", "Giấy xác nhận", ["Giấy xác nhận cư trú của bà Đỗ Thị Hằng"]),
    (CODE_C, 1, "motcua-02", None, ["Quyet dinh cap giay phep xay dung (ban sao khong dau)"]),
]


def small_pdf(pages: int) -> bytes:
    """A real (image-only) PDF with ``pages`` pages, made by Pillow."""
    images = []
    for n in range(pages):
        img = Image.new("RGB", (300, 400), "white")
        ImageDraw.Draw(img).text((20, 20), f"page {n + 1}", fill="black")
        images.append(img)
    buf = io.BytesIO()
    # Fixed dates: the same pages make the same bytes (tests compare a download with them).
    when = time.strptime("2026-11-27 08:00:00", "%Y-%m-%d %H:%M:%S")
    images[0].save(
        buf,
        "PDF",
        resolution=100,
        save_all=True,
        append_images=images[1:],
        creationDate=when,
        modDate=when,
    )
    return buf.getvalue()


def archive_meta(code: str, n: int, station: str, type_name: str | None, pages: int) -> dict:
    doc_id = f"{code}.{n}"
    return {
        "dossier_code": code,
        "doc_id": doc_id,
        "doc_ordinal": n,
        "type_name": type_name,
        "issued_date": None,
        "language": "vi",
        "number_of_page": pages,
        "confidence_level": "02",
        "scan": {"dpi": 300, "station": station, "digitized_at": "2026-11-27T09:00:00+00:00"},
        "ocr": {"engine": "tesseract 5.3.0", "lang": "vie", "unicode_form": "NFC"},
        "file": {"key": f"{code}/{doc_id}.pdf", "pdfa": {"part": 2, "conformance": "B"}},
        "sohoa": {"document_id": f"d{n}{code[-4:]}", "version": "0.1.0"},
    }


def put_archive_document(
    store: MinioStore, code: str, n: int, station: str, type_name: str | None, pages: list[str]
) -> dict:
    """Write a document into the archive bucket the way the pipeline lays it out."""
    meta = archive_meta(code, n, station, type_name, len(pages))
    base = f"{code}/{code}.{n}"
    bucket = store.archive_bucket
    store.put_bytes(bucket, f"{base}.pdf", small_pdf(len(pages)), content_type="application/pdf")
    body = json.dumps(meta, ensure_ascii=False).encode("utf-8")
    store.put_bytes(bucket, f"{base}.json", body, content_type="application/json")
    text = "\f".join(pages).encode("utf-8")
    store.put_bytes(bucket, f"{base}.txt", text, content_type="text/plain; charset=utf-8")
    return meta


@pytest.fixture
def archived(cfg: Config) -> tuple[MinioStore, dict[str, list[str]]]:
    """The archive bucket filled with DOCS; returns the store and doc_id → page texts."""
    store = connect(cfg)
    store.ensure_buckets()
    texts = {}
    for code, n, station, type_name, pages in DOCS:
        meta = put_archive_document(store, code, n, station, type_name, pages)
        texts[meta["doc_id"]] = (meta, pages)
    return store, texts


def where(hits) -> list[tuple[str, int]]:
    return [(h.doc_id, h.page) for h in hits]


def test_reindex_then_search(cfg, archived):
    store, _ = archived
    seen = []
    count = idx.reindex(cfg.index_path, store, lambda done, total: seen.append((done, total)))
    assert count == 4
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    conn = idx.open_index(cfg.index_path)
    try:
        folded = idx.search(conn, "giay phep xay dung")
        assert sorted(where(folded)) == [(f"{CODE_A}.1", 1), (f"{CODE_C}.1", 1)]
        marked = idx.search(conn, "giấy phép xây dựng")
        assert where(marked) == [(f"{CODE_A}.1", 1), (f"{CODE_C}.1", 1)]
        assert [h.match for h in marked] == ["exact", "folded"]
        person = idx.search(conn, '"pham van anh"')
        assert where(person) == [(f"{CODE_A}.1", 2)]
        assert person[0].pdf_key == f"{CODE_A}/{CODE_A}.1.pdf"
        assert person[0].document_id == "d10001"
        prefix = idx.search(conn, "000.00.13.H38-2611*")
        assert [h.doc_id for h in prefix] == [f"{CODE_A}.1", f"{CODE_A}.2", f"{CODE_B}.1"]
        assert where(idx.search(conn, "do thi hang", station="motcua-02")) == [(f"{CODE_B}.1", 1)]
    finally:
        conn.close()


def test_fresh_reindex_equals_incremental_index(cfg, archived, tmp_path):
    store, texts = archived
    incremental = idx.open_index(tmp_path / "incremental.sqlite3")
    for meta, pages in texts.values():
        idx.index_document(incremental, meta, pages)
    idx.reindex(tmp_path / "fresh" / "index.sqlite3", store, None)
    fresh = idx.open_index(tmp_path / "fresh" / "index.sqlite3")
    queries = ["giay phep xay dung", "giấy phép", '"dong cam"', "000.00.13.H38-2611*", "nha o"]
    try:
        for q in queries:
            a = [h.as_dict() for h in idx.search(incremental, q)]
            b = [h.as_dict() for h in idx.search(fresh, q)]
            assert a == b and a, q
        assert idx.counts(fresh) == idx.counts(incremental) == (3, 4, 5)
    finally:
        incremental.close()
        fresh.close()


def test_reindex_drops_documents_gone_from_archive(cfg, archived):
    store, _ = archived
    idx.reindex(cfg.index_path, store)
    for suffix in ("pdf", "json", "txt"):
        store.client.remove_object(store.archive_bucket, f"{CODE_B}/{CODE_B}.1.{suffix}")
    assert idx.reindex(cfg.index_path, store) == 3
    conn = idx.open_index(cfg.index_path)
    try:
        assert idx.search(conn, "xac nhan cu tru") == []
        assert idx.counts(conn) == (2, 3, 4)
    finally:
        conn.close()


def run_cli(argv: list[str], cfg: Config, json_mode: bool = True) -> tuple[int, str, str]:
    args = build_parser().parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    code = run_command(args, Output(json_mode=json_mode, stream=out, err=err), cfg)
    return code, out.getvalue(), err.getvalue()


def test_cli_reindex_and_search_with_working_pdf_link(cfg, archived):
    code, out, err = run_cli(["reindex"], cfg)
    assert code == 0, err
    assert json.loads(out)["documents"] == 4
    assert "4/4" in err  # plain progress lines when not on a terminal
    code, out, err = run_cli(["search", "dong", "cam"], cfg)
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 1
    row = rows[0]
    assert row["dossier_code"] == CODE_A and row["page"] == 2
    assert "[Đông Căm]" in row["snippet"]
    assert row["url"].endswith("#page=2")
    with urllib.request.urlopen(row["url"], timeout=10) as resp:
        assert resp.headers["Content-Type"] == "application/pdf"
        assert resp.read(5) == b"%PDF-"


def test_cli_human_output_and_errors(cfg, archived):
    assert run_cli(["reindex"], cfg)[0] == 0
    code, out, _ = run_cli(["search", "000.00.13.H38-261121*"], cfg, json_mode=False)
    assert code == 0
    header, line = out.splitlines()
    assert header.split("\t") == list(search_cmds.SEARCH_COLUMNS)
    assert line.split("\t")[:3] == [CODE_B, "d10007", "1"]
    code, _, err = run_cli(["search", "*"], cfg)
    assert code == 2 and "nothing to search" in err
    code, _, err = run_cli(["search", "giay", "--from", "yesterday"], cfg)
    assert code == 2 and "date" in err


def test_cli_reindex_reports_unreachable_storage(cfg, tmp_path: Path):
    from dataclasses import replace

    dead = replace(cfg, minio=replace(cfg.minio, endpoint="127.0.0.1:9", retry_seconds=0.5))
    code, _, err = run_cli(["reindex"], dead)
    assert code == 4
    assert "unreachable" in err
