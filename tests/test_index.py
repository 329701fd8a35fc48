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
        search(conn, "xay dung", date_from="31/13/2026")
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


# ------------------------------------------------------------- document fields (issue 13)

CODE_D = "000.00.13.H38-261122-0004"


def field_meta(code: str, n: int, **fields) -> dict:
    return {**meta(code, n, type_name=fields.pop("type_name", None)), **fields}


@pytest.fixture
def fielded(new_index):
    """Four documents with fields read off them (and one without any)."""
    c = new_index()
    index_document(
        c,
        field_meta(
            CODE_A,
            1,
            type_name="KẾ HOẠCH",
            code_number=263,
            code_notation="KH-UBND",
            issued_date="2026-10-05",
            governing_body="ỦY BAN NHÂN DÂN TỈNH LÀO CAI",
            organ_name="ỦY BAN NHÂN DÂN HUYỆN BẢO THẮNG",
            subject="Về việc cấp giấy phép xây dựng năm 2026",
        ),
        ["KẾ HOẠCH Về việc cấp giấy phép xây dựng. " + FILLER, "Trang hai. " + FILLER],
    )
    index_document(
        c,
        field_meta(
            CODE_B,
            1,
            type_name="QUYẾT ĐỊNH",
            code_number=15,
            code_notation="QĐ-UBND",
            issued_date="2026-11-02",
            organ_name="ỦY BAN NHÂN DÂN XÃ PHÚ NHUẬN",
            subject="Về việc giao đất",
        ),
        ["QUYẾT ĐỊNH Về việc giao đất cho ông Phạm Văn Anh. " + FILLER],
    )
    index_document(
        c,
        field_meta(
            CODE_B,
            2,
            type_name="KẾ HOẠCH",
            code_number=263,
            code_notation="KH-UBND",
            issued_date="2026-11-03",
            organ_name="ỦY BAN NHÂN DÂN XÃ PHÚ NHUẬN",
        ),
        ["KẾ HOẠCH kiểm tra hiện trạng xây dựng. " + FILLER],
    )
    # No fields read: dated by its dossier's received date (2026-11-22).
    index_document(c, meta(CODE_D, 1), ["Giấy tờ khác về xây dựng. " + FILLER])
    return c


def docs_of(hits) -> list[str]:
    return [h.doc_id for h in hits]


def test_number_filter_with_and_without_notation_is_folded(fielded):
    both = [f"{CODE_A}.1", f"{CODE_B}.2"]
    for typed in ("263/KH-UBND", "263/kh-ubnd", "Số: 263/KH-UBND", "0263/kh-ubnd"):
        assert docs_of(search(fielded, "", number=typed)) == both, typed
    assert docs_of(search(fielded, "", number="263")) == both
    assert docs_of(search(fielded, "", number="/kh-ubnd")) == both
    assert docs_of(search(fielded, "", number="KH-UBND")) == both
    for typed in ("15/QĐ-UBND", "15/qd-ubnd", "/QD-UBND", "qđ-ubnd", "15"):
        assert docs_of(search(fielded, "", number=typed)) == [f"{CODE_B}.1"], typed
    assert search(fielded, "", number="263/QD-UBND") == []
    assert search(fielded, "", number="9999") == []


def test_filters_only_list_documents_with_their_fields(fielded):
    hits = search(fielded, "", number="263/KH-UBND")
    assert [h.match for h in hits] == ["fields", "fields"]
    assert [h.page for h in hits] == [1, 1]
    first = hits[0]
    assert (first.type_name, first.number, first.issued_date) == (
        "KẾ HOẠCH",
        "263/KH-UBND",
        "2026-10-05",
    )
    assert first.organ_name == "ỦY BAN NHÂN DÂN HUYỆN BẢO THẮNG"
    assert first.subject == "Về việc cấp giấy phép xây dựng năm 2026"
    assert first.as_dict()["number"] == "263/KH-UBND"
    assert "KẾ HOẠCH" in first.snippet  # page 1's opening words
    # A code alone is still a code search.
    assert {h.match for h in search(fielded, CODE_B)} == {"code"}
    assert search(fielded, "", number="15")[0].number == "15/QĐ-UBND"


