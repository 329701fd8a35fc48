"""What an event says: its type, and the facts about the document it carries.

An event carries codes, states, hashes and links, never page text, file names or
anything a person wrote on the page: the link opens the document to whoever may see it.
The facts are a snapshot taken in the transaction that made the change (the outbox row's
``data``), so a receiver learns what was true then even if the document moved on.

Links are paths under ``/api/v1`` (the pipeline does not know where the office publishes
sohoa); the feed and the webhooks make them absolute with ``api.public_url``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from pipeline.storage.ledger.records import Document

ARCHIVED = "document.archived"
SIGNED = "document.signed"
FAILED = "document.failed"
NEEDS_DOSSIER = "document.needs_dossier"
REJECTED = "document.rejected"
DUPLICATE = "document.duplicate"
TYPES = (ARCHIVED, SIGNED, FAILED, NEEDS_DOSSIER, REJECTED, DUPLICATE)
# The ledger state whose reaching is announced, and as what.
STATE_EVENTS = {
    "archived": ARCHIVED,
    "failed": FAILED,
    "needs_dossier": NEEDS_DOSSIER,
    "rejected": REJECTED,
    "duplicate": DUPLICATE,
}
NOT_SIGNED = (None, "pending")  # the ledger's signature column when the copy is not signed yet
API_PREFIX = "/api/v1"
# Vietnam's time (the national portal's dates are Asia/Ho_Chi_Minh), no DST.
ICT = timezone(timedelta(hours=7), "ICT")


def occurred_now() -> str:
    """The time of an event as events say it: ISO 8601 with the +07:00 offset."""
    return datetime.now(UTC).astimezone(ICT).isoformat(timespec="seconds")


def document_paths(doc_id: str) -> dict[str, str]:
    """The document's links under the API (relative; see ``absolute``)."""
    base = f"{API_PREFIX}/documents/{doc_id}"
    return {
        "self": base,
        "pdf": f"{base}/pdf",
        "metadata": f"{base}/metadata",
        "text": f"{base}/text",
    }


def event_data(doc: Document, event_type: str) -> dict[str, Any]:
    """The facts an event of ``event_type`` carries about ``doc`` as it is now."""
    archived = doc.pdf_key is not None and event_type in (ARCHIVED, SIGNED)
    links = document_paths(doc.id)
    if not archived:
        links = {"self": links["self"]}
    data: dict[str, Any] = {
        "state": doc.state,
        "stage": doc.stage,
        "kind": doc.kind,
        "component_code": doc.component_code,
        "procedure_code": doc.procedure_code,
        "ordinal": doc.ordinal,
        "archive_id": (
            f"{doc.dossier_code}.{doc.ordinal}" if doc.dossier_code and doc.ordinal else None
        ),
        "pages": doc.pages,
        "sha256": doc.sha256,  # the original as it was handed over
        "pdf_sha256": doc.pdf_sha256 if archived else None,  # the archived copy, as it is now
        "signature_level": doc.signature,
        "batch_id": doc.batch_id,
        "station": doc.station,
        "links": links,
    }
    if event_type == DUPLICATE:
        data["duplicate_of"] = doc.duplicate_of
        if doc.duplicate_of:
            data["links"]["duplicate_of"] = f"{API_PREFIX}/documents/{doc.duplicate_of}"
    return data


def absolute(links: dict[str, str], public_url: str | None) -> dict[str, str]:
    """Links made absolute with ``api.public_url`` (left as paths when it is not set)."""
    if not public_url:
        return dict(links)
    base = public_url.rstrip("/")
    return {k: base + v if v.startswith("/") else v for k, v in links.items()}


def event_json(
    event_id: int,
    event_type: str,
    occurred_at: str,
    dossier_code: str | None,
    document_id: str,
    data: dict[str, Any],
    public_url: str | None = None,
) -> dict[str, Any]:
    """One event as the feed serves it and the webhooks deliver it."""
    body = {**data, "links": absolute(data.get("links") or {}, public_url)}
    return {
        "id": event_id,
        "type": event_type,
        "occurred_at": occurred_at,
        "dossier_code": dossier_code,
        "document_id": document_id,
        "data": body,
    }
