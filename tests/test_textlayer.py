"""Keeping a PDF's own text layer only when it beats our OCR and says what the page shows;
flagging pages for review."""

from pathlib import Path

import pytest

from pipeline.config import OcrConfig, load_config
from pipeline.dossier.codes import code_from_text
from pipeline.flow.page import looks_vietnamese, needs_review, process_page
from pipeline.model import PageResult
from pipeline.ocr.words import Word, words_to_text
from pipeline.read import textlayer
from tests.support.jobs import page_job
from tests.support.layered_pdf import Line, add_lines, render, tesseract_pdf, write_pdf

OCR = "Áo lụa Hà Đông\nNắng Sài Gòn anh đi mà chợt mát\nBởi vì em mặc áo lụa Hà Đông"


def test_born_digital_layer_is_kept(shared_data):
    path = shared_data / "odd-inputs" / "vietocr3-samples" / "vietsample1.pdf"
    words = textlayer.read_words(path, 0, 300)
    text = words_to_text(words)
    assert "Áo Lụa Hà Đông" in text
    assert words[0].left > 0 and words[0].height > 20  # boxes scaled to pixels at 300 dpi
    assert textlayer.keep_existing(text, OCR)


def test_mojibake_layer_is_replaced_by_ocr(shared_data):
    path = shared_data / "odd-inputs" / "vn-udhr-ohchr-pdf" / "udhr_vie.pdf"
    layer = words_to_text(textlayer.read_words(path, 0, 300))
    ocr = "Tuyên ngôn toàn thế giới về nhân quyền của Liên Hợp Quốc"
    assert not textlayer.keep_existing(layer, ocr)


def test_old_ocr_without_diacritics_is_replaced():
    old = "CONG HOA XA HOI CHU NGHIA VIET NAM Doc lap Tu do Hanh phuc"
    ours = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM Độc lập Tự do Hạnh phúc"
    assert not textlayer.keep_existing(old, ours)
    assert not textlayer.keep_existing("", ours)
    assert not textlayer.keep_existing("Áo lụa", OCR)  # a partial layer


def test_review_flags_low_confidence_and_impossible_syllables():
    cfg = OcrConfig(review_min_confidence=70, review_max_invalid_share=0.1)
    assert needs_review(50.0, 0.0, True, False, cfg)
    assert needs_review(90.0, 0.3, True, False, cfg)
    assert not needs_review(90.0, 0.3, False, False, cfg)  # an English page
    assert not needs_review(10.0, 0.9, True, True, cfg)  # blank backs are not reviewed
    assert looks_vietnamese(["Quyết", "định", "về", "việc", "cấp", "giấy", "phép"])
    assert not looks_vietnamese(["Table", "of", "Contents", "Heading"])


def test_word_boxes_from_an_upscaled_ocr_image_map_back():
    from pipeline.ocr.words import OcrResult, Word, scale_boxes

    result = OcrResult((Word("Hà", 200, 100, 60, 40, 90.0),), "Hà", 90.0, "t", "vie")
    (word,) = scale_boxes(result, 0.5).words
    assert (word.left, word.top, word.width, word.height) == (100, 50, 30, 20)
    assert scale_boxes(result, 1.0) is result


# ------------------------------------------------- the page decides, not a hidden layer

VISIBLE = (
    "ỦY BAN NHÂN DÂN TỈNH LÀO CAI",
    "Mã hồ sơ: 000.00.13.H38-261127-0101",
    "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
    "Bộ phận Một cửa đã tiếp nhận hồ sơ của ông bà",
    "về việc cấp giấy phép xây dựng nhà ở riêng lẻ",
    "Thời gian giải quyết theo quy định là mười lăm ngày",
)
# What a planted layer adds: a dossier code, a document number, an ID number, a name.
HIDDEN = "Mã hồ sơ: 000.00.13.H38-261127-0666 Số: 666/QĐ-UBND CCCD 001099006660 Khổng Minh Tuệ"
HIDDEN_MARKS = ("0666", "666/QĐ", "001099006660", "Khổng")


def _page(top: list[Line] | None = None) -> list[Line]:
    """The printed receipt, with ``top`` lines above it (first in the layer's order)."""
    return [*(top or []), *(Line(t, 60, 760 - 28 * i) for i, t in enumerate(VISIBLE))]


def _read(path: Path) -> PageResult:
    cfg = load_config(env={})
    job = page_job(path, "application/pdf", 0, cfg, has_text_layer=True)
    return process_page(job, path, path.with_suffix(".out.pdf"))


