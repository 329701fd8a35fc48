"""The ledger interface, and what is computed from it the same way for every backend.

The ledger is derived state: batches, documents, their states and an append-only
event trail. MinIO holds the documents themselves (``sohoa ledger rebuild``
restores the ledger from the buckets).
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from pipeline.storage.ledger.outbox import Outbox, OutboxEvent
from pipeline.storage.ledger.records import ANY_OWNER, Document, SegmentRow, stalled
from pipeline.storage.ledger.states import (
    ARCHIVED,
    ATTENTION_STATES,
    DUPLICATE,
    FAILED,
    INDEXED,
    REJECTED,
    batch_status,
)


class Ledger(Protocol):
    created: bool  # True when this process found no ledger and made an empty one

    def create_batch(self, station: str | None, origin: str, actor: str) -> str: ...
    def add_document(
        self,
        batch_id: str,
        *,
        actor: str,
        source_name: str,
        source_path: str | None,
        sha256: str,
        size: int,
        station: str | None,
        folder_name: str | None,
        dossier_hint: str | None,
        owner: str | None = None,
        source_name_bytes: bytes | None = None,
        component_code: str | None = None,
        kind: str | None = None,
        procedure_code: str | None = None,
        place_source: str | None = None,
    ) -> Document: ...
    def transition(
        self,
        doc_id: str,
        to_state: str,
        *,
        actor: str,
        stage: str | None = None,
        reason: str | None = None,
        expect: Sequence[str] | None = None,
        expect_owner: str | object | None = ANY_OWNER,
        **fields: Any,
    ) -> Document: ...
    def update_fields(self, doc_id: str, **fields: Any) -> Document: ...
    def claim(
        self,
        doc_id: str,
        *,
        states: Sequence[str],
        owner: str | None,
        lease_until: str | None,
        expect_owner: str | object | None = ANY_OWNER,
        expect_lease: str | object | None = ANY_OWNER,
    ) -> bool: ...
    def allocate_ordinal(self, doc_id: str, dossier_code: str, floor: int = 0) -> int: ...
    def record_split(
        self, parent_id: str, segments: Sequence[SegmentRow], *, actor: str
    ) -> list[Document]: ...
    def family(self, parent_id: str) -> list[Document]: ...
    def restore(
        self, batch: dict[str, Any], doc: Document, actor: str, reason: str, stage: str = ...
    ) -> bool: ...
    def get_document(self, doc_id: str) -> Document: ...
    def find_documents(
        self,
        *,
        states: Sequence[str] | None = None,
        sha256: str | None = None,
        batch_id: str | None = None,
        station: str | None = None,
        since: str | None = None,
        source_path: str | None = None,
        parent_id: str | None = None,
        signature: str | None = None,  # the signature column: a level, or "pending"
    ) -> list[Document]: ...
    def resolve_id(self, ident: str) -> tuple[str, str]: ...
    def events(
        self, *, document_id: str | None = None, batch_id: str | None = None
    ) -> list[dict[str, Any]]: ...
    def list_batches(self) -> list[dict[str, Any]]: ...
    def get_batch(self, batch_id: str) -> dict[str, Any]: ...
    def live_twin(self, doc: Document) -> Document | None: ...
    def attempts(self, doc_id: str, stage: str) -> int: ...
    def is_empty(self) -> bool: ...
    def record_place(
        self, doc_id: str, place: dict[str, Any], *, actor: str, reason: str
    ) -> Document: ...
    def events_after(self, after: int, limit: int) -> list[OutboxEvent]: ...
    @property
    def outbox(self) -> Outbox: ...
    def close(self) -> None: ...


def cli_actor() -> str:
    """The person at the terminal, as the ledger's actor (``cli:<login>``).

    The name is the account the process runs as (its real uid in the password
    database), never ``LOGNAME``, ``USER`` or ``USERNAME``: anyone can set those to
    another person's name, and the audit log would believe it. A uid with no entry
    (a container's bare uid) is given as its number.
    """
    uid = os.getuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    return f"cli:{user}"


def duplicate_reason(prior: Document) -> str:
    if prior.pdf_key and prior.state in (ARCHIVED, INDEXED):
        return f"same file already archived as {prior.pdf_key} (document {prior.id})"
    if prior.state in (REJECTED, FAILED):
        return f"same file already {prior.state} as document {prior.id}: {prior.reason}"
    return f"same file already taken as document {prior.id} ({prior.state})"


def mark_duplicate(ledger: Ledger, doc_id: str, prior: Document, *, actor: str) -> Document:
    """Settle ``doc_id`` as a duplicate of ``prior``, pointing at its archive keys.

    When ``prior`` is a stack that split, the reason names its other documents too.
    """
    reason = duplicate_reason(prior)
    if prior.parent_id is None and prior.segment is not None:
        others = [d.pdf_key or d.id for d in ledger.family(prior.id)[1:]]
        if others:
            reason += f"; the same stack also became {', '.join(others)}"
    return ledger.transition(
        doc_id,
        DUPLICATE,
        actor=actor,
        stage="dedupe",
        reason=reason,
        duplicate_of=prior.id,
        pdf_key=prior.pdf_key,
        metadata_key=prior.metadata_key,
        text_key=prior.text_key,
        dossier_code=prior.dossier_code,
        pages=prior.pages,
        owner=None,
    )


def _count(values: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def worker_hosts(docs: Sequence[Document]) -> list[str]:
    """Every machine that ran a document of these or one of their pages (``processed_by``)."""
    hosts: set[str] = set()
    for d in docs:
        if not d.processed_by:
            continue
        head, _, pages = d.processed_by.partition("; pages: ")
        hosts.add(head)
        hosts.update(p.rsplit(" ×", 1)[0] for p in pages.split(", ") if p)
    return sorted(hosts - {"?"})


def batch_rows(ledger: Ledger, status: str | None = None) -> list[dict[str, Any]]:
    """One row per batch with document counts per state and the reasons of the bad ones."""
    out: list[dict[str, Any]] = []
    for b in ledger.list_batches():
        docs = ledger.find_documents(batch_id=b["id"])
        counts: dict[str, int] = {}
        for d in docs:
            counts[d.state] = counts.get(d.state, 0) + 1
        overall = batch_status(counts)
        # Taken by a process that is gone (its lease ran out): any machine's pick-up, or
        # `sohoa retry --failed`, takes it over; until then operators see it here.
        stuck = sum(1 for d in docs if stalled(d))
        if stuck:
            counts["stalled"] = stuck
            overall = "stalled" if overall == "in_progress" else overall
        row = {
            "batch_id": b["id"],
            "station": b["station"],
            "created_at": b["created_at"],
            "documents": len(docs),
            "states": counts,
            "status": overall,
            "reasons": [
                f"{d.source_name}: {d.reason}"
                for d in docs
                if d.state in ATTENTION_STATES and d.reason
            ],
            "review": [f"{d.source_name}: {d.review}" for d in docs if d.review],
            "signatures": _count(d.signature for d in docs if d.signature),
            "workers": worker_hosts(docs),
            "origin": b["origin"],
        }
        if status and status != row["status"] and status not in counts:
            continue
        out.append(row)
    return out
