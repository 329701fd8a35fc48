"""Document fields where the blanks were filled in, central organs' headers (issue 22).

Two kinds of test. Pages rendered the way e-office systems make them (Times-like face,
the number and the day typed into the blanks after signing, sometimes the organ's red
seal image over its name) and two real scans go through the real page function (real
Tesseract ``vie``) and the extractor; each test also checks that the page really shows
the case (the number and its notation in two of Tesseract's lines, the date in pieces),
so it cannot pass by the case not arising. The rules themselves are also checked on
word boxes laid out by hand, where the case is exact and needs no OCR.

A field not read stays None; a wrong value is worse than None, so on the real scans
(handwritten numbers and days) every field is either right or None.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.extract.fields import notation_agrees, read_document_fields
from pipeline.extract.layout import page_from_boxes
from pipeline.extract.organs import organ_name, repair
from pipeline.model import PageResult

REAL = "odd-inputs/vn-real-scans-vietadmin"


# ---------------------------------------------------------------- pages through OCR


@pytest.fixture(scope="module")
def ocr(tmp_path_factory, shared_data: Path):
    """Page results of rendered and real pages, each page read once for the module."""
    import os

    os.environ.setdefault("SOHOA_VI_CORPUS", str(shared_data / "vi-corpus"))
    from pipeline.config import load_config
    from pipeline.flow.page import process_page
    from tests.support.jobs import page_job

    cfg = load_config(env={})
    tmp = tmp_path_factory.mktemp("fields")
    done: dict[tuple, PageResult] = {}

    def run(path: Path, media: str, index: int = 0) -> PageResult:
        key = (str(path), index)
        if key not in done:
            job = page_job(path, media, index, cfg)
            done[key] = process_page(job, path, tmp / f"p{len(done)}.pdf")
        return done[key]

    def rendered(kind: str, seed: int):
        from bench.fields.generated import render_labelled
        from samples import generate

        item = render_labelled(kind, seed=seed, dpi=200, seal=False, eoffice=True)
        png = tmp / f"{kind}-{seed}.png"
        if not png.exists():
            generate.write_png(item.page, png)
        return item.truth, run(png, "image/png")

    def real(name: str, page: int = 1) -> PageResult:
        return run(shared_data / REAL / name, "application/pdf", page - 1)

    return rendered, real


def _apart(result: PageResult, a: str, b: str) -> bool:
    """Whether the words holding ``a`` and ``b`` are in different lines of the page as
    Tesseract gave it, once its lines are cut at column-wide gaps (what the extractor
    got before it rebuilt rows)."""
    page = page_from_boxes(0, result.width_px, result.height_px, result.word_boxes)
    line_of = {id(w): n for n, ln in enumerate(page.lines) for w in ln.words}
    wa = next(w for w in page.words if a in w.text)
    wb = next(w for w in page.words if b in w.text)
    return line_of[id(wa)] != line_of[id(wb)]


FIELDS = ("code_number", "code_notation", "issued_date", "type_name", "organ_name", "subject")


def _all_right(got: dict, truth: dict, names=FIELDS) -> None:
    for name in names:
        assert got[name] == truth[name], (name, got[name], truth[name])


@pytest.mark.slow
def test_number_and_day_typed_into_the_blanks_under_the_organs_seal(ocr):
    """ "Số:244" and "/KH-SXD" are two of Tesseract's lines; "ngày 14 … tháng 12" and
    "năm 2026" two pieces; the organ's seal image lies over "SỞ XÂY DỰNG"."""
    rendered, _real = ocr
    truth, result = rendered("ke_hoach", 1)
    assert truth["params"]["organ_seal"]
    number, notation = str(truth["code_number"]), "/" + truth["code_notation"]
    assert _apart(result, number, notation), "the number and its notation should be apart"
    assert _apart(result, "ngày", "2026"), "the date should come in pieces"
    got = read_document_fields([result]).values()
    _all_right(got, truth, (*FIELDS, "governing_body", "place"))


