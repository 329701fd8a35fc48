"""The web app for records staff, operators and administrators: server-rendered Vietnamese
HTML, no scripts, every page behind a login (DESIGN §8).

``create_app`` puts the login gate (:mod:`workers.web.auth`) in front of every
route: a request without a session reaches only ``/login`` and ``/health``; every
POST must carry its session's CSRF token. The pages themselves are small modules
in :mod:`workers.web.routes`, each route naming the least role it needs. Errors
become a short page in Vietnamese (never a traceback, never a host name or key).

The process runs with the ``web`` storage key: it reads the archive (PDFs are
streamed through the app, with ranges) and nothing else; what an operator asks
for that needs more (retry, assign, re-run) is queued in the ledger for a worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from pipeline.access.audit import AuditLog
from pipeline.access.stores import open_audit, open_users
from pipeline.access.users import UserStore
from pipeline.config import Config
from pipeline.storage.index import SearchIndex, open_index
from pipeline.storage.ledger import Ledger, open_ledger
from pipeline.storage.objects import MinioStore, connect
from workers.web.api import API_PREFIX, create_api
from workers.web.api.context import Feed
from workers.web.auth import SECURITY_HEADERS, WebAuth, create_auth
from workers.web.context import WebContext, dossier_href, pdf_href
from workers.web.routes import MODULES

log = logging.getLogger("sohoa.web")
_STATUS_TEXT = {
    400: "Yêu cầu không hợp lệ.",
    403: "Không có quyền truy cập trang này.",
    404: "Không tìm thấy trang này.",
    405: "Phương thức không được phép.",
    413: "Yêu cầu quá lớn.",
}

__all__ = ["create_app", "dossier_href", "pdf_href"]


def create_app(
    cfg: Config,
    store_factory: Callable[[Config], MinioStore] = connect,
    index_factory: Callable[[Config], SearchIndex] = open_index,
    ledger_factory: Callable[[Config], Ledger] = open_ledger,
    *,
    audit: AuditLog | None = None,
    users: UserStore | None = None,
    auth: WebAuth | None = None,
    env: Mapping[str, str] | None = None,
    api_feed: Feed | None = None,
) -> Starlette:
    """The app; every handler reads ``cfg`` and the backends through one :class:`WebContext`.

    ``env`` is where the proxy's secret is read (the process environment unless given);
    ``api_feed`` stands in for the outbox's event feed of ``/api/v1/events`` (tests).
    """
    audit = audit or open_audit(cfg)
    users = users or (auth.users if auth else open_users(cfg))
    ctx = WebContext(cfg, index_factory(cfg), audit, users, store_factory, ledger_factory)
    gate = auth or create_auth(cfg, audit, users, ctx.templates, env)
    ctx.images.cache.prune()  # what an earlier run left: expired, over the limit, not private

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok", headers=SECURITY_HEADERS)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        text = _STATUS_TEXT.get(status, "Đã có lỗi.")
        return ctx.error(request, status, text)

    async def server_error(request: Request, exc: Exception) -> Response:
        # The traceback goes to the server's log only; the page says what a person can do.
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return ctx.error(request, 500, "Đã có lỗi trong hệ thống. Vui lòng thử lại sau.")

    # /api/v1 first: systems with bearer tokens, let past the gate (auth.API_PATHS)
    routes = [Mount(API_PREFIX, app=create_api(ctx, api_feed)), *gate.routes()]
    routes.append(Route("/health", health))
    for module in MODULES:
        routes.extend(module.routes(ctx))
    app = Starlette(
        routes=routes,
        middleware=[gate.middleware()],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    app.state.context = ctx
    app.state.auth = gate
    return app
