"""Attacks on the real web app (uvicorn, web key, real MinIO), each as a test (issue 15 item 7).

Routes are enumerated from the app itself, so a route added later is attacked too:
every POST must refuse a missing, wrong or cross-site CSRF token; every route above
``records`` must refuse a records user; every route taking a key or code must refuse
traversal, raw and encoded.
"""

from __future__ import annotations

import http.client
import logging
import re
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.routing import Route

from pipeline.access.audit import SqliteAuditLog
from pipeline.storage.ledger import SqliteLedger
from tests.support.web import (
    CHROMIUM,
    CHROMIUM_ARGS,
    FLAGGED_CODE,
    PASSWORDS,
    XSS,
    World,
    build_world,
    csrf,
    fast_users,
    logged_in,
    login,
    serve,
)
from tests.test_search_minio import CODE_A
from workers.web.app import create_app
from workers.web.auth import SESSION_COOKIE
from workers.web.routes.files import Unsatisfiable, byte_range, safe_filename

pytestmark = pytest.mark.integration
RANK = {"records": 0, "operator": 1, "admin": 2}


def _world(minio_server, tmp_path_factory) -> World:
    tmp = tmp_path_factory.mktemp("websec")
    tag = secrets.token_hex(4)
    env = {
        **minio_server.env(),
        "SOHOA_HOME": str(tmp / "home"),
        "SOHOA_INBOX": str(tmp / "inbox"),
        "SOHOA_BUCKET_RAW": f"raw-sec{tag}",
        "SOHOA_BUCKET_ARCHIVE": f"archive-sec{tag}",
        "SOHOA_BUCKET_WORK": f"work-sec{tag}",
    }
    return build_world(minio_server, env)


@pytest.fixture(scope="module")
def world(minio_server, tmp_path_factory) -> World:
    """Shared by the tests that change nothing (or only what no other test looks at)."""
    return _world(minio_server, tmp_path_factory)


@pytest.fixture(scope="module")
def app(world: World):
    return create_app(world.web, users=fast_users(world.web, max_failures=4))


@pytest.fixture(scope="module")
def server(app) -> Iterator[str]:
    with serve(app) as url:
        yield url


@pytest.fixture(scope="module")
def sessions(server) -> Iterator[dict[str, httpx.Client]]:
    clients = {name: logged_in(server, name) for name in ("lan", "op", "ad")}
    yield clients
    for c in clients.values():
        c.close()


def routes_of(app) -> list[Route]:
    return [r for r in app.routes if isinstance(r, Route)]


def sample_path(route: Route, world: World) -> str:
    """The route's path with real values in its parameters."""
    values = {
        "code": CODE_A,
        "key": f"{CODE_A}/{CODE_A}.1.pdf",
        "batch_id": world.batch_id,
        "doc_id": world.flagged_id if route.path.startswith("/review") else world.failed_id,
        "page": "2",
        "name": "victim",
    }
    path = route.path
    for name, value in values.items():
        path = path.replace("{" + name + "}", value).replace("{" + name + ":path}", value)
    return path


