"""How well a reading reads, without the truth: to keep the better of two readings of a page.

Tesseract's own confidence alone cannot tell two readings apart (it is as sure of
"phó" as of "phố"), and a reading that drops a line scores a higher mean. So a reading
is scored by what it found: each word counts its confidence when it is something a
Vietnamese page holds (a well-formed syllable, a number or code, an abbreviation) and
against the reading when it is not (``QUYÉT``, ``tỗổ``, scraps of a blurred line). More
real words read with more confidence is better; a reading that invents junk or loses
lines scores less.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.lang.syllables import (
    is_abbreviation,
    is_valid_syllable,
    is_vietnamese_letters,
    strip_punct,
)
from pipeline.ocr.words import Word

JUNK_WEIGHT = 1.0  # a word that cannot be Vietnamese costs as much as a good one earns


def plausible(text: str) -> bool | None:
    """True for a word a page can hold, False for one it cannot, None for bare signs."""
    core = strip_punct(text)[1]
    if not core:
        return None
    if any(ch.isdigit() for ch in core) or not core.isalpha():
        return True  # numbers, dates, codes (263/KH-UBND): not judged by spelling
    if is_abbreviation(core):
        return True
    return is_vietnamese_letters(core) and is_valid_syllable(core)


def score(words: Sequence[Word]) -> float:
    """Confidence-weighted count of plausible words minus that of impossible ones."""
    total = 0.0
    for w in words:
        ok = plausible(w.text)
        if ok is None:
            continue
        weight = max(w.conf, 0.0) / 100.0
        total += weight if ok else -JUNK_WEIGHT * weight
    return total


def clearly_better(candidate: Sequence[Word], current: Sequence[Word], margin: float) -> bool:
    """Whether ``candidate`` scores better than ``current`` by more than ``margin`` of it.

    A near tie is no evidence: a reading that splits a few words more, or adds specks read
    as signs, can edge ahead while losing a whole line of the header.
    """
    ahead = score(candidate) - score(current)
    return ahead > margin * max(abs(score(current)), 1.0)
