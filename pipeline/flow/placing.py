"""An archived document's place in its dossier, changed by an operator (``sohoa assign``).

The place (component code, submitted or result, procedure code) is not in the archived
PDF: it is in the metadata JSON, the search index and the ledger. So changing it does
not run the document again (no OCR, the signed PDF untouched, its signature still
valid): the metadata JSON gets a new version with the new place (the versioned archive
keeps the old one), the index is fed that metadata, and the ledger records the change
with its event row and a ``document.archived`` event carrying the new place, for the
one-stop system to file the copy anew. In that order, the system of record first: a
crash in between is mended by running the same command again.

This needs the worker's key (it writes into the archive); an operator's PC cannot, and
says so.
"""

from __future__ import annotations

import json

from pipeline.archive.metadata import place_fields
from pipeline.archive.reindex import load_archived
from pipeline.dossier.place import Place
from pipeline.errors import StorageIntegrityError
from pipeline.flow.context import Services
from pipeline.storage.ledger import Document
from pipeline.storage.ledger.states import INDEXED
from pipeline.storage.objects import META_SHA256


def place_archived(services: Services, doc: Document, place: Place, *, actor: str) -> Document:
    """Give an archived document ``place``: metadata, index, ledger and its event."""
    objects = services.objects
    bucket, key = objects.archive_bucket, str(doc.metadata_key)
    info = objects.stat(bucket, key)
    if info is None:
        raise StorageIntegrityError(f"{bucket}/{key} is missing from the archive")
    meta = json.loads(objects.get_bytes(bucket, key).decode("utf-8"))
    sohoa = meta.get("sohoa") if isinstance(meta.get("sohoa"), dict) else {}
    updated = {
        **meta,
        **place_fields(place),
        "sohoa": {**sohoa, "place_source": place.fields()["place_source"]},
    }
    if updated != meta:
        kept = {k: v for k, v in info.meta.items() if k != META_SHA256}
        objects.put_bytes(
            bucket,
            key,
            json.dumps(updated, ensure_ascii=False, indent=2).encode("utf-8"),
            content_type="application/json; charset=utf-8",
            meta=kept,
        )
    if services.index is not None and doc.state == INDEXED:
        services.index.index_document(*load_archived(objects, key))
    return services.ledger.record_place(
        doc.id,
        place.fields(),
        actor=actor,
        reason=f"place in the dossier set by {actor}; {bucket}/{key} has a new version",
    )
