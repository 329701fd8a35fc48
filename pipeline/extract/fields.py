"""The document's own fields read off its pages (Decree 30/2020 layout → Circular 05/2025).

What is read, and where (Decree 30/2020 Annex I):

- the header's left column: the governing body (``UBND TỈNH LÀO CAI``) above the
  issuing organ (``SỞ XÂY DỰNG``; an organ may take two lines: ``ỦY BAN NHÂN DÂN`` /
  ``TỈNH LÀO CAI``), then the number line ``Số: 263/KH-UBND``;
- the right column: the motto, then ``<place>, ngày … tháng … năm …``;
- under the header, the type heading (``QUYẾT ĐỊNH``…) and the subject under it; a
  letter has no heading but ``V/v …`` under its number (a công văn); a citizen's form
  has a centred motto and a title (``ĐƠN ĐỀ NGHỊ …``, ``TỜ KHAI …``), a receipt its
  title ``GIẤY TIẾP NHẬN HỒ SƠ …``;
- the signer block on the right at the end: the authority lines (``KT. GIÁM ĐỐC`` /
  ``PHÓ GIÁM ĐỐC``), then the printed name (a rank before it is left out).

Each value comes with its page, box and a confidence, or is None. A wrong number is
worse than none (a search by number would find the wrong document), so every rule
refuses rather than guesses: a page without the motto (not a Decree 30 document) gets
no field at all, a number must sit on the "Số" row of the header's left column, a date
must be the "<place>, ngày" line of the header, a name must look like a name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

from pipeline.extract.layout import Box, Line, Page, Word, page_from_boxes, page_from_text, union
from pipeline.lang.textnorm import fold, nfc

FIELD_NAMES = (
    "organ_name",
    "governing_body",
    "code_number",
    "code_notation",
    "issued_date",
    "place",
    "type_name",
    "subject",
    "signer_name",
    "signer_position",
)


@dataclass(frozen=True)
class FieldValue:
    """One field as read: the value, the page (1-based, in the document), box, confidence."""

    value: str | int
    page: int | None = None
    box: Box | None = None
    confidence: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "page": self.page,
            "box": list(self.box) if self.box else None,
            "confidence": None if self.confidence is None else round(self.confidence, 2),
        }


@dataclass(frozen=True)
class DocumentFields:
    """The fields read off a document; None where the page does not say (or we are unsure)."""

    organ_name: FieldValue | None = None
    governing_body: FieldValue | None = None
    code_number: FieldValue | None = None
    code_notation: FieldValue | None = None
    issued_date: FieldValue | None = None
    place: FieldValue | None = None
    type_name: FieldValue | None = None
    subject: FieldValue | None = None
    signer_name: FieldValue | None = None
    signer_position: FieldValue | None = None

    def value(self, name: str) -> Any:
        fv = getattr(self, name)
        return None if fv is None else fv.value

    def values(self) -> dict[str, Any]:
        return {f.name: self.value(f.name) for f in fields(self)}

    def evidence(self) -> dict[str, Any]:
        """Where each value was read: page, box, confidence (None for a field not read)."""
        return {
            f.name: (None if getattr(self, f.name) is None else getattr(self, f.name).as_dict())
            for f in fields(self)
        }


# ---------------------------------------------------------------- vocabulary

_MOTTO = ("xa hoi chu nghia", "doc lap - tu do", "doc lap tu do", "tu do - hanh phuc")
_PARTY = ("dang cong san viet nam",)
# Headings of Decree 30 art. 7 (and laws), folded → as printed.
_TYPES = {
    fold(t).lower(): t
    for t in (
        "QUYẾT ĐỊNH",
        "NGHỊ QUYẾT",
        "NGHỊ ĐỊNH",
        "CHỈ THỊ",
        "THÔNG TƯ",
        "THÔNG TƯ LIÊN TỊCH",
        "THÔNG BÁO",
        "KẾ HOẠCH",
        "TỜ TRÌNH",
        "BÁO CÁO",
        "BIÊN BẢN",
        "HƯỚNG DẪN",
        "CHƯƠNG TRÌNH",
        "PHƯƠNG ÁN",
        "ĐỀ ÁN",
        "DỰ ÁN",
        "QUY CHẾ",
        "QUY ĐỊNH",
        "CÔNG ĐIỆN",
        "GIẤY MỜI",
        "GIẤY GIỚI THIỆU",
        "GIẤY ỦY QUYỀN",
        "GIẤY NGHỈ PHÉP",
        "PHIẾU GỬI",
        "PHIẾU CHUYỂN",
        "PHIẾU BÁO",
        "HỢP ĐỒNG",
        "BẢN GHI NHỚ",
        "BẢN THỎA THUẬN",
        "LUẬT",
        "BỘ LUẬT",
        "HIẾN PHÁP",
        "PHÁP LỆNH",
        "LỆNH",
        "GIẤY CHỨNG NHẬN",
        "GIẤY PHÉP",
    )
}
_FORM_WORDS = {"don": "ĐƠN", "to khai": "TỜ KHAI"}
RECEIPT_TITLE = "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ"
# Words an organ's own line starts with; a header line that starts otherwise continues
# the line above ("ỦY BAN NHÂN DÂN" / "TỈNH LÀO CAI" is one organ on two lines).
_ORGAN_STARTS = tuple(
    fold(w).lower()
    for w in (
        "ỦY BAN",
        "UỶ BAN",
        "UBND",
        "HỘI ĐỒNG",
        "HĐND",
        "SỞ",
        "PHÒNG",
        "CỤC",
        "CHI CỤC",
        "TỔNG CỤC",
        "BỘ",
        "BAN",
        "VĂN PHÒNG",
        "TRUNG TÂM",
        "CÔNG AN",
        "QUỐC HỘI",
        "CHÍNH PHỦ",
        "THỦ TƯỚNG",
        "TÒA ÁN",
        "TOÀ ÁN",
        "VIỆN",
        "TRƯỜNG",
        "BỆNH VIỆN",
        "ĐẢNG ỦY",
        "ĐẢNG BỘ",
        "THÀNH ỦY",
        "TỈNH ỦY",
        "HUYỆN ỦY",
        "ĐOÀN",
        "HỘI",
        "KHO BẠC",
        "CHI NHÁNH",
        "BẢO HIỂM",
        "CỤC THUẾ",
        "CHI CỤC THUẾ",
    )
)
_POSITION_WORDS = tuple(
    fold(w).lower()
    for w in (
        "CHỦ TỊCH",
        "GIÁM ĐỐC",
        "TRƯỞNG",
        "BỘ TRƯỞNG",
        "THỨ TRƯỞNG",
        "CHÁNH",
        "PHÓ",
        "BÍ THƯ",
        "THỦ TƯỚNG",
        "TỔNG",
        "NGƯỜI LÀM ĐƠN",
        "NGƯỜI TIẾP NHẬN",
        "NGƯỜI KHAI",
        "NGƯỜI ĐỀ NGHỊ",
        "NGƯỜI YÊU CẦU",
        "NGƯỜI NỘP",
        "THỦ TRƯỞNG",
        "TRƯỞNG BAN",
        "KẾ TOÁN",
    )
)
_POSITION_PREFIX = re.compile(r"^(?:KT|TM|TL|TUQ|Q|T/M|K/T|T/L)\s*[.:]\s*\S", re.IGNORECASE)
_RANKS = tuple(
    nfc(r)
    for r in (
        "Đại tướng",
        "Thượng tướng",
        "Trung tướng",
        "Thiếu tướng",
        "Đại tá",
        "Thượng tá",
        "Trung tá",
        "Thiếu tá",
        "Đại úy",
        "Thượng úy",
        "Trung úy",
        "Thiếu úy",
        "PGS.TS.",
        "PGS. TS.",
        "GS.TS.",
        "GS. TS.",
        "TS.",
        "ThS.",
        "Ths.",
        "GS.",
        "BS.",
        "KS.",
        "CN.",
    )
)
_STOP_SUBJECT = tuple(
    fold(w).lower()
    for w in (
        "Căn cứ",
        "Kính gửi",
        "Thực hiện",
        "QUYẾT ĐỊNH:",
        "QUYẾT NGHỊ:",
        "Chương",
        "Điều",
        "Phần",
        "LỜI NÓI ĐẦU",
        "Khóa",
        "Khoá",
        "Nơi nhận",
    )
)

_NUMBER_LABEL = re.compile(
    r"^(?:(?:bo\s+)?luat\s+|phap\s+lenh\s+)?so(?:\s*[:.;,]|\s*(?=\d)|\s*(?=/)|\s*$)",
    re.IGNORECASE,
)
_NUMBER_REST = re.compile(r"^(?P<before>[^/]*)/\s*(?P<notation>\S.*)$")
_NOTATION_OK = re.compile(r"^[0-9A-ZĐ][0-9A-Za-zĐđ]*(?:[-/.][0-9A-Za-zĐđ]+| \d{1,2})+$")
_DATE = re.compile(
    r",\s*ngay\s+(?P<d>\d{1,2})\s+thang\s+(?P<m>\d{1,2})\s+nam\s+(?P<y>\d{4})\b", re.IGNORECASE
)
_VV = re.compile(r"^(?:v\s*/\s*[vwy]|vv)\b\.?\s*", re.IGNORECASE)
_NAME_WORD = re.compile(r"^[A-ZĐÀ-Ỹ][a-zđà-ỹ]*$")

MIN_WORD_CONF = 75.0  # digits of a number read below this are not trusted (handwriting)


# ---------------------------------------------------------------- the document


def pages_of(results: Sequence[Any]) -> list[Page]:
    """The document's pages from page results (word boxes) or, lacking them, their text."""
    out = []
    for i, r in enumerate(results):
        if getattr(r, "word_boxes", None):
            out.append(page_from_boxes(i, r.width_px, r.height_px, r.word_boxes))
        else:
            out.append(page_from_text(i, r.text))
    return out


