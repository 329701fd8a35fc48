"""Separator sheets, receipts and what pages say cut a stack into documents; the fields
of each (issues 13 and 22).

Fast: the QR codes are really decoded (zxing-cpp) on damaged 150-dpi cover sheets, but
the split itself is planned from page results built here, without OCR. The whole
pipeline on a real stack is in test_stacks.py.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import SplitConfig
from pipeline.dossier.cover import cover_payload, write_cover_pdf
from pipeline.dossier.qr import decode_codes
from pipeline.dossier.split import (
    CONTENT,
    COVER,
    RECEIPT,
    parse_cover,
    plan_split,
    segment_from_info,
)
from pipeline.errors import UsageError
from pipeline.extract.fields import read_text_fields
from pipeline.model import PageResult
from pipeline.storage.index.query import NumberFilter, SearchRequest, number_arg
from tests.support import stacks

CODES = [f"000.00.13.H38-261127-{n:04d}" for n in range(1, 11)]
DAMAGES = ("clean", "skew", "photocopy", "upside", "skew+photocopy")


def page(index: int, codes=(), words: int = 200, blank: bool = False, text: str = "") -> PageResult:
    return PageResult(
        index=index,
        pdf_key="",
        text=text or ("lorem " * words),
        words=0 if blank else words,
        mean_confidence=90.0,
        dpi=200.0,
        dpi_source="pdf",
        colour="gray",
        width_px=1654,
        height_px=2339,
        rotation=0,
        skew_angle=0.0,
        blank=blank,
        codes=tuple(codes),
        seconds=0.1,
    )


@pytest.fixture(scope="module")
def cover_codes() -> dict[tuple[str, str], tuple[str, ...]]:
    """What zxing-cpp reads off each cover sheet, per (code, damage), at 150 dpi."""
    out = {}
    for i, code in enumerate(CODES):
        damage = DAMAGES[i % len(DAMAGES)]
        img = stacks.cover_page(code, "Đơn đề nghị" if i % 2 else None, damage)
        out[(code, damage)] = tuple(decode_codes(np.asarray(img), 150))
    return out


def test_cover_sheets_decode_skewed_photocopied_and_upside_down(cover_codes):
    for (code, damage), texts in cover_codes.items():
        covers = [parse_cover(t) for t in texts]
        assert any(c and c.code == code for c in covers), (code, damage, texts)


@pytest.mark.parametrize("n_covers", [1, 3, 10])
def test_a_stack_splits_at_every_cover_sheet(cover_codes, n_covers):
    results, expected = [], []
    decoded = list(cover_codes.items())
    for k in range(n_covers):
        (code, _damage), texts = decoded[k]
        results.append(page(len(results), texts, words=12))
        results.append(page(len(results), blank=True))  # its duplex back
        first = len(results)
        for _ in range(1 + k % 3):
            results.append(page(len(results)))
        expected.append((first, len(results) - 1, code))
    plan = plan_split(results, SplitConfig())
    got = [(s.first, s.last, s.code) for s in plan.segments]
    assert got == expected
    assert all(s.started_by == COVER for s in plan.segments)
    assert all(
        [why for _i, why in s.skipped] == ["cover sheet", "back of the cover sheet"]
        for s in plan.segments
    )


def test_pages_before_the_first_cover_are_a_document_of_the_file():
    results = [page(0), page(1), page(2, [f"SOHOA-COVER|{CODES[0]}"], words=10), page(3)]
    plan = plan_split(results, SplitConfig())
    assert [(s.first, s.last, s.started_by, s.code) for s in plan.segments] == [
        (0, 1, None, None),
        (3, 3, COVER, CODES[0]),
    ]


def test_kept_cover_sheet_is_its_documents_first_page():
    results = [page(0, [f"SOHOA-COVER|{CODES[0]}|QUYẾT ĐỊNH"], words=10), page(1)]
    plan = plan_split(results, SplitConfig(keep_cover_sheets=True))
    seg = plan.segments[0]
    assert (seg.first, seg.last, seg.cover_type, seg.cover_kept) == (0, 1, "QUYẾT ĐỊNH", True)


def test_a_receipt_starts_a_new_dossier_and_is_its_first_document():
    receipt = "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ\nMã hồ sơ: " + CODES[1] + " lorem" * 80
    results = [
        page(0),
        page(1, [CODES[1]], text=receipt, words=90),
        page(2),
        page(3, [f"SOHOA-COVER|{CODES[2]}"], words=8),
        page(4),
    ]
    plan = plan_split(results, SplitConfig())
    assert [(s.first, s.last, s.started_by, s.code) for s in plan.segments] == [
        (0, 0, None, None),
        (1, 2, RECEIPT, CODES[1]),
        (4, 4, COVER, CODES[2]),
    ]


def test_a_qr_without_a_valid_code_is_not_a_separator_and_is_recorded():
    id_card = "079123456789|Nguyễn Văn An|01011990|Nam|Đà Nẵng|01012021"
    results = [page(0), page(1, [id_card], words=15), page(2, ["https://dichvucong.gov.vn/"])]
    plan = plan_split(results, SplitConfig())
    assert not plan.is_split
    assert [(c.source_page, c.chars) for c in plan.ignored_codes] == [(2, len(id_card)), (3, 26)]
    record = json.dumps([c.__dict__ for c in plan.ignored_codes], ensure_ascii=False)
    assert "Nguyễn" not in record and "079123456789" not in record  # personal data stays out


def test_consecutive_pages_with_the_same_code_stay_one_document():
    text = "lorem " * 100
    results = [page(0, [CODES[3]], text=text), page(1, [CODES[3]], text=text), page(2)]
    plan = plan_split(results, SplitConfig())
    assert [(s.first, s.last) for s in plan.segments] == [(0, 2)]


def test_a_file_of_separators_only_has_no_document():
    plan = plan_split([page(0, [f"SOHOA-COVER|{CODES[0]}"], words=5)], SplitConfig())
    assert plan.segments == ()


def test_splitting_off_reads_one_document():
    results = [page(0), page(1, [f"SOHOA-COVER|{CODES[0]}"], words=5), page(2)]
    assert not plan_split(results, SplitConfig(enabled=False)).is_split


def test_blank_pages_are_dropped_only_when_asked_and_recorded():
    from pipeline.flow.steps.split import choose_pages

    results = [page(0), page(1, blank=True), page(2), page(3, blank=True)]
    kept, dropped = choose_pages(results, None, drop_blank=True)
    assert [r.index for r in kept] == [0, 2] and dropped == [(1, "blank"), (3, "blank")]
    assert choose_pages(results, None, drop_blank=False) == (results, [])
    only_blank = [page(0, blank=True)]
    assert choose_pages(only_blank, None, drop_blank=True) == (only_blank, [])
    seg = plan_split([page(0, [f"SOHOA-COVER|{CODES[0]}"], words=3), *results[1:]], SplitConfig())
    kept, dropped = choose_pages(results, seg.segments[0], drop_blank=True)
    assert [r.index for r in kept] == [2] and dropped == [(3, "blank")]


def test_cover_sheet_pdf_and_its_checks(tmp_path: Path):
    out = write_cover_pdf(CODES[0], tmp_path / "cover.pdf", "Tờ khai")
    assert out.read_bytes().startswith(b"%PDF")
    with pytest.raises(UsageError):
        cover_payload("not-a-code")
    with pytest.raises(UsageError):
        cover_payload(CODES[0], "a|b")
    assert cover_payload(" 000.00.13.h38-261127-0001 ").code == CODES[0]


# ---------------------------------------------------------------- fields and numbers


def test_law_fields_from_text(shared_data: Path):
    text = (
        shared_data / "vi-corpus/underthesea-vietnamese-legal-corpus/luat-binh-dang-gioi.txt"
    ).read_text(encoding="utf-8")
    got = read_text_fields(text).values()
    assert got["code_number"] == 73 and got["code_notation"].replace(" ", "") == "2006/QH11"
    assert got["issued_date"] == "2006-06-29"  # the header's, not the closing line's
    assert (got["type_name"], got["subject"]) == ("LUẬT", "BÌNH ĐẲNG GIỚI")
    assert (got["organ_name"], got["governing_body"]) == ("QUỐC HỘI", None)
    assert (got["signer_name"], got["signer_position"]) == ("Nguyễn Phú Trọng", "CHỦ TỊCH QUỐC HỘI")


def test_no_motto_no_fields():
    text = "Tuyên ngôn toàn thế giới về nhân quyền\ntheo Nghị quyết số 217 (III), ngày 10 tháng 12"
    assert all(v is None for v in read_text_fields(text).values().values())


def test_number_filters_are_folded():
    assert number_arg("263/KH-UBND") == NumberFilter(263, "kh-ubnd")
    assert number_arg(" 263 ") == NumberFilter(263)
    assert number_arg("/QĐ-UBND") == NumberFilter(None, "qd-ubnd")
    assert number_arg("21/2026/TT-BCT").key == "21/2026/tt-bct"
    assert number_arg("Số: 0263/kh-ubnd").key == "263/kh-ubnd"
    req = SearchRequest.build("", number="263/KH-UBND")
    assert req.by_fields_only


@pytest.mark.slow
def test_fields_off_generated_pages_through_ocr(tmp_path: Path):
    """A letter and a decision, rendered with their truth, through the page function."""
    from bench.fields.generated import render_labelled
    from pipeline.config import load_config
    from pipeline.extract.fields import read_document_fields
    from pipeline.flow.page import process_page
    from samples import generate
    from tests.support.jobs import page_job

    cfg = load_config(env={})
    for kind, seed in (("cong_van", 3), ("ke_hoach", 5)):
        item = render_labelled(kind, seed=seed, dpi=150, seal=False)
        png = tmp_path / f"{kind}.png"
        generate.write_png(item.page, png)
        result = process_page(page_job(png, "image/png", 0, cfg), png, tmp_path / "p.pdf")
        got = read_document_fields([result])
        truth = item.truth
        for name in ("type_name", "code_notation", "issued_date", "organ_name"):
            assert got.value(name) in (truth[name], None), (kind, name, got.value(name))
        assert got.value("type_name") == truth["type_name"]
        assert got.value("code_notation") == truth["code_notation"]
        scale = 150 / result.dpi  # the page is upscaled to 200 dpi for the archive
        box = [v * scale for v in got.code_notation.box]
        want = truth["where"]["code_notation"]["box"]
        assert box[0] < want[2] and want[0] < box[2] and box[1] < want[3] and want[1] < box[3]


# ---------------------------------------------------------------- documents by content (issue 22)


def laid_out(index: int, rows: list[tuple[str, int, int]], codes=(), blank=False) -> PageResult:
    """A page result whose words sit where ``rows`` say: (line text, x, y) at 200 dpi,
    each line a block of its own, as Tesseract gives a Decree 30 header's pieces."""
    boxes = []
    for n, (text, x, y) in enumerate(rows):
        for word in text.split():
            boxes.append((word, x, y, x + 22 * len(word), y + 32, 95.0, n + 1, 1, 1))
            x += 22 * len(word) + 12
    base = page(index, codes, words=len(boxes), blank=blank, text="\n".join(r[0] for r in rows))
    return dataclasses.replace(base, word_boxes=tuple(boxes))


