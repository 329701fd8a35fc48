"""``/api/v1`` in the web app under uvicorn, against a real MinIO, on SQLite and PostgreSQL.

Tokens and scopes (401 / 403 / revoked), the login gate letting the API past without
ever taking a session cookie there, every call's audit row under ``client:<name>``,
the rate limit, uploads into custody (the original and its record in raw, with the
station key alone), idempotency, the limits known before custody, the dossier, the
DVCQG view, a document and its files (PDF ranges as the web serves them), search, and
the event feed with its links made URLs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from pipeline.access.stores import access_backend, open_audit
from pipeline.access.uploads import UploadStore
from pipeline.flow.intake import RECORD_PREFIX, CustodyRecord
from pipeline.storage.objects import connect
from tests.support.api import (
    CODE,
    OTHER,
    PROCEDURE,
    SIGNED,
    ApiWorld,
    build_api_world,
    fake_feed,
    sample_events,
)
from tests.support.backends import BACKENDS, backend_env
from tests.support.watch import page_bytes
from tests.support.web import fast_users, logged_in, role_cfg, serve
from workers.web.app import create_app

pytestmark = pytest.mark.integration
NEW_CODE = "000.00.13.H38-261204-0042"
PUBLIC = "https://lgsp.example.gov.vn/sohoa"


@pytest.fixture(params=BACKENDS)
def world(request, minio_server, sohoa_env) -> ApiWorld:
    return build_api_world(minio_server, sohoa_env, backend_env(request.param, request))


@pytest.fixture
def api(world):
    """The web app with the API, under uvicorn; yields its base URL."""
    events = sample_events(world.docs["result"])
    app = create_app(world.web, users=fast_users(world.web), api_feed=fake_feed(events))
    with serve(app) as url:
        yield url


def audit_rows(world: ApiWorld, actor: str, action: str | None = None) -> list:
    return open_audit(world.web).query(user=actor, action=action)


def raw_records(world: ApiWorld) -> list[CustodyRecord]:
    operator = connect(role_cfg(world.env, world.keys, "operator"))
    keys = operator.list_keys(operator.raw_bucket, RECORD_PREFIX)
    return [CustodyRecord.from_json(operator.get_bytes(operator.raw_bucket, k)) for k in keys]


# ----------------------------------------------------------------------- who may call


def test_no_token_is_401_with_a_bearer_challenge_and_audited(world, api):
    with world.client(api, None) as c:
        resp = c.get(f"/api/v1/dossiers/{CODE}")
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"].startswith("Bearer")
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert "Phạm" not in resp.text
    (row,) = audit_rows(world, "client:?", "denied")
    assert row.details["reason"] == "no bearer token" and row.details["path"].endswith(CODE)


def test_unknown_revoked_and_wrong_scheme_tokens_are_401(world, api):
    for header, actor, reason in (
        ({"Authorization": "Bearer sohoa_" + "A" * 43}, "client:?", "unknown token"),
        ({"Authorization": f"Bearer {world.tokens['gone']}"}, "client:gone", "revoked token"),
        ({"Authorization": f"Basic {world.tokens['igate']}"}, "client:?", "no bearer token"),
    ):
        resp = httpx.get(f"{api}/api/v1/dossiers/{CODE}", headers=header)
        assert resp.status_code == 401, header
        if reason != "no bearer token":
            assert 'error="invalid_token"' in resp.headers["www-authenticate"]
        rows = audit_rows(world, actor, "denied")
        assert reason in [r.details["reason"] for r in rows]


def test_a_token_without_the_scope_is_403_naming_it(world, api):
    with world.client(api, "reader") as c:
        resp = c.post(
            f"/api/v1/dossiers/{NEW_CODE}/documents",
            content=page_bytes(1),
            headers={"Content-Type": "image/png"},
        )
        feed = c.get("/api/v1/events")
    assert resp.status_code == 403
    assert 'error="insufficient_scope", scope="submit"' in resp.headers["www-authenticate"]
    assert feed.status_code == 403 and 'scope="events"' in feed.headers["www-authenticate"]
    with world.client(api, "feeder") as c:
        assert c.get(f"/api/v1/dossiers/{CODE}").status_code == 403
    reasons = [r.details["reason"] for r in audit_rows(world, "client:reader", "denied")]
    assert sorted(reasons) == ["needs scope events", "needs scope submit"]
    assert raw_records(world) == []  # nothing was handed over


def test_the_gate_lets_the_api_past_but_never_takes_a_session_there(world, api):
    browser = logged_in(api, "lan")  # a records clerk's session cookie
    try:
        assert browser.get("/").status_code == 200
        resp = browser.get(f"/api/v1/dossiers/{CODE}")
        assert resp.status_code == 401  # the cookie counts for nothing here
        upload = browser.post(
            f"/api/v1/dossiers/{NEW_CODE}/documents",
            content=page_bytes(1),
            headers={"Content-Type": "image/png"},
        )
        assert upload.status_code == 401  # no CSRF involved either way: just no client
    finally:
        browser.close()
    # The web's pages are still behind the login, and its JSON search too.
    with world.client(api) as c:
        assert c.get("/api/search?q=giay").status_code == 303
        assert c.get("/dossier/" + CODE).status_code == 303


# ---------------------------------------------------------------------------- reading


def test_the_dossier_lists_its_documents_with_place_fields_signature_and_links(world, api):
    with world.client(api) as c:
        resp = c.get(f"/api/v1/dossiers/{CODE.lower()}")  # codes are upper-cased, as DESIGN says
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["dossier_code"] == CODE and body["procedure_code"] == PROCEDURE
    paper, result = body["documents"]
    assert (paper["id"], paper["ordinal"], paper["state"]) == (world.docs["paper"], 1, "indexed")
    assert (paper["kind"], paper["component_code"]) == ("submitted", "TP01")
    assert (result["kind"], result["component_code"]) == ("result", "KQ01")
    assert result["fields"]["number"] == "263/GPXD"
    assert result["fields"]["type_name"] == "Giấy phép xây dựng"
    assert result["signature"] == SIGNED
    assert paper["signature"] is None and paper["pages"] == 2
    assert result["pdf_sha256"] == hashlib.sha256(world.pdfs[result["id"]]).hexdigest()
    base = str(api)
    assert paper["links"] == {
        "self": f"{base}/api/v1/documents/{paper['id']}",
        "pdf": f"{base}/api/v1/documents/{paper['id']}/pdf",
        "metadata": f"{base}/api/v1/documents/{paper['id']}/metadata",
        "text": f"{base}/api/v1/documents/{paper['id']}/text",
    }
    (row,) = audit_rows(world, "client:igate", "dossier_view")
    assert (row.object, row.dossier, row.details["documents"]) == (CODE, CODE, 2)
    assert row.client == "127.0.0.1"


def test_dvcqg_gives_the_portal_shape_with_links_on_the_public_url(
    minio_server, sohoa_env, request
):
    world = build_api_world(minio_server, sohoa_env, {}, public_url=PUBLIC)
    app = create_app(world.web, users=fast_users(world.web))
    with serve(app) as url, world.client(url) as c:
        body = c.get(f"/api/v1/dossiers/{CODE}/dvcqg").json()
        assert c.get("/api/v1/dossiers/not-a-code/dvcqg").status_code == 400
        assert c.get("/api/v1/dossiers/000.00.13.H38-261203-0099/dvcqg").status_code == 404
    paper, result = world.docs["paper"], world.docs["result"]
    assert body == {
        "MaHoSo": CODE,
        "MaTTHC": PROCEDURE,
        "TaiLieuNop": [
            {
                "TepDinhKemId": paper,
                "TenTepDinhKem": "paper.pdf",
                "MaThanhPhanHoSo": "TP01",
                "DuongDanTaiTepTin": f"{PUBLIC}/api/v1/documents/{paper}/pdf",
                "IsDeleted": False,
            }
        ],
        "DanhSachGiayToKetQua": [
            {
                "GiayToId": result,
                "TenGiayTo": "Giấy phép xây dựng",
                "MaThanhPhanHoSo": "KQ01",
                "DuongDanTepTinKetQua": f"{PUBLIC}/api/v1/documents/{result}/pdf",
            }
        ],
    }


def test_a_document_its_pdf_in_ranges_its_metadata_and_text_all_audited(world, api):
    doc_id = world.docs["result"]
    pdf = world.pdfs[doc_id]
    with world.client(api) as c:
        doc = c.get(f"/api/v1/documents/{doc_id}")
        whole = c.get(f"/api/v1/documents/{doc_id}/pdf")
        part = c.get(f"/api/v1/documents/{doc_id}/pdf", headers={"Range": "bytes=0-99"})
        beyond = c.get(f"/api/v1/documents/{doc_id}/pdf", headers={"Range": "bytes=999999-"})
        meta = c.get(f"/api/v1/documents/{doc_id}/metadata")
        text = c.get(f"/api/v1/documents/{doc_id}/text")
        missing = c.get("/api/v1/documents/d00000000000")
        odd = c.get("/api/v1/documents/..%2F..%2Fetc")
    assert doc.status_code == 200 and doc.json()["dossier_code"] == CODE
    assert whole.status_code == 200 and whole.content == pdf
    assert whole.headers["content-type"] == "application/pdf"
    assert part.status_code == 206 and part.content == pdf[:100]
    assert part.headers["content-range"] == f"bytes 0-99/{len(pdf)}"
    assert beyond.status_code == 416
    assert meta.json()["sohoa"]["document_id"] == doc_id
    assert text.text == "GIẤY PHÉP XÂY DỰNG số 263/GPXD"
    assert text.headers["content-type"].startswith("text/plain")
    assert missing.status_code == 404 and odd.status_code == 404
    rows = audit_rows(world, "client:igate")
    # The whole file and the range within the read window share one row, as the web's
    # reads do; the 416 and the 404 are calls of their own, with their status.
    assert sorted((r.action, r.details.get("status", 0)) for r in rows) == [
        ("document_view", 0),
        ("document_view", 404),
        ("metadata_open", 0),
        ("pdf_open", 0),
        ("pdf_open", 416),
        ("text_open", 0),
    ]
    (pdf_row,) = [r for r in rows if r.action == "pdf_open" and r.object]
    assert pdf_row.object == f"{CODE}/{CODE}.2.pdf" and pdf_row.details["document"] == doc_id


def test_search_is_the_webs_search_with_api_links(world, api):
    with world.client(api) as c:
        folded = c.get("/api/v1/search", params={"q": "giay phep xay dung", "dossier": CODE})
        bad = c.get("/api/v1/search", params={"q": "x", "from": "not-a-date"})
    assert folded.status_code == 200
    hits = folded.json()["hits"]
    assert {h["document_id"] for h in hits} == {world.docs["paper"], world.docs["result"]}
    hit = next(h for h in hits if h["document_id"] == world.docs["result"])
    assert hit["links"]["pdf"] == f"{api}/api/v1/documents/{world.docs['result']}/pdf"
    assert bad.status_code == 400 and bad.headers["content-type"].startswith("application/problem")
    rows = audit_rows(world, "client:igate", "search")
    by_query = {r.details["query"]: r.details for r in rows}
    assert sorted(by_query) == ["giay phep xay dung", "x"]
    assert by_query["giay phep xay dung"]["hits"] == 2
    assert by_query["giay phep xay dung"]["filters"] == {"dossier": CODE}
    assert by_query["x"]["hits"] == 0 and "error" in by_query["x"]


def test_the_event_feed_pages_with_absolute_links(world, api):
    doc_id = world.docs["result"]
    with world.client(api, "feeder") as c:
        first = c.get("/api/v1/events", params={"after": 0, "limit": 1}).json()
        second = c.get("/api/v1/events", params={"after": first["next"]}).json()
        empty = c.get("/api/v1/events", params={"after": second["next"]}).json()
        bad = c.get("/api/v1/events", params={"after": "-1"})
        huge = c.get("/api/v1/events", params={"limit": "1000000"})
    assert [e["type"] for e in first["events"]] == ["document.archived"]
    assert [e["type"] for e in second["events"]] == ["document.signed"]
    assert empty == {"events": [], "next": 2}
    link = first["events"][0]["data"]["links"]["pdf"]
    assert link == f"{api}/api/v1/documents/{doc_id}/pdf"
    assert bad.status_code == 400 and huge.status_code == 400
    counts = [r.details.get("count") for r in audit_rows(world, "client:feeder", "events_read")]
    assert sorted(c for c in counts if c is not None) == [0, 1, 1]


# ---------------------------------------------------------------------------- uploads


def upload(c: httpx.Client, data: bytes, *, code: str = NEW_CODE, key: str | None = None,
           media: str = "image/png", **params: str) -> httpx.Response:  # fmt: skip
    headers = {"Content-Type": media}
    if key:
        headers["Idempotency-Key"] = key
    return c.post(f"/api/v1/dossiers/{code}/documents", content=data, headers=headers,
                  params=params)  # fmt: skip


def test_an_upload_is_in_custody_before_its_202(world, api):
    data = page_bytes(7)
    with world.client(api) as c:
        resp = upload(c, data, component="TP02", kind="submitted", procedure=PROCEDURE,
                      name="Đơn đề nghị.png")  # fmt: skip
        assert resp.status_code == 202, resp.text
        body = resp.json()
        doc_id = body["document_id"]
        assert resp.headers["location"] == f"{api}/api/v1/documents/{doc_id}"
        # Known at once, before any worker has taken it in.
        pending = c.get(f"/api/v1/documents/{doc_id}").json()
        listed = c.get(f"/api/v1/dossiers/{NEW_CODE}").json()["documents"]
    assert body["sha256"] == hashlib.sha256(data).hexdigest() and body["size"] == len(data)
    assert (body["state"], body["media_type"]) == ("stored_raw", "image/png")
    assert body["replayed"] is False
    (rec,) = raw_records(world)
    assert rec.document_id == doc_id and rec.sha256 == body["sha256"]
    assert (rec.component_code, rec.kind, rec.procedure_code) == ("TP02", "submitted", PROCEDURE)
    assert (rec.explicit_code, rec.folder_name) == (NEW_CODE, NEW_CODE)
    assert rec.actor == "client:igate" and rec.station == "api:igate"
    assert rec.source_name == "Đơn đề nghị.png" and rec.raw_version
    operator = connect(role_cfg(world.env, world.keys, "operator"))
    stored = operator.get_bytes(operator.raw_bucket, rec.raw_key)
    assert stored == data
    assert (pending["state"], pending["kind"], pending["component_code"]) == (
        "stored_raw", "submitted", "TP02")  # fmt: skip
    assert pending["links"]["pdf"] is None
    assert [d["id"] for d in listed] == [doc_id]
    (row,) = audit_rows(world, "client:igate", "upload")
    assert (row.object, row.dossier, row.details["status"]) == (doc_id, NEW_CODE, 202)
    assert not list(Path(world.web.tmp_dir).glob("*-api-*"))  # the private copy is gone


def test_the_same_key_and_bytes_give_one_document_other_bytes_409(world, api):
    one, two = page_bytes(11), page_bytes(12)
    with world.client(api) as c:
        first = upload(c, one, key="igate-hs-0042-tp01", component="TP01")
        again = upload(c, one, key="igate-hs-0042-tp01", component="TP01")
        other = upload(c, two, key="igate-hs-0042-tp01", component="TP01")
        moved = upload(c, one, key="igate-hs-0042-tp01", component="TP09")
        fresh = upload(c, two, key="igate-hs-0042-tp02", component="TP01")
    assert first.status_code == again.status_code == fresh.status_code == 202
    assert first.json()["kind"] == "submitted"  # a component without a kind: a paper handed in
    assert again.json()["document_id"] == first.json()["document_id"]
    assert again.json()["replayed"] is True
    assert other.status_code == moved.status_code == 409
    assert fresh.json()["document_id"] != first.json()["document_id"]
    records = raw_records(world)
    # one custody record per document: the replay handed nothing over again
    assert sorted(r.document_id for r in records) == sorted(
        [first.json()["document_id"], fresh.json()["document_id"]]
    )
    statuses = [r.details["status"] for r in audit_rows(world, "client:igate", "upload")]
    assert sorted(statuses) == [202, 202, 202, 409, 409]


def test_a_retry_after_a_half_done_upload_hands_over_under_the_same_ids(world, api):
    """The key's row exists but custody never completed (MinIO failed mid-way): the retry
    runs custody with the reserved ids, so the document the client will see is that one."""
    data = page_bytes(21)
    uploads = UploadStore(access_backend(world.web))
    row, created = uploads.reserve(
        "igate", "half-done", document_id="d0123456789a", batch_id="b0123456789a",
        dossier_code=NEW_CODE, sha256=hashlib.sha256(data).hexdigest(),
        request={"component": None, "kind": None, "procedure": None, "name": None,
                 "size": len(data), "media_type": "image/png"},
    )  # fmt: skip
    assert created and row.handed_over_at is None
    with world.client(api) as c:
        assert c.get("/api/v1/documents/d0123456789a").status_code == 404  # no 202 yet
        resp = upload(c, data, key="half-done")
    assert resp.status_code == 202 and resp.json()["document_id"] == "d0123456789a"
    assert resp.json()["replayed"] is False
    (rec,) = raw_records(world)
    assert (rec.document_id, rec.batch_id) == ("d0123456789a", "b0123456789a")


@pytest.mark.parametrize(
    ("data", "media", "params", "status", "says"),
    [
        (b"%PDF-1.7 not really", "text/plain", {}, 415, "Content-Type must be"),
        (b"Hello, I am not a scan at all" * 50, "application/pdf", {}, 415,
         "not a PDF, TIFF, JPEG or PNG file (it starts with 'Hello, I am not '"),
        (b"", "application/pdf", {}, 400, "empty file"),
        (page_bytes(1), "image/png", {"kind": "draft"}, 400, "kind"),
        (page_bytes(1), "image/png", {"component": "TP 01/../x"}, 400, "component code"),
        (page_bytes(1), "image/png", {"name": "../../etc/passwd"}, 400, "name is a file name"),
    ],
)  # fmt: skip
def test_refused_before_custody_with_a_reason(world, api, data, media, params, status, says):
    with world.client(api) as c:
        resp = upload(c, data, media=media, **params)
        bad_code = upload(c, page_bytes(1), code="HS-2026-0042")
    assert resp.status_code == status, resp.text
    assert says in resp.json()["detail"]
    assert bad_code.status_code == 400 and "not a dossier code" in bad_code.json()["detail"]
    assert raw_records(world) == []


def test_a_body_over_the_limit_is_413_declared_or_streamed(minio_server, sohoa_env):
    world = build_api_world(minio_server, sohoa_env, {}, max_upload_mb=0.25)
    big = page_bytes(1) + b"\0" * 400_000  # a PNG with a long tail: past 256 KiB

    def chunks():  # no Content-Length: the limit is found while the body streams
        for i in range(0, len(big), 65536):
            yield big[i : i + 65536]

    app = create_app(world.web, users=fast_users(world.web))
    with serve(app) as url, world.client(url) as c:
        declared = upload(c, big)
        streamed = c.post(
            f"/api/v1/dossiers/{NEW_CODE}/documents",
            content=chunks(),
            headers={"Content-Type": "image/png"},
        )
    assert declared.status_code == 413 and "api.max_upload_mb" in declared.json()["detail"]
    assert streamed.status_code == 413
    assert raw_records(world) == []
    assert not list(Path(world.web.tmp_dir).glob("*-api-*"))


def test_uploads_without_the_upload_key_are_503_and_reads_still_work(minio_server, sohoa_env):
    world = build_api_world(minio_server, sohoa_env, {})
    env = {
        k: v for k, v in world.env.items() if not k.startswith("SOHOA_UPLOAD_")
    }  # the web key alone
    from pipeline.config import load_config

    web = load_config(env=env)
    app = create_app(web, users=fast_users(web))
    with serve(app) as url, world.client(url) as c:
        resp = upload(c, page_bytes(3))
        assert c.get(f"/api/v1/dossiers/{CODE}").status_code == 200
    assert resp.status_code == 503 and "uploads are not configured" in resp.json()["detail"]


def test_over_the_rate_a_client_gets_429_with_retry_after(minio_server, sohoa_env):
    world = build_api_world(minio_server, sohoa_env, {}, rate_per_minute=3)
    app = create_app(world.web, users=fast_users(world.web))
    with serve(app) as url:
        with world.client(url) as c:
            answers = [c.get(f"/api/v1/dossiers/{CODE}") for _ in range(4)]
        with world.client(url, "reader") as other:
            theirs = other.get(f"/api/v1/dossiers/{CODE}")
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    wait = int(answers[-1].headers["retry-after"])
    assert 1 <= wait <= 20  # one interval of 60/3 s, less the time the calls took
    assert theirs.status_code == 200  # each client has its own rate
    (row,) = audit_rows(world, "client:igate", "denied")
    assert row.details["reason"] == "rate limit"


def test_json_bodies_never_carry_page_text_in_the_dossier_view(world, api):
    with world.client(api) as c:
        body = c.get(f"/api/v1/dossiers/{CODE}").text
    assert "Chủ đầu tư" not in body and "Phạm Văn Anh" not in body
    assert json.loads(body)["documents"][0]["fields"]["type_name"] == "Đơn đề nghị"


def test_a_paper_handed_in_to_two_dossiers_is_listed_in_both(world, api):
    """The same bytes uploaded to a second dossier become a duplicate of the copy in the
    first (dedupe looks at the whole archive); the second dossier still lists the paper,
    with the first copy's link, in its DVCQG view too."""
    from pipeline.storage.ledger import mark_duplicate, open_ledger

    prior_id = world.docs["other"]
    ledger = open_ledger(world.worker)
    try:
        prior = ledger.get_document(prior_id)
        batch = ledger.create_batch("api:igate", "api/igate", "client:igate")
        doc = ledger.add_document(
            batch, actor="intake", source_name="xac-nhan.pdf", source_path=None,
            sha256=prior.sha256, size=prior.size, station="api:igate",
            folder_name=NEW_CODE, dossier_hint=None,
        )  # fmt: skip
        ledger.update_fields(doc.id, raw_key=f"sha256/{prior.sha256}")
        dup = mark_duplicate(ledger, doc.id, prior, actor="intake")  # as custody settles it
    finally:
        ledger.close()
    uploads = UploadStore(access_backend(world.web))
    uploads.reserve(
        "igate", None, document_id=dup.id, batch_id=batch, dossier_code=NEW_CODE,
        sha256=prior.sha256, request={"component": "TP05", "kind": "submitted",
                                      "procedure": None, "name": "xac-nhan.pdf"},
    )  # fmt: skip
    uploads.handed_over(dup.id)
    with world.client(api) as c:
        listed = c.get(f"/api/v1/dossiers/{NEW_CODE}").json()["documents"]
        portal = c.get(f"/api/v1/dossiers/{NEW_CODE}/dvcqg").json()
        other = c.get(f"/api/v1/dossiers/{OTHER}").json()["documents"]
        pdf = c.get(f"/api/v1/documents/{dup.id}/pdf")
    (entry,) = listed
    assert (entry["id"], entry["state"], entry["duplicate_of"]) == (dup.id, "duplicate", prior_id)
    assert entry["component_code"] == "TP05"
    assert [d["id"] for d in other] == [prior_id]  # and the first dossier keeps its own
    (paper,) = portal["TaiLieuNop"]
    assert paper["TepDinhKemId"] == dup.id and paper["MaThanhPhanHoSo"] == "TP05"
    assert paper["DuongDanTaiTepTin"].endswith(f"/api/v1/documents/{dup.id}/pdf")
    assert pdf.status_code == 200 and pdf.content == world.pdfs[prior_id]


