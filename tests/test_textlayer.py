"""Keeping a PDF's own text layer only when it beats our OCR; flagging pages for review."""

from pipeline.config import OcrConfig
from pipeline.flow.page import looks_vietnamese, needs_review
from pipeline.ocr.words import words_to_text
from pipeline.read import textlayer

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
