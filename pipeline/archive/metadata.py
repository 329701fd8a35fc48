"""The metadata JSON of an archived document (Circular 05/2025/TT-BNV, snake_case).

Only what the pipeline actually knows is filled in; everything else stays ``null``
rather than being invented. That holds for the agency's signature too: ``signature``
describes the signature the archived PDF carries, or is ``null``; a document archived
unsigned because signing failed (``sign.required`` false) says why in
``signature_pending`` until ``sohoa sign --pending`` signs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline import __version__
from pipeline.dossier.place import Place
from pipeline.dossier.split import IgnoredCode, Segment
from pipeline.extract.fields import DocumentFields
from pipeline.lang.textnorm import nfc
from pipeline.model import PageResult
from pipeline.read.pages import SourceInfo
from pipeline.storage.ledger import Document

# The ledger's ``signature`` column: the PAdES level of the archived copy, this word for a
# document waiting to be signed, or None (archived before signing was configured).
SIGNATURE_PENDING = "pending"
# The object metadata (x-amz-meta-signature-level) of a signed document's PDF and JSON.
LEVEL_OBJECT_META = "signature-level"


@dataclass(frozen=True)
class ArchivedFile:
    """The archived PDF as stored: key, hash, size, PDF/A flavour."""

    key: str
    sha256: str
    size: int
    pdfa: dict[str, Any]


@dataclass(frozen=True)
class Provenance:
    """Where the document came from and what read it."""

    doc: Document
    info: SourceInfo
    dossier_source: str
    digitized_at: str
    ocr_engine: str
    ocr_model: str
    ocr_lang: str


@dataclass(frozen=True)
class Composition:
    """Which pages of the source this document holds, and what was left out (issue 13).

    ``segment`` is the document's part of a split stack (None: the file is one
    document); ``dropped`` the blank pages left out (``pdf.drop_blank_pages``);
    ``ignored_codes`` the QR codes on its pages that were not dossier codes.
    """

    segment: Segment | None = None
    dropped: Sequence[tuple[int, str]] = ()
    ignored_codes: Sequence[IgnoredCode] = ()
    source_document_id: str | None = None
    segment_number: int | None = None


def _split_section(doc: Document, comp: Composition, results: Sequence[PageResult]) -> Any:
    seg = comp.segment
    if seg is None:
        return None
    return {
        "source_document_id": comp.source_document_id or doc.id,
        "segment": comp.segment_number,
        "source_pages": [seg.first + 1, seg.last + 1],
        **seg.info(),
    }


def build(
    *,
    code: str,
    ordinal: int,
    results: Sequence[PageResult],
    fields: DocumentFields,
    file: ArchivedFile,
    origin: Provenance,
    composition: Composition | None = None,
    signature: dict[str, Any] | None = None,
    signature_pending: dict[str, Any] | None = None,
    place: Place | None = None,
) -> dict[str, Any]:
    """The metadata JSON: Circular 05/2025's document fields, the document's place in its
    dossier (``component_code``, ``kind``, ``procedure_code``: what a one-stop system files
    it under), then scan/ocr/pages/file/source, then the signature
    (``SignatureRecord.as_metadata()``) or why it is still missing.

    ``pages[].page`` is the page in the archived PDF, ``pages[].source_page`` the page
    of the scanned file it came from (they differ for a stack's later documents).
    """
    comp = composition or Composition()
    page_summaries = []
    for n, r in enumerate(results, start=1):
        summary = r.summary()
        summary["source_page"] = summary["page"]
        summary["page"] = n
        page_summaries.append(summary)
    doc, info = origin.doc, origin.info
    values = fields.values()
    type_name = values["type_name"]
    if type_name is None and comp.segment is not None and comp.segment.cover_type:
        type_name = comp.segment.cover_type  # declared by the clerk on the cover sheet
    dpis = sorted({p["dpi"] for p in page_summaries})
    colours = sorted({p["colour"] for p in page_summaries})
    return {
        "dossier_code": code,
        "doc_id": f"{code}.{ordinal}",
        "doc_ordinal": ordinal,
        **place_fields(place or Place()),
        "type_name": type_name,
        "code_number": values["code_number"],
        "code_notation": values["code_notation"],
        "issued_date": values["issued_date"],
        "organ_name": values["organ_name"],
        "subject": values["subject"],
        "language": "vi",
        "number_of_page": len(page_summaries),
        "mode": None,
        "confidence_level": "02",
        "physical_format": None,
        "description": None,
        "governing_body": values["governing_body"],
        "place": values["place"],
        "signer_name": values["signer_name"],
        "signer_position": values["signer_position"],
        # Where each field was read: page of this PDF, box in that page's pixels (at
        # pages[].dpi), confidence 0-1; null for a field not read (never guessed).
        "fields": {
            **fields.evidence(),
            **(
                {"type_name": {"value": type_name, "source": "cover_sheet"}}
                if type_name is not None and values["type_name"] is None
                else {}
            ),
        },
        "split": _split_section(doc, comp, results),
        "dropped_pages": [{"source_page": i + 1, "reason": why} for i, why in comp.dropped],
        "codes": {
            "ignored": [
                {"source_page": c.source_page, "chars": c.chars, "sha256": c.sha256}
                for c in comp.ignored_codes
            ]
        },
        "scan": {
            "dpi": dpis[0] if len(dpis) == 1 else dpis,
            "dpi_source": sorted({p["dpi_source"] for p in page_summaries}),
            "colour": colours[0] if len(colours) == 1 else colours,
            "device": info.producer,
            "station": doc.station,
            "digitized_at": origin.digitized_at,
        },
        "ocr": {
            "engine": origin.ocr_engine,
            "model": origin.ocr_model,
            "lang": origin.ocr_lang,
            "mean_confidence": [p["mean_confidence"] for p in page_summaries],
            "unicode_form": "NFC",
            "text_source": [p.get("text_source", "ocr") for p in page_summaries],
            "corrected_tokens": [p.get("corrections", 0) for p in page_summaries],
            "invalid_syllable_share": [p.get("invalid_syllable_share") for p in page_summaries],
            "pages_needing_review": [p["page"] for p in page_summaries if p.get("needs_review")],
        },
        "pages": page_summaries,
        "file": {"key": file.key, "sha256": file.sha256, "size": file.size, "pdfa": file.pdfa},
        "source": {
            "raw_key": doc.raw_key or "",
            "file_name": nfc(doc.source_name),
            "sha256": doc.sha256,
            "size": doc.size,
            "media_type": info.media_type,
            "encrypted": info.encrypted,
            "signed": info.signed,
            "had_text_layer": info.has_text,
        },
        "signature": signature,
        "signature_pending": signature_pending,
        "sohoa": {
            "document_id": doc.id,
            "batch_id": doc.batch_id,
            "version": __version__,
            "dossier_source": origin.dossier_source,
            "place_source": (place or Place()).fields()["place_source"],
        },
    }


def place_fields(place: Place) -> dict[str, str | None]:
    """The document-level keys of the place in the dossier (null when not known)."""
    return {
        "component_code": place.component_code,
        "kind": place.kind,
        "procedure_code": place.procedure_code,
    }


def place_of(meta: dict[str, Any]) -> Place:
    """The place an archived document's metadata records (none, for metadata made before)."""

    def text(key: str) -> str | None:
        value = meta.get(key)
        return value if isinstance(value, str) and value else None

    sohoa = meta.get("sohoa") if isinstance(meta.get("sohoa"), dict) else {}
    return Place(
        text("component_code"), text("kind"), text("procedure_code"), sohoa.get("place_source")
    )


def ledger_fields(meta: dict[str, Any]) -> dict[str, Any]:
    """What the ledger keeps of an archived document's metadata beside its keys: the place
    in the dossier, the PDF's SHA-256 and the signature's state (rebuild, recovery)."""
    file = meta.get("file") if isinstance(meta.get("file"), dict) else {}
    return {
        **place_of(meta).fields(),
        "pdf_sha256": file.get("sha256"),
        "signature": signature_state(meta),
    }


def pending_note(reason: str, since: str) -> dict[str, Any]:
    """``signature_pending``: signing was attempted at ``since`` and failed for ``reason``."""
    return {"reason": reason, "since": since, "sign_with": "sohoa sign --pending"}


def signature_state(meta: dict[str, Any]) -> str | None:
    """What the ledger's ``signature`` column says for this metadata (see ``SIGNATURE_PENDING``)."""
    signature = meta.get("signature")
    if isinstance(signature, dict) and signature.get("level"):
        return str(signature["level"])
    if meta.get("signature_pending"):
        return SIGNATURE_PENDING
    return None


def with_signature(meta: dict[str, Any], signature: dict[str, Any], size: int) -> dict[str, Any]:
    """``meta`` once its PDF was signed after archiving: the signature recorded, the pending
    note gone, ``file`` describing the signed bytes (``size`` long); every other field kept."""
    file = {**(meta.get("file") or {}), "sha256": signature["sha256"], "size": size}
    return {**meta, "file": file, "signature": signature, "signature_pending": None}
