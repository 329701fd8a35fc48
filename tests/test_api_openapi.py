"""``/api/v1/openapi.json`` is a contract: every route answers as it documents.

The walk: the document is fetched from the running app (without a token); the app's
routes and the document's operations must be the same set; then for every operation
and every status it documents, a request that should get that status is sent, and the
answer's status, media type, required headers and body (validated strictly against the
schema: no undocumented field) are checked. A documented status with no request here
fails the test, and so does an answer outside the document.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from starlette.routing import Mount

from pipeline.access.clients import ClientStore
from pipeline.access.stores import access_backend
from pipeline.config import load_config
from pipeline.errors import DatabaseUnavailable, StorageUnavailable
from pipeline.storage.index import open_index
from tests.support.api import CODE, ApiWorld, build_api_world, fake_feed, sample_events
from tests.support.backends import BACKENDS, backend_env
from tests.support.schema import problems
from tests.support.watch import page_bytes
from tests.support.web import fast_users, serve
from workers.web.app import create_app

pytestmark = pytest.mark.integration
NEW_CODE = "000.00.13.H38-261204-0077"


@dataclass
class Apps:
    world: ApiWorld
    url: str  # the app as configured for the walk (1 MiB uploads)
    broken: str  # the same data behind a database, an archive and a feed that are down

    def call(self, client: str | None = "igate", *, broken: bool = False) -> httpx.Client:
        return self.world.client(self.broken if broken else self.url, client)


class _DownIndex:
    """The real index, except that searching finds the database gone."""

    def __init__(self, index) -> None:
        self._index = index

    def search(self, request):
        raise DatabaseUnavailable("the index's database is down (test)")

    def __getattr__(self, name):
        return getattr(self._index, name)


def _down(error: Exception) -> Callable:
    def fail(*args, **kwargs):
        raise error

    return fail


@pytest.fixture(params=BACKENDS)
def apps(request, minio_server, sohoa_env):
    world = build_api_world(
        minio_server, sohoa_env, backend_env(request.param, request), max_upload_mb=1
    )
    backend = access_backend(world.web)
    world.tokens["slow"] = ClientStore(backend).add("slow", "read,submit,events").token
    backend.write(  # a client an hour past its rate
        lambda tx: tx.execute("INSERT INTO api_rate (client, tat) VALUES ('slow', 9e12)")
    )
    feed = fake_feed(sample_events(world.docs["result"]))
    app = create_app(world.web, users=fast_users(world.web), api_feed=feed)
    no_upload = {k: v for k, v in world.env.items() if not k.startswith("SOHOA_UPLOAD_")}
    down_cfg = load_config(env=no_upload)
    down = create_app(
        down_cfg,
        store_factory=_down(StorageUnavailable("MinIO is down (test)")),
        index_factory=lambda cfg: _DownIndex(open_index(cfg)),
        ledger_factory=_down(DatabaseUnavailable("the ledger's database is down (test)")),
        users=fast_users(down_cfg),
        api_feed=_down(DatabaseUnavailable("the outbox is down (test)")),
    )
    with serve(app) as url, serve(down) as broken:
        yield Apps(world, url, broken)


Send = Callable[["Apps", httpx.Client], httpx.Response]


@dataclass(frozen=True)
class Case:
    send: Send
    client: str | None = "igate"
    broken: bool = False

    def run(self, a: Apps) -> httpx.Response:
        with a.call(self.client, broken=self.broken) as c:
            return self.send(a, c)


def _upload(data: bytes, *, code: str = NEW_CODE, key: str | None = None,
            media: str = "image/png") -> Send:  # fmt: skip
    headers = {"Content-Type": media, **({"Idempotency-Key": key} if key else {})}
    return lambda a, c: c.post(f"/api/v1/dossiers/{code}/documents", content=data,
                               headers=headers)  # fmt: skip


def _conflict(a: Apps, c: httpx.Client) -> httpx.Response:
    assert _upload(page_bytes(31), key="k-409")(a, c).status_code == 202
    return _upload(page_bytes(32), key="k-409")(a, c)


def _get(url: str | Callable[[Apps], str], **kw) -> Send:
    return lambda a, c: c.get(url if isinstance(url, str) else url(a), **kw)


def _doc(tail: str = "") -> Callable[[Apps], str]:
    return lambda a: f"/api/v1/documents/{a.world.docs['result']}{tail}"


def _guarded(path: str, method: str, send: Send, lacking: str) -> dict:
    """401, 403, 429 and 503 of one operation: no token, a client without the scope, a
    client past its rate, and the app whose backends are down."""
    return {
        (path, method, "401"): Case(send, None),
        (path, method, "403"): Case(send, lacking),
        (path, method, "429"): Case(send, "slow"),
        (path, method, "503"): Case(send, broken=True),
    }


def scenarios() -> dict[tuple[str, str, str], Case]:
    """A request for every documented status of every operation."""
    up = "/dossiers/{code}/documents"
    cases: dict[tuple[str, str, str], Case] = {
        (up, "post", "202"): Case(_upload(page_bytes(30))),
        (up, "post", "400"): Case(_upload(page_bytes(30), code="not-a-code")),
        (up, "post", "409"): Case(_conflict),
        (up, "post", "413"): Case(_upload(page_bytes(33) + b"\0" * 1_100_000)),
        (up, "post", "415"): Case(_upload(b"plain text, not a scan", media="application/pdf")),
        **_guarded(up, "post", _upload(page_bytes(34)), "reader"),
    }
    for path, tail in (("/dossiers/{code}", ""), ("/dossiers/{code}/dvcqg", "/dvcqg")):
        cases[(path, "get", "200")] = Case(_get(f"/api/v1/dossiers/{CODE}{tail}"))
        cases[(path, "get", "400")] = Case(_get(f"/api/v1/dossiers/HS-1{tail}"))
        missing = f"/api/v1/dossiers/000.00.13.H38-261203-0999{tail}"
        cases[(path, "get", "404")] = Case(_get(missing))
        cases.update(_guarded(path, "get", _get(f"/api/v1/dossiers/{CODE}{tail}"), "feeder"))
    for tail in ("", "/pdf", "/metadata", "/text"):
        path = "/documents/{id}" + tail
        cases[(path, "get", "200")] = Case(_get(_doc(tail)))
        cases[(path, "get", "404")] = Case(_get(f"/api/v1/documents/d0{tail}"))
        cases.update(_guarded(path, "get", _get(_doc(tail)), "feeder"))
    pdf = "/documents/{id}/pdf"
    cases[(pdf, "get", "206")] = Case(_get(_doc("/pdf"), headers={"Range": "bytes=0-9"}))
    cases[(pdf, "get", "416")] = Case(_get(_doc("/pdf"), headers={"Range": "bytes=99999999-"}))
    cases[("/search", "get", "200")] = Case(_get("/api/v1/search?q=giay+phep"))
    cases[("/search", "get", "400")] = Case(_get("/api/v1/search?q=x&from=yesterday"))
    cases.update(_guarded("/search", "get", _get("/api/v1/search?q=giay"), "feeder"))
    cases[("/events", "get", "200")] = Case(_get("/api/v1/events?after=0"), "feeder")
    cases[("/events", "get", "400")] = Case(_get("/api/v1/events?limit=0"), "feeder")
    cases.update(_guarded("/events", "get", _get("/api/v1/events"), "reader"))
    return cases


def _api_routes(app) -> set[tuple[str, str]]:
    (mount,) = [r for r in app.routes if isinstance(r, Mount) and r.path == "/api/v1"]
    found = set()
    for route in mount.app.routes:
        for method in route.methods or ():
            if method != "HEAD":
                found.add((route.path, method.lower()))
    return found


def _media(header: str) -> str:
    return header.split(";", 1)[0].strip().lower()


def test_every_route_answers_as_documented(apps):
    spec = httpx.get(f"{apps.url}/api/v1/openapi.json").json()  # no token needed
    assert spec["openapi"] == "3.1.0"
    assert spec["servers"] == [{"url": f"{apps.url}/api/v1"}]
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    app = create_app(apps.world.web, users=fast_users(apps.world.web))
    assert _api_routes(app) == documented | {("/openapi.json", "get")}
    wanted = {
        (path, method, status)
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        for status in op["responses"]
    }
    cases = scenarios()
    assert set(cases) == wanted, (
        f"documented, never sent: {sorted(wanted - set(cases))};"
        f" sent, not documented: {sorted(set(cases) - wanted)}"
    )
    failures = []
    for (path, method, status), case in sorted(cases.items()):
        resp = case.run(apps)
        where = f"{method.upper()} {path} → {status}"
        if str(resp.status_code) != status:
            failures.append(f"{where}: got {resp.status_code} {resp.text[:200]}")
            continue
        answer = spec["paths"][path][method]["responses"][status]
        for name, header in answer.get("headers", {}).items():
            if header.get("required") and name.lower() not in resp.headers:
                failures.append(f"{where}: no {name} header")
        content = answer.get("content")
        if not content:
            continue
        media = _media(resp.headers.get("content-type", ""))
        if media not in content:
            failures.append(f"{where}: {media} is not one of {sorted(content)}")
            continue
        schema = content[media]["schema"]
        if media.endswith("json"):
            failures += [f"{where}: {p}" for p in problems(spec, schema, resp.json())]
    assert not failures, "\n".join(failures)


def test_the_document_itself_is_served_without_a_token_and_audits_nothing(apps):
    resp = httpx.get(f"{apps.url}/api/v1/openapi.json")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    assert hashlib.sha256(resp.content).hexdigest()  # a plain JSON document
    assert "securitySchemes" in resp.json()["components"]
    unknown = httpx.get(f"{apps.url}/api/v1/nowhere")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
