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
    assert "Max-Age=3600" in cookie or "Max-Age=36000" in cookie
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


def _proxied(auth: WebAuth, peer: str, proxy: str | None) -> TestClient:
    settings = AuthSettings(SECRET, trusted_proxy=proxy)
    gate = WebAuth(auth.users, auth.sessions, settings, auth.audit)
    return TestClient(_app(gate), client=(peer, 40000), follow_redirects=False)


def test_proxy_header_is_ignored_unless_configured_and_from_the_proxy(auth: WebAuth):
    header = {"X-Remote-User": "ad"}
    assert _proxied(auth, "10.0.0.9", None).get("/admin", headers=header).status_code == 303
    assert _proxied(auth, "10.0.0.9", "10.0.0.1").get("/admin", headers=header).status_code == 303
    via_proxy = _proxied(auth, "10.0.0.1", "10.0.0.1")
    r = via_proxy.get("/admin", headers={**header, "X-Forwarded-For": "192.168.1.20"})
    assert r.status_code == 200 and r.text == "users"
    assert via_proxy.get("/", headers={"X-Remote-User": "nobody"}).status_code == 303
    login_rows = auth.audit.query(action="login")  # type: ignore[union-attr]
    assert login_rows[-1].client == "192.168.1.20" and login_rows[-1].details == {"via": "proxy"}


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
