"""What every ``/api/v1`` route shares: the web's backends, the API's stores, the bearer check.

A route is a function of one :class:`ApiCall` (the request and the client it came from),
built with :func:`endpoint`, which names the scope it needs and the audit action it is.
:func:`endpoint` does, in order, for every request:

1. the bearer token (``Authorization: Bearer <token>``, nothing else: no cookie, no
   query parameter), looked up by its SHA-256: none → 401 with ``WWW-Authenticate:
   Bearer``; unknown or revoked → 401 ``invalid_token``;
2. the client's rate (``api.rate_per_minute``, shared by every web server through the
   database): over it → 429 with ``Retry-After``;
3. the scope: missing → 403 ``insufficient_scope``;
4. the route; foreseen errors become problem details (400, 404, 503), a bug a 500 that
   says nothing of the inside.

Every request that reaches step 1 leaves one audit row under ``client:<name>`` (or
``client:?`` for a token nobody holds): the route's own rows (a read of a document's
content, written before its bytes leave, as the web does), else one for the call with
its action and status; refusals are ``denied`` with the reason. The client's address is
the one the login gate settled (the proxy's ``X-Forwarded-For`` only with the proxy's
secret).
"""

from __future__ import annotations

import inspect
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pipeline.access.clients import Client, ClientStore
from pipeline.access.ratelimit import RateLimiter
from pipeline.access.uploads import UploadStore
from pipeline.config import Config
from pipeline.errors import (
    DatabaseUnavailable,
    NotAllowed,
    NotFound,
    QueryError,
    StorageUnavailable,
    UsageError,
)
from pipeline.storage.objects import MinioStore, connect
from workers.web.api.links import base_url
from workers.web.api.problems import Refusal, problem, refusal_response
from workers.web.auth import client_address
from workers.web.context import WebContext

log = logging.getLogger("sohoa.api")
REALM = 'Bearer realm="sohoa"'

Feed = Callable[[Any, int, int], dict[str, Any]]


@dataclass
class ApiCall:
    """One admitted request: who sent it, and whether its audit row is written."""

    request: Request
    client: Client
    audited: bool = False

    @property
    def query(self) -> Any:
        return self.request.query_params


