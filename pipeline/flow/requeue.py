"""An operator's decisions recorded in the ledger, for a worker to carry out.

The web process holds the ``web`` key (it reads the archive and nothing else), so it
cannot run a document itself. Retrying, assigning a dossier code and re-running a
flagged document are therefore recorded as a move back to ``stored_raw`` with no
owner and the operator as the actor: a worker's ``sohoa watch`` takes such documents
up at its next rescan, and ``sohoa retry --failed`` takes them at once. Accepting a
flagged document only clears its review note. Every function raises
:class:`~pipeline.errors.UsageError` for a document not in a state that allows it,
which is what a person who clicked on a stale page gets to read.
"""

from __future__ import annotations

from pipeline.dossier.place import Place
from pipeline.errors import DuplicateContent, TransitionError, UsageError
from pipeline.storage.ledger import Document, Ledger, mark_duplicate, owner_gone
from pipeline.storage.ledger.states import (
    FAILED,
    INDEXED,
    NEEDS_DOSSIER,
    REJECTED,
    STORED_RAW,
)

RETRY_STATES = (FAILED, REJECTED, NEEDS_DOSSIER)
ASSIGN_STATES = (FAILED, REJECTED, NEEDS_DOSSIER)


def can_retry(doc: Document) -> bool:
    """Settled badly, or waiting in custody for a process that is gone."""
    return doc.state in RETRY_STATES or (
        doc.state == STORED_RAW and owner_gone(doc.owner, doc.lease_until)
    )


def _queue(ledger: Ledger, doc: Document, actor: str, reason: str, **fields: object) -> Document:
    try:
        return ledger.transition(
            doc.id,
            STORED_RAW,
            actor=actor,
            stage="operator",
            reason=reason,
            expect=(doc.state,),
            owner=None,
            **fields,
        )
    except DuplicateContent as dup:
        return mark_duplicate(ledger, doc.id, dup.prior, actor=actor)
    except TransitionError:
        now = ledger.get_document(doc.id)
        raise UsageError(f"document {doc.id} is now {now.state}; reload the page") from None


def queue_retry(ledger: Ledger, doc_id: str, actor: str) -> Document:
    """Run the document again from its raw original (failed, rejected, needs_dossier)."""
    doc = ledger.get_document(doc_id)
    if doc.state == STORED_RAW and owner_gone(doc.owner, doc.lease_until):
        return ledger.update_fields(doc.id, owner=None)  # already waiting: free it for a worker
    if doc.state not in RETRY_STATES:
        raise UsageError(
            f"document {doc.id} is {doc.state}: only failed, rejected or waiting"
            " documents are retried"
        )
    return _queue(ledger, doc, actor, f"retry requested by {actor}; a worker runs it")


def queue_assign(
    ledger: Ledger, doc_id: str, code: str, actor: str, place: Place | None = None
) -> Document:
    """Give the document its dossier code (and its place in the dossier, when ``place``
    names one) and have a worker archive it so."""
    doc = ledger.get_document(doc_id)
    if doc.state not in ASSIGN_STATES:
        raise UsageError(
            f"document {doc.id} is {doc.state}: only documents that need a dossier"
            " code (or failed) can be assigned one"
        )
    placed = place is not None and not place.empty
    return _queue(
        ledger,
        doc,
        actor,
        f"dossier code {code} assigned by {actor}"
        + (f" ({place_text(place)})" if placed and place else "")
        + "; a worker archives it",
        dossier_hint=code,
        **(place.fields() if placed and place else {}),
    )


def place_text(place: Place) -> str:
    """A place in one line, for reasons and messages."""
    parts = []
    if place.component_code:
        parts.append(f"component {place.component_code}")
    if place.kind:
        parts.append(place.kind)
    if place.procedure_code:
        parts.append(f"procedure {place.procedure_code}")
    return ", ".join(parts) or "no place"


def flagged(ledger: Ledger) -> list[Document]:
    """Archived documents with pages an operator should look at, oldest first."""
    return [d for d in ledger.find_documents(states=[INDEXED]) if d.review]


def _flagged(ledger: Ledger, doc_id: str) -> Document:
    doc = ledger.get_document(doc_id)
    if doc.state != INDEXED or not doc.review:
        raise UsageError(f"document {doc.id} is not waiting for review")
    return doc


def accept_review(ledger: Ledger, doc_id: str, actor: str) -> Document:
    """The operator checked the flagged pages and they stand as read: clear the note."""
    doc = _flagged(ledger, doc_id)
    return ledger.update_fields(doc.id, review=None)


def queue_rerun(ledger: Ledger, doc_id: str, actor: str) -> Document:
    """Run a flagged document again: a worker writes new versions of its archive keys
    (the archive keeps the old ones), re-indexes it and flags it again if still poor."""
    doc = _flagged(ledger, doc_id)
    # A code given by hand is not in the file: give it again, or the run would not find it.
    hint = doc.dossier_code if doc.dossier_source == "assigned" else doc.dossier_hint
    return _queue(
        ledger,
        doc,
        actor,
        f"re-run requested by {actor} after review ({doc.review}); a worker runs it",
        dossier_hint=hint,
    )
