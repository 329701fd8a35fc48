"""Exact diacritics first, and an "exact only" switch, on SQLite and PostgreSQL alike
(issue 24, Build 5).

Folding makes "đăng ký" (register), "đang" (in the middle of) and "kỳ" (term, period)
the same letters: a clerk who types the marks gets the register pages first, and with
``exact_only`` (``sohoa search --exact``, the web's checkbox) nothing else.
"""

from __future__ import annotations

import pytest

from pipeline.storage.index import SearchRequest
from tests.support.backends import BACKENDS, make_index

CODE = "000.00.13.H38-261201-{:04d}"
PAGES = {
    1: "Tờ khai đăng ký thường trú của ông Phạm Văn Anh tại xã Phú Nhuận.",
    2: "Cô giáo đang giảng dạy tại trường; báo cáo học kỳ hai năm học.",
    3: "Biên bản họp định kỳ: đăng kỳ họp sau vào tháng mười hai.",
    4: "Giấy xác nhận dang ky tam tru (bản đánh máy không dấu).",
    5: "Quyết định phê duyệt kế hoạch sử dụng đất năm 2026.",
}


@pytest.fixture(params=BACKENDS)
def index(request, tmp_path):
    idx = make_index(request.param, tmp_path / request.param, request)
    for n, text in PAGES.items():
        code = CODE.format(n)
        meta = {
            "dossier_code": code,
            "doc_id": f"{code}.1",
            "doc_ordinal": 1,
            "file": {"key": f"{code}/{code}.1.pdf"},
            "sohoa": {"document_id": f"d{n:011x}"},
        }
        idx.index_document(meta, [text])
    yield idx
    idx.close()


def _found(index, query: str, exact_only: bool = False) -> list[tuple[int, str]]:
    hits = index.search(SearchRequest.build(query, limit=20, exact_only=exact_only))
    return [(int(h.dossier_code[-4:]), h.match) for h in hits]


def test_exact_diacritics_rank_first(index) -> None:
    found = _found(index, "đăng ký")
    assert found[0] == (1, "exact"), found
    assert [n for n, m in found if m == "exact"] == [1]
    # the folded look-alikes follow, never before the exact page
    assert {n for n, m in found if m == "folded"} == {2, 3, 4}
    assert found.index((1, "exact")) == 0


def test_exact_only_keeps_the_words_as_typed(index) -> None:
    assert _found(index, "đăng ký", exact_only=True) == [(1, "exact")]
    assert _found(index, "đang", exact_only=True) == [(2, "exact")]
    assert sorted(_found(index, "kỳ", exact_only=True)) == [(2, "exact"), (3, "exact")]
    assert _found(index, "đăng kỳ", exact_only=True) == [(3, "exact")]
    # typed without marks and asked for exactly that: only the unaccented page
    assert _found(index, "dang ky", exact_only=True) == [(4, "exact")]
    assert _found(index, '"đăng ký thường trú"', exact_only=True) == [(1, "exact")]
    assert _found(index, "đăng ký tạm", exact_only=True) == []


def test_without_the_switch_folded_pages_still_come(index) -> None:
    found = _found(index, "dang ky")
    assert {n for n, _ in found} == {1, 2, 3, 4}
    assert found[0][0] in (1, 4)  # the phrase "dang ky" (folded) first: pages 1 and 4
