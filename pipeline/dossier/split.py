"""Where a scanned stack splits into documents: cover sheets, receipts, and what a page
says (issues 13 and 22).

Offices scan whole feeder loads at once. Three kinds of page start a new document:

- a **cover sheet** (``sohoa cover-sheet``): a QR holding the dossier code behind the
  marker :data:`COVER_MARK`, or any QR holding a code on a page that carries hardly
  any other text (an office's own separator sheets). It is not content: it is left out
  of the archive (``split.keep_cover_sheets``) and recorded; a blank page right after it
  is its back (duplex scanning) and is left out too;
- a **content page with a dossier code**, typically the one-stop shop's receipt (Giấy
  tiếp nhận hồ sơ, QR at the top left, Circular 01/2023): it starts a new document,
  and, being content, is that document's first page. Consecutive pages carrying the
  same code (a printout with its QR on every page) stay one document.

- a **page that opens a document by what it says** (``split.by_content``, on by
  default): the national motto with a type heading, a "Số: …" number line or a "V/v"
  line under it, or a receipt's title (:mod:`pipeline.extract.opening`). It cuts
  only inside what the separators made (cover sheets still win), and the document it
  starts keeps the dossier code of the separator before it, if any. A page without
  the motto (a decision's second page) or one that says it goes with another document
  ("PHỤ LỤC", "Kèm theo Quyết định số …") never cuts.

A QR whose text is not a valid dossier code (an ID card's QR, a link, a bank
transfer) is not a separator; it is recorded by page, length and hash, never by its
text: the QR of a citizen's ID card holds the name, number and address.

Pure functions of the page results, so the same pages always split the same way; the
ledger records the split once (``Ledger.record_split``) and every re-run reuses it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

from pipeline.config import SplitConfig
from pipeline.dossier.codes import code_from_payloads
from pipeline.dossier.place import COVER as PLACE_COVER
from pipeline.dossier.place import Place, valid_component, valid_kind, valid_procedure
from pipeline.errors import UsageError
from pipeline.extract.opening import opens_document
from pipeline.lang.textnorm import fold, nfc
from pipeline.model import PageResult

COVER_MARK = "SOHOA-COVER"
RECEIPT_WORDS = ("giay tiep nhan", "tiep nhan ho so", "phieu tiep nhan", "hen tra ket qua")

COVER = "cover"
RECEIPT = "receipt"
CODE_PAGE = "qr"  # another document carrying its dossier code
CONTENT = "content"  # a page that opens a document by what it says (no separator)


# The document's place in the dossier (issue 21) rides after the type as tagged fields,
# ``c=<component>``, ``k=<kind>``, ``p=<procedure>``: a reader that knows only
# ``<code>|<type>`` still reads newer sheets, and sheets printed before still read.
_PLACE_TAGS = {"c": "component_code", "k": "kind", "p": "procedure_code"}


@dataclass(frozen=True)
class CoverPayload:
    """What sohoa's cover-sheet QR holds:
    ``SOHOA-COVER|<code>[|<type>[|c=<component>][|k=<kind>][|p=<procedure>]]``."""

    code: str
    doc_type: str | None = None
    place: Place | None = None

    def text(self) -> str:
        parts = [COVER_MARK, self.code]
        tags = []
        if self.place is not None:
            values = {
                "c": self.place.component_code,
                "k": self.place.kind,
                "p": self.place.procedure_code,
            }
            tags = [f"{tag}={value}" for tag, value in values.items() if value]
        if self.doc_type or tags:
            parts.append(nfc(self.doc_type) if self.doc_type else "")
        return "|".join(parts + tags)


def _cover_place(tags: Sequence[str]) -> Place | None:
    """The place a cover's tagged fields give; a field that does not check out is left out
    (a hand-made sheet must not stop the stack), unknown tags are for newer readers."""
    found: dict[str, str | None] = {}
    for item in tags:
        tag, sep, value = item.partition("=")
        if sep and tag.strip().lower() in _PLACE_TAGS:
            found[_PLACE_TAGS[tag.strip().lower()]] = value
    try:
        component = found.get("component_code")
        component = valid_component(component) if component else None
        kind = valid_kind(found["kind"]) if found.get("kind") else None
        procedure = found.get("procedure_code")
        procedure = valid_procedure(procedure) if procedure else None
    except UsageError:
        return None
    place = Place(component, kind, procedure, PLACE_COVER)
    return None if place.empty else place


def parse_cover(payload: str) -> CoverPayload | None:
    """A cover-sheet payload, or None when ``payload`` is not one (or its code is invalid)."""
    text = nfc(payload).strip()
    if not text.upper().startswith(COVER_MARK + "|"):
        return None
    parts = text.split("|")
    code = code_from_payloads([parts[1]]) if len(parts) > 1 else None
    if code is None:
        return None
    doc_type = parts[2].strip() if len(parts) > 2 and parts[2].strip() else None
    return CoverPayload(code, doc_type, _cover_place(parts[3:]))


@dataclass(frozen=True)
class IgnoredCode:
    """A decoded symbol that is not a dossier code: where, how long, a hash (never the text)."""

    source_page: int  # 1-based
    chars: int
    sha256: str


@dataclass(frozen=True)
class Segment:
    """One document of the stack, in source page indexes (0-based)."""

    first: int  # first archived page
    last: int  # last archived page (inclusive)
    started_by: str | None  # COVER, RECEIPT, CODE_PAGE, or None (the stack's own start)
    separator_page: int | None = None  # the cover sheet's or code page's index
    code: str | None = None  # the dossier code the separator holds
    cover_type: str | None = None  # the type printed on sohoa's cover sheet
    cover_kept: bool = False
    skipped: tuple[tuple[int, str], ...] = ()  # (index, why) of pages left out before it
    # A document started by its content: what its first page showed (see
    # pipeline.extract.opening), and the kind of separator its code came from.
    opened_by: str | None = None
    code_from: str | None = None
    cover_place: Place | None = None  # the place in the dossier printed on the cover sheet

    def info(self) -> dict[str, object]:
        """The segment as the ledger keeps it (JSON) and the metadata shows it (1-based)."""
        place = self.cover_place
        out: dict[str, object] = {
            "started_by": self.started_by,
            "separator_page": None if self.separator_page is None else self.separator_page + 1,
            "separator_code": self.code,
            "cover_type": self.cover_type,
            "cover_archived": self.cover_kept,
            "skipped_pages": [{"source_page": i + 1, "reason": why} for i, why in self.skipped],
            **(
                {
                    "cover_place": {
                        "component_code": place.component_code,
                        "kind": place.kind,
                        "procedure_code": place.procedure_code,
                    }
                }
                if place is not None
                else {}
            ),
        }
        if self.started_by == CONTENT:
            out.update(opened_by=self.opened_by, code_from=self.code_from)
        return out

    @property
    def code_source(self) -> str:
        """Where this document's dossier code came from: "cover" or "qr"."""
        return "cover" if (self.code_from or self.started_by) == COVER else "qr"

    def info_json(self) -> str:
        return json.dumps(self.info(), ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True)
