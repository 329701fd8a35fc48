"""The syllable bigram file (pipeline.lang.ngram): written once, mapped, the same counts back."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.lang import correct, ngram


def test_counts_come_back_as_written(tmp_path: Path) -> None:
    unigrams = {"đào": 10459, "tạo": 9000, "đảo": 14175, "lỵ": 20, "UBND": 40}
    bigrams = {("đào", "tạo"): 7234, ("đảo", "tạo"): 10, ("tạo", "đào"): 70000, ("x", "tạo"): 5}
    path = tmp_path / "lm.bin"
    assert ngram.write(path, unigrams, bigrams) == (5, 3)  # the pair with an unknown token goes
    counts = ngram.read(path)
    assert len(counts) == 5 and counts.total == sum(unigrams.values())
    assert {w: counts.unigram(w) for w in unigrams} == unigrams
    assert counts.pair("đào", "tạo") == 7234 and counts.pair("đảo", "tạo") == 10
    assert counts.pair("tạo", "đào") == ngram.PAIR_COUNT_MAX  # capped, not wrapped round
    assert counts.pair("tạo", "đảo") == 0 and counts.pair("x", "tạo") == 0
    assert counts.unigram("không có") == 0


def test_an_empty_model_reads(tmp_path: Path) -> None:
    path = tmp_path / "empty.bin"
    ngram.write(path, {}, {})
    counts = ngram.read(path)
    assert len(counts) == 0 and counts.pair("a", "b") == 0


def test_another_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lm.tsv"
    path.write_text('{"format": "something else"}\nu\tđào\t1\n', encoding="utf-8")
    with pytest.raises(ValueError, match="not a sohoa-syllable-bigrams"):
        ngram.read(path)


def test_the_shipped_model_holds_legal_and_encyclopaedic_pairs() -> None:
    """Built from the 208 laws and Vietnamese Wikipedia (scripts/build_language_data.py)."""
    lm = correct.default_model()
    assert len(lm.counts) > 20000
    assert lm.bigram_count("đào", "tạo") > 1000  # legal register
    assert lm.bigram_count("thành", "phố") > lm.bigram_count("thành", "phó") * 50
    assert lm.bigram_count("thay", "đối") == 0  # the corpus's typo pair was dropped
    assert lm.bigram_count("đầy", "đủ") > 10 * lm.bigram_count("đây", "đủ")
