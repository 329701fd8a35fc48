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

import itertools
import re
import statistics
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import date
from typing import Any

from pipeline.extract.layout import Box, Line, Page, Word, page_from_boxes, page_from_text, union
from pipeline.extract.organs import ORGAN_STARTS_FOLDED, organ_name
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
# What each heading's notation says of the type (Decree 30/2020, Annex III); a notation
# that says another type was misread ("QĐĐ-TTg", or "TT-BCT" for "2026/TT-BCT").
_TYPE_CODES = {
    "QUYẾT ĐỊNH": "QĐ",
    "NGHỊ QUYẾT": "NQ",
    "NGHỊ ĐỊNH": "NĐ",
    "CHỈ THỊ": "CT",
    "THÔNG TƯ": "TT",
    "THÔNG TƯ LIÊN TỊCH": "TTLT",
    "THÔNG BÁO": "TB",
    "KẾ HOẠCH": "KH",
    "TỜ TRÌNH": "TTr",
    "BÁO CÁO": "BC",
    "BIÊN BẢN": "BB",
    "HƯỚNG DẪN": "HD",
    "CHƯƠNG TRÌNH": "CTr",
    "PHƯƠNG ÁN": "PA",
    "ĐỀ ÁN": "ĐA",
    "DỰ ÁN": "DA",
    "QUY CHẾ": "QC",
    "QUY ĐỊNH": "QyĐ",
    "CÔNG ĐIỆN": "CĐ",
    "GIẤY MỜI": "GM",
    "GIẤY GIỚI THIỆU": "GGT",
    "GIẤY ỦY QUYỀN": "GUQ",
    "HỢP ĐỒNG": "HĐ",
}
# Normative types whose number always carries its year: "21/2026/TT-BCT".
_YEAR_TYPES = {"THÔNG TƯ", "THÔNG TƯ LIÊN TỊCH", "NGHỊ ĐỊNH"}
_FORM_WORDS = {"don": "ĐƠN", "to khai": "TỜ KHAI"}
RECEIPT_TITLE = "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ"
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

NUMBER_LABEL = re.compile(
    r"^(?:(?:bo\s+)?luat\s+|phap\s+lenh\s+)?so(?:\s*[:.;,]|\s*(?=\d)|\s*(?=/)|\s*$)",
    re.IGNORECASE,
)
_NUMBER_REST = re.compile(r"^(?P<before>[^/]*)/\s*(?P<notation>\S.*)$")
_NOTATION_OK = re.compile(r"^[0-9A-ZĐ][0-9A-Za-zĐđ]*(?:[-/.][0-9A-Za-zĐđ]+| \d{1,2})+$")
_DATE = re.compile(
    r",\s*ngay\s+(?P<d>\d{1,2})\s+thang\s+(?P<m>\d{1,2})\s+nam\s+(?P<y>\d{4})\b", re.IGNORECASE
)
# The date line as Tesseract reads it where the day and month were typed into blanks:
# the comma after the place lost, the digits run into "ngày"/"tháng", specks after them
# (not a bracket or a bar: "3]" was 31, a digit misread).
_LOOSE_DATE = re.compile(
    r"(?:,\s*|\s+)ngay\s*(?P<d>\d{1,2})[_.,'`]{0,2}\s*thang\s*(?P<m>\d{1,2})"
    r"[_.,'`]{0,2}\s*nam\s*(?P<y>\d{4})\b",
    re.IGNORECASE,
)
VV_MARKER = re.compile(r"^(?:v\s*/\s*[vwy]|vv)\b\.?\s*", re.IGNORECASE)
_NAME_WORD = re.compile(r"^[A-ZĐÀ-Ỹ][a-zđà-ỹ]*$")

