"""Step ``index``: the archived document's pages into the search index.

A failure here leaves the document archived (and says so): the archive is whole,
and ``sohoa reindex`` or the next recovery indexes it.
"""

from __future__ import annotations

from typing import Any

from pipeline.archive.reindex import load_archived
from pipeline.flow.context import Services
from pipeline.flow.run import DocumentRun
from pipeline.flow.steps._stage import stage
from pipeline.storage.ledger import Document
from pipeline.storage.ledger.states import INDEXED


def _index(
    services: Services, doc: Document, meta: dict[str, Any], texts: list[str], actor: str
) -> Document:
    if services.index is None:
        return doc
    try:
        services.index.index_document(meta, texts)
    except Exception as exc:
        return services.ledger.update_fields(doc.id, reason=f"archived; indexing failed: {exc}")
    return services.ledger.transition(
        doc.id, INDEXED, actor=actor, stage="index", reason="page text indexed"
    )


@stage("index")
def feed(run: DocumentRun) -> Document:
    run.doc = _index(run.services, run.doc, run.meta, run.texts, run.actor)
    return run.doc


def index_archived(services: Services, doc: Document, actor: str) -> Document:
    """Index a document that is archived but not yet indexed, from its archive objects."""
    if services.index is None or not doc.metadata_key:
        return doc
    meta, texts = load_archived(services.objects, doc.metadata_key)
    return _index(services, doc, meta, texts, actor)
