"""What a search returns, the same for every backend."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Hit:
    """One matching page. ``snippet`` marks matches with ``[`` ``]``; ``snippet_parts``
    holds the same text as (text, highlighted) pairs so HTML can escape it safely."""

    dossier_code: str
    document_id: str | None
    doc_id: str
    page: int
    snippet: str
    score: float
    pdf_key: str
    match: str  # "exact", "folded", "code" or "fields" (field filters only)
    snippet_parts: tuple[tuple[str, bool], ...] = ()
    # The document's own fields (issue 13), None where they were not read.
    type_name: str | None = None
    code_number: int | None = None
    code_notation: str | None = None
    issued_date: str | None = None
    subject: str | None = None
    organ_name: str | None = None

    @property
    def number(self) -> str | None:
        """The printed code, ``263/KH-UBND`` (or the number or notation alone)."""
        if self.code_number is not None and self.code_notation:
            return f"{self.code_number}/{self.code_notation}"
        if self.code_notation:
            return f"…/{self.code_notation}"
        return None if self.code_number is None else str(self.code_number)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("snippet_parts")
        out["number"] = self.number
        return out


@dataclass(frozen=True)
class IndexedDocument:
    doc_id: str
    dossier_code: str
    document_id: str | None
    doc_ordinal: int | None
    station: str | None
    type_name: str | None
    received: str | None
    digitized_at: str | None
    pdf_key: str
    pages: int
    meta: dict[str, Any]
    page_snippets: tuple[str, ...]