# Digits alone in their word are trusted as printed from this confidence on (handwritten
# numbers and days on the real scans read 58-80, printed ones 85-97); digits joined to
# printed text ("Số:173", "892/QĐ-SXD") carry that text's lower word confidence.
PRINTED_CONF = 85.0
JOINED_CONF = 60.0
# Below PRINTED_CONF, digits are still taken as printed when they are no taller than this
# times the printed year (typed-in digits 0.95-1.05; handwritten ones 1.07 and more).
SIZED_CONF = 75.0
SIZED_TALL = 1.05
# A day or month (at most 31, 12: a misread is less often a date) is taken as printed
# from this confidence when no taller than this times the year: days typed into the
# blank read 65-74 at 0.98-1.04 of the year's height, handwritten ones 1.21-1.27.
DAY_CONF = 60.0
DAY_TALL = 1.1
DAY_SURE = 90.0  # handwritten days read at most 66 on the real scans
# "Số:" with digits run into it is at most this times the printed year when printed.
LABEL_TALL = 1.25


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


def is_motto(line: Line) -> bool:
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
class Header:
    """A page's Decree 30 header: the motto's lines and where the two columns meet."""

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


def header_of(page: Page) -> Header | None:
    """The page's header when the motto (or the Party's) is in its top part, else None."""
    if page.has_boxes:
        _cut_motto(page)
    limit = 0.45 * page.height if page.has_boxes else None
    found = [
        i
        for i, ln in enumerate(page.lines[:40])
        if is_motto(ln) and (limit is None or ln.y0 < limit)
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
        return Header(page, motto, None, False)
    box = union(ln.box for ln in motto)
    centre = (box[0] + box[2]) / 2
    centred = abs(centre - page.width / 2) < 0.08 * page.width and box[0] < 0.35 * page.width
    return Header(page, motto, None if centred else box[0] - 0.01 * page.width, centred)


def _in_left(h: Header, line: Line) -> bool:
    if h.split_x is None:
        return not h.centred
    return line.box[2] <= h.split_x + 0.03 * h.page.width and line.cx < h.split_x


def _in_right(h: Header, line: Line) -> bool:
    return h.split_x is None or line.cx > h.split_x


# ---------------------------------------------------------------- number and notation


def _junk(w: Word) -> bool:
    """A mark with no letter or digit (a stroke of the blank, a speck read as "ˆ" or
    "`"), or a mark of one or two signs read at no confidence: never part of a row."""
    if w.text == "/":
        return False
    if not any(unicodedata.category(c) in ("Lu", "Ll", "Nd") for c in w.text):
        return True
    return len(w.text) <= 2 and w.conf < 30 and not w.text.isdigit()


def _level(a: Word, b: Word, tolerance: float = 0.6) -> bool:
    """Two words on one row: overlapping by 0.4 of the smaller, or their centres within
    ``tolerance`` of the taller one (a number typed into its blank sits off the line)."""
    overlap = min(a.y1, b.y1) - max(a.y0, b.y0)
    if overlap >= 0.4 * min(a.height, b.height):
        return True
    return abs(a.cy - b.cy) <= tolerance * max(a.height, b.height)


def printed_digit_height(h: Header) -> float | None:
    """How tall the header's printed digits are: the year of the date line, read surely.

    Why: a number or a day written by hand into its blank is read by Tesseract at a
    confidence printed digits also get, but it is taller than the print around it.
    """
    page = h.page
    years = [
        w.height
        for w in page.words
        if re.fullmatch(r"(?:19|20)\d\d", w.text)
        and w.conf >= PRINTED_CONF
        and w.y0 < 0.35 * page.height
        and (h.split_x is None or w.cx > h.split_x)
    ]
    return statistics.median(years) if years else None


def _alone_printed(w: Word, digit_h: float | None, conf: float = 0.0, tall: float = 0.0) -> bool:
    """Digits alone in their word, printed or typed rather than written by hand: read
    surely and not much taller than the printed year, or read less surely but no taller
    than the year at all.

    Measured on the real scans and e-office pages: handwritten numbers and days read at
    58-86 and stand 7-90 % taller than the print beside them; digits typed into a
    blank off the line read 76-78 and are as tall as the year (0.95-1.05).
    """
    if digit_h is None:
        return w.conf >= PRINTED_CONF
    if w.conf >= PRINTED_CONF and w.height <= 1.3 * digit_h:
        return True
    return w.conf >= (conf or SIZED_CONF) and w.height <= (tall or SIZED_TALL) * digit_h


def _joined_printed(w: Word, beside: Sequence[Word], tall: float) -> bool:
    """Digits run into printed text ("Số:173", "892/QĐ-SXD", "ngày26"): that word's
    confidence is the text's, so only a low bar, but it must be no taller than the
    printed words beside it (× ``tall``): a hand that wrote into the blank and touched
    "Số:" makes the word a third taller than the notation next to it."""
    ref = max((x.height for x in beside if x is not w and not _junk(x)), default=0)
    return w.conf >= JOINED_CONF and ref > 0 and w.height <= tall * ref


def _number_row(h: Header, label: Word) -> list[Word]:
    """The words of the number's row in the left column, left to right, from "Số:" on.

    The row is taken from every word of the page, not Tesseract's line: the number
    typed or written into the blank and the notation after it are often a block of
    their own, off the line by half a letter.
    """
    page = h.page
    right = h.split_x if h.split_x is not None else page.width
    row = [
        w
        for w in page.words
        if w.x0 >= label.x0 - 2 and w.cx < right and not _junk(w) and _level(w, label)
    ]
    row.sort(key=lambda w: w.x0)
    if not any("/" in w.text for w in row):
        # The notation a line lower, under the blank ("Số:173" / "/KH-UBND").
        below = [
            w
            for w in page.words
            if w.text.startswith("/")
            and label.x0 <= w.x0 < right
            and 0 < w.cy - label.cy <= 1.1 * label.height
        ]
        if below:
            row.append(min(below, key=lambda w: w.cy))
    # The notation ends where a column gap opens (the date line may start there).
    at = next((i for i, w in enumerate(row) if "/" in w.text), None)
    if at is not None:
        end = at + 1
        while end < len(row) and row[end].x0 - row[end - 1].x1 < 0.8 * label.height:
            end += 1
        row = row[:end]
    return row


def _number(h: Header) -> tuple[FieldValue | None, FieldValue | None, Line | None]:
    """``Số: 263/KH-UBND`` in the left column (or, without boxes, a line of its own)."""
    page = h.page
    digit_h = printed_digit_height(h) if page.has_boxes else None
    for line in page.lines[:60]:
        if page.has_boxes and (line.y0 > 0.45 * page.height or not _in_left(h, line)):
            continue
        label = NUMBER_LABEL.match(line.folded)
        if not label:
            continue
        if page.has_boxes:
            row = _number_slot(_slash_read_as_i(_number_row(h, line.words[0])))
            text = nfc(" ".join(w.text for w in row))
            folded = fold(text).lower()
            m = NUMBER_LABEL.match(folded)
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
            slash = next((i for i, w in enumerate(row) if "/" in w.text), None)
            if number is not None:
                used = _number_words(row, slash)
                if used and all(_digits_printed(w, row, slash, digit_h) for w in used):
                    num_fv = _fv(number, [line], used)
            # The slash must open its word or follow the number's digits: "J2026/QĐ-UBND"
            # is a slash misread, and what follows the next slash is not the notation.
            head = row[slash].text.split("/", 1)[0] if slash is not None else ""
            if head and not head.isdigit():
                notation = num_fv = None
            if notation is not None and slash is not None:
                not_fv = _fv(notation, [line], row[slash:])
        else:
            if number is not None:
                num_fv = _fv(number, [line])
            if notation is not None:
                not_fv = _fv(notation, [line])
        return num_fv, not_fv, line
    return None, None, None


_NUMBER_SLOT = re.compile(r"[0-9IlO]{1,5}")
_NUMBER_SLOT_MAP = str.maketrans({"I": "1", "l": "1", "O": "0"})


def _slot_number(text: str) -> str:
    """A number read with a typed 1 or 0 as a letter ("375I", "I356"): in the number's
    slot only digits stand. Left as it is unless it has a digit already."""
    if _NUMBER_SLOT.fullmatch(text) and any(c.isdigit() for c in text):
        return text.translate(_NUMBER_SLOT_MAP)
    return text


_SLASH_AS_I = re.compile(r"^[Il|](?=[A-ZĐ][A-Za-zĐđ]*(?:-[0-9A-Za-zĐđ]+)+$)")


def _slash_read_as_i(row: list[Word]) -> list[Word]:
    """The notation's slash read as I or l ("ISGDĐT-CTrTT") when the row has no slash:
    after the number only the notation can stand, and it is capitals with hyphens."""
    if any("/" in w.text for w in row):
        return row
    for i, w in enumerate(row[1:], start=1):
        if _SLASH_AS_I.match(w.text) and any(c.isdigit() for c in row[i - 1].text):
            return [*row[:i], replace(w, text="/" + w.text[1:]), *row[i + 1 :]]
    return row


def _number_slot(row: list[Word]) -> list[Word]:
    """The row with letters read for digits in the number's slot put back as digits:
    after the label ("Số:375I"), alone, or before the notation's slash ("I356/QĐ")."""
    slash = next((i for i, w in enumerate(row) if "/" in w.text), len(row))
    out = []
    for i, w in enumerate(row[: slash + 1]):
        text = w.text
        if i == 0:
            m = NUMBER_LABEL.match(fold(text).lower())
            if m and len(fold(text)) == len(text):
                text = text[: m.end()] + _slot_number(text[m.end() :])
        elif i < slash:
            text = _slot_number(text)
        else:
            head, sep, tail = text.partition("/")
            text = _slot_number(head) + sep + tail
        out.append(w if text == w.text else replace(w, text=text))
    return out + row[slash + 1 :]


def _number_words(row: Sequence[Word], slash: int | None) -> list[Word]:
    """The words that hold the number's digits (before the slash, or the slash word's head)."""
    end = len(row) if slash is None else slash + 1
    return [w for w in row[:end] if any(c.isdigit() for c in w.text.split("/")[0])]


def _digits_printed(w: Word, row: Sequence[Word], slash: int | None, digit_h: float | None) -> bool:
    """Whether the number's digits in ``w`` were printed (or typed), not written by hand.

    Digits joined to "Số:" are held to the printed year's height: "Số:" with its
    stacked marks stands 1.07-1.22 times the printed digits, and a number written by
    hand right after it (often touching it) makes the word 1.3 times and more. Digits
    joined to the notation's slash ("892/QĐ-SXD", printed in one run) are held to the
    label's height, with room for the slash and the Đ that make that word taller.
    """
    if re.fullmatch(r"\d{1,5}", w.text):
        return _alone_printed(w, digit_h)
    if slash is not None and w is row[slash]:
        return _joined_printed(w, row, 1.4)
    if digit_h is not None:
        return w.conf >= JOINED_CONF and w.height <= LABEL_TALL * digit_h
    return _joined_printed(w, row, 1.15)


# ---------------------------------------------------------------- date and place

_PLACE_WORD = re.compile(r"^(?:[A-ZĐÀ-Ỹ][a-zđà-ỹ]*\.?|TP\.?|[A-ZĐÀ-Ỹ]{2,})$")


# The day or month right after "ngày"/"tháng" where Tesseract read a typed 1 or 0 as a
# letter ("ngày 0I", "tháng II"): in that slot only digits can stand, so I and l are 1
# and o is 0 (not "]" or "|": those were 7s as often as 1s). Same length, so positions
# in the line's text still hold.
_SLOT = re.compile(
    r"(?<=ngay)(\s*)([0-9ilo]{1,2})(?![a-z0-9])|(?<=thang)(\s*)([0-9ilo]{1,2})(?![a-z0-9])"
)
_SLOT_MAP = str.maketrans({"i": "1", "l": "1", "o": "0"})


def _slot_digits(m: re.Match[str]) -> str:
    space, token = (m[1], m[2]) if m[2] is not None else (m[3], m[4])
    return space + token.translate(_SLOT_MAP)


def _date_in(line: Line) -> tuple[str | None, str, int] | None:
    """(iso date or None, place, index of the comma) of a ``<place>, ngày … năm …`` line.

    The date is None when the line is the date line but its day or month is not a
    date (a handwritten day misread); the place is still the printed place.
    """
    if len(line.folded) != len(line.text):
        return None
    folded = _SLOT.sub(_slot_digits, line.folded) if line.has_box else line.folded
    m = (_LOOSE_DATE if line.has_box else _DATE).search(folded)
    if not m:
        return None
    try:
        day = date(int(m["y"]), int(m["m"]), int(m["d"]))
    except ValueError:
        day = None
    if day is not None and not 1945 <= day.year <= 2100:
        day = None
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
    return (day.isoformat() if day else None), place, m.start()


def _date_row(h: Header, line: Line) -> Line | None:
    """The whole row of a date line whose pieces Tesseract cut apart: "Hà Nội, ngày 28"
    · "tháng 4" · "năm 2026" when the day and month were typed into wide blanks."""
    page = h.page
    ngay = next((w for w in line.words if fold(w.text).lower().startswith("ngay")), None)
    if ngay is None:
        return None
    left = ngay.x0 - 0.35 * page.width
    row = [
        w
        for w in page.words
        if w.x0 >= left
        and not _junk(w)
        and _level(w, ngay, 0.75)
        and (h.split_x is None or h.centred or w.cx > h.split_x)
    ]
    row.sort(key=lambda w: w.x0)
    return Line(line.page, row) if row else None


def _date_digits_printed(line: Line, comma: int, digit_h: float | None) -> bool:
    """The day and month after "ngày" were printed or typed, not written by hand."""
    pos, seen = 0, 0
    mapped = _SLOT.sub(_slot_digits, line.folded)
    for w in line.words:
        start = line.text.find(w.text, pos)
        pos = start + len(w.text)
        if start < comma or not any(c.isdigit() for c in mapped[start:pos]):
            continue
        seen += 1
        if seen > 2:  # the year is the template's own print
            break
        if re.fullmatch(r"\d{1,2}", mapped[start:pos]):
            # Read this surely, a day is print whatever its box says: Tesseract's box of
            # a digit on a turned page can take in the letters beside it.
            if w.conf < DAY_SURE and not _alone_printed(w, digit_h, DAY_CONF, DAY_TALL):
                return False
        elif not _joined_printed(w, line.words, 1.15):
            return False
    return True


def _date(
    h: Header, pages: Sequence[Page], header_bottom: float | None, form: bool
) -> tuple[FieldValue | None, FieldValue | None]:
    page = h.page
    digit_h = printed_digit_height(h) if page.has_boxes else None
    candidates = []
    for line in page.lines[:80]:
        if page.has_boxes:
            if header_bottom is not None and line.y0 > header_bottom:
                continue
            if not _in_right(h, line) and not h.centred:
                continue
        found = _date_in(line)
        if found is None and page.has_boxes and "ngay" in line.folded:
            row = _date_row(h, line)
            found = _date_in(row) if row is not None else None
            line = row if found else line
        if found:
            candidates.append((line, found))
            break
    if not candidates and form:  # a form is dated above its signature, at the end
        for p in reversed(pages):
            for line in reversed(p.lines):
                found = _date_in(line)
                if found is None and p.has_boxes and "ngay" in line.folded:
                    row = _date_row(Header(p, [], None, True), line)
                    found = _date_in(row) if row is not None else None
                    line = row if found else line
                if found and (not p.has_boxes or line.cx > 0.4 * p.width):
                    candidates.append((line, found))
                    break
            if candidates:
                break
    if not candidates:
        return None, None
    line, (iso, place, comma) = candidates[0]
    if not line.has_box:
        return (_fv(iso, [line]) if iso else None), _fv(place, [line])
    if iso is not None and not _date_digits_printed(line, comma, digit_h):
        iso = None
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
    date_fv = _fv(iso, [line], date_words or line.words) if iso else None
    return date_fv, _fv(place, [line], place_words)


# ---------------------------------------------------------------- organ


def _organ(h: Header, number_line: Line | None) -> tuple[FieldValue | None, FieldValue | None]:
    """The issuing organ and the governing body above it, each only when plausible."""
    if h.centred:
        return None, None
    page = h.page
    motto_top = min(ln.y0 for ln in h.motto) if page.has_boxes else 0
    lines = []
    for line in page.lines[:40]:
        if line in h.motto or is_motto(line):
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
            words = [w for w in line.words if not _junk(w) or w.text in ("-", "–")]
            if not words:
                continue
            line = Line(line.page, words)
        if _is_rule(line):
            continue
        # The number's row ends the organ, even when its label was not read ("/UBND-ĐT").
        if line.text.startswith("/") or NUMBER_LABEL.match(line.folded):
            break
        if line.upper_share() < 0.85 or len(line.text) < 3:
            if page.has_boxes:
                continue
            break
        lines.append(line)
    if not lines:
        return None, None
    units: list[list[Line]] = []
    for line in lines:
        # a speck read as "-" before "SỞ" must not hide that the line opens an organ
        starts = fold(_clean(line.text)).lower().startswith(ORGAN_STARTS_FOLDED)
        if units and not starts:
            units[-1].append(line)
        else:
            units.append([line])
    organ = units[-1]
    governing = units[-2] if len(units) >= 2 else None
    organ_text = organ_name(_clean(" ".join(ln.text for ln in organ)))
    organ_fv = _fv(organ_text, organ) if organ_text else None
    gov_fv = None
    if governing:
        gov_text = organ_name(_clean(" ".join(ln.text for ln in governing)))
        gov_fv = _fv(gov_text, governing) if gov_text else None
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


def heading_of(line: Line) -> tuple[str, str | None] | None:
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


def _left_part(h: Header, line: Line) -> Line:
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


def _speck(line: Line, ref: Line) -> bool:
    """Specks read as a line (dust, the dots of a stamp): a third of a letter tall, or a
    few marks read with no confidence. Not a rule that ends a subject."""
    if not (line.has_box and ref.has_box):
        return False
    return line.height < 0.5 * ref.height or (len(line.text) <= 3 and line.conf < 0.5)


def _subject_words(lines: Sequence[Line]) -> list[Word] | None:
    """The subject's words without marks read at no confidence; None when a word was lost.

    Why None: a subject line with a hole two letters wide in it lost a word to a stamp
    or a fold ("tà đạo … thánh Đức … trời"); the rest is not the subject, and a subject
    shown wrong is worse than none.
    """
    out = []
    for line in lines:
        words = [w for w in line.words if w.conf >= 30 and (not _junk(w) or w.text in ("-", "–"))]
        for a, b in itertools.pairwise(words):
            if b.x0 - a.x1 > 2.5 * max(1, line.height):
                return None
        out += words
    return out


def _authority(line: Line) -> bool:
    """The line under a decision's subject that says who decides ("THỦ TƯỚNG CHÍNH PHỦ",
    "BỘ TRƯỞNG BỘ TÀI CHÍNH", "CHỦ TỊCH ỦY BAN NHÂN DÂN TỈNH …"): not the subject."""
    if line.upper_share() < 0.85:
        return False
    folded = re.sub(r"[^a-z ]+", " ", line.folded).strip()
    return folded.startswith(ORGAN_STARTS_FOLDED) or any(
        folded.startswith(w) for w in _POSITION_WORDS
    )


def _type_and_subject(
    h: Header, below: float | None
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
        vv = VV_MARKER.match(line.text)
        if vv and page.has_boxes and h.split_x is not None:
            # The letter's subject is in the left column; a routing note may sit beside it.
            left = [w for w in line.words if w.cx < h.split_x]
            if left and left[0] is line.words[0] and len(left) < len(line.words):
                line = Line(line.page, left)
        if vv and (not page.has_boxes or _in_left(h, line)):
            words = line.words[:1]
            type_fv = _fv("CÔNG VĂN", [line], words)
            subject_lines = [_left_part(h, line)]
            for nxt in lines[i + 1 : i + 14]:
                if page.has_boxes and nxt.box[0] < h.split_x if h.split_x else False:
                    nxt = _left_part(h, nxt)
                if _speck(nxt, line):
                    continue
                if _stop(nxt) or (page.has_boxes and not _in_left(h, nxt)):
                    if page.has_boxes and not _in_left(h, nxt):
                        continue
                    break
                if page.has_boxes and nxt.y0 - subject_lines[-1].y1 > 1.2 * line.height:
                    break
                if not page.has_boxes:
                    break
                subject_lines.append(nxt)
            words = _subject_words(subject_lines) if page.has_boxes else None
            if page.has_boxes and words is None:
                return type_fv, None, line.y1
            text = (
                " ".join(w.text for w in words)
                if words
                else " ".join(ln.text for ln in subject_lines)
            )
            text = _clean(VV_MARKER.sub("", _clean(text), count=1))
            subject_fv = _fv(text, subject_lines, words or ()) if len(text) >= 3 else None
            return type_fv, subject_fv, line.y1 if line.has_box else None
        found = heading_of(line)
        if not found:
            continue
        kind, rest = found
        type_fv = _fv(kind, [line])
        if rest is not None:
            subject_fv = _fv(rest, [line]) if rest else None
            return type_fv, subject_fv, line.y1 if line.has_box else None
        if kind == RECEIPT_TITLE or kind.startswith("GIẤY TIẾP NHẬN"):
            return type_fv, None, line.y1 if line.has_box else None
        subject_lines: list[Line] = []
        for nxt in lines[i + 1 : i + 6]:
            if _speck(nxt, line):
                continue
            if _stop(nxt) or heading_of(nxt):
                break
            mixed = subject_lines and subject_lines[0].upper_share() < 0.85
            if mixed and _authority(nxt):
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
        words = _subject_words(subject_lines) if page.has_boxes else None
        if subject_lines and (words or not page.has_boxes):
            text = (
                " ".join(w.text for w in words)
                if words
                else " ".join(ln.text for ln in subject_lines)
            )
            text = _clean(text)
            if len(text) >= 3:
                subject_fv = _fv(text, subject_lines, words or ())
        return type_fv, subject_fv, line.y1 if line.has_box else None
    return None, None, None


# ---------------------------------------------------------------- signer


def _is_position(line: Line) -> bool:
    text = line.text
    if line.upper_share() < 0.85 or len(text) < 4 or is_motto(line):
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


def _signer(pages: Sequence[Page], h: Header) -> tuple[FieldValue | None, FieldValue | None]:
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


def notation_agrees(notation: str, kind: str | None) -> bool:
    """Whether a notation fits the type heading: its type code, and the year where the
    type always has one. A công văn's notation names no type; any heading not listed
    passes."""
    code = _TYPE_CODES.get(kind or "")
    if code is None:
        return True
    rest = re.sub(r"^\d{4}/", "", notation)
    if kind in _YEAR_TYPES and rest == notation:
        return False
    return re.split(r"[-/]", rest, maxsplit=1)[0] == code


def extract(pages: Sequence[Page]) -> DocumentFields:
    """Every field of the document from its pages; a page 1 without the motto gives none."""
    if not pages:
        return DocumentFields()
    h = header_of(pages[0])
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
    kind = None if type_fv is None else str(type_fv.value)
    if notation is not None and not notation_agrees(str(notation.value), kind):
        number = notation = None  # one of them was misread: which, the page cannot say
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