def raw_get(base: str, path: str, cookie: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """A GET with ``path`` sent exactly as written (no client-side dot-segment clean-up)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Cookie": f"{SESSION_COOKIE}={cookie}"} if cookie else {}
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body


# ---------------------------------------------------------------- roles × routes


def test_role_by_route_matrix(minio_server, tmp_path_factory):
    """Every route, every role: allowed below or at the user's rank, 403 above it.

    Allowed POSTs really act (a retry is queued, a user's role changed), so this test
    has a world of its own; user routes act on a user no other check needs.
    """
    world = _world(minio_server, tmp_path_factory)
    users = fast_users(world.web)
    users.add("victim", "records", "victim-pass-1")
    app = create_app(world.web, users=users)
    with serve(app) as url:
        sessions = {name: logged_in(url, name) for name in ("lan", "op", "ad")}
        matrix = _matrix(app, world, sessions)
        for c in sessions.values():
            c.close()
    assert len({(m, p) for m, p, _, _ in matrix}) >= 20
    print("\nrole x route (status):")
    for method, path, role, status in matrix:
        print(f"  {method:4} {path:34} {role:8} {status}")


def _matrix(app, world: World, sessions: dict[str, httpx.Client]) -> list[tuple]:
    matrix = []
    for route in routes_of(app):
        needed = getattr(route, "required_role", None)
        if needed is None:  # /login, /logout, /health: the gate's own
            continue
        for name, role in (("lan", "records"), ("op", "operator"), ("ad", "admin")):
            client = sessions[name]
            method = "POST" if "POST" in (route.methods or ()) else "GET"
            path = sample_path(route, world)
            if method == "POST":
                resp = client.post(path, data={"csrf_token": csrf(client), "role": "records"})
            else:
                resp = client.get(path)
            allowed = RANK[role] >= RANK[needed]
            matrix.append((method, route.path, role, resp.status_code))
            if allowed:
                assert resp.status_code != 403, (method, route.path, role)
            else:
                assert resp.status_code == 403, (method, route.path, role, resp.status_code)
                # the site's own page with its navigation, and no data of the refused page
                assert world.batch_id not in resp.text and FLAGGED_CODE not in resp.text
    return matrix


def test_a_stranger_reaches_nothing_but_login_and_health(app, server, world):
    with httpx.Client(base_url=server, follow_redirects=False, timeout=30) as anon:
        for route in routes_of(app):
            path = sample_path(route, world)
            if route.path in ("/login", "/health"):
                continue
            for method in sorted(route.methods or ()):
                if method == "HEAD":
                    continue
                resp = anon.request(method, path)
                assert resp.status_code in (303, 403), (method, path, resp.status_code)
                assert CODE_A not in resp.text and not resp.content.startswith(b"%PDF")


# ---------------------------------------------------------------------------- CSRF


def test_every_post_needs_the_sessions_csrf_token(app, world, sessions, server):
    ad = sessions["ad"]
    token = csrf(ad)
    other_token = csrf(sessions["op"])
    posts = [r for r in routes_of(app) if "POST" in (r.methods or ())]
    assert len(posts) >= 10
    for route in posts:
        path = sample_path(route, world)
        for data, headers in (
            ({}, {}),
            ({"csrf_token": "forged"}, {}),
            ({"csrf_token": other_token}, {}),  # another session's token
            ({"csrf_token": token}, {"Origin": "https://evil.example"}),
        ):
            resp = ad.post(path, data=data, headers=headers)
            assert resp.status_code == 403, (path, data, headers, resp.status_code)
            assert "CSRF" in resp.text
    ledger = SqliteLedger(world.web.ledger_path)
    assert ledger.get_document(world.failed_id).state == "failed"  # nothing was done
    assert ledger.get_document(world.flagged_id).review


# ------------------------------------------------------------------- path traversal

TRAVERSALS = [
    "../../../../etc/passwd",
    "..%2f..%2f..%2fetc%2fpasswd",
    "%2e%2e/%2e%2e/etc/passwd",
    "%252e%252e%252fetc%252fpasswd",
    "..%252f..%252fetc%252fpasswd",
    "....//....//etc/passwd",
    "..\\..\\etc\\passwd",
    "%2fetc%2fpasswd",
    "raw/sha256/" + "a" * 64,
    f"{CODE_A}/..%2f..%2fsecret.pdf",
    f"{CODE_A}%2f{CODE_A}.1.json",
    "%00",
]


def test_traversal_on_every_route_that_takes_a_key_or_code(app, world, sessions, server):
    cookie = sessions["ad"].cookies[SESSION_COOKIE]
    templated = [r for r in routes_of(app) if "{" in r.path and "GET" in (r.methods or ())]
    assert {r.path.split("/")[1] for r in templated} >= {"dossier", "pdf", "batches", "review"}
    for route in templated:
        for bad in TRAVERSALS:
            path = re.sub(r"\{[^}]+\}", lambda _m, b=bad: b, route.path, count=1)
            path = re.sub(r"\{[^}]+\}", "1", path)
            status, _, body = raw_get(server, path, cookie)
            assert status in (303, 400, 404), (path, status)
            assert b"root:" not in body and not body.startswith(b"%PDF"), path
            assert b"Traceback" not in body


# ----------------------------------------------------------------------------- XSS


def _no_markup_from_data(html: str) -> None:
    assert "<script" not in html.lower().replace("&lt;script", "")
    assert "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")


def test_ocr_text_file_names_codes_and_queries_are_escaped(world, sessions):
    op = sessions["op"]
    pages = [
        op.get("/search", params={"q": "ghi chu"}),  # OCR text with markup
        op.get("/search", params={"q": XSS}),  # the query itself
        op.get("/search", params={"q": "giay", "station": XSS, "type": XSS}),
        op.get(f"/dossier/{CODE_A}"),  # a type name with markup
        op.get("/dossier/" + "%3Cscript%3Ealert(1)%3C%2Fscript%3E"),  # a code with markup
        op.get(f"/batches/{world.batch_id}"),  # a file name with markup and CRLF
        op.get(f"/documents/{world.xss_name_id}"),
        op.get("/batches"),
    ]
    for resp in pages:
        assert resp.status_code in (200, 400, 404), resp.url
        _no_markup_from_data(resp.text)
        assert "script-src" not in resp.headers["content-security-policy"]
        assert resp.headers["content-security-policy"].startswith("default-src 'none'")
    assert "&lt;script&gt;" in pages[0].text and "&lt;script&gt;" in pages[5].text
    assert "set-cookie" not in {k.lower() for k in pages[5].headers}


def test_nothing_injected_runs_in_a_real_browser(server, world):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(server + "/login")
        page.get_by_label("Tên đăng nhập").fill("op")
        page.get_by_label("Mật khẩu").fill(PASSWORDS["op"])
        page.get_by_role("button", name="Đăng nhập").click()
        page.wait_for_url(server + "/")
        for path in (
            "/search?q=ghi+chu",
            "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
            f"/dossier/{CODE_A}",
            f"/batches/{world.batch_id}",
            f"/documents/{world.xss_name_id}",
        ):
            page.goto(server + path)
            assert page.locator("script").count() == 0, path
            assert page.locator("img[src=x]").count() == 0, path
        assert dialogs == []
        browser.close()


# ---------------------------------------------------------- sessions and logging in


def test_session_fixation_a_planted_id_never_becomes_a_session(server):
    with httpx.Client(base_url=server, follow_redirects=False, timeout=30) as attacker:
        planted = logged_in(server, "lan").cookies[SESSION_COOKIE]
        victim = httpx.Client(base_url=server, follow_redirects=False, timeout=30)
        victim.cookies.set(SESSION_COOKIE, planted, domain="127.0.0.1", path="/")
        resp = login(victim, "op")
        issued = resp.cookies[SESSION_COOKIE]
        assert issued != planted
        attacker.cookies.set(SESSION_COOKIE, planted)
        assert attacker.get("/").status_code == 303  # the planted one died at the login
        assert "op (vận hành)" in victim.get("/").text
        victim.close()


def test_brute_force_locks_the_account(app, server, world):
    app.state.auth.users.add("target", "admin", "target-pass-1")
    with httpx.Client(base_url=server, follow_redirects=False, timeout=30) as c:
        codes = [login(c, "target", f"guess-number-{i}").status_code for i in range(4)]
        assert codes == [401, 401, 401, 429]
        resp = login(c, "target", "target-pass-1")  # the right password, during the lockout
        assert resp.status_code == 429 and int(resp.headers["retry-after"]) > 0
        assert SESSION_COOKIE not in c.cookies
    rows = SqliteAuditLog(world.web.ledger_path).query(user="target")
    assert [r.action for r in rows] == ["login_failed"] * 3 + ["login_locked"] * 2


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "%2F%2Fevil.example",
        "/login?next=https://evil.example",
        "/ok\r\nLocation: https://evil.example",
    ],
)
def test_login_never_redirects_off_site(server, target):
    with httpx.Client(base_url=server, follow_redirects=False, timeout=30) as c:
        resp = login(c, "lan", next_path=target)
        assert resp.status_code == 303
        location = resp.headers["location"]
        assert location == "/" or (location.startswith("/") and not location.startswith("//"))
        assert "evil" not in location or location.startswith("/%2F")


# ------------------------------------------------------------- malformed parameters


def test_oversized_and_malformed_parameters_are_refused_not_crashed(world, sessions, server):
    op = sessions["op"]
    cases = [
        ("/api/search", {"q": "giay", "limit": "10000000"}, 400),
        ("/api/search", {"q": "giay", "limit": "-1"}, 400),
        ("/api/search", {"q": "giay", "limit": "abc"}, 400),
        ("/api/search", {"q": "giay", "limit": "２０"}, 400),
        ("/api/search", {"q": "giay", "limit": "0"}, 400),
        ("/api/search", {"q": "x" * 20000}, 400),
        ("/search", {"q": "giay", "from": "2026-13-45"}, 400),
        ("/search", {"q": "giay", "from": "2026-12-01", "to": "2026-01-01"}, 400),
        ("/search", {"q": "giay", "dossier": "x" * 5000}, 400),
        ("/batches", {"status": "<script>"}, 400),
        (f"/review/{world.flagged_id}/page/-1", {}, 404),
        (f"/review/{world.flagged_id}/page/99999999", {}, 404),
        (f"/review/{world.flagged_id}/page/abc", {}, 404),
        ("/documents/" + "x" * 500, {}, 404),
        ("/dossier/" + "9" * 5000, {}, 404),
    ]
    for path, params, expected in cases:
        resp = op.get(path, params=params)
        assert resp.status_code == expected, (path, params, resp.status_code, resp.text[:200])
        assert "Traceback" not in resp.text
    big = op.post(
        f"/documents/{world.needs_code_id}/assign",
        data={"csrf_token": csrf(op), "dossier": "9" * 200_000},
    )
    assert big.status_code == 413
    bad = op.post(
        f"/documents/{world.needs_code_id}/assign",
        data={"csrf_token": csrf(op), "dossier": "../../etc"},
    )
    assert bad.status_code == 400 and "không hợp lệ" in bad.text
    status, _, _ = raw_get(server, "/search?q=" + "a" * 70000, op.cookies[SESSION_COOKIE])
    assert status in (400, 414, 431)


def test_range_header_parsing():
    assert byte_range(None, 100) is None
    assert byte_range("bytes=0-9", 100) == (0, 9)
    assert byte_range("bytes=90-", 100) == (90, 99)
    assert byte_range("bytes=-10", 100) == (90, 99)
    assert byte_range("bytes=50-999999999999999999999", 100) == (50, 99)
    assert byte_range("bytes=0-1,5-6", 100) is None  # several ranges: the whole file
    assert byte_range("items=0-1", 100) is None
    for bad in ("bytes=100-", "bytes=9-3", "bytes=-0", "bytes=a-b", "bytes=١-٢", "bytes=5"):
        with pytest.raises(Unsatisfiable):
            byte_range(bad, 100)


# ------------------------------------------------------------------ header injection


def test_crlf_never_reaches_a_response_header(world, sessions, server):
    assert safe_filename("X/evil\r\nSet-Cookie: a=b.pdf") == "evil__Set-Cookie__a_b.pdf"
    cookie = sessions["lan"].cookies[SESSION_COOKIE]
    for path in (
        f"/pdf/{CODE_A}/{CODE_A}.1.pdf%0d%0aSet-Cookie:%20x=y",
        f"/pdf/{CODE_A}/{CODE_A}.1.pdf%0aX-Injected:%201",
        "/search?q=a%0d%0aSet-Cookie:%20x=y",
        "/login?next=/%0d%0aSet-Cookie:%20x=y",
    ):
        _, headers, _ = raw_get(server, path, cookie)
        assert "x-injected" not in headers and "x=y" not in headers.get("set-cookie", ""), path
    ok = sessions["lan"].get(f"/pdf/{CODE_A}/{CODE_A}.1.pdf")
    assert ok.headers["content-disposition"] == f'inline; filename="{CODE_A}.1.pdf"'


# ------------------------------------------------------- secrets, logs, tracebacks


def test_no_traceback_and_no_internals_on_error_pages(world, caplog):
    from pipeline.storage.index import open_index

    class Broken:
        def __init__(self, cfg):
            self.inner = open_index(cfg)

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def search(self, request):
            raise RuntimeError(f"boom with {world.web.minio.secret_key}")

    def dead_store(cfg):
        from dataclasses import replace

        from pipeline.storage.objects import connect

        return connect(replace(cfg, minio=replace(cfg.minio, endpoint="127.0.0.1:9")))

    app = create_app(
        world.web, index_factory=Broken, store_factory=dead_store, users=fast_users(world.web)
    )
    with serve(app) as url, caplog.at_level(logging.WARNING):
        c = logged_in(url, "lan")
        crashed = c.get("/search", params={"q": "giay"})
        assert crashed.status_code == 500
        assert "Đã có lỗi" in crashed.text
        down = c.get(f"/pdf/{CODE_A}/{CODE_A}.1.pdf")
        assert down.status_code == 503 and "tạm thời" in down.text
        for resp in (crashed, down):
            for secret in (world.web.minio.secret_key, "Traceback", "boom", "127.0.0.1:9"):
                assert secret not in resp.text
        c.close()
    logged = caplog.text
    assert "127.0.0.1:9" in logged  # the operator's log says what failed
    assert world.web.minio.secret_key not in logged.replace(
        f"boom with {world.web.minio.secret_key}", ""
    )
    for password in PASSWORDS.values():
        assert password not in logged


def test_audit_records_searches_views_opens_and_actions(world, sessions):
    lan = sessions["lan"]
    lan.get("/search", params={"q": "pham van anh", "station": "motcua-01"})
    lan.get(f"/dossier/{CODE_A}")
    lan.get(f"/pdf/{CODE_A}/{CODE_A}.1.pdf")
    rows = SqliteAuditLog(world.web.ledger_path).query(user="lan")
    by_action = {r.action: r for r in rows}
    search = [r for r in rows if r.action == "search" and r.details.get("query") == "pham van anh"]
    assert search[-1].details["filters"] == {"station": "motcua-01"}
    assert search[-1].details["hits"] == 1 and search[-1].client == "127.0.0.1"
    assert by_action["dossier_view"].dossier == CODE_A
    assert by_action["pdf_open"].object == f"{CODE_A}/{CODE_A}.1.pdf"
    assert "login" in by_action
    assert SqliteAuditLog(world.web.ledger_path).verify().ok
