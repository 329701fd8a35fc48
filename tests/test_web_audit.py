"""Every read audited, every refusal too: the web app's routes enumerated (issue 20, rows 3, 13).

The routes come from the app itself, so a route added later that serves a document's
content without an audit row fails here: each GET route is requested as a user of its
role and must add a row for that user (only the home page, which shows three counts,
is exempt, by name). A PDF read with any ``Range`` writes the row of its window; page
images at every width, the review image and the operator's document page write theirs;
a refused request writes ``denied``. The CLI's reads (``sohoa search``, ``sohoa verify
KEY``) are audited too.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from starlette.routing import Route

from pipeline.access.audit import SqliteAuditLog
from tests.support.cli import sohoa
from tests.support.web import (
    FLAGGED_CODE,
    World,
    build_world,
    csrf,
    fast_users,
    logged_in,
    role_env,
    serve,
)
from tests.test_search_minio import CODE_A, small_pdf
from workers.web.app import create_app
from workers.web.readaudit import ReadWindow

pytestmark = pytest.mark.integration
NO_CONTENT = {"/"}  # the search form and three counts: nothing of any document
GATE_ROUTES = {"/login", "/logout", "/health"}
USER_OF = {"records": "lan", "operator": "op", "admin": "ad"}
PDF_KEY = f"{CODE_A}/{CODE_A}.1.pdf"


@dataclass
class Office:
    world: World
    env: dict[str, str]  # the web machine's environment (web key)


@pytest.fixture(scope="module")
def office(minio_server, tmp_path_factory) -> Office:
    tmp = tmp_path_factory.mktemp("reads")
    tag = secrets.token_hex(4)
    env = {
        **minio_server.env(),
        "SOHOA_HOME": str(tmp / "home"),
        "SOHOA_INBOX": str(tmp / "inbox"),
        "SOHOA_BUCKET_RAW": f"raw-rd{tag}",
        "SOHOA_BUCKET_ARCHIVE": f"archive-rd{tag}",
        "SOHOA_BUCKET_WORK": f"work-rd{tag}",
    }
    world = build_world(minio_server, env)
    return Office(world, role_env(env, world.keys, "web"))


@pytest.fixture(scope="module")
def app(office: Office):
    return create_app(office.world.web, users=fast_users(office.world.web))


@pytest.fixture(scope="module")
def server(app) -> Iterator[str]:
    with serve(app) as url:
        yield url


@pytest.fixture
def fresh(server) -> Iterator[dict[str, httpx.Client]]:
    """New sessions for each test: a read window belongs to a session."""
    clients = {name: logged_in(server, name) for name in ("lan", "op", "ad")}
    yield clients
    for c in clients.values():
        c.close()


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _log(office: Office) -> SqliteAuditLog:
    return SqliteAuditLog(office.world.web.ledger_path)


def _rows(office: Office, user: str) -> list:
    return _log(office).query(user=user, limit=100000)


def _sample(route: Route, world: World) -> tuple[str, dict[str, str]]:
    """A path (and query) on which the route shows real content."""
    doc = f"{CODE_A}.1"
    values = {
        "code": CODE_A,
        "key": PDF_KEY,
        "batch_id": world.batch_id,
        "doc_id": doc,
        "page": "1",
        "name": "lan",
    }
    if route.path.startswith("/documents"):
        values["doc_id"] = world.failed_id
    if route.path.startswith("/review/"):
        values.update(doc_id=world.flagged_id, page="2")
    path = route.path
    for name, value in values.items():
        path = path.replace("{" + name + "}", value).replace("{" + name + ":path}", value)
    params = {"q": "giay phep"} if route.path in ("/search", "/api/search") else {}
    return path, params


def test_every_route_that_shows_a_document_writes_an_audit_row(app, office, fresh):
    routes = [r for r in app.routes if isinstance(r, Route)]
    assert {r.path for r in routes if getattr(r, "required_role", None) is None} == GATE_ROUTES
    checked = []
    for route in routes:
        role = getattr(route, "required_role", None)
        if role is None or "GET" not in (route.methods or ()) or route.path in NO_CONTENT:
            continue
        user = USER_OF[role]
        path, params = _sample(route, office.world)
        requests = [params]
        if route.path.endswith(".png"):  # thumbnails and page views: every width
            requests = [{"w": "320"}, {"w": "1100"}]
        for query in requests:
            before = len(_rows(office, user))
            resp = fresh[user].get(path, params=query)
            assert resp.status_code == 200, (path, query, resp.status_code)
            new = _rows(office, user)[before:]
            assert new, f"GET {route.path} {query} showed content and wrote no audit row"
            assert all(r.action != "denied" for r in new)
            checked.append((route.path, new[-1].action))
    actions = dict(checked)
    assert actions["/pdf/{key:path}"] == "pdf_open"
    assert actions["/document/{doc_id}/page/{page}.png"] == "page_image"
    assert actions["/review/{doc_id}/page/{page}"] == "review_image"
    assert actions["/documents/{doc_id}"] == "document_view"
    assert actions["/dossier/{code}"] == "dossier_view"
    assert actions["/api/search"] == "search"
    assert len(checked) >= 14
    assert _log(office).verify().ok


def test_the_home_page_alone_is_exempt(office, fresh):
    before = len(_rows(office, "lan"))
    assert fresh["lan"].get("/").status_code == 200
    assert len(_rows(office, "lan")) == before


def test_a_pdf_read_with_any_range_writes_a_row(app, office, server):
    """``bytes=1-`` and ``bytes=-(size-1)`` gave the whole file but its first byte unaudited."""
    whole = small_pdf(2)
    for wanted in ("bytes=1-", f"bytes=-{len(whole) - 1}", "bytes=5-9", None):
        client = logged_in(server, "lan")  # a new session: a new window
        before = len(_log(office).query(action="pdf_open", limit=100000))
        headers = {"Range": wanted} if wanted else {}
        resp = client.get(f"/pdf/{PDF_KEY}", headers=headers)
        assert resp.status_code == (206 if wanted else 200)
        rows = _log(office).query(action="pdf_open", limit=100000)[before:]
        assert [(r.actor, r.object, r.dossier, r.details["range"]) for r in rows] == [
            ("lan", PDF_KEY, CODE_A, wanted)
        ]
        client.close()


def test_ranges_of_one_session_share_the_row_of_their_window(app, office, server):
    clock = Clock()
    app.state.context.reads.clock = clock
    try:
        viewer = logged_in(server, "lan")
        other = logged_in(server, "lan")

        def rows() -> int:
            return len(_log(office).query(action="pdf_open", limit=100000))

        start = rows()
        assert viewer.get(f"/pdf/{PDF_KEY}", headers={"Range": "bytes=100-"}).status_code == 206
        assert rows() == start + 1  # the first request of the window writes it
        clock.t += 30
        for wanted in ("bytes=0-99", "bytes=-50", "bytes=20-40"):
            assert viewer.get(f"/pdf/{PDF_KEY}", headers={"Range": wanted}).status_code == 206
        assert viewer.head(f"/pdf/{PDF_KEY}").status_code == 200
        assert rows() == start + 1  # covered by that row
        assert other.get(f"/pdf/{PDF_KEY}", headers={"Range": "bytes=0-9"}).status_code == 206
        assert rows() == start + 2  # another session: a row of its own
        clock.t += 31  # 61 s after the first row: the window is over, whatever came between
        assert viewer.get(f"/pdf/{PDF_KEY}", headers={"Range": "bytes=0-9"}).status_code == 206
        assert rows() == start + 3
        viewer.close()
        other.close()
    finally:
        app.state.context.reads.clock = time.monotonic


def test_every_page_image_request_writes_a_row(office, fresh):
    lan = fresh["lan"]
    doc = f"{CODE_A}.1"
    before = len(_log(office).query(action="page_image", limit=100000))
    for width in ("320", "1100", "320", "1100"):
        image = lan.get(f"/document/{doc}/page/2.png", params={"w": width})
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
        assert "no-store" in image.headers["cache-control"]  # a second look is a request
    rows = _log(office).query(action="page_image", limit=100000)[before:]
    assert [(r.object, r.dossier, r.details["page"], r.details["width"]) for r in rows] == [
        (doc, CODE_A, 2, w) for w in (320, 1100, 320, 1100)
    ]


def test_the_review_image_and_the_document_page_are_audited(office, fresh):
    op = fresh["op"]
    world = office.world
    before = len(_rows(office, "op"))
    assert op.get(f"/review/{world.flagged_id}/page/2").content[:2] == b"\xff\xd8"
    assert op.get(f"/documents/{world.failed_id}").status_code == 200
    rows = _rows(office, "op")[before:]
    assert [(r.action, r.dossier) for r in rows] == [
        ("review_image", FLAGGED_CODE),
        ("document_view", None),
    ]
    assert rows[0].details == {"page": 2} and rows[1].object == world.failed_id


def test_no_audit_row_no_content(office):
    """A read whose row cannot be written is not served: nothing gets around the log."""

    class RefusingAudit:
        def __init__(self, inner: SqliteAuditLog) -> None:
            self.inner = inner

        def __getattr__(self, name: str):
            return getattr(self.inner, name)

        def append(self, actor, action, *args, **kwargs):
            if action in ("pdf_open", "page_image"):
                raise RuntimeError("audit log unavailable")
            return self.inner.append(actor, action, *args, **kwargs)

    web = office.world.web
    app = create_app(web, users=fast_users(web), audit=RefusingAudit(_log(office)))
    with serve(app) as url:
        client = logged_in(url, "lan")
        for path, headers in (
            (f"/pdf/{PDF_KEY}", {"Range": "bytes=1-"}),
            (f"/pdf/{PDF_KEY}", {}),
            (f"/document/{CODE_A}.1/page/1.png", {}),
        ):
            resp = client.get(path, headers=headers)
            assert resp.status_code == 500, path
            assert not resp.content.startswith(b"%PDF") and b"\x89PNG" not in resp.content
            assert b"PDF-1" not in resp.content
        client.close()


# ------------------------------------------------------------------------ refusals


def test_refusals_in_the_app_are_audited_with_their_reason(office, fresh):
    world = office.world
    lan, op, ad = fresh["lan"], fresh["op"], fresh["ad"]
    log = _log(office)
    before = len(log.query(action="denied", limit=100000))
    assert lan.get("/batches").status_code == 403
    assert lan.post(f"/documents/{world.failed_id}/retry", data={}).status_code == 403
    bad_code = {"csrf_token": csrf(op), "dossier": "not-a-code"}
    assert op.post(f"/documents/{world.needs_code_id}/assign", data=bad_code).status_code == 400
    assert op.post(f"/batches/{world.batch_id}/retry", data={"csrf_token": "x"}).status_code == 403
    mismatch = {"csrf_token": csrf(ad), "name": "moi", "role": "records"}
    mismatch |= {"password": "mot-mat-khau-1", "password2": "khac-mat-khau-2"}
    assert ad.post("/users", data=mismatch).status_code == 400
    unknown = {"csrf_token": csrf(op)}
    assert op.post("/batches/nosuchbatch/retry", data=unknown).status_code == 404
    rows = log.query(action="denied", limit=100000)[before:]
    seen = [(r.actor, r.details["method"], r.details["path"], r.details["reason"]) for r in rows]
    assert seen == [
        ("lan", "GET", "/batches", "needs operator"),
        ("lan", "POST", f"/documents/{world.failed_id}/retry", "CSRF token missing or wrong"),
        (
            "op",
            "POST",
            f"/documents/{world.needs_code_id}/assign",
            "mã hồ sơ không hợp lệ (ví dụ 000.00.13.H38-261127-0001)",
        ),
        ("op", "POST", f"/batches/{world.batch_id}/retry", "CSRF token missing or wrong"),
        ("ad", "POST", "/users", "hai mật khẩu không giống nhau"),
        ("op", "POST", "/batches/nosuchbatch/retry", "not found"),
    ]
    text = repr([r.details for r in rows])
    assert "mot-mat-khau-1" not in text and "khac-mat-khau-2" not in text


# ----------------------------------------------------------------------------- CLI


def test_the_cli_reads_are_audited(office):
    """``sohoa search`` and ``sohoa verify KEY`` read documents: a row each."""
    log = _log(office)
    before = len(log.query(limit=100000))
    found = sohoa(office.env, "search", "giay", "phep", timeout=120)
    assert found.returncode == 0, found.stderr
    checked = sohoa(office.env, "verify", PDF_KEY, timeout=120)
    assert checked.returncode == 6  # an unsigned test PDF (not signed); read all the same
    rows = log.query(limit=100000)[before:]
    assert [(r.action, r.client) for r in rows] == [("search", "cli"), ("verify", "cli")]
    assert rows[0].details["query"] == "giay phep" and rows[0].actor.startswith("cli:")
    assert rows[1].object == PDF_KEY and rows[1].dossier == CODE_A
    assert rows[1].details["valid"] is False


# ------------------------------------------------------------------------ the window


def test_read_window_counts_from_the_row_and_forgets_a_failed_one():
    clock = Clock()
    window = ReadWindow(60, clock=clock)
    assert window.due("s1", "k") is True
    clock.t += 59
    assert window.due("s1", "k") is False
    assert window.due("s2", "k") is True and window.due("s1", "k2") is True
    clock.t += 1
    assert window.due("s1", "k") is True  # 60 s after the row, not after the last read
    window.forget("s1", "k")  # its row could not be written
    assert window.due("s1", "k") is True
    assert all(ReadWindow(0, clock=clock).due("s", "k") for _ in range(3))
