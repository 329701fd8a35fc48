"""Run one document through the stages and record every step in the ledger.

The executor is passed in as ``map_pages`` (a function with the shape of
``map``), so this module never knows whether pages run in a local process
pool, in Celery workers, or inline in a test. The archive is written in a
fixed order (PDF, text, then metadata JSON last): the JSON is the commit
marker that :func:`recover` looks for after a crash.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline import dossier, faults
from pipeline.archive import metadata
from pipeline.config import Config
from pipeline.errors import OcrError
from pipeline.flow import custody as ingest
from pipeline.flow.page import PageJob, PageResult, process_page
from pipeline.lang.textnorm import nfc
from pipeline.ocr.tesseract import engine_version
from pipeline.output.pdfa import PdfInfo, assemble_pdfa
from pipeline.read import pages
from pipeline.storage import ledger
from pipeline.storage import objects as store


class WorkerDied(RuntimeError):
    """A page worker process died; the document was put back to be resumed."""


MapPages = Callable[[Callable[[PageJob], PageResult], Sequence[PageJob]], Iterable[PageResult]]
IndexHook = Callable[[dict[str, Any], list[str]], None]


def inline_map(fn: Callable[[PageJob], PageResult], jobs: Sequence[PageJob]) -> list[PageResult]:
    """The trivial executor: pages one after another in this process."""
    return [fn(job) for job in jobs]


@dataclass(frozen=True)
class ArchiveKeys:
    pdf: str
    metadata: str
    text: str


def archive_keys(code: str, ordinal: int) -> ArchiveKeys:
    base = f"{code}/{code}.{ordinal}"
    return ArchiveKeys(f"{base}.pdf", f"{base}.json", f"{base}.txt")


def highest_archived_ordinal(st: store.Store, code: str) -> int:
    """The largest ``<n>`` already present under ``<code>/`` in the archive bucket."""
    best = 0
    for key in store.list_keys(st, st.archive_bucket, prefix=f"{code}/", suffix=".json"):
        stem = key.rsplit("/", 1)[-1][: -len(".json")]
        tail = stem[len(code) + 1 :] if stem.startswith(code + ".") else ""
        if tail.isdigit():
            best = max(best, int(tail))
    return best


def _source_file(st: store.Store, cfg: Config, doc: ledger.Document, tmp: Path) -> Path:
    """The spool copy when it is intact, else a fresh download of the raw original."""
    spooled = ingest.spool_path(cfg, doc.id)
    if spooled.exists() and spooled.stat().st_size == doc.size:
        return spooled
    if not doc.raw_key:
        raise RuntimeError("document has neither a spool copy nor a raw key")
    dest = tmp / "source"
    store.download_file(st, st.raw_bucket, doc.raw_key, dest)
    if store.sha256_file(dest) != doc.sha256:
        raise store.StorageIntegrityError(f"raw copy {doc.raw_key} does not match its SHA-256")
    return dest


def _finish_spool(cfg: Config, doc: ledger.Document) -> None:
    """The raw copy is verified in MinIO; the local one is no longer needed."""
    ingest.spool_path(cfg, doc.id).unlink(missing_ok=True)


MAX_WORKER_DEATHS = 3


def run_document(
    conn: sqlite3.Connection,
    st: store.Store,
    cfg: Config,
    doc_id: str,
    *,
    map_pages: MapPages = inline_map,
    index_hook: IndexHook | None = None,
    actor: str = "worker",
    explicit_code: str | None = None,
) -> ledger.Document:
    """Process one document that is ``stored_raw`` (or being retried) to a settled state.

    Raises :class:`store.StorageUnavailable` after putting the document back to
    ``stored_raw`` so a later run resumes it; every other failure is recorded
    on the document (``failed``/``rejected``/``needs_dossier``/``duplicate``).
    """
    doc = ledger.get_document(conn, doc_id)
    if doc.state in (ledger.DUPLICATE, ledger.INDEXED):
        _finish_spool(cfg, doc)
        return doc
    if doc.state == ledger.ARCHIVED:
        return _index_from_archive(conn, st, doc, index_hook, actor)
    if doc.state != ledger.PROCESSING:
        try:
            doc = ledger.transition(
                conn,
                doc_id,
                ledger.PROCESSING,
                actor=actor,
                stage="start",
                reason="processing started",
            )
        except sqlite3.IntegrityError:
            prior = ledger.live_twin(conn, doc)
            if prior is None:
                raise
            doc = ledger.mark_duplicate(conn, doc_id, prior, actor=actor)
            _finish_spool(cfg, doc)
            return doc
    cfg.tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-{doc_id}-", dir=cfg.tmp_dir))
    stage = "ingest"
    try:
        source = _source_file(st, cfg, doc, tmp)
        info = pages.inspect(source, cfg.ingest)
        ledger.update_fields(conn, doc_id, media_type=info.media_type, pages=info.pages)
        stage = "pages"
        hint = explicit_code or doc.dossier_hint
        # Decoding QR codes costs about half a second; skip it when the code is already known.
        known = dossier.resolve(doc.folder_name, doc.source_name, (), "", explicit=hint)
        jobs = [
            PageJob(
                source,
                info.media_type,
                i,
                tmp,
                cfg,
                want_codes=(i == 0 and known is None),
                has_text_layer=info.has_text,
            )
            for i in range(info.pages)
        ]
        results = sorted(map_pages(process_page, jobs), key=lambda r: r.index)
        stage = "dossier"
        match = known or dossier.resolve(
            doc.folder_name, doc.source_name, results[0].codes, results[0].text, explicit=hint
        )
        if match is None:
            doc = ledger.transition(
                conn,
                doc_id,
                ledger.NEEDS_DOSSIER,
                actor=actor,
                stage="dossier",
                reason="no dossier code in folder name, file name, QR/barcode or 'Mã hồ sơ' text;"
                " run: sohoa assign " + doc_id + " --dossier CODE",
                pages=len(results),
            )
            _finish_spool(cfg, doc)
            return doc
        stage = "pdf"
        pdf_path = tmp / "document.pdf"
        digitized_at = datetime.now(UTC).isoformat(timespec="seconds")
        pdfa = assemble_pdfa(
            [r.pdf_path for r in results],
            pdf_path,
            PdfInfo(
                title=f"{match.code} – {nfc(doc.source_name)}",
                subject=None,
                keywords=match.code,
                language="vi",
                created=datetime.now(UTC),
                creator_tool="sohoa",
                document_id=doc_id,
            ),
        )
        stage = "archive"
        ordinal = ledger.allocate_ordinal(
            conn, doc_id, match.code, floor=highest_archived_ordinal(st, match.code)
        )
        keys = archive_keys(match.code, ordinal)
        doc, meta, texts = _archive(
            conn,
            st,
            cfg,
            doc,
            info,
            results,
            match,
            ordinal,
            keys,
            pdf_path,
            pdfa,
            digitized_at,
            actor,
        )
    except store.StorageUnavailable:
        ledger.transition(
            conn,
            doc_id,
            ledger.STORED_RAW,
            actor=actor,
            stage=stage,
            reason="storage unreachable; will resume",
        )
        raise
    except pages.RejectedInput as exc:
        # Messages from qpdf/poppler name the spool copy; the operator knows the file by name.
        reason = str(exc).replace(str(ingest.spool_path(cfg, doc_id)), doc.source_name)
        doc = ledger.transition(
            conn, doc_id, ledger.REJECTED, actor=actor, stage=stage, reason=reason
        )
        _finish_spool(cfg, doc)
        return doc
    except BrokenProcessPool:
        # A page worker died (out of memory, killed). Try again a few times, then give up
        # with a reason rather than loop forever on a page that always kills its worker.
        deaths = ledger.attempts(conn, doc_id, "worker-died") + 1
        if deaths < MAX_WORKER_DEATHS:
            ledger.transition(
                conn,
                doc_id,
                ledger.STORED_RAW,
                actor=actor,
                stage="worker-died",
                reason=f"a page worker died (attempt {deaths}); will resume",
            )
            raise WorkerDied(doc_id) from None
        return ledger.transition(
            conn,
            doc_id,
            ledger.FAILED,
            actor=actor,
            stage="worker-died",
            reason=f"a page worker died {deaths} times (out of memory?)",
        )
    except Exception as exc:
        # Recorded, never lost: the raw copy in MinIO is what `sohoa retry` starts from,
        # so the local spool copy goes (no stale files pile up on the scanning PC).
        failed_stage, reason = (
            ("ocr", str(exc))
            if isinstance(exc, OcrError)
            else (stage, f"{type(exc).__name__}: {exc}")
        )
        doc = ledger.transition(
            conn, doc_id, ledger.FAILED, actor=actor, stage=failed_stage, reason=reason
        )
        _finish_spool(cfg, doc)
        return doc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _finish_spool(cfg, doc)
    if index_hook is not None:
        doc = index_document(conn, doc, meta, texts, index_hook, actor)
    return doc


def _archive(
    conn: sqlite3.Connection,
    st: store.Store,
    cfg: Config,
    doc: ledger.Document,
    info: pages.SourceInfo,
    results: Sequence[PageResult],
    match: dossier.DossierMatch,
    ordinal: int,
    keys: ArchiveKeys,
    pdf_path: Path,
    pdfa: Any,
    digitized_at: str,
    actor: str,
) -> tuple[ledger.Document, dict[str, Any], list[str]]:
    pdf_sha = store.sha256_file(pdf_path)
    pdf_size = pdf_path.stat().st_size
    texts = [r.text for r in results]
    confs = [r.mean_confidence for r in results if r.mean_confidence is not None]
    mean_conf = round(sum(confs) / len(confs), 2) if confs else None
    meta = metadata.build(
        dossier_code=match.code,
        ordinal=ordinal,
        page_summaries=[r.summary() for r in results],
        first_page_text=texts[0],
        ocr_engine=engine_version(),
        ocr_model=f"{cfg.ocr.lang} ({cfg.ocr.tessdata_dir or 'system tessdata'})",
        ocr_lang=cfg.ocr.lang,
        source_flags={
            "encrypted": info.encrypted,
            "signed": info.signed,
            "had_text_layer": info.has_text,
        },
        pdf_key=keys.pdf,
        pdf_sha256=pdf_sha,
        pdf_size=pdf_size,
        pdfa={"part": pdfa.part, "conformance": pdfa.conformance},
        station=doc.station,
        digitized_at=digitized_at,
        device=info.producer,
        raw_key=doc.raw_key or "",
        source_name=doc.source_name,
        source_sha256=doc.sha256,
        source_size=doc.size,
        media_type=info.media_type,
        document_id=doc.id,
        batch_id=doc.batch_id,
        dossier_source=match.source,
    )
    obj_meta = {
        "source-sha256": doc.sha256,
        "pages": len(results),
        "mean-confidence": mean_conf,
        "dossier-code": match.code,
        "document-id": doc.id,
    }
    store.put_file_verified(
        st,
        st.archive_bucket,
        keys.pdf,
        pdf_path,
        pdf_sha,
        content_type="application/pdf",
        meta=obj_meta,
    )
    text_bytes = "\f".join(texts).encode("utf-8")
    store.put_bytes_verified(
        st, st.archive_bucket, keys.text, text_bytes, "text/plain; charset=utf-8", meta=obj_meta
    )
    meta_bytes = json.dumps(meta, ensure_ascii=False, indent=2).encode("utf-8")
    store.put_bytes_verified(
        st,
        st.archive_bucket,
        keys.metadata,
        meta_bytes,
        "application/json; charset=utf-8",
        meta=obj_meta,
    )
    faults.crash_point("after_archive_upload")
    doc = ledger.transition(
        conn,
        doc.id,
        ledger.ARCHIVED,
        actor=actor,
        stage="archive",
        reason=f"archived as {st.archive_bucket}/{keys.pdf}",
        dossier_code=match.code,
        dossier_source=match.source,
        pages=len(results),
        pdf_key=keys.pdf,
        metadata_key=keys.metadata,
        text_key=keys.text,
        mean_confidence=mean_conf,
        review=review_note(results),
    )
    return doc, meta, texts


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


def index_document(
    conn: sqlite3.Connection,
    doc: ledger.Document,
    meta: dict[str, Any],
    texts: list[str],
    index_hook: IndexHook,
    actor: str,
) -> ledger.Document:
    """Feed the search index; a failure here leaves the document archived (reindex repairs it)."""
    try:
        index_hook(meta, texts)
    except Exception as exc:
        return ledger.update_fields(conn, doc.id, reason=f"archived; indexing failed: {exc}")
    return ledger.transition(
        conn, doc.id, ledger.INDEXED, actor=actor, stage="index", reason="page text indexed"
    )


def _load_archived(st: store.Store, doc: ledger.Document) -> tuple[dict[str, Any], list[str]]:
    meta = json.loads(store.get_bytes(st, st.archive_bucket, doc.metadata_key or ""))
    text = store.get_bytes(st, st.archive_bucket, doc.text_key or "").decode("utf-8")
    return meta, text.split("\f")


def _index_from_archive(
    conn: sqlite3.Connection,
    st: store.Store,
    doc: ledger.Document,
    index_hook: IndexHook | None,
    actor: str,
) -> ledger.Document:
    if index_hook is None:
        return doc
    meta, texts = _load_archived(st, doc)
    return index_document(conn, doc, meta, texts, index_hook, actor)


def clean_tmp(cfg: Config) -> int:
    """Remove temporary folders left by processes that no longer run (after a kill -9)."""
    removed = 0
    if not cfg.tmp_dir.exists():
        return removed
    for entry in cfg.tmp_dir.iterdir():
        pid = entry.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(
    conn: sqlite3.Connection,
    st: store.Store,
    cfg: Config,
    *,
    index_hook: IndexHook | None = None,
    actor: str = "worker",
) -> list[str]:
    """Repair what a crash left behind; return the ids of documents that still need processing.

    A document caught in ``processing`` whose metadata JSON (the last object
    written) is already in the archive with its SHA-256 was in fact archived:
    the ledger is brought up to date instead of processing it twice. Any other
    interrupted document goes back to ``stored_raw`` and keeps its number, so
    its re-run overwrites the same keys. Spool files of settled documents and
    temporary folders of dead processes are removed.
    """
    clean_tmp(cfg)
    for doc in ledger.find_documents(conn, states=[ledger.PROCESSING]):
        if doc.dossier_code and doc.ordinal:
            keys = archive_keys(doc.dossier_code, doc.ordinal)
            found = store.stat(st, st.archive_bucket, keys.metadata)
            if found and found["meta"].get("source-sha256") == doc.sha256:
                meta = json.loads(store.get_bytes(st, st.archive_bucket, keys.metadata))
                ledger.transition(
                    conn,
                    doc.id,
                    ledger.ARCHIVED,
                    actor=actor,
                    stage="recover",
                    reason="archive objects found after an interruption",
                    pdf_key=keys.pdf,
                    metadata_key=keys.metadata,
                    text_key=keys.text,
                    pages=meta.get("number_of_page"),
                )
                continue
        ledger.transition(
            conn,
            doc.id,
            ledger.STORED_RAW,
            actor=actor,
            stage="recover",
            reason="interrupted while processing; will resume",
        )
    for doc in ledger.find_documents(conn, states=[ledger.ARCHIVED]):
        _index_from_archive(conn, st, doc, index_hook, actor)
    settled = [
        ledger.DUPLICATE,
        ledger.INDEXED,
        ledger.REJECTED,
        ledger.NEEDS_DOSSIER,
        ledger.FAILED,
    ]
    for doc in ledger.find_documents(conn, states=settled):
        _finish_spool(cfg, doc)
    return [d.id for d in ledger.find_documents(conn, states=[ledger.STORED_RAW])]