def read_document_fields(results: Sequence[Any]) -> DocumentFields:
    """The fields of one document from its archived pages' results (page 1 first)."""
    return extract(pages_of(results))


def read_text_fields(text: str) -> DocumentFields:
    """The fields of a document known only as text (one page, no boxes)."""
    return extract([page_from_text(0, text)])


def _is_motto(line: Line) -> bool:
    """The national motto (or the Party's header), not a sentence that quotes it."""
    if len(line.text) > 60:
        return False
    if "doc lap" not in line.folded and line.upper_share() < 0.7:
        return False
    return any(m in line.folded for m in _MOTTO + _PARTY)


def _is_rule(line: Line) -> bool:
    letters = sum(c.isalnum() for c in line.text)
    return letters <= max(1, len(line.text) // 5)


def _fv(value: Any, lines: Sequence[Line] = (), words: Sequence[Word] = (), factor=1.0):
    """A field value with the union box and mean confidence of its evidence."""
    words = list(words) or [w for ln in lines for w in ln.words]
    page = lines[0].page + 1 if lines else None
    if words:
        box = union((w.x0, w.y0, w.x1, w.y1) for w in words)
        conf = sum(w.conf for w in words) / len(words) / 100.0
    else:
        box, conf = None, 0.9
    return FieldValue(value, page, box, round(min(1.0, conf * factor), 3))


@dataclass
class _Header:
    page: Page
    motto: list[Line]
    split_x: float | None  # left column ends here (None: no columns, or no boxes)
    centred: bool  # a citizen's form: the motto spans the page, no organ column


def _cut_motto(page: Page) -> None:
    """Cut a header line that runs from the left column into the motto ("UBND … CỘNG HÒA")."""
    out = []
    for line in page.lines:
        words = line.words
        at = next(
            (
                i
                for i in range(1, len(words) - 1)
                if fold(words[i].text).lower() == "cong"
                and fold(words[i + 1].text).lower().startswith("hoa")
            ),
            None,
        )
        if at is None or line.y0 > 0.3 * page.height:
            out.append(line)
            continue
        out += [Line(line.page, words[:at]), Line(line.page, words[at:])]
    page.lines[:] = sorted(out, key=lambda ln: (ln.y0, ln.box[0] if ln.box else 0))


def _header(page: Page) -> _Header | None:
    if page.has_boxes:
        _cut_motto(page)
    limit = 0.45 * page.height if page.has_boxes else None
    found = [
        i
        for i, ln in enumerate(page.lines[:40])
        if _is_motto(ln) and (limit is None or ln.y0 < limit)
    ]
    if not found:
        return None
    # The motto's own lines: the first one and those right after it (with boxes, any
    # piece level with them: the motto is often cut in two by a stamp over it).
    motto = [page.lines[found[0]]]
    for i in found[1:]:
        if i - found[0] <= 3 if not page.has_boxes else i - found[0] <= 6:
            motto.append(page.lines[i])
    if not page.has_boxes:
        return _Header(page, motto, None, False)
    box = union(ln.box for ln in motto)
    centre = (box[0] + box[2]) / 2
    centred = abs(centre - page.width / 2) < 0.08 * page.width and box[0] < 0.35 * page.width
    return _Header(page, motto, None if centred else box[0] - 0.01 * page.width, centred)


def _in_left(h: _Header, line: Line) -> bool:
    if h.split_x is None:
        return not h.centred
    return line.box[2] <= h.split_x + 0.03 * h.page.width and line.cx < h.split_x


def _in_right(h: _Header, line: Line) -> bool:
    return h.split_x is None or line.cx > h.split_x


# ---------------------------------------------------------------- number and notation


def _number(h: _Header) -> tuple[FieldValue | None, FieldValue | None, Line | None]:
    """``Số: 263/KH-UBND`` in the left column (or, without boxes, a line of its own)."""
    page = h.page
    for line in page.lines[:60]:
        if page.has_boxes and (line.y0 > 0.45 * page.height or not _in_left(h, line)):
            continue
        label = _NUMBER_LABEL.match(line.folded)
        if not label:
            continue
        if page.has_boxes:
            # The whole row of the left column: the number may be far from "Số:".
            first = line.words[0]
            right = h.split_x if h.split_x is not None else page.width
            row = [
                w
                for w in page.words
                if w.x0 >= first.x0 - 2
                and w.cx < right
                and min(w.y1, first.y1) - max(w.y0, first.y0) >= 0.4 * min(w.height, first.height)
            ]
            row.sort(key=lambda w: w.x0)
            # The notation ends where a column gap opens (the date line may start there).
            at = next((i for i, w in enumerate(row) if "/" in w.text), None)
            if at is not None:
                end = at + 1
                while end < len(row) and row[end].x0 - row[end - 1].x1 < 0.8 * first.height:
                    end += 1
                row = row[:end]
            text = nfc(" ".join(w.text for w in row))
            folded = fold(text).lower()
            m = _NUMBER_LABEL.match(folded)
            rest = text[m.end() :] if m and len(folded) == len(text) else None
            if rest is None:
                continue
        else:
            row = []
            rest = line.text[label.end() :] if len(line.folded) == len(line.text) else None
            if rest is None:
                continue
        parts = _NUMBER_REST.match(rest)
        if not parts:
            return None, None, line
        notation = re.sub(r"[\s.,;:]+$", "", parts["notation"]).strip()
        notation = re.sub(r"\s*([-/])\s*", r"\1", notation)
        if not _NOTATION_OK.match(notation) or sum(c.isupper() for c in notation) < 2:
            notation = None
        # Only digits before the slash make a number: "4," is a handwritten number misread.
        before = parts["before"].strip()
        number = int(before) if re.fullmatch(r"\d{1,5}", before) else None
        num_fv = not_fv = None
        if page.has_boxes:
            digits = [w for w in row if re.fullmatch(r"\d{1,5}/?\S*", w.text) or w.text.isdigit()]
            digit_words = [w for w in row if any(c.isdigit() for c in w.text.split("/")[0])]
            slash = next((i for i, w in enumerate(row) if "/" in w.text), None)
            if number is not None:
                used = [w for w in digit_words[:2]] or digits[:1]
                if not used or min(w.conf for w in used) < MIN_WORD_CONF:
                    number = None
                else:
                    num_fv = _fv(number, [line], used)
            # The slash must open its word or follow the number's digits: "J2026/QĐ-UBND"
            # is a slash misread, and what follows the next slash is not the notation.
            head = row[slash].text.split("/", 1)[0] if slash is not None else ""
            if head and not head.isdigit():
                number = notation = num_fv = None
            if notation is not None and slash is not None:
                not_fv = _fv(notation, [line], row[slash:])
        else:
            if number is not None:
                num_fv = _fv(number, [line])
            if notation is not None:
                not_fv = _fv(notation, [line])
        return num_fv, not_fv, line
    return None, None, None


# ---------------------------------------------------------------- date and place

_PLACE_WORD = re.compile(r"^(?:[A-ZĐÀ-Ỹ][a-zđà-ỹ]*\.?|TP\.?|[A-ZĐÀ-Ỹ]{2,})$")


def _date_in(line: Line) -> tuple[str, str, int] | None:
    """(iso date, place, index of the comma) of a ``<place>, ngày … năm …`` line."""
    if len(line.folded) != len(line.text):
        return None
    m = _DATE.search(line.folded)
    if not m:
        return None
    try:
        day = date(int(m["y"]), int(m["m"]), int(m["d"]))
    except ValueError:
        return None
    if not 1945 <= day.year <= 2100:
        return None
    before = line.text[: m.start()].strip()
    words = before.split()
    place_words: list[str] = []
    for word in reversed(words):
        if not _PLACE_WORD.match(word) or len(place_words) >= 4:
            break
        place_words.insert(0, word)
    place = " ".join(place_words)
    if not place:
        return None
    return day.isoformat(), place, m.start()


def _date(
    h: _Header, pages: Sequence[Page], header_bottom: float | None, form: bool
) -> tuple[FieldValue | None, FieldValue | None]:
    page = h.page
    candidates = []
    for line in page.lines[:80]:
        if page.has_boxes:
            if header_bottom is not None and line.y0 > header_bottom:
                continue
            if not _in_right(h, line) and not h.centred:
                continue
        found = _date_in(line)
        if found:
            candidates.append((line, found))
            break
    if not candidates and form:  # a form is dated above its signature, at the end
        for p in reversed(pages):
            for line in reversed(p.lines):
                found = _date_in(line)
                if found and (not p.has_boxes or line.cx > 0.4 * p.width):
                    candidates.append((line, found))
                    break
            if candidates:
                break
    if not candidates:
        return None, None
    line, (iso, place, comma) = candidates[0]
    if not line.has_box:
        return _fv(iso, [line]), _fv(place, [line])
    # Words up to the comma are the place; from "ngày" on, the date.
    pos, place_words, date_words = 0, [], []
    place_start = line.text.rfind(place, 0, comma + 1)
    for w in line.words:
        start = line.text.find(w.text, pos)
        pos = start + len(w.text)
        if start >= comma or (start < comma < pos and "," in w.text and w.text[-1] != ","):
            date_words.append(w)
        elif pos > place_start:
            place_words.append(w)
    return _fv(iso, [line], date_words or line.words), _fv(place, [line], place_words)


# ---------------------------------------------------------------- organ


def _organ(h: _Header, number_line: Line | None) -> tuple[FieldValue | None, FieldValue | None]:
    if h.centred:
        return None, None
    page = h.page
    motto_top = min(ln.y0 for ln in h.motto) if page.has_boxes else 0
    lines = []
    for line in page.lines[:40]:
        if line in h.motto or _is_motto(line):
            if not page.has_boxes:
                break  # text: the organ comes before the motto
            continue
        if number_line is not None and (
            line is number_line or (page.has_boxes and line.y0 >= number_line.y0 - 2)
        ):
            break
        if page.has_boxes:
            if not _in_left(h, line) or line.y1 < motto_top - 0.03 * page.height:
                continue
            if line.y0 > 0.3 * page.height:
                break
        if _is_rule(line):
            continue
        if line.upper_share() < 0.85 or len(line.text) < 3:
            if page.has_boxes:
                continue
            break
        lines.append(line)
    if not lines:
        return None, None
    units: list[list[Line]] = []
    for line in lines:
        starts = line.folded.startswith(_ORGAN_STARTS)
        if units and not starts:
            units[-1].append(line)
        else:
            units.append([line])
    organ = units[-1]
    governing = units[-2] if len(units) >= 2 else None
    organ_fv = _fv(_clean(" ".join(ln.text for ln in organ)), organ)
    gov_fv = _fv(_clean(" ".join(ln.text for ln in governing)), governing) if governing else None
    return organ_fv, gov_fv


def _clean(text: str) -> str:
    text = re.sub(r"\s+", " ", nfc(text)).strip()
    text = re.sub(r"^[\s.,;:_\-–—`'\"|]+", "", text)
    return re.sub(r"[\s.,;:_\-–—]+$", "", text).strip()


def _position_text(line: Line) -> str:
    """An authority line; "KT:"/"TM:" is OCR's reading of "KT."/"TM." (Decree 30 art. 13)."""
    text = _clean(line.text)
    return re.sub(r"^(KT|TM|TL|TUQ|Q)\s*:\s*", r"\1. ", text)


# ---------------------------------------------------------------- type and subject


def _heading(line: Line) -> tuple[str, str | None] | None:
    """(type, subject or None) when ``line`` is a type heading or a form's title."""
    if line.upper_share() < 0.8:
        return None
    key = re.sub(r"[^a-z ]+", " ", line.folded).strip()
    key = re.sub(r"\s+", " ", key)
    if key in _TYPES:
        return _TYPES[key], None
    if key.startswith("giay tiep nhan"):
        return (RECEIPT_TITLE if key == fold(RECEIPT_TITLE).lower() else _clean(line.text)), None
    for word, canonical in _FORM_WORDS.items():
        if key.startswith(word + " ") and len(key) > len(word) + 3:
            n = len(canonical)
            if fold(line.text[:n]).lower() == word:
                return canonical, _clean(line.text[n:])
    return None


def _left_part(h: _Header, line: Line) -> Line:
    """The words of a line left of the column split, without a list marker ("1.") that
    opens a note in the right column."""
    if h.split_x is None or not line.has_box:
        return line
    words = [w for w in line.words if w.cx < h.split_x]
    while len(words) > 1 and re.fullmatch(r"\d{1,2}[.)]", words[-1].text):
        words.pop()
    return Line(line.page, words) if words else line


def _stop(line: Line) -> bool:
    return line.folded.startswith(_STOP_SUBJECT) or _is_rule(line)


def _type_and_subject(
    h: _Header, below: float | None
) -> tuple[FieldValue | None, FieldValue | None, float | None]:
    """The heading under the header and the subject under it; or a letter's V/v line."""
    page = h.page
    lines = page.lines[:80]
    start = 0
    if page.has_boxes and below is not None:
        lines = [ln for ln in lines if ln.y0 >= below - 2]
    else:
        last_motto = max(page.lines.index(m) for m in h.motto)
        start = last_motto + 1
        lines = lines[start:]
    for i, line in enumerate(lines[:25]):
        if page.has_boxes and line.y0 > 0.6 * page.height:
            break
        vv = _VV.match(line.text)
        if vv and page.has_boxes and h.split_x is not None:
            # The letter's subject is in the left column; a routing note may sit beside it.
            left = [w for w in line.words if w.cx < h.split_x]
            if left and left[0] is line.words[0] and len(left) < len(line.words):
                line = Line(line.page, left)
        if vv and (not page.has_boxes or _in_left(h, line)):
            words = line.words[:1]
            type_fv = _fv("CÔNG VĂN", [line], words)
            subject_lines = [_left_part(h, line)]
            for nxt in lines[i + 1 : i + 6]:
                if page.has_boxes and nxt.box[0] < h.split_x if h.split_x else False:
                    nxt = _left_part(h, nxt)
                if _stop(nxt) or (page.has_boxes and not _in_left(h, nxt)):
                    if page.has_boxes and not _in_left(h, nxt):
                        continue
                    break
                if page.has_boxes and nxt.y0 - subject_lines[-1].y1 > 1.2 * line.height:
                    break
                if not page.has_boxes:
                    break
                subject_lines.append(nxt)
            text = _clean(" ".join(ln.text for ln in subject_lines))
            text = _clean(_VV.sub("", text, count=1))
            subject_fv = _fv(text, subject_lines) if len(text) >= 3 else None
            return type_fv, subject_fv, line.y1 if line.has_box else None
        found = _heading(line)
        if not found:
            continue
        kind, rest = found
        type_fv = _fv(kind, [line])
        if rest is not None:
            subject_fv = _fv(rest, [line]) if rest else None
            return type_fv, subject_fv, line.y1 if line.has_box else None
        if kind == RECEIPT_TITLE or kind.startswith("GIẤY TIẾP NHẬN"):
            return type_fv, None, line.y1 if line.has_box else None
        subject_lines = []
        for nxt in lines[i + 1 : i + 6]:
            if _stop(nxt) or _heading(nxt):
                break
            if page.has_boxes:
                prev = subject_lines[-1] if subject_lines else line
                if nxt.y0 - prev.y1 > 0.8 * max(prev.height, nxt.height):
                    break
                if abs(nxt.cx - page.width / 2) > 0.2 * page.width:
                    break
            subject_lines.append(nxt)
            if not page.has_boxes:
                break
        subject_fv = None
        if subject_lines:
            text = _clean(" ".join(ln.text for ln in subject_lines))
            if len(text) >= 3:
                subject_fv = _fv(text, subject_lines)
        return type_fv, subject_fv, line.y1 if line.has_box else None
    return None, None, None


# ---------------------------------------------------------------- signer


def _is_position(line: Line) -> bool:
    text = line.text
    if line.upper_share() < 0.85 or len(text) < 4 or _is_motto(line):
        return False
    if _POSITION_PREFIX.match(text):
        return True
    folded = re.sub(r"[^a-z ]+", " ", line.folded)
    return any(f" {w} " in f" {folded} " or folded.startswith(w) for w in _POSITION_WORDS)


def _name(line: Line) -> tuple[str, list[Word]] | None:
    text = re.sub(r"\((?:đã ký|đã kí|ký|kí)[^)]*\)", "", line.text, flags=re.IGNORECASE)
    text = _clean(text)
    words = [w for w in line.words if any(c.isalpha() for c in w.text)]
    for rank in _RANKS:
        if text.startswith(rank + " "):
            n = len(rank.split())
            text = text[len(rank) :].strip()
            words = words[n:]
            break
    parts = text.split()
    if not 2 <= len(parts) <= 5 or not all(_NAME_WORD.match(p) for p in parts):
        return None
    if any(len(p) > 8 for p in parts):
        return None
    return text, words


def _signer(pages: Sequence[Page], h: _Header) -> tuple[FieldValue | None, FieldValue | None]:
    for page in reversed(pages):
        lines = page.lines
        if page.has_boxes:
            top = 0.2 * page.height if page.index == 0 else 0
            lines = [ln for ln in lines if ln.cx > 0.45 * page.width and ln.y0 > top]
        blocks: list[list[Line]] = []
        for i, line in enumerate(lines):
            if not _is_position(line):
                continue
            prev = blocks[-1][-1] if blocks else None
            adjacent = prev is not None and (
                (page.has_boxes and line.y0 - prev.y1 < 1.6 * max(prev.height, line.height, 1))
                or (not page.has_boxes and lines.index(prev) == i - 1)
            )
            if adjacent:
                blocks[-1].append(line)
            else:
                blocks.append([line])
        for block in reversed(blocks):
            if page.has_boxes and page.index == 0 and block[0].y0 < 0.3 * page.height:
                continue
            last = lines.index(block[-1])
            name = None
            for nxt in lines[last + 1 : last + 10]:
                if page.has_boxes:
                    if nxt.y0 - block[-1].y1 > 0.3 * page.height:
                        break
                    bx = union(ln.box for ln in block)
                    if not (bx[0] - 0.1 * page.width < nxt.cx < bx[2] + 0.1 * page.width):
                        continue
                if _is_position(nxt):
                    break
                found = _name(nxt)
                if found:
                    name = (nxt, found)
                    break
            position = " / ".join(_position_text(ln) for ln in block)
            pos_fv = _fv(position, block)
            if name is None:
                return None, pos_fv
            line, (text, words) = name
            return _fv(text, [line], words), pos_fv
        if blocks:
            continue
        # No position line (a law signed by name only): a lone name at the very end.
        if not page.has_boxes and page.index == len(pages) - 1:
            for line in reversed(lines[-3:]):
                found = _name(line)
                if found:
                    return _fv(found[0], [line]), None
    return None, None


# ---------------------------------------------------------------- all of it


def extract(pages: Sequence[Page]) -> DocumentFields:
    """Every field of the document from its pages; a page 1 without the motto gives none."""
    if not pages:
        return DocumentFields()
    h = _header(pages[0])
    if h is None:
        return DocumentFields()
    number, notation, number_line = _number(h)
    header_bottom = None
    if pages[0].has_boxes:
        motto_bottom = max(ln.y1 for ln in h.motto)
        header_bottom = motto_bottom + 0.08 * pages[0].height
        if number_line is not None:
            header_bottom = max(header_bottom, number_line.y1 + 0.01 * pages[0].height)
    below = max(ln.y1 for ln in h.motto) if pages[0].has_boxes else None
    if number_line is not None and number_line.has_box:
        below = number_line.y1 - 0.3 * number_line.height
    type_fv, subject_fv, _end = _type_and_subject(h, below)
    form = type_fv is not None and (
        type_fv.value in _FORM_WORDS.values() or str(type_fv.value).startswith("GIẤY TIẾP NHẬN")
    )
    issued, place = _date(h, pages, header_bottom, form and type_fv.value != RECEIPT_TITLE)
    organ, governing = _organ(h, number_line)
    signer_name, signer_position = _signer(pages, h)
    return DocumentFields(
        organ_name=organ,
        governing_body=governing,
        code_number=number,
        code_notation=notation,
        issued_date=issued,
        place=place,
        type_name=type_fv,
        subject=subject_fv,
        signer_name=signer_name,
        signer_position=signer_position,
    )
