"""Steps ``fetch`` and ``inspect``: the source's bytes on this machine, and what they hold."""

from __future__ import annotations

import functools
from pathlib import Path

from pipeline.config import IngestConfig
from pipeline.errors import StorageIntegrityError
from pipeline.flow.page_task import PageRuntime, resolve_source
from pipeline.flow.run import DocumentRun
from pipeline.flow.steps._stage import stage
from pipeline.model import SourceRef
from pipeline.read import pages


@stage("ingest")
def fetch(run: DocumentRun) -> None:
    """The spool copy when it is intact, else a verified download of the raw original."""
    doc = run.doc
    if not doc.raw_key:
        raise StorageIntegrityError("document has neither a spool copy nor a raw key")
    media_type = doc.media_type or ""
    # A further document of a split stack reads its source's spool copy (or raw).
    # The version recorded at custody: whatever was put over the key since is not the original.
    ref = SourceRef(
        doc.raw_key,
        doc.sha256,
        doc.size,
        media_type,
        spool_id=doc.parent_id or doc.id,
        raw_version=doc.raw_version,
    )
    runtime = PageRuntime(run.cfg, run.services.objects)
    run.source = resolve_source(ref, runtime)
    run.source_ref = ref


@functools.lru_cache(maxsize=16)
def _inspected(path: Path, sha256: str, cfg: IngestConfig) -> pages.SourceInfo:
    """What a source holds, once per process for the same bytes and limits: the further
    documents of a split stack run right after the first, from the same spool copy, and
    each inspection of a PDF is a sandboxed process (0.08 s a document, one after another
    at the end of a run). A rejection raises every time; only answers are kept."""
    return pages.inspect(path, cfg)


@stage("ingest")
def inspect(run: DocumentRun) -> None:
    info = _inspected(run.source, run.doc.sha256, run.cfg.ingest)
    run.info = info
    doc = run.doc
    run.source_ref = SourceRef(
        run.source_ref.raw_key,
        doc.sha256,
        doc.size,
        info.media_type,
        spool_id=doc.parent_id or doc.id,
        raw_version=doc.raw_version,
    )
    count = info.pages
    if doc.first_page is not None and doc.last_page is not None:
        count = doc.last_page - doc.first_page + 1
    run.doc = run.services.ledger.update_fields(doc.id, media_type=info.media_type, pages=count)
