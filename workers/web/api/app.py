"""``/api/v1`` as a Starlette application of its own, mounted by the web app.

It shares the web's backends (index, ledger, audit log, the web key's store) through
the :class:`~workers.web.context.WebContext`, and adds its own: the clients, their
rate, their uploads. The web's login gate lets ``/api/v1/…`` through without a
session, a cookie or a CSRF token (it still settles the client's address and refuses a
wrong proxy secret); each route here checks the bearer token itself
(:func:`~workers.web.api.context.endpoint`). Errors are problem details, never pages.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from pipeline.access.clients import ClientStore
from pipeline.access.ratelimit import RateLimiter
from pipeline.access.stores import access_backend
from pipeline.access.uploads import UploadStore
from workers.web.api import documents, dossiers, events, openapi, search, upload
from workers.web.api.context import ApiContext, Feed
from workers.web.api.links import API_PREFIX
from workers.web.api.problems import problem
from workers.web.context import WebContext

log = logging.getLogger("sohoa.api")
MODULES = (upload, dossiers, documents, search, events)


def create_api(ctx: WebContext, feed: Feed | None = None) -> Starlette:
    """The API over the web app's context; ``feed`` replaces the outbox's feed (tests)."""
    backend = access_backend(ctx.cfg)
    api = ApiContext(
        ctx,
        ClientStore(backend),
        RateLimiter(backend, ctx.cfg.api.rate_per_minute),
        UploadStore(backend),
        feed,
    )

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = "no such path in /api/v1 (see /api/v1/openapi.json)" if status == 404 else ""
        return problem(status, detail or (exc.detail if isinstance(exc, HTTPException) else ""))

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return problem(500, "internal error; the server's log has the details")

    routes = openapi.routes(lambda request: api.base(request) + API_PREFIX)
    for module in MODULES:
        routes.extend(module.routes(api))
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    app.state.api = api
    return app
