"""Logins for the web app: sessions, CSRF, role checks, the login form (DESIGN §8).

:class:`WebAuth` puts every route behind a session except ``/login`` and the
health check. It is one pure-ASGI middleware plus three routes, so the app's own
handlers need no changes beyond a :func:`require_role` on the ones above
``records`` and :func:`csrf_field` in their forms:

- a stranger gets ``303 → /login?next=…`` and the app is never called;
- the session cookie holds a random id signed with HMAC-SHA256 (key from
  ``SOHOA_WEB_SECRET`` or ``$SOHOA_HOME/web-secret``, mode 0600), ``HttpOnly``,
  ``SameSite=Strict``, ``Secure`` over HTTPS; the session itself lives in the
  database with idle and absolute expiry (:mod:`pipeline.access.sessions`);
- logging in always makes a new session id, and drops the one the browser had;
- every POST (and PUT, PATCH, DELETE) must carry the session's CSRF token, as a
  ``csrf_token`` form field or an ``X-CSRF-Token`` header, and a cross-site
  ``Origin`` is refused; the login form uses a signed pre-session nonce instead;
- ``?next=`` only ever leads to a path on this site;
- a request is the reverse proxy's only when it carries the shared secret
  (``SOHOA_WEB_PROXY_SECRET``, from the environment) in ``web.proxy_secret_header``,
  compared in constant time (and, with ``web.trusted_proxy``, comes from that address).
  The address matters little on its own: any local process can connect from
  127.0.0.1. Only such a request has its ``X-Forwarded-For`` and
  ``X-Forwarded-Proto`` believed, and only with ``web.proxy_login`` may it name the
  user in ``web.proxy_user_header`` (single sign-on; existing, enabled accounts only).
  A wrong secret is refused and audited.

Password checks run in a worker thread (Argon2 is slow on purpose), and each
login, failed login, lockout and logout goes to the audit log when one is given;
so does each refusal (a role too low, a CSRF or origin check failed, a wrong proxy
secret, a body too large): action ``denied`` with the path and the reason.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import inspect
import os
import secrets
import stat
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.access.audit import AuditLog
from pipeline.access.sessions import SessionStore
from pipeline.access.users import MAX_PASSWORD, UserStore, role_allows
from pipeline.config import Config, ConfigError

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
SESSION_COOKIE = "sohoa_session"
LOGIN_COOKIE = "sohoa_login"
SECRET_FILE = "web-secret"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
SECURITY_HEADERS = _SECURITY_HEADERS  # for the app's own responses: the same set everywhere
PROXY_SECRET_ENV = "SOHOA_WEB_PROXY_SECRET"
# Systems' API (workers/web/api): no session, no cookie, no CSRF here; its own bearer check.
API_PATHS = "/api/v1"


# ----------------------------------------------------------------------- secrets


def load_secret(cfg: Config) -> bytes:
    """The session-signing key: ``SOHOA_WEB_SECRET``, else a file made once in ``SOHOA_HOME``.

    The file is created with mode 0600 and refused if anyone else may read it,
    since whoever holds the key can forge session cookies.
    """
    if cfg.web.secret:
        return cfg.web.secret.encode("utf-8")
    path = cfg.home / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path} may be read by other users: chmod 600 {path}")
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < 32:
        raise ConfigError(f"{path} holds too short a key: delete it to have a new one made")
    return key.encode("utf-8")


def _mac(key: bytes, purpose: bytes, value: str) -> str:
    digest = hmac.new(key, purpose + b"\x00" + value.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign(key: bytes, purpose: bytes, value: str) -> str:
    return f"{value}.{_mac(key, purpose, value)}"


def unsign(key: bytes, purpose: bytes, token: str | None) -> str | None:
    """The value inside a token made by :func:`sign` for ``purpose``, or None."""
    if not token or len(token) > 256 or "." not in token:
        return None
    value, _, mac = token.rpartition(".")
    return value if hmac.compare_digest(mac, _mac(key, purpose, value)) else None


# ------------------------------------------------------------------------ model


def load_proxy_secret(cfg: Config, env: Mapping[str, str]) -> bytes | None:
    """The secret the office's proxy adds to every request it forwards, or None.

    From the environment only (never a file in git, never ``sohoa config``). Setting
    ``web.trusted_proxy`` or ``web.proxy_login`` without it is refused: an address alone
    proves nothing when any local process can connect from it.
    """
    value = env.get(PROXY_SECRET_ENV) or None
    if value is not None and len(value) < 32:
        raise ConfigError(f"{PROXY_SECRET_ENV} must be at least 32 characters")
    if value is None and (cfg.web.trusted_proxy or cfg.web.proxy_login):
        setting = "web.proxy_login" if cfg.web.proxy_login else "web.trusted_proxy"
        raise ConfigError(
            f"{setting} is set but {PROXY_SECRET_ENV} is not: give sohoa and the proxy the same"
            f" secret (openssl rand -hex 24) and have the proxy send it in"
            f" {cfg.web.proxy_secret_header} (see README, Single sign-on)"
        )
    return value.encode("utf-8") if value else None


@dataclass(frozen=True)
class AuthSettings:
    secret: bytes
    secure_cookies: bool = False
    session_max_seconds: float = 36000.0
    trusted_proxy: str | None = None
    proxy_user_header: str = "X-Remote-User"
    public_paths: tuple[str, ...] = ("/login", "/health")
    max_form_bytes: int = 64 * 1024
    proxy_secret: bytes | None = None
    proxy_secret_header: str = "X-Sohoa-Proxy-Secret"
    proxy_login: bool = False

    @classmethod
    def from_config(cls, cfg: Config, env: Mapping[str, str] | None = None) -> AuthSettings:
        return cls(
            secret=load_secret(cfg),
            secure_cookies=cfg.web.secure_cookies,
            session_max_seconds=cfg.web.session_max_hours * 3600,
            trusted_proxy=cfg.web.trusted_proxy,
            proxy_user_header=cfg.web.proxy_user_header,
            proxy_secret=load_proxy_secret(cfg, os.environ if env is None else env),
            proxy_secret_header=cfg.web.proxy_secret_header,
            proxy_login=cfg.web.proxy_login,
        )

    def __repr__(self) -> str:
        return (
            f"AuthSettings(secret=***, trusted_proxy={self.trusted_proxy!r},"
            f" proxy_secret={'***' if self.proxy_secret else None},"
            f" proxy_login={self.proxy_login!r})"
        )


@dataclass(frozen=True)
class CurrentUser:
    name: str
    role: str
    csrf_token: str
    via: str  # "session" or "proxy"
    session: str = ""  # an opaque tag of the session (not its id): reads are grouped by it


def current_user(request: Request) -> CurrentUser | None:
    return request.scope.get("state", {}).get("user")


def client_address(request: Request) -> str | None:
    return request.scope.get("state", {}).get("client_addr")


def csrf_token(request: Request) -> str:
    """The token a form must send back (the session's, or the login form's nonce)."""
    user = current_user(request)
    if user:
        return user.csrf_token
    return request.scope.get("state", {}).get("login_nonce", "")


def csrf_field(request: Request) -> Markup:
    """``<input type=hidden name=csrf_token …>`` for a Jinja template."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        CSRF_FIELD, escape(csrf_token(request))
    )


