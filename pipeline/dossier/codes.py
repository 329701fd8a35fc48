"""Dossier code (mã số hồ sơ, Circular 01/2018/TT-VPCP art. 19): parse, validate, find.

The code becomes an object-key prefix, so validation is strict: after NFC,
trimming and upper-casing it must match ``CODE_RE``, which by construction rules
out ``/``, ``..``, spaces and anything else a key must not hold. Sources are tried
in a fixed order (folder, file name, QR/barcode, "Mã hồ sơ:" text); a document
with no valid code is never archived under a guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from pipeline.lang.textnorm import fold, nfc

CODE_RE = re.compile(r"^[0-9A-Z]{1,3}(\.[0-9A-Z]{1,3}){0,4}-[0-9]{6}-[0-9]{4,7}$")


# The same shape, unanchored, for text and QR payloads that carry more than the code.
_CODE_IN_TEXT = re.compile(
    r"(?<![0-9A-Z.])([0-9A-Z]{1,3}(?:\.[0-9A-Z]{1,3}){0,4}-[0-9]{6}-[0-9]{4,7})(?![0-9])"
)


# "Mã hồ sơ: ..." after folding, tolerant of OCR noise around the colon.
_LABEL_RE = re.compile(r"ma\s*(?:so\s*)?ho\s*so\s*[:.;]?\s*", re.IGNORECASE)


_RECEIVED_RE = re.compile(r"-([0-9]{2})([0-9]{2})([0-9]{2})-[0-9]{4,7}$")


FILENAME_SEPARATOR = "__"


@dataclass(frozen=True)
class DossierMatch:
    code: str
    source: str  # "folder" | "filename" | "qr" | "barcode" | "text" | "assigned"


def normalize_code(raw: str | None) -> str | None:
    """Return the canonical code, or None when ``raw`` is not a valid dossier code."""
    if raw is None:
        return None
    candidate = nfc(raw).strip()
    # ASCII only, checked before upper(): "ß".upper() is "SS", fullwidth digits are \d.
    if not candidate.isascii():
        return None
    candidate = candidate.upper()
    if CODE_RE.fullmatch(candidate):
        return candidate
    return None


def received_date(code: str) -> str | None:
    """ISO date of the YYMMDD part (``...-261120-...`` → ``2026-11-20``), None if no real date."""
    match = _RECEIVED_RE.search(code)
    if not match:
        return None
    try:
        return date(2000 + int(match[1]), int(match[2]), int(match[3])).isoformat()
    except ValueError:
        return None


def code_from_folder(folder_name: str | None) -> str | None:
    return normalize_code(folder_name)


def code_from_filename(file_name: str) -> str | None:
    """``<code>__anything.pdf`` → code; the prefix must be a valid code on its own."""
    stem = nfc(file_name)
    if FILENAME_SEPARATOR not in stem:
        return None
    return normalize_code(stem.split(FILENAME_SEPARATOR, 1)[0])


def code_from_payloads(payloads: Iterable[str]) -> str | None:
    """The first valid code in decoded QR/barcode payloads (a payload may hold a URL or more)."""
    for payload in payloads:
        if not payload:
            continue
        direct = normalize_code(payload)
        if direct:
            return direct
        for match in _CODE_IN_TEXT.finditer(nfc(payload).upper()):
            code = normalize_code(match.group(1))
            if code:
                return code
    return None


def code_from_text(text: str) -> str | None:
    """A code written after the label "Mã hồ sơ" on the page (OCR text, any diacritics)."""
    folded = fold(text)
    for label in _LABEL_RE.finditer(folded):
        tail = folded[label.end() : label.end() + 60].upper().replace(" ", "")
        match = _CODE_IN_TEXT.search(tail)
        if match and match.start() <= 2:
            code = normalize_code(match.group(1))
            if code:
                return code
    return None


def resolve(
    folder_name: str | None,
    file_name: str,
    first_page_payloads: Sequence[str] = (),
    first_page_text: str = "",
    explicit: str | None = None,
) -> DossierMatch | None:
    """Apply DESIGN's order: explicit (--dossier) > folder > file name > QR/barcode > text."""
    if explicit is not None:
        code = normalize_code(explicit)
        return DossierMatch(code, "assigned") if code else None
    for source, code in (
        ("folder", code_from_folder(folder_name)),
        ("filename", code_from_filename(file_name)),
        ("qr", code_from_payloads(first_page_payloads)),
        ("text", code_from_text(first_page_text)),
    ):
        if code:
            return DossierMatch(code, source)
    return None