@pytest.mark.slow
def test_prime_ministers_decision(ocr):
    """THỦ TƯỚNG CHÍNH PHỦ heads the page (no governing body) and again under the subject;
    neither is the subject, and "/QĐ-TTg" sits apart from the typed-in number."""
    rendered, _real = ocr
    truth, result = rendered("quyet_dinh_ttg", 2)
    assert _apart(result, str(truth["code_number"]), "/QĐ-TTg")
    got = read_document_fields([result]).values()
    _all_right(got, truth, (*FIELDS, "governing_body"))
    assert got["organ_name"] == "THỦ TƯỚNG CHÍNH PHỦ" and got["governing_body"] is None
    assert "THỦ TƯỚNG" not in got["subject"]


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "seed"), [("quyet_dinh_bo", 4), ("thong_tu", 2)])
def test_ministry_decision_and_circular(ocr, kind, seed):
    """A ministry's decision ("BỘ GIÁO DỤC" / "VÀ ĐÀO TẠO", QĐ-BGDĐT) and a circular
    (THÔNG TƯ, its number with the year: "53/2026/TT-BCT" → 53 and "2026/TT-BCT")."""
    rendered, _real = ocr
    truth, result = rendered(kind, seed)
    got = read_document_fields([result]).values()
    _all_right(got, truth, (*FIELDS, "governing_body"))
    if kind == "thong_tu":
        assert got["type_name"] == "THÔNG TƯ" and got["code_notation"].startswith("2026/")


@pytest.mark.slow
def test_a_city_peoples_committee_on_two_lines_is_one_organ(ocr):
    rendered, _real = ocr
    truth, result = rendered("cong_van", 4)
    assert truth["organ_name"] == "ỦY BAN NHÂN DÂN THÀNH PHỐ HẢI PHÒNG"
    got = read_document_fields([result]).values()
    _all_right(got, truth, (*FIELDS, "governing_body"))


@pytest.mark.slow
def test_real_scans_handwritten_number_and_day_stay_null_never_wrong(ocr):
    """danang_1: "Số: 1595" and "ngày 31" are handwritten (Tesseract reads 4635 and 4:
    the date once came out 2019-05-04); danang_2: "115" handwritten (read 415), and a
    speck before "PHÒNG" once joined the police and its bureau into one organ."""
    _rendered, real = ocr
    for name in ("danang_1", "danang_2"):
        truth = json.loads(
            (Path(__file__).parents[1] / f"bench/fields/real/{name}-d1.json").read_text()
        )
        pages = [real(f"{name}.pdf", 1), real(f"{name}.pdf", 2)]
        got = read_document_fields(pages).values()
        for field in (*FIELDS, "governing_body", "place"):
            assert got[field] in (truth[field], None), (name, field, got[field])
        assert got["code_number"] is None, "a handwritten number is never taken"
        assert (got["organ_name"], got["governing_body"]) == (
            truth["organ_name"],
            truth["governing_body"],
        )
        if name == "danang_1":
            assert got["issued_date"] is None  # its day is handwritten
        else:
            assert got["issued_date"] == "2018-04-26"  # day and month typed


# ---------------------------------------------------------------- the rules on laid-out boxes

W, H = 1654, 2339  # A4 at 200 dpi


def _page(words: list[tuple]) -> PageResult:
    """A page result of hand-placed words: (text, x0, y0, x1, y1, conf, block)."""
    boxes = tuple((t, x0, y0, x1, y1, c, b, 1, 1) for t, x0, y0, x1, y1, c, b in words)
    return PageResult(
        index=0,
        pdf_key="",
        text=" ".join(w[0] for w in words),
        words=len(words),
        mean_confidence=95.0,
        dpi=200.0,
        dpi_source="image",
        colour="gray",
        width_px=W,
        height_px=H,
        rotation=0,
        skew_angle=0.0,
        blank=False,
        codes=(),
        seconds=0.0,
        word_boxes=boxes,
    )


