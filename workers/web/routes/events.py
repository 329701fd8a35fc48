"""The operator's page of events for the one-stop system: deliveries not done, and replay.

Lists the deliveries that are waiting for their next try, waiting behind an earlier
event of their dossier, or dead (``events list``), with a replay button on each; the
replay is a POST (CSRF-checked by the gate) recorded for the dispatcher, as from an
operator's PC (``events replay``), and audited. The web role may ask for a replay, not
deliver: a worker's dispatcher carries it out at its next pass.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from pipeline.errors import NotFound, UsageError
from pipeline.events.report import delivery_row
from pipeline.storage.ledger.outbox import DEAD, PENDING
from workers.web.auth import SECURITY_HEADERS
from workers.web.context import OPERATOR, WebContext, form, page

MESSAGES = {"replay": "Đã yêu cầu gửi lại; máy xử lý sẽ gửi trong ít giây."}
_WEBHOOK_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


def _event_id(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise NotFound(raw[:20])
    return int(raw)


def routes(ctx: WebContext) -> list[Route]:
    def listing(request: Request) -> Response:
        only_dead = request.query_params.get("dead") == "1"
        outbox = ctx.ledger().outbox
        rows = [
            delivery_row(d)
            for d in outbox.deliveries(states=(DEAD,) if only_dead else (PENDING, DEAD))
        ]
        counts = outbox.counts()
        ctx.record(request, "events_view", None, deliveries=len(rows), dead=only_dead)
        done = request.query_params.get("done", "")
        view = {"rows": rows, "counts": counts, "dead": only_dead, "message": MESSAGES.get(done)}
        return ctx.render(request, "events.html", view)

    def replay(request: Request) -> Response:
        event_id = _event_id(request.path_params["event_id"])
        webhook = (form(request).get("webhook") or "").strip() or None
        if webhook is not None and (len(webhook) > 40 or set(webhook) - _WEBHOOK_CHARS):
            raise UsageError("tên webhook không hợp lệ")
        named = ctx.ledger().outbox.request_replay(event_id, webhook, ctx.actor(request))
        if named <= 0:
            raise NotFound(str(event_id))
        ctx.record(request, "events_replay", str(event_id), webhook=webhook, deliveries=named)
        return RedirectResponse("/events?done=replay", status_code=303, headers=SECURITY_HEADERS)

    return [
        page(ctx, "/events", listing, role=OPERATOR),
        page(ctx, "/events/{event_id}/replay", replay, role=OPERATOR, methods=("POST",)),
    ]
