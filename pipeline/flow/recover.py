"""After a crash: finish what was finished, hand back what was not, lose nothing.

A document left in ``processing`` by a process that is gone (see
:func:`pipeline.storage.ledger.owner_gone`) is looked up in the archive: if its
metadata JSON (the commit marker) is there with its source hash, it was in fact
archived and the ledger catches up; otherwise it goes back to ``stored_raw``,
keeping its number and its finished pages, so the re-run writes the same keys
and starts from the last finished page. The same holds for a document waiting in
``stored_raw`` whose custodian is gone. Documents another live process holds are
left alone, which is what makes this safe to run from several processes.

Every take-over is conditional on the holder the taker read (``expect_owner``, and
:meth:`Ledger.claim` for a waiting document), so of several machines noticing the
same stalled document at once exactly one takes it. Holders renew short leases
(``run.lease_seconds``) while they work, so "gone" is known on any machine within a
lease; :func:`pick_up` is what ``sohoa worker`` and a processing watcher run every
``run.pickup_seconds``.
"""

from __future__ import annotations

import json
import os
import shutil

from pipeline.archive.layout import archive_keys, record_source, source_entry
from pipeline.archive.metadata import signature_state
from pipeline.config import Config
from pipeline.errors import TransitionError
from pipeline.flow.context import Services
from pipeline.flow.steps.index import index_archived
from pipeline.storage.ledger import Document, owner_gone, this_process
from pipeline.storage.ledger.records import lease, process_start
from pipeline.storage.ledger.states import (
    ARCHIVED,
    DUPLICATE,
    FAILED,
    INDEXED,
    NEEDS_DOSSIER,
    PROCESSING,
    REJECTED,
    STORED_RAW,
)


def take_over(services: Services, doc: Document, actor: str) -> Document:
    """A ``processing`` document whose process is gone: archived after all, or back to wait."""
    ledger, objects = services.ledger, services.objects
    if doc.dossier_code and doc.ordinal:
        keys = archive_keys(doc.dossier_code, doc.ordinal)
        found = objects.stat(objects.archive_bucket, keys.metadata)
        if (
            found
            and found.meta.get("source-sha256") == doc.sha256
            and found.meta.get("document-id") in (None, doc.id)
        ):
            meta = json.loads(objects.get_bytes(objects.archive_bucket, keys.metadata))
            pages = meta.get("number_of_page")
            record_source(
                objects,
                doc.sha256,
                source_entry(
                    doc.id,
                    doc.dossier_code,
                    doc.ordinal,
                    pages,
                    source_document_id=doc.parent_id or doc.id,
                    segment=doc.segment,
                ),
            )
            return ledger.transition(
                doc.id,
                ARCHIVED,
                actor=actor,
                stage="recover",
                reason="archive objects found after an interruption",
                pdf_key=keys.pdf,
                metadata_key=keys.metadata,
                text_key=keys.text,
                pages=pages,
                dossier_source=(meta.get("sohoa") or {}).get("dossier_source"),
                signature=signature_state(meta),
                expect=(PROCESSING,),
                expect_owner=doc.owner,
                owner=None,
            )
    # Only if the dead process still holds it: two processes taking over at once must not
    # both win (the second would take the document from the first).
    return ledger.transition(
        doc.id,
        STORED_RAW,
        actor=actor,
        stage="recover",
        reason="interrupted while processing; will resume from its finished pages",
        expect=(PROCESSING,),
        expect_owner=doc.owner,
        owner=None,
    )


def stuck(services: Services, states: tuple[str, ...] = (PROCESSING, STORED_RAW)) -> list[Document]:
    """Unfinished documents whose process is gone (they wait for someone to resume them)."""
    return [
        d
        for d in services.ledger.find_documents(states=list(states))
        if owner_gone(d.owner, d.lease_until)
    ]


def claim(services: Services, doc: Document, owner: str, lease_seconds: float) -> bool:
    """Take a waiting document for ``owner`` if nobody took it since ``doc`` was read."""
    return services.ledger.claim(
        doc.id,
        states=(STORED_RAW,),
        owner=owner,
        lease_until=lease(lease_seconds),
        expect_owner=doc.owner,
        expect_lease=doc.lease_until,
    )


def pick_up(
    services: Services, *, actor: str, owner: str, mine: frozenset[str] | None = None
) -> list[Document]:
    """Take over what is stalled; return the waiting documents now claimed for ``owner``.

    A ``processing`` document whose holder is gone goes back to ``stored_raw`` (or is
    found archived); a ``stored_raw`` one with no live holder is claimed for ``owner``
    for ``run.queue_lease_seconds``, to be run or sent to the queue by the caller. A
    caller that runs documents itself gives ``mine`` (those it is running): one it
    holds but is not running (claimed, then never started because its storage went
    away) is claimed again, not left to wait for this process's end.
    """
    ledger = services.ledger
    for doc in ledger.find_documents(states=[PROCESSING]):
        if owner_gone(doc.owner, doc.lease_until):
            try:
                doc = take_over(services, doc, actor)
            except TransitionError:
                continue  # another machine took it over first
            if doc.state == ARCHIVED:
                index_archived(services, doc, actor)
    claimed: list[Document] = []
    for doc in ledger.find_documents(states=[STORED_RAW]):
        idle = mine is not None and doc.owner == owner and doc.id not in mine
        if not idle and not owner_gone(doc.owner, doc.lease_until):
            continue
        if claim(services, doc, owner, services.cfg.run.queue_lease_seconds):
            claimed.append(ledger.get_document(doc.id))
    return claimed


def recover(services: Services, *, actor: str) -> list[str]:
    """Repair what crashes left behind; return the ids of documents to process now."""
    clean_tmp(services.cfg)
    me = str(this_process())
    for doc in stuck(services, (PROCESSING,)):
        try:
            take_over(services, doc, actor)
        except TransitionError:
            continue  # another process took it over first
    for doc in services.ledger.find_documents(states=[ARCHIVED]):
        index_archived(services, doc, actor)
    settled = [DUPLICATE, INDEXED, REJECTED, NEEDS_DOSSIER, FAILED]
    for doc in services.ledger.find_documents(states=settled):
        (services.cfg.spool_dir / doc.id).unlink(missing_ok=True)
    lease_seconds = services.cfg.run.queue_lease_seconds
    return [d.id for d in stuck(services, (STORED_RAW,)) if claim(services, d, me, lease_seconds)]


def sweep_work(services: Services) -> int:
    """Clear the finished pages of documents that have settled; return how many were cleared.

    A document run clears its pages when it settles. One run cut off from the ledger
    while another took its document over can still open the folder and store a page
    after the taker had cleared it, and nothing else would remove them: so every worker
    sweeps now and then (``run.sweep_seconds``), with the same rule a run applies
    (:func:`pipeline.flow.run.tidy`: nothing of a document, or of its stack, that is
    unfinished or may resume).
    """
    from pipeline.errors import NotFound
    from pipeline.flow.run import tidy

    found = services.work.documents()
    for doc_id in found:
        try:
            doc = services.ledger.get_document(doc_id)
        except NotFound:
            continue  # not this ledger's: leave it
        tidy(services, doc)
    return len(set(found) - set(services.work.documents())) if found else 0


def clean_tmp(cfg: Config) -> int:
    """Remove temporary folders left by processes that no longer run (after a kill -9)."""
    removed = 0
    if not cfg.tmp_dir.exists():
        return removed
    for entry in cfg.tmp_dir.iterdir():
        pid = entry.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and process_start(int(pid)) is None:
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed
