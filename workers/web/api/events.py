"""``GET /api/v1/events?after=CURSOR&limit=N``: the outbox as a feed, for systems that poll.

The page is :func:`pipeline.events.feed.feed_page`'s (the events as the webhooks deliver
them, and the cursor of the next page), with the links in it made URLs on
``api.public_url``. A system keeps ``next`` and asks again with ``after=next``; an empty
page means nothing new yet. Events carry codes, states, hashes and links, never page
text; reading the feed is audited (one row per page, with the cursor and the count).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse
from starlette.routing import Route

from pipeline.events.feed import feed_page
from workers.web.api.context import ApiCall, ApiContext, Feed, endpoint
from workers.web.api.links import absolute
from workers.web.api.problems import Refusal
from workers.web.auth import SECURITY_HEADERS

DEFAULT_LIMIT = 100


def _whole(value: str | None, name: str, low: int, high: int, default: int) -> int:
    if value is None or value == "":
        return default
    if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
        raise Refusal(400, f"{name} must be a whole number from {low} to {high}")
    return int(value)


def routes(api: ApiContext) -> list[Route]:
    def events(call: ApiCall) -> JSONResponse:
        feed: Feed = api.feed or feed_page
        most = api.cfg.api.feed_max_limit
        after = _whole(call.query.get("after"), "after", 0, 2**63 - 1, 0)
        limit = _whole(call.query.get("limit"), "limit", 1, most, min(DEFAULT_LIMIT, most))
        page: dict[str, Any] = feed(api.web.ledger(), after, limit)
        api.record(call, "events_read", after=after, limit=limit, count=len(page["events"]))
        return JSONResponse(absolute(api.base(call.request), page), headers=SECURITY_HEADERS)

    return [endpoint(api, "/events", events, scope="events", action="events_read")]