MOTTO = [
    ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", 770, 150),
    ("Độc lập - Tự do - Hạnh phúc", 840, 205),
]
ORGAN = [("UBND TỈNH LÀO CAI", 300, 150), ("SỞ XÂY DỰNG", 330, 196)]
BODY = [
    ("Căn cứ Luật Xây dựng ngày 18 tháng 6 năm 2014;", 300, 700),
    ("Xét hồ sơ đề nghị của ông Phạm Quang Trang và đề nghị của Trưởng phòng.", 300, 760),
    ("Điều 1. Cấp giấy phép xây dựng cho công trình nhà ở riêng lẻ.", 300, 820),
]
APPLICATION = [
    ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", 440, 150),
    ("Độc lập - Tự do - Hạnh phúc", 520, 205),
    ("ĐƠN ĐỀ NGHỊ CẤP GIẤY PHÉP XÂY DỰNG", 430, 330),
    ("Kính gửi: Sở Xây dựng tỉnh Lào Cai", 440, 390),
    *BODY,
]
DECISION = [
    *ORGAN,
    *MOTTO,
    ("Số: 892/QĐ-SXD", 330, 276),
    ("Lào Cai, ngày 01 tháng 12 năm 2026", 860, 280),
    ("QUYẾT ĐỊNH", 740, 380),
    ("Về việc giải quyết hồ sơ cấp giấy phép xây dựng", 520, 430),
    *BODY,
]
LATER_PAGE = [("2", 820, 100), *BODY, ("KT. GIÁM ĐỐC", 1000, 1500), ("PHÓ GIÁM ĐỐC", 1000, 1550)]
LETTER = [
    *ORGAN,
    *MOTTO,
    ("Số: 3989/SXD-QLXD", 330, 276),
    ("Lào Cai, ngày 21 tháng 11 năm 2026", 860, 280),
    ("V/v hướng dẫn hoàn thiện hồ sơ", 300, 330),
    ("Kính gửi: Ông Phạm Quang Trang", 500, 420),
    *BODY,
]
ANNEX = [
    *ORGAN,
    *MOTTO,
    ("PHỤ LỤC", 780, 330),
    ("DANH MỤC HỒ SƠ CẤP GIẤY PHÉP XÂY DỰNG", 520, 380),
    ("(Kèm theo Quyết định số 892/QĐ-SXD ngày 01/12/2026 của Sở Xây dựng)", 330, 430),
    *BODY,
]
RECEIPT_PAGE = [
    ("UBND TỈNH LÀO CAI", 300, 150),
    ("TRUNG TÂM PHỤC VỤ HÀNH CHÍNH CÔNG", 250, 196),
    *MOTTO,
    ("Lào Cai, ngày 20 tháng 11 năm 2026", 860, 280),
    ("GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ", 420, 380),
    (f"Mã hồ sơ: {CODES[4]}", 500, 430),
    *BODY,
]


