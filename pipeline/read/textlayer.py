"""An existing PDF text layer: read it with its word boxes, and decide what of it to keep.

Born-digital pages (a clerk's "Save as PDF") carry exact text that OCR can only
approximate, so it is kept. Many scans, though, carry a layer that is worse than
no layer: legacy fonts without Unicode maps (TCVN3/VNI mojibake), or an old OCR
that dropped Vietnamese diacritics. The rule compares the layer with our own OCR
of the same page: it is kept only when it says the same thing (folded words
overlap) and is at least as good (no more invalid syllables, no fewer marks).

A layer can also say more than the page shows: text in rendering mode 3, painted
white, a fraction of a point high, outside the crop box or under an image. A scan's
OCR layer is invisible by design (OCRmyPDF), so no property of the PDF tells an
honest layer from a planted one; the rendered page does. :func:`reconcile` keeps a
layer word only where our OCR of the rendered page reads the same letters in the
same place, and takes the OCR's reading everywhere else, so the page's text (and
with it the dossier code, the fields, the index and the signed copy) is what the
page shows.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

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
# A layer word and an OCR word cover the same ink when their boxes share this much of
# the smaller box (a layer's box is the font's, taller than the OCR's box of the ink).
SAME_INK = 0.5
# A layer with this many times the words our OCR sees (and more than a few) is not a
# reading of this page: OCR it instead, without comparing every pair of boxes.
MAX_LAYER_PER_SEEN = 3
_PAIR_CHUNK = 256  # layer words compared with all OCR words at once (bounded memory)

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
            # the crop box, as the page is rendered (pages.render_page)
            ["pdftotext", "-q", "-f", page, "-l", page, "-cropbox", "-bbox-layout", str(path), "-"],
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


@dataclass(frozen=True)
class Reconciled:
    """A page's words after checking its text layer against what OCR sees on it.

    ``words`` are in the OCR's reading order and lines: the layer's words where the
    page shows them, the OCR's words everywhere else. ``layer`` is what of the layer
    was kept, ``dropped`` how many layer words the page does not show, and
    ``ocr_kept`` the indices of the OCR words kept as read.
    """

    words: tuple[Word, ...]
    layer: tuple[Word, ...]
    dropped: int
    ocr_kept: frozenset[int]


def reconcile(layer: Sequence[Word], seen: Sequence[Word]) -> Reconciled:
    """The page's words: the layer's spelling only where OCR reads the same thing there.

    Words whose boxes cover the same ink (:data:`SAME_INK`) form groups (a layer may
    split "H38-261127-0001" where OCR does not, or the other way round). A group is
    taken from the layer when its letters and digits, diacritics folded, are the OCR's
    (punctuation only as a separator: a hidden "0666" never passes for a printed
    "06.66"); otherwise from the OCR. A layer word with no OCR word under it is text
    the page does not show, and goes.
    """
    n, m = len(layer), len(seen)
    if n == 0 or m == 0 or n > MAX_LAYER_PER_SEEN * m + 50:
        return Reconciled(tuple(seen), (), n, frozenset(range(m)))
    parent = list(range(n + m))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in _same_ink(_boxes(layer), _boxes(seen)):
        parent[find(i)] = find(n + j)
    groups: dict[int, tuple[list[int], list[int]]] = {}
    for i in range(n):
        groups.setdefault(find(i), ([], []))[0].append(i)
    for j in range(m):
        groups.setdefault(find(n + j), ([], []))[1].append(j)
    agreed = {
        root
        for root, (mine, theirs) in groups.items()
        if mine
        and theirs
        and _same_skeleton([layer[i].text for i in mine], [seen[j].text for j in theirs])
    }
    words: list[Word] = []
    kept: list[Word] = []
    ocr_kept: set[int] = set()
    for j, word in enumerate(seen):
        root = find(n + j)
        if root not in agreed:
            words.append(word)
            ocr_kept.add(j)
            continue
        mine, theirs = groups[root]
        if theirs[0] != j:
            continue  # the group was written at its first OCR word
        for i in mine:  # on the OCR's line, so the page reads in the OCR's order
            w = replace(layer[i], block=word.block, par=word.par, line=word.line)
            words.append(w)
            kept.append(w)
    dropped = n - len(kept)
    return Reconciled(tuple(words), tuple(kept), dropped, frozenset(ocr_kept))


def _boxes(words: Sequence[Word]) -> np.ndarray:
    return np.array(
        [(w.left, w.top, w.left + max(w.width, 1), w.top + max(w.height, 1)) for w in words],
        dtype=np.float64,
    ).reshape(-1, 4)


def _same_ink(a: np.ndarray, b: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (i, j) of boxes of ``a`` and ``b`` that share SAME_INK of the smaller one."""
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    pairs: list[tuple[int, int]] = []
    for start in range(0, len(a), _PAIR_CHUNK):
        c = a[start : start + _PAIR_CHUNK]
        dx = np.minimum(c[:, None, 2], b[None, :, 2]) - np.maximum(c[:, None, 0], b[None, :, 0])
        dy = np.minimum(c[:, None, 3], b[None, :, 3]) - np.maximum(c[:, None, 1], b[None, :, 1])
        inter = np.clip(dx, 0, None) * np.clip(dy, 0, None)
        area_c = (c[:, 2] - c[:, 0]) * (c[:, 3] - c[:, 1])
        smaller = np.minimum(area_c[:, None], area_b[None, :])
        for i, j in np.argwhere(inter >= SAME_INK * smaller):
            pairs.append((start + int(i), int(j)))
    return pairs


_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def _same_skeleton(layer: Sequence[str], seen: Sequence[str]) -> bool:
    ours = _skeleton(layer)
    return bool(ours) and ours == _skeleton(seen)


def _skeleton(texts: Sequence[str]) -> str:
    """Letters and digits of words read together, folded and lower case; any run of other
    signs is one separator, and none at the ends (OCR's punctuation is unsure)."""
    joined = fold(nfc("".join(texts))).lower()
    return _NOT_ALNUM.sub("·", joined).strip("·")
