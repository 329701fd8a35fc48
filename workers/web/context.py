"""What every route of the web app shares: configuration, backends, templates, audit, roles.

Routes are small functions in ``workers/web/routes/`` that take a :class:`WebContext`
and return their ``Route``s built with :func:`page`, so each one names the least
role it needs (``records`` unless it says more). The login gate in front of the
app (:mod:`workers.web.auth`) already refuses every path without a session, so a
route added later is never public by mistake; :func:`page` adds the role check
and turns foreseen errors into a Vietnamese error page without internals.

Every read is audited, also by a route written later: a response that :func:`page`
passes on writes one row unless its endpoint wrote one (``ctx.record``) or said it
carries nothing of a document (:meth:`WebContext.nothing_read`); the row's action is
the route's ``audit`` (``view`` unless said). A refused POST (an error status) that
wrote no row writes ``denied`` with its reason.

The web process holds the ``web`` storage key (read the archive, nothing else).
What it cannot do itself (run a document again) it asks of a worker through the
ledger, with the logged-in person as the actor (``web:<name>``).
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from pipeline.access.audit import AuditLog
from pipeline.access.users import UserStore
from pipeline.config import Config
from pipeline.display import (
    ROLE_LABELS,
    actor_vi,
    local_date,
    local_time,
    reason_vi,
    stage_vi,
    state_vi,
)
from pipeline.errors import (
    DatabaseUnavailable,
    NotAllowed,
    NotFound,
    QueryError,
    StorageUnavailable,
    UsageError,
)
from pipeline.storage.index import SearchIndex
from pipeline.storage.ledger import Ledger
from pipeline.storage.objects import MinioStore
from workers.web.auth import (
    SECURITY_HEADERS,
    client_address,
    csrf_field,
    current_user,
    parse_form,
    require_role,
)
from workers.web.documents import PageImages
from workers.web.readaudit import ReadWindow
from workers.web.signature import SignatureChecker

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
RECORDS, OPERATOR, ADMIN = "records", "operator", "admin"
log = logging.getLogger("sohoa.web")

# The Vietnamese wording lives in pipeline.display, shared with the CLI.


def named_reason_vi(item: str) -> str:
    """``"file.pdf: <reason>"`` (a batch's reasons) with the reason in Vietnamese."""
    name, sep, reason = str(item).partition(": ")
    return f"{name}: {reason_vi(reason)}" if sep else reason_vi(name)


def pdf_href(key: str, page: int = 1) -> str:
    """The app's own PDF link; ``#page=`` makes the browser's viewer open at that page."""
    return f"/pdf/{quote(key, safe='/')}#page={max(1, int(page))}"


def dossier_href(code: str) -> str:
    return f"/dossier/{quote(code, safe='')}"


def vn_date(value: str | None) -> str:
    """``2026-11-20`` (or an ISO timestamp) → ``20/11/2026``, as Vietnamese forms write dates."""
    return local_date(value)


def _lazy(factory: Callable[[], Any]) -> Callable[[], Any]:
    """Build a backend on first use (the page works while MinIO is misconfigured)."""
    lock = threading.Lock()
    made: list[Any] = []

    def get() -> Any:
        with lock:
            if not made:
                made.append(factory())
            return made[0]

    return get


@dataclass
class WebContext:
    cfg: Config
    index: SearchIndex
    audit: AuditLog
    users: UserStore
    store_factory: Callable[[Config], MinioStore]
    ledger_factory: Callable[[Config], Ledger]
    templates: Jinja2Templates = field(init=False)

    def __post_init__(self) -> None:
        self.templates = Jinja2Templates(
            directory=str(TEMPLATES_DIR), context_processors=[_page_context]
        )
        env = self.templates.env
        env.filters["vn_date"] = vn_date
        env.filters["vn_time"] = local_time  # stored UTC → dd/mm/yyyy HH:MM, the office's clock
        env.filters["state_label"] = state_vi
        env.filters["stage_label"] = stage_vi
        env.filters["actor_label"] = actor_vi
        env.filters["reason_vi"] = reason_vi
        env.filters["named_reasons"] = named_reason_vi
        env.filters["role_label"] = lambda r: ROLE_LABELS.get(str(r), str(r))
        env.globals["pdf_href"] = pdf_href
        env.globals["dossier_href"] = dossier_href
        self.store = _lazy(lambda: self.store_factory(self.cfg))
        self.ledger = _lazy(lambda: self.ledger_factory(self.cfg))
        # "Đã ký số" and its verdict beside each listed document, verified once per version
        self.signatures = SignatureChecker(self.cfg, self.store)
        # page images rendered from the archived PDFs, and their word boxes, cached
        self.images = PageImages(self.cfg, self.store)
        # a PDF viewer's ranged requests within this window share their first one's row
        self.reads = ReadWindow(self.cfg.web.read_audit_window_seconds)

    # -- responses ---------------------------------------------------------------------
    def render(
        self, request: Request, name: str, context: Mapping[str, Any], status: int = 200
    ) -> Response:
        return self.templates.TemplateResponse(
            request, name, dict(context), status_code=status, headers=SECURITY_HEADERS
        )

    def error(self, request: Request, status: int, message: str) -> Response:
        return self.render(request, "error.html", {"status": status, "message": message}, status)

    # -- who -----------------------------------------------------------------------------
    @staticmethod
    def actor(request: Request) -> str:
        """The ledger's actor for what this request does: ``web:<user>``."""
        user = current_user(request)
        return f"web:{user.name}" if user else "web:?"

    def record(
        self,
        request: Request,
        action: str,
        obj: str | None = None,
        dossier: str | None = None,
        **details: Any,
    ) -> None:
        """One audit row for this request, by the logged-in person, from their address."""
        user = current_user(request)
        self.audit.append(
            user.name if user else "?",
            action,
            obj,
            details or None,
            client=client_address(request),
            dossier=dossier,
        )
        _state(request)["audited"] = True

    def record_read(
        self, request: Request, action: str, obj: str, dossier: str | None = None, **details: Any
    ) -> None:
        """A read that may share the row of the same session's read of ``obj`` a moment ago
        (:class:`ReadWindow`); the first read of a window writes it, whatever it asks for."""
        user = current_user(request)
        session = (user.session or f"{user.name}@{client_address(request)}") if user else "?"
        if not self.reads.due(session, obj):
            _state(request)["audited"] = True  # covered by the window's row
            return
        try:
            self.record(request, action, obj, dossier, **details)
        except BaseException:
            self.reads.forget(session, obj)
            raise

    def deny(self, request: Request, reason: str) -> None:
        """A refused action: one ``denied`` row with the request's method, path and reason."""
        method, path = request.method, request.url.path
        self.record(request, "denied", None, None, method=method, path=path, reason=reason)

    @staticmethod
    def nothing_read(request: Request) -> None:
        """This response carries nothing of any document: no row for it (the home page)."""
        _state(request)["audited"] = True


def _state(request: Request) -> dict[str, Any]:
    return request.scope.setdefault("state", {})


def _page_context(request: Request) -> dict[str, Any]:
    user = current_user(request)
    return {"user": user, "csrf_field": csrf_field(request)}


def form(request: Request) -> dict[str, str]:
    """The fields of this urlencoded POST, read by :func:`page` (the gate checked its CSRF)."""
    return request.scope.get("state", {}).get("form", {})


Endpoint = Callable[[Request], Any]


def page(
    ctx: WebContext,
    path: str,
    endpoint: Endpoint,
    *,
    role: str = RECORDS,
    methods: tuple[str, ...] = ("GET",),
    audit: str = "view",
) -> Route:
    """A route that needs ``role`` (records unless said), with foreseen errors as pages.

    Sync endpoints run in the thread pool (SQLite and MinIO calls block); a POST's form
    is read first and handed over through :func:`form`. A response that wrote no audit
    row gets one here (``audit``, or ``denied`` for a refused POST) before it is sent.
    """

    async def respond(request: Request) -> tuple[Any, str | None]:
        try:
            if inspect.iscoroutinefunction(endpoint):
                return await endpoint(request), None
            return await run_in_threadpool(endpoint, request), None
        except NotFound:
            return ctx.error(request, 404, "Không tìm thấy."), "not found"
        except QueryError as exc:
            return ctx.error(request, 400, f"Yêu cầu không hợp lệ: {exc}"), str(exc)
        except UsageError as exc:
            return ctx.error(request, 400, f"Yêu cầu không hợp lệ: {exc}"), str(exc)
        except (StorageUnavailable, DatabaseUnavailable) as exc:
            # The reason may name internal hosts: for the log, not for the page.
            log.warning("%s %s: %s", request.method, request.url.path, exc)
            message = "Kho lưu trữ tạm thời không truy cập được. Vui lòng thử lại sau."
            return ctx.error(request, 503, message), "storage or database unavailable"
        except NotAllowed as exc:
            # This server's own database role or key may not do it (an office gives user
            # management to the administrator's machine alone): say so, keep the detail
            # for the log.
            log.warning("%s %s refused: %s", request.method, request.url.path, exc)
            message = (
                "Máy chủ web không được phép làm việc này; người quản trị thực hiện bằng lệnh"
                " sohoa trên máy quản trị."
            )
            return ctx.error(request, 403, message), f"not allowed here: {exc}"
        except Exception:  # a bug: the traceback for the log, a plain page for the person
            log.exception("%s %s failed", request.method, request.url.path)
            message = "Đã có lỗi trong hệ thống. Vui lòng thử lại sau."
            return ctx.error(request, 500, message), "internal error"

    def settle(request: Request, status: int, reason: str | None) -> None:
        if status < 400:
            ctx.record(request, audit, None, None, path=request.url.path)
        elif request.method not in ("GET", "HEAD") or status == 403:
            ctx.deny(request, reason or f"HTTP {status}")

    async def handle(request: Request) -> Any:
        if request.method == "POST":  # read here, so that endpoints may be plain functions
            _state(request)["form"] = parse_form(await request.body())
        response, reason = await respond(request)
        if not _state(request).get("audited"):
            await run_in_threadpool(settle, request, response.status_code, reason)
        return response

    handle.__name__ = getattr(endpoint, "__name__", "endpoint")
    guarded: Callable[[Request], Awaitable[Any]] = require_role(role)(handle)
    route = Route(path, guarded, methods=list(methods))
    route.required_role = role  # type: ignore[attr-defined]  # for tests and the role matrix
    return route
