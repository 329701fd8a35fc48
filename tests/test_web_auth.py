"""The login gate on a small Starlette app: every attack the issue lists, as a test."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from pipeline.access.users import LoginPolicy
from pipeline.config import ConfigError, load_config
from tests.support.access import AccessDB, make_access
from tests.support.backends import BACKENDS
from workers.web.auth import (
    LOGIN_COOKIE,
    SECURITY_HEADERS,
    SESSION_COOKIE,
    AuthSettings,
    WebAuth,
    csrf_field,
    current_user,
    load_secret,
    require_role,
    safe_next,
)

FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
SECRET = b"k" * 48
PASSWORDS = {"lan": "records-pass-1", "op": "operator-pass-1", "ad": "admin-pass-1"}
DATA = "HỒ SƠ CÔNG DÂN: Phạm Văn Anh"


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


def _app(auth: WebAuth) -> Starlette:
    async def home(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"{DATA} for {current_user(request).name}")  # type: ignore[union-attr]

    def form(request: Request) -> HTMLResponse:
        return HTMLResponse(f'<form method="post" action="/ops/retry">{csrf_field(request)}</form>')

    @require_role("operator")
    async def ops(request: Request) -> PlainTextResponse:
        return PlainTextResponse("batches")

    @require_role("operator")
    async def retry(request: Request) -> PlainTextResponse:
        return PlainTextResponse("retried " + (await request.body()).decode())

    @require_role("admin")
    def admin(request: Request) -> PlainTextResponse:
        return PlainTextResponse("users")

    async def health(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    routes = [
        Route("/", home),
        Route("/form", form),
        Route("/ops", ops),
        Route("/ops/retry", retry, methods=["POST"]),
        Route("/admin", admin),
        Route("/health", health),
        *auth.routes(),
    ]
    return Starlette(routes=routes, middleware=[auth.middleware()])


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=BACKENDS)
def acc(request, tmp_path: Path) -> Iterator[AccessDB]:
    """The gate's tables: the SQLite file, or PostgreSQL (an office's web server)."""
    db = make_access(request.param, tmp_path, request)
    yield db
    db.close()


@pytest.fixture
def auth(acc: AccessDB, clock: Clock) -> WebAuth:
    users = acc.users(LoginPolicy(max_failures=3, lockout_seconds=600), FAST, clock=clock)
    users.add("lan", "records", PASSWORDS["lan"])
    users.add("op", "operator", PASSWORDS["op"])
    users.add("ad", "admin", PASSWORDS["ad"])
    sessions = acc.sessions(idle_seconds=600, max_seconds=3600, clock=clock)
    return WebAuth(users, sessions, AuthSettings(SECRET), acc.audit(clock))


@pytest.fixture
def client(auth: WebAuth) -> Iterator[TestClient]:
    with TestClient(_app(auth), follow_redirects=False) as c:
        yield c


def _nonce(client: TestClient, next_path: str = "/") -> str:
    page = client.get("/login", params={"next": next_path})
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def login(client: TestClient, name: str, password: str | None = None, next_path: str = "/"):
    nonce = _nonce(client, next_path)
    return client.post(
        "/login",
        data={
            "username": name,
            "password": password or PASSWORDS[name],
            "csrf_token": nonce,
            "next": next_path,
        },
    )


def _plant(client: TestClient, value: str) -> None:
    """Replace the browser's session cookie with ``value`` (what a planted cookie does)."""
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, value, domain="testserver.local")


def _issued(response) -> str:
    """The session cookie value a response sets."""
    for key, value in response.headers.multi_items():
        if key == "set-cookie" and value.startswith(SESSION_COOKIE + "="):
            return value.split(";", 1)[0].split("=", 1)[1]
    raise AssertionError("no session cookie set")


def _csrf(client: TestClient) -> str:
    match = re.search(r'value="([^"]+)"', client.get("/form").text)
    assert match
    return match.group(1)


# ------------------------------------------------------------------- strangers


@pytest.mark.parametrize("path", ["/", "/ops", "/admin", "/form", "/anything/../admin"])
def test_a_stranger_is_sent_to_login_and_sees_no_data(client: TestClient, path: str):
    r = client.get(path)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    assert DATA not in r.text and "batches" not in r.text


def test_a_stranger_cannot_post(client: TestClient):
    r = client.post("/ops/retry", data={"doc": "1"})
    assert r.status_code == 303 and "retried" not in r.text


def test_login_page_and_health_are_public(client: TestClient):
    assert client.get("/health").text == "ok"
    page = client.get("/login")
    assert page.status_code == 200 and 'type="password"' in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")


