"""Deliveries as operators read them (``sohoa events list``, the web's events page)."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.storage.ledger.outbox import PENDING, Delivery


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def delivery_row(d: Delivery) -> dict[str, object]:
    """One delivery as ``events list`` (and the web page) shows it."""
    state = d.state
    if d.replay_requested:
        state = f"{state}, replay asked"
    elif state == PENDING and d.waiting_for is not None:
        state = "waiting"
    return {
        "event_id": d.event.id,
        "type": d.event.type,
        "occurred_at": d.event.occurred_at,
        "dossier_code": d.event.dossier_code,
        "document_id": d.event.document_id,
        "webhook": d.webhook,
        "state": state,
        "attempts": d.attempts,
        "next_try": _when(d.next_at) if d.state == PENDING else None,
        "waiting_for": d.waiting_for,
        "last_error": d.last_error,
        "last_status": d.last_status,
        "delivered_at": d.delivered_at,
    }