@dataclass
class ApiContext:
    web: WebContext
    clients: ClientStore
    rate: RateLimiter
    uploads: UploadStore
    feed: Feed | None = None
    _upload_store: list[MinioStore | None] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def cfg(self) -> Config:
        return self.web.cfg

    def base(self, request: Request) -> str:
        return base_url(self.cfg, request)

    def upload_store(self) -> MinioStore | None:
        """The station key's store, for the upload route alone; None when uploads are not
        configured (SOHOA_UPLOAD_ACCESS_KEY / SOHOA_UPLOAD_SECRET_KEY unset)."""
        api = self.cfg.api
        if not (api.upload_access_key and api.upload_secret_key):
            return None
        with self._lock:
            if not self._upload_store:
                minio = replace(
                    self.cfg.minio,
                    access_key=api.upload_access_key,
                    secret_key=api.upload_secret_key,
                    role="station",
                )
                self._upload_store.append(connect(replace(self.cfg, minio=minio)))
            return self._upload_store[0]

    # -- the audit log -------------------------------------------------------------------
    def record(
        self,
        call: ApiCall,
        action: str,
        obj: str | None = None,
        dossier: str | None = None,
        **details: Any,
    ) -> None:
        """One row for this call, under ``client:<name>``, from the client's address."""
        self.web.audit.append(
            call.client.actor,
            action,
            obj,
            {"via": "api", **details},
            client=client_address(call.request),
            dossier=dossier,
        )
        call.audited = True

    def record_read(
        self, call: ApiCall, action: str, obj: str, dossier: str | None, **details: Any
    ) -> None:
        """A read of a file's bytes; ranged reads of one file by one client within
        ``web.read_audit_window_seconds`` share the row of the first, as in the web."""
        session = call.client.actor
        if not self.web.reads.due(session, obj):
            call.audited = True
            return
        try:
            self.record(call, action, obj, dossier, **details)
        except BaseException:
            self.web.reads.forget(session, obj)
            raise

    def deny(self, request: Request, actor: str, reason: str) -> None:
        method, path = request.method, request.url.path
        self.web.audit.append(
            actor,
            "denied",
            None,
            {"via": "api", "method": method, "path": path, "reason": reason},
            client=client_address(request),
        )

    # -- who is calling ------------------------------------------------------------------
    def admit(self, request: Request, scope: str) -> ApiCall | Response:
        """The client behind this request's bearer token, or the refusal to send."""
        header = request.headers.get("authorization", "")
        kind, _, token = header.strip().partition(" ")
        if not header or kind.lower() != "bearer" or not token.strip():
            self.deny(request, "client:?", "no bearer token")
            detail = "send the client's token as Authorization: Bearer <token>"
            return problem(401, detail, {"WWW-Authenticate": REALM})
        client = self.clients.identify(token.strip())
        if client is None or not client.active:
            actor = client.actor if client else "client:?"
            why = "revoked token" if client else "unknown token"
            self.deny(request, actor, why)
            challenge = f'{REALM}, error="invalid_token", error_description="{why}"'
            return problem(401, f"the token is not valid ({why})", {"WWW-Authenticate": challenge})
        decision = self.rate.take(client.name)
        if not decision.allowed:
            self.deny(request, client.actor, "rate limit")
            wait = max(1, math.ceil(decision.retry_after))
            detail = (
                f"more than {self.rate.per_minute} calls a minute (api.rate_per_minute);"
                f" try again in {wait} s"
            )
            return problem(429, detail, {"Retry-After": str(wait)})
        if scope not in client.scopes:
            self.deny(request, client.actor, f"needs scope {scope}")
            challenge = f'{REALM}, error="insufficient_scope", scope="{scope}"'
            detail = f"this client may not do this: it needs the scope {scope}"
            return problem(403, detail, {"WWW-Authenticate": challenge})
        return ApiCall(request, client)


Handler = Callable[[ApiCall], Any]


def endpoint(
    api: ApiContext,
    path: str,
    handler: Handler,
    *,
    scope: str,
    action: str,
    methods: tuple[str, ...] = ("GET",),
) -> Route:
    """A route of ``/api/v1`` that needs ``scope``; see the module docstring for the order."""

    async def respond(call: ApiCall) -> tuple[Response, str | None]:
        try:
            if inspect.iscoroutinefunction(handler):
                return await handler(call), None
            return await run_in_threadpool(handler, call), None
        except Refusal as refused:
            return refusal_response(refused), refused.detail
        except NotFound as exc:
            return problem(404, str(exc) or "not found"), "not found"
        except (QueryError, UsageError) as exc:
            return problem(400, str(exc)), str(exc)
        except (StorageUnavailable, DatabaseUnavailable) as exc:
            # The reason may name internal hosts: for the log, not for the client.
            log.warning("%s %s: %s", call.request.method, call.request.url.path, exc)
            detail = "storage or database unavailable; try again later"
            return problem(503, detail, {"Retry-After": "30"}), "unavailable"
        except NotAllowed as exc:
            log.warning("%s %s refused: %s", call.request.method, call.request.url.path, exc)
            return problem(503, "this server may not do that; ask the administrator"), str(exc)
        except Exception:
            log.exception("%s %s failed", call.request.method, call.request.url.path)
            return problem(500, "internal error; the server's log has the details"), "internal"

    async def handle(request: Request) -> Response:
        admitted = await run_in_threadpool(api.admit, request, scope)
        if isinstance(admitted, Response):
            return admitted
        response, reason = await respond(admitted)
        if not admitted.audited:
            status = response.status_code
            details: dict[str, Any] = {"path": request.url.path, "status": status}
            if reason:
                details["error"] = reason[:300]
            await run_in_threadpool(api.record, admitted, action, None, None, **details)
        return response

    handle.__name__ = getattr(handler, "__name__", "endpoint")
    route = Route(path, handle, methods=list(methods))
    route.scope_needed = scope  # type: ignore[attr-defined]  # for tests and the spec
    return route
