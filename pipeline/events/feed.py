"""The event feed: the outbox's events after a cursor, for systems that poll
(``GET /api/v1/events?after=CURSOR&limit=N`` serves this page as it is).

Events are numbered in commit order (:mod:`pipeline.storage.ledger.outbox`), so a poller
that keeps ``next`` and asks again after it never misses one and sees each once; the
same events go to the webhooks, with the same ids.
"""

from __future__ import annotations

from typing import Any

from pipeline.errors import UsageError
from pipeline.storage.ledger import Ledger

MAX_LIMIT = 1000


def feed_page(
    ledger: Ledger, after: int, limit: int, public_url: str | None = None
) -> dict[str, Any]:
    """``{"events": [...], "next": cursor}``: up to ``limit`` events after ``after``, as
    the webhooks deliver them (links absolute when ``public_url`` is given); ``next`` is
    the last one's id (``after`` itself when there is nothing new)."""
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise UsageError("after must be an event id, 0 or more")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise UsageError(f"limit must be between 1 and {MAX_LIMIT}")
    events = ledger.events_after(after, limit)
    return {
        "events": [e.as_json(public_url) for e in events],
        "next": events[-1].id if events else after,
    }