class SplitPlan:
    segments: tuple[Segment, ...]
    ignored_codes: tuple[IgnoredCode, ...] = ()
    empty_separators: tuple[int, ...] = ()  # cover sheets with nothing after them (indexes)
    unassigned: tuple[int, ...] = field(default=())  # pages in no document (only separators)

    @property
    def is_split(self) -> bool:
        """True unless the stack is one document of every page, started by nothing."""
        if len(self.segments) != 1:
            return True
        seg = self.segments[0]
        return seg.started_by is not None or seg.first != 0 or bool(seg.skipped)


def _code_of(result: PageResult) -> tuple[str | None, CoverPayload | None]:
    cover = next((c for c in map(parse_cover, result.codes) if c), None)
    if cover:
        return cover.code, cover
    return code_from_payloads(result.codes), None


def _kind(result: PageResult, cover: CoverPayload | None, cfg: SplitConfig) -> str:
    if cover is not None or result.words <= cfg.cover_max_words:
        return COVER
    folded = fold(result.text).lower()
    if any(w in folded for w in RECEIPT_WORDS):
        return RECEIPT
    return CODE_PAGE


def ignored_codes(results: Sequence[PageResult]) -> tuple[IgnoredCode, ...]:
    out = []
    for r in results:
        for text in r.codes:
            if parse_cover(text) is None and code_from_payloads([text]) is None:
                digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
                out.append(IgnoredCode(r.index + 1, len(text), digest))
    return tuple(out)


