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
    match: str  # "exact", "folded" or "code"
    snippet_parts: tuple[tuple[str, bool], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("snippet_parts")
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