def _docs(plan) -> list[tuple]:
    return [(s.first, s.last, s.started_by, s.opened_by, s.code) for s in plan.segments]


def test_a_file_of_several_documents_splits_where_each_opens():
    pages = [
        laid_out(0, APPLICATION),
        laid_out(1, DECISION),
        laid_out(2, LATER_PAGE),  # the decision's second page: no motto, no cut
        laid_out(3, LETTER),
        laid_out(4, LATER_PAGE),
    ]
    plan = plan_split(pages, SplitConfig())
    assert _docs(plan) == [
        (0, 0, None, None, None),
        (1, 2, CONTENT, "heading", None),
        (3, 4, CONTENT, "number", None),
    ]
    assert plan.is_split
    assert not plan_split(pages, SplitConfig(by_content=False)).is_split


def test_an_annex_with_the_motto_and_a_heading_stays_with_its_decision():
    pages = [laid_out(0, DECISION), laid_out(1, ANNEX), laid_out(2, LATER_PAGE)]
    assert [(s.first, s.last) for s in plan_split(pages, SplitConfig()).segments] == [(0, 2)]


def test_cover_sheets_still_win_and_a_document_after_one_keeps_its_code():
    cover = page(0, [f"SOHOA-COVER|{CODES[5]}|Đơn đề nghị"], words=6)
    pages = [cover, laid_out(1, APPLICATION), laid_out(2, DECISION), laid_out(3, LATER_PAGE)]
    plan = plan_split(pages, SplitConfig())
    assert _docs(plan) == [
        (1, 1, COVER, None, CODES[5]),
        (2, 3, CONTENT, "heading", CODES[5]),
    ]
    first, second = plan.segments
    assert first.cover_type == "Đơn đề nghị" and second.cover_type is None
    assert (second.code_from, second.code_source) == (COVER, "cover")
    again = segment_from_info(3, 4, second.info_json())  # as the ledger gives it back
    assert (again.opened_by, again.code_from, again.code) == ("heading", COVER, CODES[5])
    # A kept cover sheet and the page after it are one document, not two.
    kept = plan_split(pages, SplitConfig(keep_cover_sheets=True))
    assert [(s.first, s.last) for s in kept.segments] == [(0, 1), (2, 3)]


