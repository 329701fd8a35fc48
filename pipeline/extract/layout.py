"""A document's pages as lines with boxes, for reading its fields by layout (Decree 30/2020).

Why not the running text alone: a Decree 30 header is two columns side by side (the
organ and "Số: …" on the left, the motto and "<place>, ngày …" on the right), and
Tesseract joins them into one line, or cuts the number line in two where a wide blank
was left for a number written by hand. So the page's OCR words (with their boxes) are
regrouped here: Tesseract's lines are cut at wide gaps into pieces, and pieces on one
row can be joined within one column. Text without boxes (a law from a database) gives
one line per text line, with no geometry; the rules then fall back to line order.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from pipeline.lang.textnorm import fold, nfc

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Word:
    text: str
    x0: int
    y0: int
    x1: int
    y1: int
    conf: float  # 0-100 as Tesseract gives it (a text layer's words: 95)

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2

    @property
    def height(self) -> int:
        return self.y1 - self.y0


def union(boxes: Iterable[Box]) -> Box | None:
    boxes = list(boxes)
    if not boxes:
        return None
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


@dataclass
class Line:
    """A run of words on one row of one page (or one line of plain text)."""

    page: int  # 0-based, in the document
    words: list[Word] = field(default_factory=list)
    plain: str | None = None  # text without boxes

    @cached_property
    def text(self) -> str:
        if self.plain is not None:
            return nfc(self.plain).strip()
        return nfc(" ".join(w.text for w in self.words)).strip()

    @cached_property
    def folded(self) -> str:
        return fold(self.text).lower()

    @property
    def box(self) -> Box | None:
        return union((w.x0, w.y0, w.x1, w.y1) for w in self.words)

    @property
    def has_box(self) -> bool:
        return bool(self.words)

    @property
    def cx(self) -> float:
        b = self.box
        return (b[0] + b[2]) / 2 if b else 0.0

    @property
    def y0(self) -> int:
        b = self.box
        return b[1] if b else 0

    @property
    def y1(self) -> int:
        b = self.box
        return b[3] if b else 0

    @property
    def height(self) -> int:
        hs = sorted(w.height for w in self.words)
        return hs[len(hs) // 2] if hs else 0

    @property
    def conf(self) -> float:
        """Mean word confidence, 0-1 (1.0 for plain text, which was not read by OCR)."""
        if not self.words:
            return 1.0
        return sum(w.conf for w in self.words) / len(self.words) / 100.0

    def upper_share(self) -> float:
        letters = [c for c in self.text if c.isalpha()]
        if not letters:
            return 0.0
        return sum(1 for c in letters if c.isupper()) / len(letters)


@dataclass
class Page:
    """One page of the document: its lines in reading order, and its size."""

    index: int
    width: int
    height: int
    lines: list[Line]
    words: list[Word]

    @property
    def has_boxes(self) -> bool:
        return bool(self.words)


def _split_at_gaps(words: list[Word], gap_factor: float) -> list[list[Word]]:
    """Cut a Tesseract line where the space between two words is wider than a column gap."""
    if not words:
        return []
    words = sorted(words, key=lambda w: w.x0)
    h = statistics.median(w.height for w in words) or 1
    pieces = [[words[0]]]
    for prev, w in itertools.pairwise(words):
        if w.x0 - prev.x1 > gap_factor * h:
            pieces.append([w])
        else:
            pieces[-1].append(w)
    return pieces


def _echoes(words: list[Word]) -> set[int]:
    """Indexes of words that repeat a neighbour: a second reading of the same ink (the
    page's second look over a line Tesseract had read) gives "nghỉ nghỉ", "h hè".

    A word is an echo when most of its width lies inside another word on its row and
    its text is part of that word's; of two equal readings the less sure one goes.
    """
    out: set[int] = set()
    order = sorted(range(len(words)), key=lambda i: words[i].x0)
    for n, i in enumerate(order):
        a = words[i]
        for j in order[n + 1 : n + 4]:
            b = words[j]
            overlap = min(a.x1, b.x1) - max(a.x0, b.x0)
            if overlap <= 0 or min(a.y1, b.y1) <= max(a.y0, b.y0):
                continue
            fa, fb = fold(a.text).lower(), fold(b.text).lower()
            if fa == fb:
                out.add(i if (a.conf, a.x1 - a.x0) < (b.conf, b.x1 - b.x0) else j)
            elif fa in fb and overlap >= 0.6 * (a.x1 - a.x0):
                out.add(i)
            elif fb in fa and overlap >= 0.6 * (b.x1 - b.x0):
                out.add(j)
    return out


def page_from_boxes(
    index: int,
    width: int,
    height: int,
    word_boxes: Sequence[Sequence[object]],
    gap_factor: float = 1.2,
) -> Page:
    """Lines from OCR word boxes ``(text, x0, y0, x1, y1, conf, block, par, line)``."""
    groups: dict[tuple[int, int, int], list[Word]] = {}
    read: list[tuple[Word, tuple[int, int, int]]] = []
    for wb in word_boxes:
        text, x0, y0, x1, y1, conf, block, par, line = wb
        if not str(text).strip():
            continue
        w = Word(nfc(str(text)), int(x0), int(y0), int(x1), int(y1), float(conf))
        read.append((w, (int(block), int(par), int(line))))
    echoes = _echoes([w for w, _key in read])
    words: list[Word] = []
    for i, (w, key) in enumerate(read):
        if i not in echoes:
            words.append(w)
            groups.setdefault(key, []).append(w)
    lines = [
        Line(index, piece)
        for group in groups.values()
        for piece in _split_at_gaps(group, gap_factor)
    ]
    lines.sort(key=lambda ln: (ln.y0, ln.box[0] if ln.box else 0))
    return Page(index, width, height, lines, words)


def page_from_text(index: int, text: str) -> Page:
    """Lines of plain text (no geometry): one per non-empty line."""
    lines = [Line(index, plain=t) for t in nfc(text).splitlines() if t.strip()]
    return Page(index, 0, 0, lines, [])


def same_row(a: Line, b: Line) -> bool:
    """Two pieces on one baseline: their vertical extents overlap by half the smaller."""
    if not (a.has_box and b.has_box):
        return False
    top, bottom = max(a.y0, b.y0), min(a.y1, b.y1)
    return bottom - top >= 0.5 * min(a.y1 - a.y0, b.y1 - b.y0)


def row_words(page: Page, anchor: Word, x_min: float, x_max: float) -> list[Word]:
    """The words on ``anchor``'s row between two x positions, left to right."""
    out = []
    for w in page.words:
        top, bottom = max(w.y0, anchor.y0), min(w.y1, anchor.y1)
        if bottom - top < 0.4 * min(w.height, anchor.height) or not w.height:
            continue
        if x_min <= w.cx <= x_max:
            out.append(w)
    return sorted(out, key=lambda w: w.x0)