def plan_split(results: Sequence[PageResult], cfg: SplitConfig) -> SplitPlan:
    """Cut the stack's pages (in source order) into documents."""
    pages = sorted(results, key=lambda r: r.index)
    ignored = ignored_codes(pages)
    if not cfg.enabled or not pages:
        return SplitPlan((Segment(0, max(0, len(pages) - 1), None),) if pages else (), ignored)
    segments: list[Segment] = []
    empty: list[int] = []
    current: dict | None = {"first": None, "started_by": None, "skipped": []}
    previous_code: str | None = None
    skip_back = False

    def close(last: int) -> None:
        if current is None:
            return
        if current["first"] is None:
            if current["started_by"] == COVER:
                empty.append(current["separator_page"])
            return
        segments.append(
            Segment(
                first=current["first"],
                last=last,
                started_by=current["started_by"],
                separator_page=current.get("separator_page"),
                code=current.get("code"),
                cover_type=current.get("cover_type"),
                cover_kept=current.get("cover_kept", False),
                skipped=tuple(current["skipped"]),
                cover_place=current.get("cover_place"),
            )
        )

    last_content = -1
    for r in pages:
        i = r.index
        code, cover = _code_of(r)
        kind = _kind(r, cover, cfg) if code else None
        if kind == COVER:
            close(last_content)
            keep = cfg.keep_cover_sheets
            current = {
                "first": i if keep else None,
                "started_by": COVER,
                "separator_page": i,
                "code": code,
                "cover_type": cover.doc_type if cover else None,
                "cover_place": cover.place if cover else None,
                "cover_kept": keep,
                "skipped": [] if keep else [(i, "cover sheet")],
            }
            if keep:
                last_content = i
            skip_back, previous_code = cfg.drop_cover_backs, None
            continue
        if skip_back and r.blank and current is not None and current["first"] is None:
            current["skipped"].append((i, "back of the cover sheet"))
            skip_back = False
            continue
        skip_back = False
        if kind in (RECEIPT, CODE_PAGE) and code != previous_code:
            close(last_content)
            current = {
                "first": i,
                "started_by": kind,
                "separator_page": i,
                "code": code,
                "skipped": [],
            }
        elif current["first"] is None:
            current["first"] = i
        last_content = i
        previous_code = code if kind in (RECEIPT, CODE_PAGE) else None
    close(last_content)
    if cfg.by_content:
        segments = _by_content(segments, pages)
    in_docs = {i for s in segments for i in range(s.first, s.last + 1)}
    unassigned = tuple(r.index for r in pages if r.index not in in_docs)
    return SplitPlan(tuple(segments), ignored, tuple(empty), unassigned)


def _by_content(segments: Sequence[Segment], pages: Sequence[PageResult]) -> list[Segment]:
    """Each separator's document cut again where a page opens a new document.

    The first content page of a segment is never a cut (a kept cover sheet is not a
    document of its own); a piece after a cut keeps the segment's dossier code.
    """
    by_index = {r.index: r for r in pages}
    out: list[Segment] = []
    for seg in segments:
        start = seg.first + (1 if seg.started_by == COVER and seg.cover_kept else 0)
        cuts = []
        for i in range(start + 1, seg.last + 1):
            why = opens_document(by_index[i]) if i in by_index else None
            if why:
                cuts.append((i, why))
        if not cuts:
            out.append(seg)
            continue
        out.append(replace(seg, last=cuts[0][0] - 1))
        ends = [i - 1 for i, _why in cuts[1:]] + [seg.last]
        for (first, why), last in zip(cuts, ends, strict=True):
            out.append(
                Segment(
                    first=first,
                    last=last,
                    started_by=CONTENT,
                    code=seg.code,
                    opened_by=why,
                    code_from=seg.started_by if seg.code else None,
                )
            )
    return out


def segment_from_info(first: int, last: int, info_json: str | None) -> Segment:
    """The segment a ledger row records (1-based pages, JSON info) back as a Segment."""
    info = json.loads(info_json) if info_json else {}
    sep = info.get("separator_page")
    placed = info.get("cover_place")
    return Segment(
        first=first - 1,
        last=last - 1,
        started_by=info.get("started_by"),
        separator_page=None if sep is None else int(sep) - 1,
        code=info.get("separator_code"),
        cover_type=info.get("cover_type"),
        cover_kept=bool(info.get("cover_archived")),
        skipped=tuple(
            (int(p["source_page"]) - 1, p["reason"]) for p in info.get("skipped_pages", [])
        ),
        opened_by=info.get("opened_by"),
        code_from=info.get("code_from"),
        cover_place=(
            Place(
                placed.get("component_code"),
                placed.get("kind"),
                placed.get("procedure_code"),
                PLACE_COVER,
            )
            if isinstance(placed, dict)
            else None
        ),
    )


def as_dict(plan: SplitPlan) -> dict[str, object]:
    return asdict(plan)