def test_a_receipt_and_the_application_after_it_are_two_documents_of_its_dossier():
    receipt = laid_out(0, RECEIPT_PAGE, codes=[CODES[4]])
    pages = [receipt, laid_out(1, APPLICATION), laid_out(2, DECISION)]
    plan = plan_split(pages, SplitConfig())
    assert _docs(plan) == [
        (0, 0, RECEIPT, None, CODES[4]),
        (1, 1, CONTENT, "heading", CODES[4]),
        (2, 2, CONTENT, "heading", CODES[4]),
    ]
    assert {s.code_source for s in plan.segments} == {"qr"}


def test_a_blank_page_between_documents_goes_with_the_one_before():
    pages = [laid_out(0, APPLICATION), laid_out(1, [], blank=True), laid_out(2, LETTER)]
    assert [(s.first, s.last) for s in plan_split(pages, SplitConfig()).segments] == [
        (0, 1),
        (2, 2),
    ]


@pytest.fixture(scope="module")
def read_pages(tmp_path_factory):
    """Page results of a file's pages through the real page function, once per module."""
    from pipeline.config import load_config
    from pipeline.flow.page import process_page
    from tests.support.jobs import page_job

    cfg = load_config(env={})
    tmp = tmp_path_factory.mktemp("pages")
    done: dict[tuple[str, int], PageResult] = {}

    def read(path: Path, count: int, media: str = "application/pdf") -> list[PageResult]:
        for i in range(count):
            if (str(path), i) not in done:
                job = page_job(path, media, i, cfg)
                done[(str(path), i)] = process_page(job, path, tmp / f"p{len(done)}.pdf")
        return [done[(str(path), i)] for i in range(count)]

    return read