def _header(organ: list[str], number: list[tuple], date: list[tuple]) -> list[tuple]:
    """A Decree 30 header: organ lines left, motto right, then the number and date rows."""
    words = []
    y = 150
    for i, line in enumerate(organ):
        x = 300
        for text in line.split():
            words.append((text, x, y, x + 28 * len(text), y + 32, 95.0, 10 + i))
            x += 28 * len(text) + 14
        y += 46
    for i, line in enumerate(("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc")):
        x = 770
        for text in line.split():
            words.append((text, x, 150 + 55 * i, x + 20 * len(text), 182 + 55 * i, 96.0, 1 + i))
            x += 20 * len(text) + 12
    return words + number + date


_DATE_ONE_LINE = [
    ("Hà", 860, 280, 900, 306, 96.0, 3),
    ("Nội,", 910, 280, 970, 312, 96.0, 3),
    ("ngày", 985, 280, 1055, 314, 96.0, 3),
    ("28", 1066, 281, 1100, 306, 96.0, 3),
    ("tháng", 1112, 280, 1195, 314, 96.0, 3),
    ("4", 1207, 281, 1222, 306, 96.0, 3),
    ("năm", 1236, 281, 1300, 306, 96.0, 3),
    ("2026", 1312, 280, 1388, 306, 96.0, 3),
]


def test_number_and_notation_in_two_blocks_off_the_line_are_one_number():
    """The number typed into the blank ("Số:173") off the line of "/KH-UBND", which
    Tesseract put in a block of its own, the blank's edge read as a dash between them."""
    number = [
        ("Số:173", 330, 268, 426, 298, 92.0, 4),
        ("—", 450, 262, 466, 318, 19.0, 4),
        ("/KH-UBND", 520, 282, 660, 312, 91.0, 5),
    ]
    page = _page(_header(["ỦY BAN NHÂN DÂN", "THÀNH PHỐ HÀ NỘI"], number, _DATE_ONE_LINE))
    got = read_document_fields([page]).values()
    assert (got["code_number"], got["code_notation"]) == (173, "KH-UBND")
    assert got["organ_name"] == "ỦY BAN NHÂN DÂN THÀNH PHỐ HÀ NỘI"
    assert got["issued_date"] == "2026-04-28" and got["place"] == "Hà Nội"


def test_a_speck_before_the_organ_does_not_join_it_to_the_governing_body():
    """danang_1's copies: a speck left of "SỞ" read as "-" hid that the line opens an organ,
    and "UBND THÀNH PHỐ ĐÀ NẴNG SỞ GIÁO DỤC VÀ ĐÀO TẠO" came out as one organ."""
    number = [
        ("Số:", 330, 276, 376, 306, 96.0, 4),
        ("463/SGDĐT-CTrTT", 390, 276, 640, 306, 95.0, 4),
    ]
    words = _header(["UBND TỈNH LÀO CAI", "SỞ XÂY DỰNG"], number, _DATE_ONE_LINE)
    words.append(("-", 284, 212, 288, 215, 70.0, 11))  # on the second organ line, left of it
    got = read_document_fields([_page(words)]).values()
    assert got["organ_name"] == "SỞ XÂY DỰNG"
    assert got["governing_body"] == "UBND TỈNH LÀO CAI"