def test_type_organ_and_issued_date_filters(fielded):
    kh = [f"{CODE_A}.1", f"{CODE_B}.2"]
    assert docs_of(search(fielded, "", doc_type="ke hoach")) == kh
    assert docs_of(search(fielded, "", doc_type="Quyết định")) == [f"{CODE_B}.1"]
    # The organ filter reads the organ and the body above it, folded.
    assert docs_of(search(fielded, "", organ="bao thang")) == [f"{CODE_A}.1"]
    assert docs_of(search(fielded, "", organ="tinh lao cai")) == [f"{CODE_A}.1"]
    assert docs_of(search(fielded, "", organ="Phú Nhuận")) == [f"{CODE_B}.1", f"{CODE_B}.2"]
    assert search(fielded, "", organ="ha noi") == []
    # Dates: the issued date, else the dossier's received date.
    october = search(fielded, "", date_from="2026-10-01", date_to="2026-10-31")
    assert docs_of(october) == [f"{CODE_A}.1"]
    early_nov = search(fielded, "", date_from="2026-11-01", date_to="2026-11-02")
    assert docs_of(early_nov) == [f"{CODE_B}.1"]
    assert docs_of(search(fielded, "", date_from="2026-11-22")) == [f"{CODE_D}.1"]
    assert docs_of(search(fielded, "", date_to="2026-11-03")) == [
        f"{CODE_A}.1",
        f"{CODE_B}.1",
        f"{CODE_B}.2",
    ]
    combined = search(fielded, "", doc_type="ke hoach", organ="phu nhuan", number="263")
    assert docs_of(combined) == [f"{CODE_B}.2"]
    assert search(fielded, "", limit=1, doc_type="ke hoach")[0].doc_id == f"{CODE_A}.1"


def test_words_with_field_filters(fielded):
    hits = search(fielded, "xay dung", number="263/KH-UBND")
    assert sorted(docs_of(hits)) == [f"{CODE_A}.1", f"{CODE_B}.2"]
    assert {h.match for h in hits} == {"folded"}
    assert all(h.number == "263/KH-UBND" for h in hits)
    hits = search(fielded, "kiểm tra", doc_type="ke hoach", organ="phu nhuan")
    assert docs_of(hits) == [f"{CODE_B}.2"] and hits[0].match == "exact"
    assert hits[0].type_name == "KẾ HOẠCH" and hits[0].issued_date == "2026-11-03"
    assert docs_of(search(fielded, "xay dung", date_from="2026-11-20")) == [f"{CODE_D}.1"]
    assert search(fielded, "giao dat", number="263") == []
    unfielded = search(fielded, "giay to khac")
    assert unfielded[0].type_name is None and unfielded[0].number is None


def test_dossier_documents_carry_the_fields_in_meta(fielded):
    docs = dossier_documents(fielded, CODE_B)
    assert [d.doc_id for d in docs] == [f"{CODE_B}.1", f"{CODE_B}.2"]
    assert [d.type_name for d in docs] == ["QUYẾT ĐỊNH", "KẾ HOẠCH"]
    assert docs[0].meta["code_notation"] == "QĐ-UBND"
    assert docs[1].meta["issued_date"] == "2026-11-03"


FIELD_COLUMNS = (
    "code_number",
    "code_notation",
    "number_key",
    "notation_key",
    "issued_date",
    "organ_name",
    "organ_folded",
    "subject",
)


def _back_to_before_the_fields(backend: str, index) -> None:
    """Turn a fresh index into one made before issue 13 (no field columns)."""
    if backend == "sqlite":
        conn = index.conn
        for name in ("docs_by_number", "docs_by_number_key", "docs_by_notation", "docs_by_issued"):
            conn.execute(f"DROP INDEX {name}")
        for column in FIELD_COLUMNS:
            conn.execute(f"ALTER TABLE docs DROP COLUMN {column}")
        conn.execute("PRAGMA user_version = 1")
        return

    def downgrade(conn, attempt):
        for column in FIELD_COLUMNS:
            conn.execute(f"ALTER TABLE search_docs DROP COLUMN {column}")  # its indexes too
        conn.execute("DELETE FROM schema_migrations WHERE component = 'index' AND version = 2")

    index.db.run(downgrade)


def test_an_index_from_before_the_fields_is_filled_from_the_stored_meta(backend, tmp_path, request):
    old = make_index(backend, tmp_path / "old", request)
    url = getattr(getattr(old, "db", None), "url", None)
    index_document(
        old,
        field_meta(
            CODE_A,
            1,
            type_name="KẾ HOẠCH",
            code_number=263,
            code_notation="KH-UBND",
            issued_date="2026-10-05",
            organ_name="ỦY BAN NHÂN DÂN HUYỆN BẢO THẮNG",
        ),
        ["KẾ HOẠCH xây dựng. " + FILLER],
    )
    index_document(old, meta(CODE_B, 1), ["Không có trường nào. " + FILLER])
    _back_to_before_the_fields(backend, old)
    old.close()
    upgraded = make_index(backend, tmp_path / "old", request, url=url)
    try:
        hits = search(upgraded, "", number="263/kh-ubnd")
        assert docs_of(hits) == [f"{CODE_A}.1"]
        assert (hits[0].number, hits[0].issued_date) == ("263/KH-UBND", "2026-10-05")
        assert docs_of(search(upgraded, "", organ="bao thang")) == [f"{CODE_A}.1"]
        assert docs_of(search(upgraded, "", date_to="2026-10-31")) == [f"{CODE_A}.1"]
        assert search(upgraded, "khong co truong")[0].number is None
        assert counts(upgraded) == (2, 2, 2)
    finally:
        upgraded.close()
