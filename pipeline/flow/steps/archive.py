"""Steps ``dedupe`` and ``archive``: never the same original twice, then the archive objects.

The archive bucket is the system of record, so a duplicate is judged against it
(the source markers of :mod:`pipeline.archive.layout`), not only against the
ledger: bytes archived before a ledger was lost, or by another machine with its
own ledger, are still recognised. The objects are written in a fixed order (PDF,
text, metadata JSON, source marker); the JSON is the commit marker that recovery
looks for after a crash.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pipeline import faults
from pipeline.archive import metadata
from pipeline.archive.layout import (
    ArchiveKeys,
    archive_keys,
    archived_from,
    highest_ordinal,
    join_pages,
    record_source,
    source_entry,
    source_marker_key,
)
from pipeline.dossier.place import Place, effective_place
from pipeline.dossier.split import ignored_codes
from pipeline.flow.run import DocumentRun
from pipeline.flow.steps._stage import stage
from pipeline.flow.steps.index import index_archived
from pipeline.model import PageResult
from pipeline.ocr import engine_version
from pipeline.storage.ledger import Document
from pipeline.storage.ledger.states import ARCHIVED, DUPLICATE
from pipeline.storage.objects import sha256_file


def _already_archived(run: DocumentRun) -> Document | None:
    """Settle the run if the archive already holds these bytes (this document's or another's).

    The documents of one split stack share their source's bytes: their entries in the
    source marker name the stack's source row, and are this stack's own, not duplicates.
    """
    doc = run.doc
    stack = doc.parent_id or doc.id
    entries = archived_from(run.services.objects, doc.sha256)
    mine = [e for e in entries if e.get("document_id") == doc.id]
    entries = mine + [
        e
        for e in entries
        if e.get("document_id") != doc.id
        and e.get("source_document_id", e.get("document_id")) != stack
    ]
    if not entries:
        return None
    # A document the ledger knows archived (it has its keys) and that runs again was
    # queued by an operator to be re-run: it writes new versions of its own keys.
    rerun = run.doc.pdf_key is not None
    if mine and not rerun:  # archived whole before a crash kept the ledger from hearing of it
        entry = mine[0]
        objects = run.services.objects
        meta = json.loads(objects.get_bytes(objects.archive_bucket, entry["metadata_key"]))
        run.settle(
            ARCHIVED,
            "recover",
            "archive objects found after an interruption",
            **_keys_of(entry),
            ordinal=entry.get("doc_ordinal"),
            **metadata.ledger_fields(meta),
        )
        return index_archived(run.services, run.doc, run.actor)
    others = [e for e in entries if e.get("document_id") != run.doc.id]
    if not others:
        return None
    other = others[0]
    return run.settle(
        DUPLICATE,
        "dedupe",
        f"same file already archived as {other['pdf_key']} (recorded in the archive:"
        f" {source_marker_key(run.doc.sha256)})",
        duplicate_of=other.get("document_id"),
        **_keys_of(other),
    )


def _keys_of(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "pdf_key": entry.get("pdf_key"),
        "metadata_key": entry.get("metadata_key"),
        "text_key": entry.get("text_key"),
        "dossier_code": entry.get("dossier_code"),
        "pages": entry.get("pages"),
    }


@stage("dedupe")
def check_archived(run: DocumentRun) -> Document | None:
    return _already_archived(run)


@stage("archive")
def store(run: DocumentRun) -> Document | None:
    late = _already_archived(run)  # archived meanwhile by a machine with another ledger?
    if late is not None:
        return late
    services, doc, match = run.services, run.doc, run.match
    objects, cfg = services.objects, run.cfg
    ordinal = services.ledger.allocate_ordinal(
        doc.id, match.code, floor=highest_ordinal(objects, match.code)
    )
    keys = archive_keys(match.code, ordinal)
    pdf_sha = sha256_file(run.pdf_path)
    texts = [r.text for r in run.results]
    confs = [r.mean_confidence for r in run.results if r.mean_confidence is not None]
    mean_conf = round(sum(confs) / len(confs), 2) if confs else None
    place = effective_place(
        Place(doc.component_code, doc.kind, doc.procedure_code, doc.place_source),
        run.segment.cover_place if run.segment is not None else None,
    )
    composition = metadata.Composition(
        segment=run.segment,
        dropped=run.dropped,
        ignored_codes=ignored_codes(run.results),
        source_document_id=doc.parent_id or doc.id,
        segment_number=doc.segment,
    )
    meta = metadata.build(
        composition=composition,
        code=match.code,
        ordinal=ordinal,
        results=run.results,
        fields=run.fields,
        file=metadata.ArchivedFile(
            keys.pdf,
            pdf_sha,
            run.pdf_path.stat().st_size,
            {"part": run.pdfa.part, "conformance": run.pdfa.conformance},
        ),
        origin=metadata.Provenance(
            doc=doc,
            info=run.info,
            dossier_source=match.source,
            digitized_at=run.digitized_at,
            ocr_engine=engine_version(cfg.ocr),
            ocr_model=f"{cfg.ocr.lang} ({cfg.ocr.tessdata_dir or 'system tessdata'})",
            ocr_lang=cfg.ocr.lang,
        ),
        **_signature_fields(run),
        place=place,
    )
    obj_meta = {
        "source-sha256": doc.sha256,
        "pages": len(run.results),
        "mean-confidence": mean_conf,
        "dossier-code": match.code,
        "document-id": doc.id,
    }
    level = metadata.signature_state(meta)
    signed_meta = {**obj_meta, metadata.LEVEL_OBJECT_META: level} if run.signature else obj_meta
    bucket = objects.archive_bucket
    objects.put_file(
        bucket, keys.pdf, run.pdf_path, pdf_sha, content_type="application/pdf", meta=signed_meta
    )
    objects.put_bytes(
        bucket,
        keys.text,
        join_pages(texts).encode("utf-8"),
        content_type="text/plain; charset=utf-8",
        meta=obj_meta,
    )
    objects.put_bytes(
        bucket,
        keys.words,
        json.dumps(
            with_room_above(words_object(keys, run.results), _room_added(run)),
            ensure_ascii=False,
        ).encode("utf-8"),
        content_type="application/json; charset=utf-8",
        meta=obj_meta,
    )
    objects.put_bytes(
        bucket,
        keys.metadata,
        json.dumps(meta, ensure_ascii=False, indent=2).encode("utf-8"),
        content_type="application/json; charset=utf-8",
        meta=signed_meta,
    )
    record_source(
        objects,
        doc.sha256,
        source_entry(
            doc.id,
            match.code,
            ordinal,
            len(texts),
            source_document_id=doc.parent_id or doc.id,
            segment=doc.segment,
            source_pages=[r.index + 1 for r in run.results],
        ),
    )
    faults.crash_point("after_archive_upload")
    run.meta, run.texts, run.keys = meta, texts, keys
    run.doc = services.ledger.transition(
        doc.id,
        ARCHIVED,
        actor=run.actor,
        stage="archive",
        reason=f"archived as {bucket}/{keys.pdf}" + _unsigned_note(run),
        dossier_code=match.code,
        dossier_source=match.source,
        pages=len(run.results),
        pdf_key=keys.pdf,
        metadata_key=keys.metadata,
        text_key=keys.text,
        mean_confidence=mean_conf,
        review=review_note(run.results),
        signature=level,
        owner=None,
        pdf_sha256=pdf_sha,
        **place.fields(),
    )
    return None


def words_object(keys: ArchiveKeys, results: Sequence[PageResult]) -> dict[str, Any]:
    """Every archived page's OCR words with their boxes (the web view draws matches from it).

    Boxes are in pixels of the page image in the PDF (``width``/``height`` at ``dpi``), so
    any rendering of the page maps them by one scale factor.
    """
    return {
        "pdf_key": keys.pdf,
        "format": "text, x0, y0, x1, y1, confidence, block, paragraph, line",
        "pages": [
            {
                "page": n,
                "source_page": r.index + 1,
                "width": r.width_px,
                "height": r.height_px,
                "dpi": round(r.dpi, 2),
                "words": [list(w) for w in r.word_boxes],
            }
            for n, r in enumerate(results, start=1)
        ],
    }


def _room_added(run: DocumentRun) -> float:
    mark = run.signature.mark if run.signature is not None else None
    return float((mark or {}).get("room_added") or 0.0)


def with_room_above(words: dict[str, Any], room_pt: float) -> dict[str, Any]:
    """``words`` once page 1 was extended upwards by ``room_pt`` points for the signature's
    mark (pipeline.sign.placement): its boxes move down by as many pixels and its height
    grows, so they still fit the page as rendered (the web view draws them in % of it)."""
    pages = words.get("pages") or []
    if room_pt <= 0 or not pages or pages[0].get("room_added_px"):
        return words
    first = dict(pages[0])
    band = round(room_pt * float(first.get("dpi") or 72) / 72)
    first["height"] = int(first.get("height") or 0) + band
    first["room_added_px"] = band
    first["words"] = [[w[0], w[1], w[2] + band, w[3], w[4] + band, *w[5:]] for w in first["words"]]
    return {**words, "pages": [first, *pages[1:]]}


def _signature_fields(run: DocumentRun) -> dict[str, Any]:
    """The metadata's ``signature`` (what the PDF carries) and ``signature_pending`` (why not)."""
    pending = None
    if run.unsigned_reason is not None:
        pending = metadata.pending_note(run.unsigned_reason, run.digitized_at)
    signature = run.signature.as_metadata() if run.signature is not None else None
    return {"signature": signature, "signature_pending": pending}


def _unsigned_note(run: DocumentRun) -> str:
    if run.unsigned_reason is None:
        return ""
    return f"; not signed yet ({run.unsigned_reason}): sohoa sign --pending signs it"


def review_note(results: Sequence[PageResult]) -> str | None:
    """Which pages an operator should check, and why; None when every page looks fine."""
    flagged = [r for r in results if r.needs_review]
    if not flagged:
        return None
    parts = [
        f"page {r.index + 1} (confidence {r.mean_confidence}, invalid syllables "
        f"{r.invalid_share:.0%})"
        for r in flagged
    ]
    return "low OCR quality: " + "; ".join(parts)
