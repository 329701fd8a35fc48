"""The metadata JSON of an archived document (Circular 05/2025/TT-BNV, snake_case).

Only what the pipeline actually knows is filled in; everything else stays ``null``
rather than being invented.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline import __version__
from pipeline.extract.fields import parse_code_number, parse_issued_date
from pipeline.lang.textnorm import nfc


def build(
    *,
    dossier_code: str,
    ordinal: int,
    page_summaries: Sequence[dict[str, Any]],
    first_page_text: str,
    ocr_engine: str,
    ocr_model: str,
    ocr_lang: str,
    source_flags: dict[str, bool],
    pdf_key: str,
    pdf_sha256: str,
    pdf_size: int,
    pdfa: dict[str, Any],
    station: str | None,
    digitized_at: str,
    device: str | None,
    raw_key: str,
    source_name: str,
    source_sha256: str,
    source_size: int,
    media_type: str,
    document_id: str,
    batch_id: str,
    dossier_source: str,
) -> dict[str, Any]:
    number, notation = parse_code_number(first_page_text)
    dpis = sorted({p["dpi"] for p in page_summaries})
    colours = sorted({p["colour"] for p in page_summaries})
    return {
        "dossier_code": dossier_code,
        "doc_id": f"{dossier_code}.{ordinal}",
        "doc_ordinal": ordinal,
        "type_name": None,
        "code_number": number,
        "code_notation": notation,
        "issued_date": parse_issued_date(first_page_text),
        "organ_name": None,
        "subject": None,
        "language": "vi",
        "number_of_page": len(page_summaries),
        "mode": None,
        "confidence_level": "02",
        "physical_format": None,
        "description": None,
        "scan": {
            "dpi": dpis[0] if len(dpis) == 1 else dpis,
            "dpi_source": sorted({p["dpi_source"] for p in page_summaries}),
            "colour": colours[0] if len(colours) == 1 else colours,
            "device": device,
            "station": station,
            "digitized_at": digitized_at,
        },
        "ocr": {
            "engine": ocr_engine,
            "model": ocr_model,
            "lang": ocr_lang,
            "mean_confidence": [p["mean_confidence"] for p in page_summaries],
            "unicode_form": "NFC",
            "text_source": [p.get("text_source", "ocr") for p in page_summaries],
            "corrected_tokens": [p.get("corrections", 0) for p in page_summaries],
            "invalid_syllable_share": [p.get("invalid_syllable_share") for p in page_summaries],
            "pages_needing_review": [p["page"] for p in page_summaries if p.get("needs_review")],
        },
        "pages": list(page_summaries),
        "file": {
            "key": pdf_key,
            "sha256": pdf_sha256,
            "size": pdf_size,
            "pdfa": pdfa,
        },
        "source": {
            "raw_key": raw_key,
            "file_name": nfc(source_name),
            "sha256": source_sha256,
            "size": source_size,
            "media_type": media_type,
            **source_flags,
        },
        "sohoa": {
            "document_id": document_id,
            "batch_id": batch_id,
            "version": __version__,
            "dossier_source": dossier_source,
        },
    }