def test_day_month_and_year_in_three_pieces_are_one_date():
    """ "Hà Nội, ngày 28" · "tháng 4" · "năm 2026": three lines, wide blanks between."""
    date = [
        ("Hà", 800, 280, 840, 306, 96.0, 3),
        ("Nội,", 850, 280, 910, 312, 96.0, 3),
        ("ngày", 925, 280, 995, 314, 96.0, 3),
        ("28", 1006, 274, 1040, 300, 79.0, 3),
        ("tháng", 1130, 281, 1213, 315, 96.0, 6),
        ("4", 1226, 276, 1241, 301, 77.0, 6),
        ("năm", 1320, 281, 1384, 306, 96.0, 7),
        ("2026", 1396, 280, 1472, 306, 96.0, 7),
    ]
    number = [("Số:", 330, 276, 376, 306, 96.0, 4), ("12/KH-UBND", 390, 276, 560, 306, 95.0, 4)]
    page = _page(_header(["ỦY BAN NHÂN DÂN", "TỈNH LÀO CAI"], number, date))
    got = read_document_fields([page]).values()
    assert (got["issued_date"], got["place"]) == ("2026-04-28", "Hà Nội")


def test_a_handwritten_day_taller_than_the_print_is_no_date():
    date = [*_DATE_ONE_LINE]
    date[3] = ("31", 1066, 270, 1104, 312, 80.0, 3)  # 42 px against the year's 26
    page = _page(_header(["SỞ XÂY DỰNG"], [("Số:", 330, 276, 376, 306, 96.0, 4)], date))
    got = read_document_fields([page]).values()
    assert got["issued_date"] is None and got["place"] == "Hà Nội"


def test_organ_fragments_are_no_organ_and_known_slips_are_undone():
    assert organ_name("ỦY BAN NHÂN DÂN THÀNH H PHÓ PH") is None
    assert organ_name("ÔNG CHÍNH PHỦ") is None  # THỦ TƯ lost under a seal
    assert organ_name("PHÒNG „ DỊ ND THỊ XÃ SA PA EÀI CHÍNH - KẾ HOẠCH") is None
    assert organ_name("ỦY BAN NHÂN DÂN THÀNH PHÓ HÀNỘI") == "ỦY BAN NHÂN DÂN THÀNH PHỐ HÀ NỘI"
    assert organ_name("ỦY BANNHÂN DÂN TỈNH LÀO CAI") == "ỦY BAN NHÂN DÂN TỈNH LÀO CAI"
    assert organ_name("UỶ BAN NHÂN DÂN TỈNH KHÁNH HOÀ") == "UỶ BAN NHÂN DÂN TỈNH KHÁNH HOÀ"
    assert organ_name("THỦ TƯỚNG CHÍNH PHỦ") == "THỦ TƯỚNG CHÍNH PHỦ"
    assert organ_name("PHÒNG TÀI CHÍNH - KẾ HOẠCH") == "PHÒNG TÀI CHÍNH - KẾ HOẠCH"
    assert organ_name("SỞ GD&ĐT") == "SỞ GD&ĐT"
    assert repair(["PHONG", "ĐIỀN"]) == ["PHONG", "ĐIỀN"]  # a lone syllable is left alone


def test_an_organ_read_in_fragments_under_a_seal_stays_null():
    number = [("Số:", 330, 276, 376, 306, 96.0, 4), ("12/KH-UBND", 390, 276, 560, 306, 95.0, 4)]
    page = _page(_header(["ỦY BAN NHÂN DÂN", "THÀNH H PHÓ PH"], number, _DATE_ONE_LINE))
    got = read_document_fields([page]).values()
    assert got["organ_name"] is None
    assert (got["code_number"], got["issued_date"]) == (12, "2026-04-28")


def test_a_notation_that_contradicts_the_heading_is_dropped_with_its_number():
    assert notation_agrees("QĐ-TTg", "QUYẾT ĐỊNH")
    assert notation_agrees("2026/TT-BCT", "THÔNG TƯ")
    assert not notation_agrees("TT-BCT", "THÔNG TƯ")  # a circular's number has its year
    assert not notation_agrees("QĐĐ-TTg", "QUYẾT ĐỊNH")
    assert notation_agrees("UBND-SGDĐT", "CÔNG VĂN") and notation_agrees("KH-UBND", None)