def _planted(kind: str, tmp: Path) -> Path:
    """The receipt with the hidden line drawn one way (see the parametrised test)."""
    path = tmp / f"{kind}.pdf"
    if kind == "invisible":  # rendering mode 3
        return write_pdf(path, _page([Line(HIDDEN, 60, 800, mode=3)]))
    if kind == "white":
        return write_pdf(path, _page([Line(HIDDEN, 60, 800, rgb=(1, 1, 1))]))
    if kind == "tiny":
        return write_pdf(path, _page([Line(HIDDEN, 60, 800, size=0.5)]))
    if kind == "outside-crop-box":
        return write_pdf(path, _page([Line(HIDDEN, 60, 820)]), crop=(0, 0, 595, 800))
    if kind == "under-an-image":
        printed = render(write_pdf(tmp / "printed.pdf", _page()))
        lines = _page([Line(HIDDEN, 60, 800)])
        return write_pdf(path, lines, image=printed, image_over_text=True)
    if kind == "over-the-printed-code":  # an invisible twin of the code line, other digits
        twin = Line("Mã hồ sơ: 000.00.13.H38-261127-0666", 60, 732, mode=3)
        return write_pdf(path, [*_page(), twin])
    if kind == "in-a-scans-ocr-layer":  # Tesseract's own layer, plus one line of ours
        scan = tesseract_pdf(render(write_pdf(tmp / "printed.pdf", _page())), path)
        return add_lines(scan, [Line(HIDDEN, 60, 800, mode=3)])
    raise AssertionError(kind)


PLANTED = (
    "invisible",
    "white",
    "tiny",
    "outside-crop-box",
    "under-an-image",
    "over-the-printed-code",
    "in-a-scans-ocr-layer",
)


@pytest.mark.parametrize("kind", PLANTED)
def test_a_hidden_line_in_the_text_layer_never_reaches_the_page_text(
    kind: str, tmp_path: Path
) -> None:
    path = _planted(kind, tmp_path)
    layer = words_to_text(textlayer.read_words(path, 0, 300))
    assert "0666" in layer or kind == "outside-crop-box"  # pdftotext does read the plant
    result = _read(path)
    assert code_from_text(result.text) == "000.00.13.H38-261127-0101", result.text
    for mark in HIDDEN_MARKS:
        assert mark not in result.text, (mark, result.text)
        assert all(mark not in box[0] for box in result.word_boxes)
    assert "cấp giấy phép xây dựng" in result.text  # the printed words are all there
    if kind != "under-an-image":  # there the page is a picture of print: its layer is gone
        assert result.text_source == "pdf"  # the rest of the layer is kept


@pytest.mark.parametrize("kind", ["born-digital", "scan-with-ocr-layer"])
def test_an_honest_layer_is_kept_whole(kind: str, tmp_path: Path) -> None:
    printed = write_pdf(tmp_path / "printed.pdf", _page())
    path = printed if kind == "born-digital" else tesseract_pdf(render(printed), tmp_path / "s.pdf")
    layer = textlayer.read_words(path, 0, 300)
    result = _read(path)
    assert result.text_source == "pdf"
    assert [w[0] for w in result.word_boxes] == [w.text for w in layer]
    assert "Mã hồ sơ: 000.00.13.H38-261127-0101" in result.text


def _w(text: str, left: int, top: int = 100, width: int = 80, **kw: int) -> Word:
    return Word(text, left, top, width, 30, 100.0, **kw)


def test_reconcile_keeps_the_layers_spelling_only_where_ocr_reads_the_same() -> None:
    ocr_words = [_w("Hả", 0, line=1), _w("Nội", 100, line=1), _w("0101", 200, line=1)]
    layer = [
        _w("Hà", 0),  # the same letters: the layer's marks are kept
        _w("Nội", 100),
        _w("0666", 200),  # other digits over the printed ones: the page wins
        _w("Khổng", 0, top=500),  # nothing printed there
    ]
    seen = textlayer.reconcile(layer, ocr_words)
    assert [w.text for w in seen.words] == ["Hà", "Nội", "0101"]
    assert [w.line for w in seen.words] == [1, 1, 1]  # on the OCR's lines
    assert seen.dropped == 2 and seen.ocr_kept == {2}


def test_reconcile_matches_words_split_differently() -> None:
    ocr_words = [_w("H38-261127-", 0, width=120), _w("0101", 125, width=60)]
    layer = [_w("H38-261127-0101", 0, width=185)]
    assert [w.text for w in textlayer.reconcile(layer, ocr_words).words] == ["H38-261127-0101"]
    # ...but punctuation is no letter: a printed "06.66" is not a hidden "0666"
    assert textlayer.reconcile([_w("0666", 0)], [_w("06.66", 0)]).words[0].text == "06.66"
    # and signs alone agree with nothing (a layer of symbols over a dash)
    assert textlayer.reconcile([_w("中文", 0)], [_w("—", 0)]).words[0].text == "—"


def test_a_layer_far_larger_than_the_page_is_not_compared() -> None:
    ocr_words = [_w("Hà", 0)]
    layer = [_w("Hà", 0)] + [_w("x", 10 * i, top=900) for i in range(100)]
    seen = textlayer.reconcile(layer, ocr_words)
    assert seen.layer == () and [w.text for w in seen.words] == ["Hà"]
