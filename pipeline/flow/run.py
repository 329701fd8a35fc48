"""Run one document through the ordered steps, and settle it whatever happens.

The run is a list of steps (:data:`pipeline.flow.steps.STEPS`), each a function
of the :class:`DocumentRun` with one job; a step either adds what it made to the
run or settles the document (returns it) to end the run early. Adding a step is
adding a function to that list. What an error means for the document is decided
here and only here (:func:`_settle_error`), and so is what a settled document
leaves behind (:func:`tidy`).

A document is held by one process at a time: taking it into ``processing``
records the process (``owner``) and a short lease (``run.lease_seconds``) that a
heartbeat thread renews while the run holds it (:class:`Heartbeat`), so a process
that dies (a SIGKILLed worker, a machine switched off) leaves a document that any
machine's pick-up, ``sohoa retry`` or the next watcher can tell from one still in
work within a lease, and take over. The renewal and every settling move are
conditional on still being the holder: a run that lost its document to a take-over
(its database link was cut longer than a lease) ends without touching it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.archive.layout import ArchiveKeys
from pipeline.config import Config
from pipeline.dossier.codes import DossierMatch
from pipeline.dossier.split import Segment
from pipeline.errors import (
    BrokerUnavailable,
    DuplicateContent,
    Interrupted,
    PipelineError,
    RejectedInput,
    StorageUnavailable,
    TransitionError,
    Unavailable,
)
from pipeline.extract.fields import DocumentFields
from pipeline.flow.context import Services
from pipeline.model import PageResult, SourceRef
from pipeline.output.pdfa import PdfaInfo
from pipeline.read.pages import SourceInfo
from pipeline.storage.ledger import Document, mark_duplicate, owner_gone, this_process
from pipeline.storage.ledger.records import lease
from pipeline.storage.ledger.states import (
    ARCHIVED,
    DUPLICATE,
    FAILED,
    INDEXED,
    NEEDS_DOSSIER,
    PROCESSING,
    RECEIVED,
    REJECTED,
    STORED_RAW,
)

if TYPE_CHECKING:  # pyHanko is loaded only by the processes that sign
    from pipeline.sign.records import SignatureRecord

# What a settled document may leave behind: its spool copy goes once the raw copy is
# all that is needed; finished pages stay while a retry or an assign can still use them.
_KEEP_PAGES = (FAILED, NEEDS_DOSSIER, STORED_RAW)
_UNFINISHED = (RECEIVED, STORED_RAW, PROCESSING)


@dataclass
class DocumentRun:
    """One document on its way through the steps; each step reads and adds fields."""

    services: Services
    doc: Document
    actor: str
    explicit_code: str | None
    tmp: Path
    owner: str
    started: float = field(default_factory=time.monotonic)
    source: Path | None = None
    source_ref: SourceRef | None = None
    info: SourceInfo | None = None
    results: list[PageResult] = field(default_factory=list)
    match: DossierMatch | None = None
    fields: DocumentFields = field(default_factory=DocumentFields)
    pdf_path: Path | None = None
    pdfa: PdfaInfo | None = None
    digitized_at: str = ""
    keys: ArchiveKeys | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)
    segment: Segment | None = None  # this document's part of a split stack (None: the file)
    dropped: list[tuple[int, str]] = field(default_factory=list)  # (source index, why)
    # the sign step: the signature on pdf_path, or why there is none yet (None: not configured)
    signature: SignatureRecord | None = None
    unsigned_reason: str | None = None

    @property
    def cfg(self) -> Config:
        return self.services.cfg

    def lease_until(self) -> str:
        until = datetime.now(UTC) + timedelta(seconds=self.cfg.run.lease_seconds)
        return until.isoformat(timespec="seconds")

    def settle(self, state: str, stage: str, reason: str, **fields: Any) -> Document:
        """Move the document to ``state`` and end the run (only while this run holds it)."""
        self.doc = self.services.ledger.transition(
            self.doc.id,
            state,
            actor=self.actor,
            stage=stage,
            reason=reason,
            expect_owner=self.owner,
            owner=None,
            **fields,
        )
        return self.doc


class Heartbeat:
    """Renews a held document's lease every quarter of ``run.lease_seconds``, in a thread,
    for as long as the run holds it; stops for good once the document was taken over."""

    def __init__(self, services: Services, doc_id: str, owner: str) -> None:
        self.services, self.doc_id, self.owner = services, doc_id, owner
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{doc_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _beat(self) -> None:
        seconds = self.services.cfg.run.lease_seconds
        while not self._stop.wait(max(0.5, seconds / 4)):
            try:
                held = self.services.ledger.claim(
                    self.doc_id,
                    states=(PROCESSING,),
                    owner=self.owner,
                    lease_until=lease(seconds),
                    expect_owner=self.owner,
                )
            except Exception:  # the database is away for now: the next beat tries again
                continue
            if not held:  # settled, or taken over: nothing of ours to renew any more
                return


def run_document(
    services: Services, doc_id: str, *, actor: str, explicit_code: str | None = None
) -> Document:
    """Process one document to a settled state (or back to ``stored_raw`` to be resumed).

    Raises :class:`StorageUnavailable` / :class:`Interrupted` after putting the document
    back to ``stored_raw``, so a later run resumes it from its finished pages; every
    other failure is recorded on the document. When the document is a scanned stack that
    split (see :mod:`pipeline.flow.steps.split`), its further documents are run next,
    from the pages already read; the source's row is returned.
    """
    doc = _run_one(services, doc_id, actor=actor, explicit_code=explicit_code)
    if doc.parent_id is None and doc.segment is not None and doc.state not in _UNFINISHED:
        for member in services.ledger.family(doc.id)[1:]:
            if member.state in (STORED_RAW, PROCESSING):
                _run_one(services, member.id, actor=actor)
                tidy(services, services.ledger.get_document(member.id))
    return tidy(services, services.ledger.get_document(doc.id)) if doc.state != PROCESSING else doc


def _run_one(
    services: Services, doc_id: str, *, actor: str, explicit_code: str | None = None
) -> Document:
    from pipeline.flow.recover import take_over
    from pipeline.flow.steps import STEPS, index_archived

    ledger = services.ledger
    doc = ledger.get_document(doc_id)
    if doc.state == PROCESSING:
        if not owner_gone(doc.owner, doc.lease_until):
            return doc  # another live process is on it
        try:
            doc = take_over(services, doc, actor)
        except TransitionError:
            return ledger.get_document(doc_id)  # another process took it over first
    if doc.state in (DUPLICATE, INDEXED):
        return doc
    if doc.state == ARCHIVED:  # archived before a crash (or found so by take_over)
        return tidy(services, index_archived(services, doc, actor))
    owner = str(this_process())
    services.cfg.tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-{doc_id}-", dir=services.cfg.tmp_dir))
    run = DocumentRun(services, doc, actor, explicit_code, tmp, owner)
    try:
        try:
            run.doc = ledger.transition(
                doc_id,
                PROCESSING,
                actor=actor,
                stage="start",
                reason="processing started",
                expect=(doc.state,),
                owner=owner,
                lease_until=run.lease_until(),
            )
        except DuplicateContent as dup:
            return mark_duplicate(ledger, doc_id, dup.prior, actor=actor)
        except TransitionError:
            return ledger.get_document(doc_id)  # another process took it a moment ago
        with Heartbeat(services, doc_id, owner):
            try:
                return _steps(run, STEPS)
            except TransitionError:
                # Taken over while this run was cut off from the ledger: the taker has it.
                return ledger.get_document(doc_id)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _steps(run: DocumentRun, steps: Any) -> Document:
    for step in steps:
        try:
            settled = step(run)
        except Exception as exc:
            return _settle_error(run, step.stage, exc)
        if settled is not None:
            return settled
    return run.doc


def _settle_error(run: DocumentRun, stage: str, exc: Exception) -> Document:
    """The one mapping from what went wrong to the document's state."""
    if isinstance(exc, (StorageUnavailable, BrokerUnavailable, Interrupted)):
        why = {StorageUnavailable: "storage unreachable", BrokerUnavailable: "broker unreachable"}
        why = next((w for cls, w in why.items() if isinstance(exc, cls)), "stopped")
        done = len(run.results)
        run.settle(STORED_RAW, stage, f"{why}; will resume ({done} pages finished)")
        raise exc
    if isinstance(exc, Unavailable):
        raise exc  # the ledger itself is unreachable: nothing can be recorded
    if isinstance(exc, DuplicateContent):
        return mark_duplicate(run.services.ledger, run.doc.id, exc.prior, actor=run.actor)
    if isinstance(exc, RejectedInput):
        # Messages from qpdf/poppler name the local copy; the operator knows the file by name.
        reason = str(exc)
        if run.source is not None:
            reason = reason.replace(str(run.source), run.doc.source_name)
        return run.settle(REJECTED, stage, reason)
    if isinstance(exc, PipelineError):
        return run.settle(FAILED, exc.stage or stage, str(exc))
    return run.settle(FAILED, stage, f"{type(exc).__name__}: {exc}")


def tidy(services: Services, doc: Document) -> Document:
    """Remove what a settled document no longer needs on this machine.

    The documents of a split stack share their source's spool copy and finished pages
    (both under the source row's id): those go only when no document of the stack
    needs them any more.
    """
    root = doc.parent_id or doc.id
    family = services.ledger.family(root) if doc.parent_id or doc.segment else [doc]
    if all(d.state not in _UNFINISHED for d in family):
        (services.cfg.spool_dir / root).unlink(missing_ok=True)
    if all(d.state not in _KEEP_PAGES and d.state not in _UNFINISHED for d in family):
        services.work.clear(root)
    return doc