# ------------------------------------------------------------------ logging in


def test_login_then_logout(client: TestClient, auth: WebAuth):
    r = login(client, "lan", next_path="/form")
    assert r.status_code == 303 and r.headers["location"] == "/form"
    assert DATA in client.get("/").text
    r = client.post("/logout", data={"csrf_token": _csrf(client)})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.get("/").status_code == 303
    actions = [row.action for row in auth.audit.query()]  # type: ignore[union-attr]
    assert actions == ["login", "logout"]


def test_cookie_flags(client: TestClient, auth: WebAuth):
    r = login(client, "lan")
    cookie = next(
        v for k, v in r.headers.multi_items() if k == "set-cookie" and SESSION_COOKIE in v
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    # A browser-session cookie (issue 20): gone when the browser closes; the server's idle
    # and absolute expiry end the session itself (test_idle_and_absolute_expiry).
    assert "max-age" not in cookie.lower() and "expires" not in cookie.lower()
    assert "Secure" not in cookie  # plain http here: see the https test
    https = TestClient(_app(auth), base_url="https://testserver", follow_redirects=False)
    r = login(https, "lan")
    cookie = next(
        v for k, v in r.headers.multi_items() if k == "set-cookie" and SESSION_COOKIE in v
    )
    assert "Secure" in cookie


def test_a_forged_or_altered_cookie_is_worthless(client: TestClient):
    login(client, "lan")
    value = client.cookies[SESSION_COOKIE]
    sid, _, mac = value.rpartition(".")
    _plant(client, value)
    assert client.get("/").status_code == 200  # the genuine value, planted the same way, works
    flipped = mac[:-1] + ("B" if mac.endswith("A") else "A")
    for forged in (sid, sid + ".AAAA", "x" + value, f"{sid}.{flipped}", "a.b.c"):
        _plant(client, forged)
        assert client.get("/").status_code == 303


def test_session_fixation_a_chosen_session_id_is_never_adopted(client: TestClient):
    _plant(client, "attacker-chosen-id.c2lnbmF0dXJl")
    r = login(client, "lan")
    assert r.status_code == 303 and "attacker-chosen-id" not in _issued(r)


def test_session_fixation_a_planted_session_id_does_not_survive_login(
    client: TestClient, auth: WebAuth
):
    # The attacker logs in, keeps the cookie, and plants it in the victim's browser.
    planted = _issued(login(client, "lan"))
    _plant(client, planted)
    r = login(client, "op")
    assert r.status_code == 303 and _issued(r) != planted
    attacker = TestClient(_app(auth), follow_redirects=False)
    _plant(attacker, planted)
    assert attacker.get("/").status_code == 303  # the planted id was dropped at login
    assert "op" in client.get("/").text


def test_wrong_password_and_unknown_user_look_the_same(client: TestClient, auth: WebAuth):
    a = login(client, "lan", "wrong-password")
    b = login(client, "nobody", "wrong-password")
    assert a.status_code == b.status_code == 401
    assert re.sub(r'value="[^"]+"', "", a.text) == re.sub(r'value="[^"]+"', "", b.text)
    assert SESSION_COOKIE not in client.cookies
    rows = auth.audit.query(action="login_failed")  # type: ignore[union-attr]
    assert [r.actor for r in rows] == ["lan", "?"]


def test_brute_force_is_locked_out(client: TestClient, clock: Clock):
    codes = [login(client, "lan", f"guess-{i}-password").status_code for i in range(3)]
    assert codes == [401, 401, 429]
    r = login(client, "lan")  # the right password, during the lockout
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert SESSION_COOKIE not in client.cookies
    clock.t += 601
    assert login(client, "lan").status_code == 303


def test_login_without_the_form_nonce_is_refused(client: TestClient):
    r = client.post("/login", data={"username": "lan", "password": PASSWORDS["lan"]})
    assert r.status_code == 403 and SESSION_COOKIE not in client.cookies
    client.get("/login")
    r = client.post(
        "/login",
        data={"username": "lan", "password": PASSWORDS["lan"], "csrf_token": "made-up"},
    )
    assert r.status_code == 403


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/ok\r\nLocation: https://evil.example",
        "http:/evil.example",
        " /x",
        "/login?next=//evil.example",
    ],
)
def test_open_redirect_through_next_is_refused(client: TestClient, target: str):
    r = login(client, "lan", next_path=target)
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_safe_next_keeps_local_paths():
    assert safe_next("/dossier/000.00.13.H38-261120-0001?x=1") == (
        "/dossier/000.00.13.H38-261120-0001?x=1"
    )
    assert safe_next("/%2F%2Fevil.example") == "/%2F%2Fevil.example"  # a path on this site
    assert safe_next(None) == "/" and safe_next("/x" * 2000) == "/"


