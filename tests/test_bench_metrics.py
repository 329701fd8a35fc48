"""The accuracy metrics of bench/accuracy.py: CER with forgiven line order, word recall."""

from __future__ import annotations

import unicodedata

import pytest

from bench.cer import cer, cer_aligned, line_errors, lines, normalise, word_recall, words

TRUTH = "UBND TỈNH LÀO CAI\nSỞ TƯ PHÁP\nCỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nQUYẾT ĐỊNH"


def test_normalise_collapses_whitespace_and_composes() -> None:
    decomposed = unicodedata.normalize("NFD", "Quyết  định\n\fsố\t12")
    assert normalise(decomposed) == "Quyết định số 12"
    assert lines("a  b\n\n  \nc\fd") == ["a b", "c", "d"]


def test_cer_counts_edits_over_reference_length() -> None:
    assert cer("abcd", "abcd") == 0.0
    assert cer("abcd", "abxd") == pytest.approx(0.25)
    assert cer("abcd", "") == 1.0
    assert cer("", "") == 0.0
    # whitespace and line breaks are not characters to get wrong
    assert cer("Quyết định\nsố 12", "Quyết   định số 12\n") == 0.0


def test_diacritic_errors_cost_a_character_each() -> None:
    assert cer("QUYẾT", "QUYÉT") == pytest.approx(0.2)


def test_aligned_cer_forgives_line_order_but_strict_does_not() -> None:
    swapped = "SỞ TƯ PHÁP\nUBND TỈNH LÀO CAI\nQUYẾT ĐỊNH\nCỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
    assert cer_aligned(TRUTH, swapped) == 0.0
    assert cer(TRUTH, swapped) > 0.3


def test_aligned_cer_finds_two_columns_read_as_one_line() -> None:
    merged = "UBND TỈNH LÀO CAI CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nSỞ TƯ PHÁP\nQUYẾT ĐỊNH"
    assert cer_aligned(TRUTH, merged) == 0.0


def test_aligned_cer_still_counts_misreads_missing_and_extra_text() -> None:
    ref_len = len(normalise(TRUTH))
    misread = TRUTH.replace("QUYẾT", "QUYÉT")
    assert cer_aligned(TRUTH, misread) == pytest.approx(1 / ref_len)
    missing = TRUTH.replace("SỞ TƯ PHÁP\n", "")
    assert line_errors(TRUTH, missing) == len("SỞ TƯ PHÁP")
    extra = TRUTH + "\n(xz\\"
    assert line_errors(TRUTH, extra) == len("(xz\\")
    assert cer_aligned(TRUTH, "") == 1.0


def test_garbage_in_place_of_a_line_counts_as_substitutions() -> None:
    garbage = TRUTH.replace("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "x" * 33)
    errors = line_errors(TRUTH, garbage)
    # at most the length of the lost line, not lost line + inserted garbage
    assert errors <= len("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")
    assert errors > 20


def test_upside_down_garbage_scores_near_one() -> None:
    assert cer_aligned(TRUTH, "ɯɐN ꞁƎIΛ ɐIHƆ") > 0.8


def test_words_strip_punctuation_and_count_repeats() -> None:
    counted = words("Điều 1. Điều 2; “QUYẾT ĐỊNH:” - 263/KH-UBND")
    assert counted["Điều"] == 2
    assert counted["QUYẾT"] == 1 and counted["ĐỊNH"] == 1
    assert counted["263/KH-UBND"] == 1
    assert "-" not in counted and "" not in counted


def test_word_recall_exact_and_folded() -> None:
    truth = "Đơn đề nghị cấp giấy phép xây dựng"
    assert word_recall(truth, truth) == 1.0
    typed_without_marks = "Don de nghi cap giay phep xay dung"
    assert word_recall(truth, typed_without_marks) == 0.0
    assert word_recall(truth, typed_without_marks, folded=True) == 1.0
    # đ folds to d, case is ignored when folded only
    assert word_recall("ĐỊNH", "dinh", folded=True) == 1.0
    assert word_recall("ĐỊNH", "định") == 0.0


def test_word_recall_counts_multiplicity() -> None:
    assert word_recall("năm năm năm tháng", "năm tháng") == pytest.approx(0.5)
    assert word_recall("năm tháng", "năm năm năm tháng") == 1.0
    assert word_recall("", "anything") == 1.0
    assert word_recall("QUYẾT ĐỊNH", "QUYÉT ĐỊNH") == pytest.approx(0.5)
