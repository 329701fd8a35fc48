"""Tesseract's TSV output as words, whichever engine produced it.

Both engines (the ``tesseract`` command and the library in process) write the same
TSV: one row per layout element, words at level 5 with their box, confidence and
block, paragraph and line numbers. Parsing it in one place keeps the two engines'
words identical in form.
"""

from __future__ import annotations

from pipeline.lang.textnorm import nfc
from pipeline.ocr.words import OcrResult, Word, words_to_text

WORD_LEVEL = "5"


def words_from_tsv(tsv: str) -> list[Word]:
    """The non-empty words of a TSV reading, NFC, in Tesseract's order."""
    out: list[Word] = []
    for row in tsv.splitlines():
        cells = row.split("\t")
        if len(cells) < 12 or cells[0] != WORD_LEVEL:
            continue  # the header, page/block/paragraph/line rows, a truncated row
        text = nfc(cells[11]).strip()
        if not text:
            continue
        try:
            conf = float(cells[10])
        except ValueError:
            conf = -1.0
        block, par, line = (int(c) for c in cells[2:5])
        left, top, width, height = (int(c) for c in cells[6:10])
        out.append(Word(text, left, top, width, height, conf, block, par, line))
    return out


def result_from_tsv(tsv: str, engine: str, lang: str) -> OcrResult:
    """An :class:`OcrResult` with the mean confidence of the words Tesseract scored."""
    words = tuple(words_from_tsv(tsv))
    confs = [w.conf for w in words if w.conf >= 0]
    mean = round(sum(confs) / len(confs), 2) if confs else None
    return OcrResult(
        words=words, text=words_to_text(words), mean_confidence=mean, engine=engine, lang=lang
    )