def test_behind_a_proxy_only_its_secret_makes_the_forwarded_address_believed(world):
    """The LGSP or the office's proxy in front: with the shared secret its X-Forwarded-For
    is the client's address in the audit log; a wrong secret is refused before the API."""
    secret = "s" * 40
    app = create_app(world.web, users=fast_users(world.web), env={"SOHOA_WEB_PROXY_SECRET": secret})
    with serve(app) as url, world.client(url) as c:
        forwarded = {"X-Forwarded-For": "203.0.113.7"}
        trusted = c.get(f"/api/v1/dossiers/{CODE}",
                        headers={**forwarded, "X-Sohoa-Proxy-Secret": secret})  # fmt: skip
        plain = c.get(f"/api/v1/dossiers/{OTHER}", headers=forwarded)
        forged = c.get(f"/api/v1/dossiers/{CODE}",
                       headers={**forwarded, "X-Sohoa-Proxy-Secret": "x" * 40})  # fmt: skip
    assert trusted.status_code == plain.status_code == 200
    assert forged.status_code == 403
    views = {r.object: r.client for r in audit_rows(world, "client:igate", "dossier_view")}
    assert views == {CODE: "203.0.113.7", OTHER: "127.0.0.1"}
    (refused,) = audit_rows(world, "?", "denied")
    assert refused.details["reason"] == "wrong proxy secret"


def test_an_uploads_private_folder_is_the_processes_own_under_sohoa_home(tmp_path):
    """0700 under SOHOA_HOME/tmp, named after the pid (so a later start removes it after a
    kill, as recover.clean_tmp does for every <pid>-… folder there)."""
    import os
    import stat

    from pipeline.config import load_config
    from pipeline.flow.recover import clean_tmp
    from workers.web.api.body import private_folder

    cfg = load_config(env={"SOHOA_HOME": str(tmp_path / "home")})
    folder = private_folder(cfg)
    assert folder.parent == cfg.tmp_dir
    assert folder.name.startswith(f"{os.getpid()}-api-")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    dead = cfg.tmp_dir / "999999999-api-abcdefgh"  # a pid no process has
    dead.mkdir()
    assert clean_tmp(cfg) == 1 and not dead.exists() and folder.exists()
