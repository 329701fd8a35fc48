"""The document's own fields read off its text: number and notation, issue date.

Each reader returns None when unsure: a wrong number is worse than none, because a
search by number would then find the wrong document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from pipeline.lang.textnorm import fold, nfc

# "Số: 263/KH-UBND" (OCR may drop the colon or the diacritics of "Số").
_NUMBER_RE = re.compile(
    r"\bSo\s*[:.]?\s*(\d{1,6})\s*/\s*([0-9A-Z][0-9A-Z.\-]*[0-9A-Z])", re.IGNORECASE
)


# "ngày 27 tháng 11 năm 2026" in folded form.
_DATE_RE = re.compile(r"ngay\s+(\d{1,2})\s+thang\s+(\d{1,2})\s+nam\s+(\d{4})", re.IGNORECASE)


def parse_code_number(text: str) -> tuple[int | None, str | None]:
    """``Số: 263/KH-UBND`` → ``(263, "KH-UBND")``; (None, None) when the page has none."""
    folded = fold(text)
    match = _NUMBER_RE.search(folded)
    if not match:
        return None, None
    start, end = match.span(2)
    # Take the notation from the original text so Đ in "QĐ-UBND" survives folding.
    notation = nfc(text)[start:end] if len(nfc(text)) == len(folded) else match.group(2)
    return int(match.group(1)), notation.upper()


def parse_issued_date(text: str) -> str | None:
    match = _DATE_RE.search(fold(text))
    if not match:
        return None
    day, month, year = (int(g) for g in match.groups())
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


@dataclass(frozen=True)
class DocumentFields:
    """The fields read off a document; None where the page does not say (or we are unsure)."""

    code_number: int | None = None
    code_notation: str | None = None
    issued_date: str | None = None


def read_fields(first_page_text: str) -> DocumentFields:
    number, notation = parse_code_number(first_page_text)
    return DocumentFields(number, notation, parse_issued_date(first_page_text))
