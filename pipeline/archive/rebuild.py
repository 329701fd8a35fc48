"""``sohoa ledger rebuild``: the ledger restored from the buckets, the system of record.

Every archived document's metadata JSON names its document, batch, station,
source and keys, so it comes back as ``archived`` (then indexed) with its number.
An original in ``raw`` from which nothing was archived (it was rejected, waited
for a dossier code, or was in work when the ledger was lost) comes back as
``failed`` with a reason that says so: ``sohoa retry --failed`` runs it again, and
nobody is surprised by a mass re-processing. Rebuilding into a ledger that still
has rows adds only what it lacks, so it is safe to run twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pipeline.archive.layout import archived_from, metadata_keys, record_source, source_entry
from pipeline.archive.metadata import ledger_fields
from pipeline.storage.ledger import Document, Ledger
from pipeline.storage.ledger.records import new_id, now
from pipeline.storage.ledger.states import ARCHIVED, FAILED
from pipeline.storage.objects import ObjectStore

Progress = Callable[[int, int], None]
_SEGMENT_INFO_KEYS = (
    "started_by",
    "separator_page",
    "separator_code",
    "cover_type",
    "cover_place",
    "cover_archived",
    "skipped_pages",
    "opened_by",
    "code_from",
)
RAW_PREFIX = "sha256/"
ORPHAN_REASON = (
    "ledger rebuilt: the original is in the raw bucket but nothing was archived from it"
    " (rejected, waiting for a dossier code, or in work when the ledger was lost);"
    " sohoa retry --failed runs it again"
)


@dataclass(frozen=True)
class RebuildReport:
    archived: int
    originals_without_archive: int
    already_known: int


def _archived_row(key: str, meta: dict[str, Any]) -> tuple[dict[str, Any], Document]:
    sohoa, scan = meta.get("sohoa") or {}, meta.get("scan") or {}
    source, file = meta.get("source") or {}, meta.get("file") or {}
    code = meta["dossier_code"]
    stamp = scan.get("digitized_at") or now()
    batch_id = sohoa.get("batch_id") or new_id("b")
    doc = Document(
        id=sohoa.get("document_id") or new_id("d"),
        batch_id=batch_id,
        seq=int(meta.get("doc_ordinal") or 1),
        station=scan.get("station"),
        folder_name=None,
        source_name=source.get("file_name") or key,
        source_path=None,
        sha256=source.get("sha256") or "",
        size=int(source.get("size") or 0),
        media_type=source.get("media_type"),
        raw_key=source.get("raw_key"),
        dossier_hint=None,
        dossier_code=code,
        dossier_source=sohoa.get("dossier_source"),
        ordinal=meta.get("doc_ordinal"),
        state=ARCHIVED,
        stage="rebuild",
        reason=f"rebuilt from archive/{key}",
        pages=meta.get("number_of_page"),
        pdf_key=file.get("key"),
        metadata_key=key,
        text_key=key[: -len(".json")] + ".txt",
        mean_confidence=None,
        duplicate_of=None,
        created_at=stamp,
        updated_at=now(),
        **ledger_fields(meta),  # the place in the dossier, the PDF's SHA-256, the signature
    )
    split = meta.get("split")
    if isinstance(split, dict) and split.get("source_pages"):
        first, last = split["source_pages"]
        source_id = split.get("source_document_id")
        info = {k: split.get(k) for k in _SEGMENT_INFO_KEYS}
        doc = replace(
            doc,
            parent_id=source_id if source_id and source_id != doc.id else None,
            segment=split.get("segment"),
            first_page=int(first),
            last_page=int(last),
            segment_info=json.dumps(info, ensure_ascii=False, sort_keys=True),
        )
    batch = {
        "id": batch_id,
        "station": doc.station,
        "origin": "rebuilt from the archive",
        "created_at": stamp,
    }
    return batch, doc


def _orphan_row(key: str, meta: dict[str, str], size: int) -> tuple[dict[str, Any], Document]:
    sha = key[len(RAW_PREFIX) :]
    stamp = now()
    batch_id = meta.get("batch-id") or "b" + sha[:11]
    doc = Document(
        id=meta.get("document-id") or "d" + sha[:11],
        batch_id=batch_id,
        seq=1,
        station=meta.get("station") or None,
        folder_name=meta.get("folder") or None,
        source_name=meta.get("original-name") or key,
        source_path=None,
        sha256=sha,
        size=size,
        media_type=None,
        raw_key=key,
        dossier_hint=None,
        dossier_code=None,
        dossier_source=None,
        ordinal=None,
        state=FAILED,
        stage="rebuild",
        reason=ORPHAN_REASON,
        pages=None,
        pdf_key=None,
        metadata_key=None,
        text_key=None,
        mean_confidence=None,
        duplicate_of=None,
        created_at=stamp,
        updated_at=stamp,
    )
    batch = {
        "id": batch_id,
        "station": doc.station,
        "origin": "rebuilt from the raw bucket",
        "created_at": stamp,
    }
    return batch, doc


def rebuild_ledger(
    ledger: Ledger, objects: ObjectStore, *, actor: str, progress: Progress | None = None
) -> RebuildReport:
    keys = metadata_keys(objects)
    raw_keys = [k for k in objects.list_keys(objects.raw_bucket, RAW_PREFIX)]
    total, done = len(keys) + len(raw_keys), 0
    archived_shas: set[str] = set()
    restored = orphans = known = 0
    for key in keys:
        meta = json.loads(objects.get_bytes(objects.archive_bucket, key))
        batch, doc = _archived_row(key, meta)
        archived_shas.add(doc.sha256)
        if ledger.restore(batch, doc, actor, doc.reason or ""):
            restored += 1
        else:
            known += 1
        if doc.sha256 and not archived_from(objects, doc.sha256):
            record_source(
                objects,
                doc.sha256,
                source_entry(
                    doc.id,
                    doc.dossier_code,
                    doc.ordinal,
                    doc.pages,
                    doc.created_at,
                    source_document_id=doc.parent_id or doc.id,
                    segment=doc.segment,
                ),
            )
        done += 1
        if progress:
            progress(done, total)
    for key in raw_keys:
        done += 1
        if key[len(RAW_PREFIX) :] not in archived_shas:
            info = objects.stat(objects.raw_bucket, key)
            batch, doc = _orphan_row(key, info.meta if info else {}, info.size if info else 0)
            if ledger.restore(batch, doc, actor, ORPHAN_REASON):
                orphans += 1
            else:
                known += 1
        if progress:
            progress(done, total)
    return RebuildReport(restored, orphans, known)
