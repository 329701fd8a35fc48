"""An existing PDF text layer: read it with its word boxes, and decide whether to keep it.

Born-digital pages (a clerk's "Save as PDF") carry exact text that OCR can only
approximate, so it is kept. Many scans, though, carry a layer that is worse than
no layer: legacy fonts without Unicode maps (TCVN3/VNI mojibake), or an old OCR
that dropped Vietnamese diacritics. The rule compares the layer with our own OCR
of the same page: it is kept only when it says the same thing (folded words
overlap) and is at least as good (no more invalid syllables, no fewer marks).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from pipeline.config import IngestConfig
from pipeline.lang.syllables import invalid_share, strip_punct
from pipeline.lang.textnorm import fold, has_diacritics, nfc
from pipeline.ocr.words import Word
from pipeline.read.limits import run_limited

MIN_OVERLAP = 0.6  # share of our OCR's words that the layer must also contain
MAX_EXTRA_INVALID = 0.02  # the layer may have at most this many more invalid syllables
MIN_MARK_RATIO = 0.8  # and at least this share of the diacritics our OCR found
# pdftotext's -bbox-layout output of a full A4 page of 8-pt text is ~0.5 MB; a page
# whose layer is bigger than this is not a scanned page's text layer: OCR it instead.
MAX_LAYER_BYTES = 16 * 2**20

_BLOCK = re.compile(r"<block\b")
_LINE = re.compile(r"<line\b")
_WORD = re.compile(
    r'<word xMin="([\d.\-]+)" yMin="([\d.\-]+)" xMax="([\d.\-]+)" yMax="([\d.\-]+)">(.*?)</word>'
)
_TOKEN = re.compile(r"<block\b|<line\b|<word [^>]*>.*?</word>", re.S)


def read_words(
    path: Path, page_index: int, dpi: float, cfg: IngestConfig | None = None
) -> list[Word]:
    """Words of the PDF's own text layer on one page, boxes in pixels at ``dpi``.

    An empty list (the page is OCRed instead) when pdftotext fails, runs out of
    time or memory (ingest.pdf_timeout_seconds, ingest.pdf_memory_mb), or writes
    more than MAX_LAYER_BYTES.
    """
    cfg = cfg or IngestConfig()
    page = str(page_index + 1)
    try:
        done = run_limited(
            ["pdftotext", "-q", "-f", page, "-l", page, "-bbox-layout", str(path), "-"],
            memory_mb=cfg.pdf_memory_mb,
            timeout=cfg.pdf_timeout_seconds,
            max_output=MAX_LAYER_BYTES,
        )
    except OSError:
        return []
    if done.timed_out or done.too_much_output or done.out_of_memory:
        return []
    out = done.stdout.decode("utf-8", "replace")
    scale = dpi / 72.0
    words: list[Word] = []
    block = line = 0
    for token in _TOKEN.finditer(out):
        text = token.group(0)
        if _BLOCK.match(text):
            block += 1
            continue
        if _LINE.match(text):
            line += 1
            continue
        m = _WORD.match(text)
        if not m:
            continue
        x0, y0, x1, y1 = (float(v) * scale for v in m.groups()[:4])
        word = nfc(html.unescape(m.group(5))).strip()
        if word:
            words.append(
                Word(
                    text=word,
                    left=round(x0),
                    top=round(y0),
                    width=max(1, round(x1 - x0)),
                    height=max(1, round(y1 - y0)),
                    conf=100.0,
                    block=block,
                    par=1,
                    line=line,
                )
            )
    return words


def _letters(tokens: list[str]) -> list[str]:
    cores = (strip_punct(t)[1] for t in tokens)
    return [c for c in cores if c and any(ch.isalpha() for ch in c)]


def keep_existing(layer_text: str, ocr_text: str) -> bool:
    """True when the page's own text layer is the better text (see module docstring)."""
    layer = _letters(nfc(layer_text).split())
    ours = _letters(nfc(ocr_text).split())
    if not layer or len(layer) < 0.5 * len(ours):
        return False
    if not ours:
        return True
    folded_layer = {fold(t).lower() for t in layer}
    overlap = sum(1 for t in ours if fold(t).lower() in folded_layer) / len(ours)
    if overlap < MIN_OVERLAP:
        return False
    if invalid_share(layer) > invalid_share(ours) + MAX_EXTRA_INVALID:
        return False
    marks_ours = sum(1 for t in ours if has_diacritics(t)) / len(ours)
    marks_layer = sum(1 for t in layer if has_diacritics(t)) / len(layer)
    return marks_layer >= MIN_MARK_RATIO * marks_ours