def safe_next(value: str | None) -> str:
    """A ``?next=`` target that stays on this site; anything doubtful becomes ``/``."""
    if not value or len(value) > 2000 or not value.startswith("/") or value.startswith("//"):
        return "/"
    if any(ord(c) < 0x21 or c in "\\\x7f" for c in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or parts.path.startswith("/login"):
        return "/"
    return value


def require_role(role: str) -> Callable[[Callable[..., Any]], Callable[[Request], Awaitable[Any]]]:
    """Route wrapper: 403 (and no data) unless the session user's role reaches ``role``.

    The refusal is audited (``denied``) through the gate that let the request in.
    """

    def wrap(endpoint: Callable[..., Any]) -> Callable[[Request], Awaitable[Any]]:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Any:
            user = current_user(request)
            if user is None:
                return RedirectResponse("/login", status_code=303, headers=_SECURITY_HEADERS)
            if not role_allows(user.role, role):
                gate = request.scope.get("state", {}).get("gate")
                if isinstance(gate, WebAuth):
                    await run_in_threadpool(
                        gate.deny, user.name, client_address(request), request, f"needs {role}"
                    )
                message = "Tài khoản của bạn không có quyền xem trang này."
                if isinstance(gate, WebAuth):  # the site's own page, with its navigation
                    return gate.templates.TemplateResponse(
                        request,
                        "error.html",
                        {"status": 403, "message": message},
                        status_code=403,
                        headers=_SECURITY_HEADERS,
                    )
                return PlainTextResponse(message, status_code=403, headers=_SECURITY_HEADERS)
            if inspect.iscoroutinefunction(endpoint):
                return await endpoint(request)
            return await run_in_threadpool(endpoint, request)

        return guarded

    return wrap


# -------------------------------------------------------------------- the gate


class _Refused(Exception):
    """A response the gate sends instead of the app's; ``reason`` (if any) is audited."""

    def __init__(self, response: Response, reason: str | None = None) -> None:
        self.response = response
        self.reason = reason


def _forbidden(text: str) -> Response:
    return PlainTextResponse(text, status_code=403, headers=_SECURITY_HEADERS)


def _too_large() -> Response:
    return PlainTextResponse("Yêu cầu quá lớn.", status_code=413, headers=_SECURITY_HEADERS)


def _from_proxy(
    settings: AuthSettings, headers: Headers, peer: str | None
) -> tuple[bool, str | None]:
    """(whether the request proved it came through the proxy, why its claim is refused).

    Proof is the shared secret in its header (and, with ``trusted_proxy``, that address);
    a request without the header makes no claim and is simply not the proxy's.
    """
    sent = headers.get(settings.proxy_secret_header)
    if settings.proxy_secret is None or sent is None:
        return False, None
    if not hmac.compare_digest(sent.encode("utf-8", "replace"), settings.proxy_secret):
        return False, "wrong proxy secret"
    if settings.trusted_proxy and peer != settings.trusted_proxy:
        return False, "proxy secret from an address other than web.trusted_proxy"
    return True, None


class WebAuth:
    """Stores and settings for the gate; ``middleware()`` and ``routes()`` install it."""

    def __init__(
        self,
        users: UserStore,
        sessions: SessionStore,
        settings: AuthSettings,
        audit: AuditLog | None = None,
        templates: Jinja2Templates | None = None,
    ) -> None:
        self.users = users
        self.sessions = sessions
        self.settings = settings
        self.audit = audit
        self.templates = templates or Jinja2Templates(directory=str(TEMPLATES_DIR))

    def middleware(self) -> Middleware:
        return Middleware(_AuthMiddleware, auth=self)

    def routes(self) -> list[Route]:
        return [
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login_submit, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
        ]

    # ------------------------------------------------------------- helpers

    def _audit(self, actor: str, action: str, client: str | None, **details: Any) -> None:
        if self.audit is not None:
            self.audit.append(actor, action, details=details or None, client=client)

    def deny(self, actor: str, client: str | None, where: Request | Scope, reason: str) -> None:
        """One ``denied`` row: who, from where, which path and why (never a header's value)."""
        scope = where.scope if isinstance(where, Request) else where
        request_line = {"method": scope.get("method", "?"), "path": scope.get("path", "?")}
        self._audit(actor or "?", "denied", client, **request_line, reason=reason)

    def session_tag(self, sid: str) -> str:
        """What groups one session's requests in memory, without holding its id."""
        return _mac(self.settings.secret, b"tag", sid)[:22]

    def session_cookie(self, response: Response, sid: str, secure: bool) -> None:
        # No Max-Age or Expires: the browser forgets the cookie when it closes; the server
        # ends the session after web.session_idle_minutes and web.session_max_hours anyway.
        response.set_cookie(
            SESSION_COOKIE,
            sign(self.settings.secret, b"session", sid),
            path="/",
            secure=secure,
            httponly=True,
            samesite="strict",
        )

    def _render(self, request: Request, status: int, next_path: str, error: str | None) -> Response:
        # A browser keeps its nonce while the cookie lives: another render of this page (a
        # second tab, or the favicon request a stranger is sent here for) must not make the
        # form already on screen fail its check.
        kept = unsign(self.settings.secret, b"login", request.cookies.get(LOGIN_COOKIE))
        nonce = kept if kept and len(kept) == 32 else secrets.token_urlsafe(24)
        request.scope.setdefault("state", {})["login_nonce"] = nonce
        headers = dict(_SECURITY_HEADERS)
        response = self.templates.TemplateResponse(
            request,
            "login.html",
            {"next": next_path, "error": error, "csrf_field": csrf_field(request)},
            status_code=status,
            headers=headers,
        )
        response.set_cookie(
            LOGIN_COOKIE,
            sign(self.settings.secret, b"login", nonce),
            max_age=3600,
            path="/login",
            secure=_is_https(request.scope, self.settings),
            httponly=True,
            samesite="strict",
        )
        return response

    # --------------------------------------------------------------- routes

    async def login_form(self, request: Request) -> Response:
        # Shown even to a logged-in browser: logging in again (another account, or over a
        # session someone planted) always replaces the session.
        return self._render(request, 200, safe_next(request.query_params.get("next")), None)

    async def login_submit(self, request: Request) -> Response:
        form = parse_form(await request.body())
        name = form.get("username", "")[:200]
        password = form.get("password", "")[: MAX_PASSWORD + 1]
        next_path = safe_next(form.get("next"))
        client = client_address(request)
        result = await run_in_threadpool(self.users.authenticate, name, password, client)
        if not result.ok or result.user is None:
            known = self.users.get(name) is not None
            # An unknown name may be a password typed in the wrong box: never log it.
            actor = name.strip().lower() if known else "?"
            action = "login_locked" if result.locked else "login_failed"
            self._audit(actor, action, client, tried=result.tried, checked=result.checked)
            if result.locked:
                minutes = max(1, round(result.retry_after / 60))
                response = self._render(
                    request,
                    429,
                    next_path,
                    f"Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {minutes} phút.",
                )
                response.headers["Retry-After"] = str(int(result.retry_after) + 1)
                return response
            return self._render(request, 401, next_path, "Tên đăng nhập hoặc mật khẩu không đúng.")
        old = unsign(self.settings.secret, b"session", request.cookies.get(SESSION_COOKIE))
        if old:
            self.sessions.delete(old)
        sid, _ = self.sessions.create(result.user.name, client)
        self._audit(result.user.name, "login", client)
        response = RedirectResponse(next_path, status_code=303, headers=_SECURITY_HEADERS)
        self.session_cookie(response, sid, _is_https(request.scope, self.settings))
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    async def logout(self, request: Request) -> Response:
        sid = unsign(self.settings.secret, b"session", request.cookies.get(SESSION_COOKIE))
        user = current_user(request)
        if sid:
            self.sessions.delete(sid)
        if user:
            self._audit(user.name, "logout", client_address(request))
        response = RedirectResponse("/login", status_code=303, headers=_SECURITY_HEADERS)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response


def parse_form(body: bytes) -> dict[str, str]:
    """An urlencoded form's first value per field (no python-multipart needed)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    try:
        parsed = parse_qs(text, keep_blank_values=True, max_num_fields=50)
    except ValueError:
        return {}
    return {k: v[0] for k, v in parsed.items() if v}


def _is_https(scope: Scope, settings: AuthSettings) -> bool:
    return settings.secure_cookies or scope.get("state", {}).get("scheme", scope.get("scheme")) in (
        "https",
        "wss",
    )


class _AuthMiddleware:
    def __init__(self, app: ASGIApp, auth: WebAuth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self._handle(scope, receive, send)
        except _Refused as refused:
            await refused.response(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = self.auth.settings
        headers = Headers(scope=scope)
        state = scope.setdefault("state", {})
        state["gate"] = self.auth
        peer = (scope.get("client") or (None, None))[0]
        from_proxy, refused = _from_proxy(settings, headers, peer)
        if refused:  # the proxy's header with a wrong secret, or from another address
            await run_in_threadpool(self.auth.deny, "?", peer, scope, refused)
            raise _Refused(_forbidden("Yêu cầu không hợp lệ."))
        client = peer
        if from_proxy:
            forwarded = headers.get("x-forwarded-for", "")
            client = forwarded.rsplit(",", 1)[-1].strip()[:64] or peer
            proto = headers.get("x-forwarded-proto", "").strip().lower()
            if proto in ("http", "https"):
                state["scheme"] = proto
        state["client_addr"] = client
        path = scope.get("path", "/")
        if path == API_PATHS or path.startswith(API_PATHS + "/"):
            # A system's call: whatever cookie it sends is ignored (never a session here),
            # and its body is the API's to stream; the API checks the bearer token.
            state["user"] = None
            await self.app(scope, receive, _with_headers(send))
            return

        set_cookie: str | None = None
        user: CurrentUser | None = None
        sid = unsign(settings.secret, b"session", _cookie(headers, SESSION_COOKIE))
        if sid:
            user = await run_in_threadpool(self._session_user, sid)
        proxied = headers.get(settings.proxy_user_header) if settings.proxy_login else None
        if proxied and not from_proxy:  # a local process skipping the proxy: no login
            reason = "user header without the proxy secret"
            await run_in_threadpool(self.auth.deny, "?", client, scope, reason)
        elif proxied:
            proxied = proxied.strip().lower()
            if user is None or user.name != proxied:
                user, set_cookie = await run_in_threadpool(
                    self._proxy_user, proxied, client, _is_https(scope, settings)
                )
        state["user"] = user

        method = scope["method"].upper()
        public = path in settings.public_paths
        if user is None and not public:
            query = scope.get("query_string", b"").decode("latin-1")
            target = f"{path}?{query}" if query else path
            location = "/login?next=" + quote(safe_next(target), safe="")
            raise _Refused(RedirectResponse(location, status_code=303, headers=_SECURITY_HEADERS))

        if method in _UNSAFE:
            actor = user.name if user else "?"
            try:
                body = await self._read_body(scope, receive, headers)
                self._check_csrf(scope, headers, body, user)
            except _Refused as refused:
                if refused.reason:
                    await run_in_threadpool(self.auth.deny, actor, client, scope, refused.reason)
                raise
            receive = _replay(body, receive)

        await self.app(scope, receive, _with_headers(send, set_cookie))

    def _session_user(self, sid: str) -> CurrentUser | None:
        session = self.auth.sessions.get(sid)
        if session is None:
            return None
        account = self.auth.users.get(session.user_name)
        if account is None or account.disabled:
            self.auth.sessions.delete(sid)
            return None
        tag = self.auth.session_tag(sid)
        return CurrentUser(account.name, account.role, session.csrf_token, "session", tag)

    def _proxy_user(
        self, name: str, client: str | None, secure: bool
    ) -> tuple[CurrentUser | None, str | None]:
        account = self.auth.users.get(name)
        if account is None or account.disabled:
            return None, None
        sid, session = self.auth.sessions.create(account.name, client)
        self.auth._audit(account.name, "login", client, via="proxy")
        response = Response()
        self.auth.session_cookie(response, sid, secure)
        cookie = response.headers["set-cookie"]
        tag = self.auth.session_tag(sid)
        return CurrentUser(account.name, account.role, session.csrf_token, "proxy", tag), cookie

    async def _read_body(self, scope: Scope, receive: Receive, headers: Headers) -> bytes:
        limit = self.auth.settings.max_form_bytes
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            raise _Refused(_too_large(), "request body too large")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Refused(PlainTextResponse("", status_code=400, headers=_SECURITY_HEADERS))
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _Refused(_too_large(), "request body too large")
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    def _check_csrf(
        self, scope: Scope, headers: Headers, body: bytes, user: CurrentUser | None
    ) -> None:
        text = "Yêu cầu không hợp lệ (thiếu mã CSRF). Hãy tải lại trang và thử lại."
        origin = headers.get("origin")
        if origin and origin != "null":
            host = headers.get("host", "")
            if urlsplit(origin).netloc.lower() != host.lower():
                raise _Refused(_forbidden(text), "cross-site origin")
        sent = headers.get(CSRF_HEADER)
        if sent is None and headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            sent = parse_form(body).get(CSRF_FIELD)
        expected: list[str] = []
        if user is not None:
            expected.append(user.csrf_token)
        if scope.get("path") in self.auth.settings.public_paths:
            nonce = unsign(self.auth.settings.secret, b"login", _cookie(headers, LOGIN_COOKIE))
            if nonce:
                expected.append(nonce)
        if not sent or not any(hmac.compare_digest(sent, e) for e in expected):
            raise _Refused(_forbidden(text), "CSRF token missing or wrong")


def _with_headers(send: Send, set_cookie: str | None = None) -> Send:
    """``send`` adding the security headers a response lacks (and a session cookie)."""

    async def send_wrapper(message: Message) -> None:
        if message["type"] == "http.response.start":
            raw = list(message.get("headers", []))
            have = {k.lower() for k, _ in raw}
            for name, value in _SECURITY_HEADERS.items():
                if name.lower().encode() not in have:
                    raw.append((name.lower().encode(), value.encode()))
            if set_cookie:
                raw.append((b"set-cookie", set_cookie.encode("latin-1")))
            message["headers"] = raw
        await send(message)

    return send_wrapper


def _cookie(headers: Headers, name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value.strip('"')
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def create_auth(
    cfg: Config,
    audit: AuditLog | None = None,
    users: UserStore | None = None,
    templates: Jinja2Templates | None = None,
    env: Mapping[str, str] | None = None,
) -> WebAuth:
    """A gate over the ledger database with the configuration's settings (and the proxy
    secret from ``env``, the process environment unless given)."""
    from pipeline.access.stores import open_sessions, open_users

    return WebAuth(
        users or open_users(cfg),
        open_sessions(cfg),
        AuthSettings.from_config(cfg, env),
        audit,
        templates,
    )
