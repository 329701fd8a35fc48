"""OCR words and lines as plain records, and what the rest of the pipeline does with them.

A word's box is in the pixels of the image it was read from; ``scale_boxes``
moves a reading onto another copy of the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from pipeline.lang.syllables import is_valid_syllable, strip_punct
from pipeline.lang.textnorm import nfc


@dataclass(frozen=True)
class Word:
    """One recognised word; the box is in pixels of the image handed to OCR."""

    text: str
    left: int
    top: int
    width: int
    height: int
    conf: float
    block: int = 0
    par: int = 0
    line: int = 0


@dataclass(frozen=True)
class OcrResult:
    words: tuple[Word, ...]
    text: str
    mean_confidence: float | None
    engine: str
    lang: str


JUNK_MAX_CONF = 60.0  # a line all of whose words read below this and mean nothing is not text


JUNK_HEIGHT_SHARE = 0.5  # junk this much shorter than its line's words is stray marks


def words_to_text(words: Sequence[Word]) -> str:
    """Lines of words in Tesseract's reading order; a blank line between paragraphs."""
    lines: list[str] = []
    current: list[str] = []
    key: tuple[int, int, int] | None = None
    for w in words:
        wkey = (w.block, w.par, w.line)
        if key is not None and wkey != key:
            lines.append(" ".join(current))
            if wkey[:2] != key[:2]:
                lines.append("")
            current = []
        current.append(w.text)
        key = wkey
    if current:
        lines.append(" ".join(current))
    return nfc("\n".join(lines).strip())


def scale_boxes(result: OcrResult, factor: float) -> OcrResult:
    """Map word boxes from an upscaled OCR image back onto the page image."""
    if factor == 1.0:
        return result
    words = tuple(
        replace(
            w,
            left=round(w.left * factor),
            top=round(w.top * factor),
            width=max(1, round(w.width * factor)),
            height=max(1, round(w.height * factor)),
        )
        for w in result.words
    )
    return replace(result, words=words)


def _line_groups(words: Sequence[Word]) -> list[list[Word]]:
    groups: dict[tuple[int, int, int], list[Word]] = {}
    for w in words:
        groups.setdefault((w.block, w.par, w.line), []).append(w)
    return list(groups.values())


def is_junk(word: Word) -> bool:
    """Low confidence and no meaning: not a Vietnamese syllable, not a number, no code."""
    if word.conf >= JUNK_MAX_CONF:
        return False
    core = strip_punct(word.text)[1]
    if not core:
        return True
    if any(ch.isdigit() for ch in core):
        return False
    return not is_valid_syllable(core)


def drop_junk_lines(words: Sequence[Word]) -> tuple[Word, ...]:
    """Words without the lines that are only junk: QR codes, logos and scribbles read as text.

    Tesseract reads a QR code as ``Ih>nH)`` and a signature as ``z z ~``, with
    confidences near zero. Whole lines go only when every word of them is junk, so
    a real line read badly keeps the words a clerk could still search for; inside a
    line only junk much smaller than its words goes: the tone marks of a heading
    that Tesseract put on the line below as ``š :``.
    """
    kept: list[Word] = []
    for line in _line_groups(words):
        if all(is_junk(w) for w in line):
            continue
        tall = sorted(w.height for w in line)[len(line) // 2]
        kept.extend(w for w in line if not (is_junk(w) and w.height < JUNK_HEIGHT_SHARE * tall))
    return tuple(kept)