@pytest.mark.slow
def test_the_demo_dossier_is_three_documents(read_pages):
    """samples' ho-so-xay-dung.pdf: an application, a decision (seal, skew), a letter
    (shadow), no cover sheet: three documents, each opened by its own first page."""
    demo = Path(__file__).parents[1] / "samples/inbox/motcua-01"
    pdf = demo / "000.00.13.H38-261120-0002__ho-so-xay-dung.pdf"
    plan = plan_split(read_pages(pdf, 3), SplitConfig())
    assert [(s.first, s.last, s.started_by) for s in plan.segments] == [
        (0, 0, None),
        (1, 1, CONTENT),
        (2, 2, CONTENT),
    ]


@pytest.mark.slow
def test_real_multi_page_documents_are_never_cut_and_real_letters_in_one_file_are(
    read_pages, shared_data: Path
):
    """danang_3: a letter and its five-page appendix ("Phụ lục", no motto) is one
    document; danang_1 and danang_2 (two pages each) too. The three one after another
    in one file are three documents."""
    folder = shared_data / "odd-inputs/vn-real-scans-vietadmin"
    files = [read_pages(folder / f"danang_{n}.pdf", c) for n, c in ((1, 2), (2, 2), (3, 6))]
    for pages in files:
        plan = plan_split(pages, SplitConfig())
        assert [(s.first, s.last) for s in plan.segments] == [(0, len(pages) - 1)]
    stack = [dataclasses.replace(r, index=i) for i, r in enumerate(r for f in files for r in f)]
    plan = plan_split(stack, SplitConfig())
    assert [(s.first, s.last) for s in plan.segments] == [(0, 1), (2, 3), (4, 9)]
