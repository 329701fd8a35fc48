"""A dossier's documents as the API knows them: ledger, search index and uploads together.

Each source knows part of a document: the ledger its state, place and hashes; the index
(what the archive holds) its fields, pages and signature; the upload its dossier and
place from the moment it was handed over, before a worker's intake has recorded it. An
:class:`Entry` holds what each one has. A dossier lists its archived copies (from the
index) and every upload sent to it, whatever became of them (processing, rejected,
duplicate); a station's scan that never reached the archive is not listed (the events
announce it).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.access.uploads import Upload, UploadStore
from pipeline.errors import NotFound
from pipeline.storage.index import SearchIndex
from pipeline.storage.index.records import IndexedDocument
from pipeline.storage.ledger import Document, Ledger
from pipeline.storage.ledger.states import DUPLICATE


@dataclass(frozen=True)
class Entry:
    doc_id: str
    doc: Document | None  # None while the upload waits for a worker's intake
    upload: Upload | None  # None for a station's scan
    indexed: IndexedDocument | None  # None until its copy is indexed


def _ledger_row(ledger: Ledger, doc_id: str) -> Document | None:
    try:
        return ledger.get_document(doc_id)
    except NotFound:
        return None


def _copy(docs: list[IndexedDocument], doc: Document | None, doc_id: str) -> IndexedDocument | None:
    """The index row of this document's copy: its own, or (a duplicate) the copy it points at."""
    for d in docs:
        if d.document_id == doc_id:
            return d
    if doc is not None and doc.pdf_key:
        return next((d for d in docs if d.pdf_key == doc.pdf_key), None)
    return None


def document_entry(
    ledger: Ledger, index: SearchIndex, uploads: UploadStore, doc_id: str
) -> Entry | None:
    """What is known of one document; None when nothing is (or its upload never finished)."""
    doc = _ledger_row(ledger, doc_id)
    upload = uploads.get(doc_id)
    if upload is not None and upload.handed_over_at is None and doc is None:
        upload = None  # custody never completed: the client got no 202 for it
    if doc is None and upload is None:
        return None
    code = (doc.dossier_code if doc else None) or (upload.dossier_code if upload else None)
    indexed = _copy(index.dossier_documents(code), doc, doc_id) if code else None
    return Entry(doc_id, doc, upload, indexed)


def dossier_entries(
    ledger: Ledger, index: SearchIndex, uploads: UploadStore, code: str
) -> list[Entry]:
    """The dossier's archived copies in order, then its uploads not archived (yet), oldest
    first. A document archived into another dossier than it was sent to is listed there; a
    duplicate of a copy in another dossier is listed in both."""
    indexed = index.dossier_documents(code)
    entries: list[Entry] = []
    seen: set[str] = set()
    for copy in indexed:
        if not copy.document_id or copy.document_id in seen:
            continue
        doc = _ledger_row(ledger, copy.document_id)
        entries.append(Entry(copy.document_id, doc, uploads.get(copy.document_id), copy))
        seen.add(copy.document_id)
    for upload in uploads.for_dossier(code):
        if upload.document_id in seen or upload.handed_over_at is None:
            continue
        doc = _ledger_row(ledger, upload.document_id)
        moved = doc is not None and doc.dossier_code not in (None, code)
        if moved and doc.state != DUPLICATE:
            continue  # archived into the dossier its pages named: listed there
        # (a duplicate names its twin's dossier: the paper handed in to both is in both)
        copy = _copy(indexed, doc, upload.document_id)
        entries.append(Entry(upload.document_id, doc, upload, copy))
        seen.add(upload.document_id)
    return entries