# ---------------------------------------------------------------- CSRF, roles


def test_csrf_token_required_on_every_post(client: TestClient):
    login(client, "op")
    token = _csrf(client)
    assert client.post("/ops/retry", data={"doc": "1"}).status_code == 403
    assert client.post("/ops/retry", data={"doc": "1", "csrf_token": "wrong"}).status_code == 403
    r = client.post("/ops/retry", data={"doc": "1", "csrf_token": token})
    assert r.status_code == 200 and r.text.startswith("retried doc=1")
    r = client.post("/ops/retry", content=b"{}", headers={"X-CSRF-Token": token})
    assert r.status_code == 200
    r = client.post(
        "/ops/retry",
        data={"doc": "1", "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403


def test_another_sessions_token_does_not_pass(client: TestClient, auth: WebAuth):
    login(client, "op")
    other = TestClient(_app(auth), follow_redirects=False)
    login(other, "op")
    assert client.post("/ops/retry", data={"csrf_token": _csrf(other)}).status_code == 403


def test_oversized_posts_are_refused_before_the_app(client: TestClient):
    login(client, "op")
    r = client.post("/ops/retry", data={"csrf_token": _csrf(client), "x": "a" * 100_000})
    assert r.status_code == 413


def test_records_user_gets_403_on_operator_and_admin_routes(client: TestClient):
    login(client, "lan")
    for path in ("/ops", "/admin"):
        r = client.get(path)
        assert r.status_code == 403 and "batches" not in r.text and "users" not in r.text
    r = client.post("/ops/retry", data={"csrf_token": _csrf(client)})
    assert r.status_code == 403 and "retried" not in r.text


def test_operator_reaches_operator_routes_but_not_admin(client: TestClient):
    login(client, "op")
    assert client.get("/ops").text == "batches"
    assert client.get("/admin").status_code == 403


def test_admin_reaches_everything(client: TestClient):
    login(client, "ad")
    assert client.get("/ops").text == "batches" and client.get("/admin").text == "users"


def test_a_disabled_or_demoted_user_loses_access_at_once(client: TestClient, auth: WebAuth):
    login(client, "op")
    assert client.get("/ops").status_code == 200
    auth.users.set_role("op", "records")
    assert client.get("/ops").status_code == 303  # role change ended the session
    login(client, "op")
    assert client.get("/ops").status_code == 403
    auth.users.disable("op")
    assert client.get("/").status_code == 303


def test_every_refusal_is_audited_with_path_and_reason(client: TestClient, auth: WebAuth):
    """403 by role, CSRF and cross-site 403, 413: each one a ``denied`` row (issue 20)."""
    login(client, "lan")
    token = _csrf(client)
    assert client.get("/ops").status_code == 403
    assert client.post("/ops/retry", data={"csrf_token": token}).status_code == 403
    assert client.post("/ops/retry", data={"csrf_token": "forged-token"}).status_code == 403
    cross = client.post(
        "/ops/retry", data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    big = client.post("/ops/retry", data={"csrf_token": token, "x": "a" * 100_000})
    assert big.status_code == 413
    for name, value in SECURITY_HEADERS.items():  # the 413 went out without them before
        assert big.headers[name] == value
    rows = auth.audit.query(action="denied")  # type: ignore[union-attr]
    seen = [(r.actor, r.details["method"], r.details["path"], r.details["reason"]) for r in rows]
    assert seen == [
        ("lan", "GET", "/ops", "needs operator"),
        ("lan", "POST", "/ops/retry", "needs operator"),
        ("lan", "POST", "/ops/retry", "CSRF token missing or wrong"),
        ("lan", "POST", "/ops/retry", "cross-site origin"),
        ("lan", "POST", "/ops/retry", "request body too large"),
    ]
    assert all(r.client == "testclient" for r in rows)
    assert token not in repr([r.details for r in rows]) and "forged-token" not in repr(rows)


# ---------------------------------------------------------------------- expiry


def test_idle_and_absolute_expiry(client: TestClient, clock: Clock):
    login(client, "lan")
    clock.t += 601
    assert client.get("/").status_code == 303
    login(client, "lan")
    for _ in range(7):  # active every 9 minutes: the idle limit never hits
        clock.t += 540
        r = client.get("/")
    assert r.status_code == 303  # but after an hour the session is over anyway


# ------------------------------------------------------------ trusted proxy
# Server B of issue 20: `web.trusted_proxy: 127.0.0.1`, where any local process connects
# from the proxy's address. Only the proxy's shared secret makes a request the proxy's.

PROXY_SECRET = "s3cret-the-proxy-adds-" + "p" * 20
SECRET_HEADER = "X-Sohoa-Proxy-Secret"


def _proxied(
    auth: WebAuth,
    peer: str,
    proxy: str | None = "127.0.0.1",
    *,
    secret: str | None = PROXY_SECRET,
    proxy_login: bool = True,
) -> TestClient:
    settings = AuthSettings(
        SECRET,
        trusted_proxy=proxy,
        proxy_secret=secret.encode() if secret else None,
        proxy_login=proxy_login,
    )
    gate = WebAuth(auth.users, auth.sessions, settings, auth.audit)
    return TestClient(_app(gate), client=(peer, 40000), follow_redirects=False)


def _denials(auth: WebAuth) -> list:
    return auth.audit.query(action="denied")  # type: ignore[union-attr]


def test_a_user_header_without_the_proxy_secret_logs_nobody_in(auth: WebAuth):
    """The attack: a local process connects straight to sohoa and names an admin."""
    local = _proxied(auth, "127.0.0.1")
    forged = {"X-Remote-User": "ad", "X-Forwarded-For": "203.0.113.66"}
    r = local.get("/admin", headers=forged)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert SESSION_COOKIE not in local.cookies
    assert not auth.audit.query(action="login")  # type: ignore[union-attr]
    denied = _denials(auth)[-1]
    assert denied.details["reason"] == "user header without the proxy secret"
    assert denied.details["path"] == "/admin" and denied.actor == "?"
    assert denied.client == "127.0.0.1"  # its X-Forwarded-For was not believed


def test_a_wrong_proxy_secret_is_refused_and_audited(auth: WebAuth):
    local = _proxied(auth, "127.0.0.1")
    for wrong in ("guess", PROXY_SECRET[:-1] + "q", PROXY_SECRET + "x", ""):
        r = local.get("/admin", headers={"X-Remote-User": "ad", SECRET_HEADER: wrong})
        assert r.status_code == 403 and "users" not in r.text
        assert r.headers["x-content-type-options"] == "nosniff"
    assert SESSION_COOKIE not in local.cookies
    assert not auth.audit.query(action="login")  # type: ignore[union-attr]
    rows = _denials(auth)
    assert [r.details["reason"] for r in rows] == ["wrong proxy secret"] * 4
    # the right secret from an address other than web.trusted_proxy: refused as well
    elsewhere = _proxied(auth, "10.0.0.9")
    r = elsewhere.get("/admin", headers={"X-Remote-User": "ad", SECRET_HEADER: PROXY_SECRET})
    assert r.status_code == 403
    assert "web.trusted_proxy" in _denials(auth)[-1].details["reason"]
    dump = repr([r.details for r in auth.audit.query()])  # type: ignore[union-attr]
    assert PROXY_SECRET not in dump and "guess" not in dump


def test_the_proxys_secret_logs_the_named_user_in_from_the_forwarded_address(auth: WebAuth):
    via_proxy = _proxied(auth, "127.0.0.1")
    sent = {"X-Remote-User": "ad", "X-Forwarded-For": "192.168.1.20", SECRET_HEADER: PROXY_SECRET}
    r = via_proxy.get("/admin", headers=sent)
    assert r.status_code == 200 and r.text == "users"
    unknown = {**sent, "X-Remote-User": "nobody"}
    assert via_proxy.get("/", headers=unknown).status_code == 303  # no such account: no one
    login_rows = auth.audit.query(action="login")  # type: ignore[union-attr]
    assert login_rows[-1].client == "192.168.1.20" and login_rows[-1].details == {"via": "proxy"}
    # without web.trusted_proxy the secret alone proves the proxy (a proxy on another host)
    anywhere = _proxied(auth, "10.0.0.7", None)
    assert anywhere.get("/admin", headers=sent).status_code == 200


def test_single_sign_on_is_off_unless_configured(auth: WebAuth):
    via_proxy = _proxied(auth, "127.0.0.1", proxy_login=False)
    sent = {"X-Remote-User": "ad", SECRET_HEADER: PROXY_SECRET}
    assert via_proxy.get("/admin", headers=sent).status_code == 303
    assert not auth.audit.query(action="login")  # type: ignore[union-attr]
    defaults = AuthSettings(SECRET)
    assert defaults.proxy_login is False and defaults.proxy_secret is None


def test_x_forwarded_for_is_believed_only_with_the_proxy_secret(auth: WebAuth, clock: Clock):
    """The address in the audit log and the login throttle: the peer's, unless proven."""
    for headers, expected in (
        ({"X-Forwarded-For": "198.51.100.7"}, "127.0.0.1"),
        ({"X-Forwarded-For": "198.51.100.8", SECRET_HEADER: PROXY_SECRET}, "198.51.100.8"),
    ):
        client = _proxied(auth, "127.0.0.1", proxy_login=False)
        nonce = _nonce(client)
        form = {"username": "lan", "password": "wrong-password-1", "csrf_token": nonce}
        assert client.post("/login", data=form, headers=headers).status_code == 401
        failed = auth.audit.query(action="login_failed")  # type: ignore[union-attr]
        assert failed[-1].client == expected


def test_proxy_settings_without_a_secret_are_refused_at_start(tmp_path: Path):
    from workers.web.auth import PROXY_SECRET_ENV

    home = {"SOHOA_HOME": str(tmp_path / "home")}
    for setting in ({"trusted_proxy": "127.0.0.1"}, {"proxy_login": True}):
        cfg = load_config(env=home, overrides={"web": setting})
        with pytest.raises(ConfigError, match=PROXY_SECRET_ENV):
            AuthSettings.from_config(cfg, env={})
        with pytest.raises(ConfigError, match="at least 32"):
            AuthSettings.from_config(cfg, env={PROXY_SECRET_ENV: "short"})
        ok = AuthSettings.from_config(cfg, env={PROXY_SECRET_ENV: PROXY_SECRET})
        assert ok.proxy_secret == PROXY_SECRET.encode()
        assert PROXY_SECRET not in repr(ok)
    plain = AuthSettings.from_config(load_config(env=home), env={})
    assert plain.proxy_secret is None and plain.proxy_login is False


# ----------------------------------------------------------------- the key


def test_secret_file_is_made_private_and_refused_when_readable(tmp_path: Path):
    cfg = load_config(env={"SOHOA_HOME": str(tmp_path / "home")})
    key = load_secret(cfg)
    path = cfg.home / "web-secret"
    assert len(key) >= 32 and (path.stat().st_mode & 0o777) == 0o600
    assert load_secret(cfg) == key
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_secret(cfg)
    env_cfg = load_config(env={"SOHOA_HOME": str(tmp_path), "SOHOA_WEB_SECRET": "s" * 40})
    assert load_secret(env_cfg) == b"s" * 40
    with pytest.raises(ConfigError):
        load_config(env={"SOHOA_HOME": str(tmp_path), "SOHOA_WEB_SECRET": "short"})


def test_no_secret_reaches_a_page_the_audit_log_or_a_repr(
    client: TestClient, auth: WebAuth, acc: AccessDB
):
    pages = [
        login(client, "lan", "the-wrong-password-xyz"),
        login(client, "nobody", PASSWORDS["op"]),
    ]
    login(client, "lan")
    pages.append(client.get("/"))
    text = " ".join(p.text + str(p.headers) for p in pages)
    assert all(pw not in text for pw in PASSWORDS.values())
    assert "the-wrong-password-xyz" not in text
    dump = acc.dump()
    for secret in [*PASSWORDS.values(), "the-wrong-password-xyz", SECRET.decode()]:
        assert secret not in dump
    assert SECRET.decode() not in repr(auth.settings)
    assert LOGIN_COOKIE  # the login nonce cookie exists and is scoped to /login (see _render)


def test_config_repr_shows_no_secret(tmp_path: Path):
    cfg = load_config(
        env={
            "SOHOA_HOME": str(tmp_path),
            "SOHOA_MINIO_ACCESS_KEY": "sohoa-web",
            "SOHOA_MINIO_SECRET_KEY": "minio-secret-value-123",
            "SOHOA_WEB_SECRET": "w" * 40,
        }
    )
    shown = repr(cfg) + str(cfg)
    assert "minio-secret-value-123" not in shown and "w" * 40 not in shown
    assert cfg.minio.secret_key == "minio-secret-value-123" and "sohoa-web" in shown


def test_another_render_of_the_login_page_keeps_the_form_on_screen_valid(client: TestClient):
    """A browser fetches /favicon.ico (sent to /login) or opens a second tab: the form
    already on screen must still log in."""
    nonce = _nonce(client)
    assert client.get("/favicon.ico").status_code == 303
    assert _nonce(client) == nonce  # the same browser keeps its nonce
    r = client.post(
        "/login",
        data={"username": "lan", "password": PASSWORDS["lan"], "csrf_token": nonce, "next": "/"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
