"""Does a page open a new document? Read off the top of the page by layout (issue 22).

A dossier's file often holds several documents scanned one after another without a
cover sheet between them: an application, the decision on it, a letter. Each Decree
30 document opens with its own header, so a page opens a document when its top
carries the national motto (or the Party's) and, with it, something only a first page
has:

- a type heading under the motto (QUYẾT ĐỊNH, KẾ HOẠCH…, a form's ĐƠN ĐỀ NGHỊ…, a
  receipt's GIẤY TIẾP NHẬN HỒ SƠ…): ``heading``;
- the number line "Số: N/…" in the header's left column: ``number``;
- a letter's "V/v" line under its number: ``letter``.

A receipt's title opens a document even without the motto: ``receipt``.

Never an opening: a page without the motto in its top part (a decision's second
page, the rest of a letter), and a page whose top says it goes with another document:
"PHỤ LỤC", "(Kèm theo Quyết định số …)", "Ban hành kèm theo …" (an annex, or the
regulation a decision issues, which may repeat the motto and carry a heading of its
own). Pure layout work on the page's word boxes (or its text): no reading again.
"""

from __future__ import annotations

import re

from pipeline.extract.fields import (
    NUMBER_LABEL,
    VV_MARKER,
    Header,
    header_of,
    heading_of,
    pages_of,
)
from pipeline.extract.layout import Line, Page
from pipeline.model import PageResult

HEADING = "heading"
NUMBER = "number"
LETTER = "letter"
RECEIPT = "receipt"

_RECEIPT_TITLE = re.compile(r"^(?:giay|phieu) tiep nhan\b")
# What puts a page with another document: an annex, a text issued with a decision.
_ATTACHED = re.compile(r"^(?:\(?\s*(?:ban hanh )?kem theo\b|phu luc\b)")


def _top(page: Page, share: float, count: int) -> list[Line]:
    """The lines of the page's top ``share`` (with boxes) or its first ``count`` lines."""
    if page.has_boxes:
        return [ln for ln in page.lines if ln.has_box and ln.y0 < share * page.height]
    return page.lines[:count]


def _attached(page: Page) -> bool:
    return any(_ATTACHED.match(ln.folded) for ln in _top(page, 0.4, 20))


def _left(h: Header, line: Line) -> bool:
    if not h.page.has_boxes or h.split_x is None:
        return not h.centred
    return line.cx < h.split_x


def _below_motto(h: Header, lines: list[Line]) -> list[Line]:
    if h.page.has_boxes:
        bottom = max(ln.y1 for ln in h.motto)
        return [ln for ln in lines if ln.y0 >= bottom - 2]
    last = max(h.page.lines.index(m) for m in h.motto)
    return [ln for ln in lines if h.page.lines.index(ln) > last]


def opening(page: Page) -> str | None:
    """Why ``page`` opens a new document (HEADING, NUMBER, LETTER, RECEIPT), or None."""
    if not page.lines or _attached(page):
        return None
    h = header_of(page)
    if h is None:
        top = _top(page, 0.35, 12)
        return RECEIPT if any(_RECEIPT_TITLE.match(ln.folded) for ln in top) else None
    top = _top(page, 0.55, 30)
    for line in _below_motto(h, top):
        found = heading_of(line)
        if found is not None:
            return RECEIPT if _RECEIPT_TITLE.match(line.folded) else HEADING
    header = _top(page, 0.4, 20)
    for line in header:
        if NUMBER_LABEL.match(line.folded) and _left(h, line):
            return NUMBER
    for line in header:
        if VV_MARKER.match(line.text) and _left(h, line):
            return LETTER
    return None


def opens_document(result: PageResult) -> str | None:
    """Why the page of ``result`` opens a new document (see :func:`opening`), or None."""
    if result.blank or not (result.word_boxes or result.text.strip()):
        return None
    return opening(pages_of([result])[0])
