"""The search index: folding, exact-first ranking, phrases, codes, filters, hostile input."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from pipeline.archive.layout import split_pages
from pipeline.dossier import received_date
from pipeline.errors import QueryError
from pipeline.storage.index.query import parse_query
from tests.support.backends import BACKENDS, make_index
from tests.support.index import counts, dossier_documents, index_document, search

CODE_A = "000.00.13.H38-261120-0001"
CODE_B = "000.00.13.H38-261121-0002"
CODE_C = "000.00.20.H38-261205-0003"
FILLER = (
    "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015. "
    "Xét đề nghị của Trưởng phòng Kinh tế và Hạ tầng huyện. "
)


def meta(code: str, n: int, station: str = "motcua-01", type_name: str | None = None) -> dict:
    return {
        "dossier_code": code,
        "doc_id": f"{code}.{n}",
        "doc_ordinal": n,
        "type_name": type_name,
        "scan": {"station": station, "digitized_at": "2026-11-27T09:00:00+00:00"},
        "file": {"key": f"{code}/{code}.{n}.pdf"},
        "sohoa": {"document_id": f"doc{n}-{code[-4:]}"},
    }


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def new_index(backend, tmp_path: Path, request):
    """A fresh, empty index of the backend under test (each call a new one)."""
    made = []

    def make():
        made.append(make_index(backend, tmp_path / f"i{len(made)}", request))
        return made[-1]

    yield make
    for index in made:
        index.close()


@pytest.fixture
def conn(new_index):
    c = new_index()
    index_document(
        c,
        meta(CODE_A, 1, type_name="Đơn đề nghị"),
        [
            "ĐƠN ĐỀ NGHỊ CẤP GIẤY PHÉP XÂY DỰNG\nKính gửi: Ủy ban nhân dân huyện Bảo Thắng\n"
            "Tên chủ đầu tư: Phạm Văn Anh. " + FILLER,
            "Địa điểm xây dựng: thôn Đông Căm, xã Phú Nhuận. " + FILLER,
        ],
    )
    # Same words typed without marks on a page (as a poor scan or a typist might).
    index_document(
        c,
        meta(CODE_B, 1, station="motcua-02", type_name="Quyết định"),
        ["Quyet dinh ve viec cap giay phep xay dung cho ong Pham Van Anh. " + FILLER],
    )
    # NFD input, as some scanners' text layers deliver it.
    index_document(
        c,
        meta(CODE_C, 2, station="motcua-02"),
        [
            unicodedata.normalize("NFD", "Biên bản kiểm tra hiện trạng đất đai tại Lào Cai. ")
            + FILLER
        ],
    )
    return c


def codes(hits) -> list[str]:
    return [h.dossier_code for h in hits]


def where(hits) -> list[tuple[str, int]]:
    return sorted((h.dossier_code, h.page) for h in hits)


def test_query_without_diacritics_matches_folded_text(conn):
    hits = search(conn, "giay phep xay dung")
    assert sorted(codes(hits)) == [CODE_A, CODE_B]
    assert all(h.match == "folded" for h in hits)
    page_a = next(h for h in hits if h.dossier_code == CODE_A)
    assert page_a.page == 1
    assert "[GIẤY PHÉP XÂY DỰNG]" in page_a.snippet  # shown with the original marks


def test_query_with_diacritics_ranks_exact_hits_first(conn):
    hits = search(conn, "giấy phép xây dựng")
    assert codes(hits) == [CODE_A, CODE_B]
    assert [h.match for h in hits] == ["exact", "folded"]


def test_exact_above_folded_even_when_folded_scores_higher(new_index):
    c = new_index()
    index_document(c, meta(CODE_A, 1), ["quyết định " + FILLER * 5])
    index_document(c, meta(CODE_B, 1), ["quyet dinh quyet dinh quyet dinh"])
    for n in range(3, 8):  # give the terms a real IDF
        index_document(c, meta(f"000.00.13.H38-261120-000{n}", 1), [FILLER])
    folded = search(c, "quyet dinh")
    assert codes(folded)[0] == CODE_B  # BM25 alone prefers the short, repetitive page
    hits = search(c, "quyết định")
    assert codes(hits) == [CODE_A, CODE_B]
    assert hits[0].match == "exact"


def test_d_bar_folds_both_ways(conn):
    for query in ("dong cam", "Đông Căm", "DONG CAM", "đông căm"):
        hits = search(conn, query)
        assert codes(hits) == [CODE_A], query
        assert hits[0].page == 2
    assert search(conn, "dat dai")[0].dossier_code == CODE_C


def test_nfd_page_and_nfd_query_are_found(conn):
    assert codes(search(conn, "kiem tra hien trang")) == [CODE_C]
    nfd_query = unicodedata.normalize("NFD", "kiểm tra hiện trạng")
    hits = search(conn, nfd_query)
    assert codes(hits) == [CODE_C]
    assert hits[0].match == "exact"
    assert "[kiểm tra hiện trạng]" in hits[0].snippet


def test_diacritics_in_query_do_not_match_other_marks_exactly(conn):
    # "dát" is not "đất": the exact tier finds nothing, the folded tier still helps
    hits = search(conn, "dát đai")
    assert codes(hits) == [CODE_C]
    assert hits[0].match == "folded"


def test_quoted_phrase_needs_adjacent_words(conn):
    assert where(search(conn, '"xay dung"')) == [(CODE_A, 1), (CODE_A, 2), (CODE_B, 1)]
    assert search(conn, '"dung xay"') == []
    assert codes(search(conn, '"Pham Van Anh"')) != []
    assert search(conn, '"Anh Van Pham"') == []


def test_word_prefix(conn):
    assert codes(search(conn, "Bao Than*")) == [CODE_A]


def test_dossier_code_prefix_and_exact(conn):
    assert codes(search(conn, "000.00.13.H38-2611*")) == [CODE_A, CODE_B]
    assert codes(search(conn, "000.00.13.h38-261121*")) == [CODE_B]
    assert codes(search(conn, "000.00.*")) == [CODE_A, CODE_B, CODE_C]
    hits = search(conn, CODE_A)
    assert codes(hits) == [CODE_A]
    assert hits[0].match == "code" and hits[0].page == 1
    assert search(conn, "000.00.13.H38-2612*") == []


def test_code_combined_with_words_filters_by_dossier(conn):
    assert sorted(codes(search(conn, "000.00.13.H38-2611* pham van anh"))) == [CODE_A, CODE_B]
    assert codes(search(conn, f"{CODE_B} pham van anh")) == [CODE_B]


def test_filters(conn):
    assert codes(search(conn, "xay dung", station="motcua-02")) == [CODE_B]
    assert where(search(conn, "xay dung", dossier=CODE_A)) == [(CODE_A, 1), (CODE_A, 2)]
    assert sorted(codes(search(conn, "huyen", dossier="000.00.13.*"))) == [CODE_A, CODE_A, CODE_B]
    assert codes(search(conn, "xay dung", date_from="2026-11-21")) == [CODE_B]
    assert set(codes(search(conn, "xay dung", date_to="2026-11-20"))) == {CODE_A}
    assert codes(search(conn, "huyen", date_from="2026-12-01", date_to="2026-12-31")) == [CODE_C]
    assert codes(search(conn, "xay dung", doc_type="quyet dinh")) == [CODE_B]
    assert set(codes(search(conn, "xay dung", doc_type="Đơn"))) == {CODE_A}
    with pytest.raises(QueryError, match="date"):
        search(conn, "xay dung", date_from="20/11/2026")
    with pytest.raises(QueryError, match="after"):
        search(conn, "xay dung", date_from="2026-12-01", date_to="2026-11-01")


HOSTILE = [
    '"giay phep',
    'giay "phep',
    '""',
    "*",
    "***",
    '"*"',
    "NEAR(giay phep, 2)",
    "giay AND phep OR NOT xay",
    "exact: giay",
    "folded:phep",
    "{exact folded}: giay",
    "^giay",
    "giay -phep",
    "(giay",
    "'; DROP TABLE docs; --",
    "' OR 1=1 --",
    "1; SELECT * FROM pages_fts",
    "giay\x00phep",
    "\x00",
    "giay\u200bphep",
    "\ud800",
    "x" * 5000,
    "giay " * 1000,
    "a" * 400,
    "a b c d e f g h i j k l m n o p q r s t u v w x y z",
    ".-*",
    "000.00.13.H38-*",
    "%",
    "_",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_queries_never_raise_anything_but_query_error(conn, query):
    try:
        hits = search(conn, query)
    except QueryError as exc:
        assert str(exc)
    else:
        assert isinstance(hits, list)
    assert counts(conn) == (3, 3, 4)  # nothing was dropped or changed


def test_hostile_queries_give_clear_messages(conn):
    with pytest.raises(QueryError, match="too long"):
        search(conn, "x" * 5000)
    with pytest.raises(QueryError, match="nothing to search"):
        search(conn, "*")
    with pytest.raises(QueryError, match="nothing to search"):
        search(conn, "\x00")
    with pytest.raises(QueryError, match="too many"):
        search(conn, "giay " * 50)
    with pytest.raises(QueryError, match="limit"):
        search(conn, "giay", limit=0)


def test_operators_are_plain_words(conn):
    # "OR" is a word here, not an operator: no page has it, so no hits rather than "giay OR x"
    assert search(conn, "giay OR khongcotu") == []
    assert sorted(codes(search(conn, 'giay "phep'))) == [CODE_A, CODE_B]  # unclosed quote


def test_snippet_marks_only_matches(conn):
    hit = search(conn, "pham van anh", dossier=CODE_A)[0]
    assert "[Phạm Văn Anh]" in hit.snippet
    assert [t for t, on in hit.snippet_parts if on] == ["Phạm Văn Anh"]
    assert "".join(t for t, _ in hit.snippet_parts).count("[") == 0


def test_reindexing_same_document_replaces_its_rows(conn):
    before = [h.as_dict() for h in search(conn, "giay phep")]
    index_document(
        conn,
        meta(CODE_B, 1, station="motcua-02", type_name="Quyết định"),
        ["Quyet dinh ve viec cap giay phep xay dung cho ong Pham Van Anh. " + FILLER],
    )
    assert [h.as_dict() for h in search(conn, "giay phep")] == before
    assert counts(conn) == (3, 3, 4)
    index_document(conn, meta(CODE_B, 1), ["Nội dung mới hoàn toàn"])
    assert codes(search(conn, "giay phep")) == [CODE_A]
    assert codes(search(conn, "noi dung moi")) == [CODE_B]


def test_index_is_shared_between_connections(backend, tmp_path, conn, request):
    if backend == "sqlite":
        path = Path(conn.conn.execute("PRAGMA database_list").fetchone()[2])
        other = make_index("sqlite", path.parent, request)
        assert other.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    else:
        other = make_index("postgres", tmp_path, request, url=conn.db.url)
    try:
        assert codes(search(other, "dong cam")) == [CODE_A]
    finally:
        other.close()


def test_dossier_documents_lists_every_page(conn):
    docs = dossier_documents(conn, CODE_A.lower())
    assert len(docs) == 1
    assert docs[0].pages == 2 and len(docs[0].page_snippets) == 2
    assert docs[0].received == "2026-11-20"
    assert docs[0].page_snippets[1].startswith("Địa điểm xây dựng")


def test_helpers():
    assert received_date(CODE_A) == "2026-11-20"
    assert received_date("H38-261340-0001") is None
    assert split_pages("a\fb\f") == ["a", "b"]
    assert split_pages("a\fb") == ["a", "b"]
    assert split_pages("a\f\f", expected=3) == ["a", "", ""]
    parsed = parse_query('000.00.13.H38-2611* "giấy phép" xay*')
    assert parsed.codes == (("000.00.13.H38-2611", True),)
    assert [u.tokens for u in parsed.units] == [("giấy", "phép"), ("xay",)]
    assert parsed.units[1].prefix
    assert parse_query("khoản 1.2").codes == ()


def test_words_together_rank_above_the_same_words_scattered(new_index) -> None:
    c = new_index()
    index_document(c, meta(CODE_A, 1), ["Giấy tiếp nhận hồ sơ. Cấp phép cho nhà xây trên đất."])
    index_document(c, meta(CODE_B, 1), ["Đơn đề nghị cấp giấy phép xây dựng nhà ở riêng lẻ."])
    for query in ("giay phep xay", "giấy phép xây"):
        codes = [h.dossier_code for h in search(c, query)]
        assert codes == [CODE_B, CODE_A], query
